import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Encoder from "../Encoder.js"
import type * as History from "../History.js"
import * as Message from "../Message.js"
import * as SseEvent from "../SseEvent.js"
import type * as SseServer from "../SseServer.js"
import { SseServerError } from "./serverError.js"

/**
 * A message ready to send: its frame, its history key when it was recorded (to tell replayed frames from live
 * ones), and the error to report once it is delivered locally, when the history could not record it.
 *
 * @internal
 */
export interface Prepared {
  readonly frame: Uint8Array
  readonly key: string | undefined
  readonly failure: SseServer.SseServerError | undefined
}

/**
 * What a reconnecting client gets first: the frames it missed (or the replay-gap event), how the source began,
 * and the history keys of the replayed frames, so that live frames held meanwhile are not sent twice.
 *
 * @internal
 */
export interface Resumed {
  readonly resume: History.Resume
  readonly frames: ReadonlyArray<Uint8Array>
  readonly replayed: ReadonlySet<string>
}

/**
 * Everything the server does with a `History`, behind one narrow interface: recording what is sent, the replay
 * hand-off for a reconnecting client, and the tail of what other processes recorded. Without a history it only
 * encodes.
 *
 * @internal
 */
export interface Backplane {
  /** Encodes a message for one source's id, or for all (`undefined`), recording it when there is a history. */
  readonly prepare: (target: unknown, message: Message.Message) => Effect.Effect<Prepared, SseServer.SseServerError>
  /** What a client that reconnects with `lastEventId` missed. The caller holds live frames back meanwhile. */
  readonly resume: (id: unknown, lastEventId: string) => Effect.Effect<Resumed>
}

/** Delivers an entry recorded elsewhere to the sources connected here: all of them, or those of one id. @internal */
export type DeliverRemote = (target: string | undefined, frame: Uint8Array, key: string) => void

const fresh: Resumed = { resume: { _tag: "Fresh" }, frames: [], replayed: new Set() }

const gapFrame = (lastEventId: string, reason: "Unknown" | "Expired" | "Unavailable"): Uint8Array =>
  Either.getOrElse(
    Either.flatMap(
      Schema.encodeEither(SseEvent.ReplayGap.dataSchema)({ lastEventId, reason }),
      (data) => Encoder.encode(Message.make({ event: SseEvent.ReplayGap.name, data }))
    ),
    () => Encoder.comment("replay gap")
  )

const encodePlain = (target: unknown, message: Message.Message): Effect.Effect<Prepared, SseServerError> =>
  Either.match(Encoder.encode(message), {
    onLeft: (cause) => Effect.fail(new SseServerError({ reason: "Encode", id: target, cause })),
    onRight: (frame) => Effect.succeed({ frame, key: undefined, failure: undefined })
  })

/**
 * The server's backplane. With a history, the remote tail runs in the current (the server's) scope.
 *
 * @internal
 */
export const make = (
  history: Option.Option<History.Service>,
  onHistoryFailure: () => void,
  deliverRemote: DeliverRemote
): Effect.Effect<Backplane, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (Option.isNone(history)) return { prepare: encodePlain, resume: () => Effect.succeed(fresh) }
    const store = history.value

    // Entries that other processes recorded: delivered to the sources connected here.
    yield* store.remote.pipe(
      Stream.runForEach((entry) => Effect.sync(() => deliverRemote(entry.target, entry.frame, entry.key))),
      Effect.forkScoped
    )

    // Every message is recorded (and given an id) before it goes out. When the store is down, the message is still
    // delivered here, and the sender is told that the history did not get it.
    const prepare = (target: unknown, message: Message.Message): Effect.Effect<Prepared, SseServerError> =>
      Effect.matchEffect(store.append(target === undefined ? undefined : String(target), message), {
        onSuccess: (entry) => Effect.succeed({ frame: entry.frame, key: entry.key, failure: undefined }),
        onFailure: (error) =>
          error.reason === "Encode"
            ? Effect.fail(new SseServerError({ reason: "Encode", id: target, cause: error.cause }))
            : Effect.zipRight(
              Effect.zipRight(
                Effect.sync(onHistoryFailure),
                Effect.logWarning("effect-sse: the history could not record a message", error)
              ),
              Effect.map(encodePlain(target, message), (prepared) => ({
                ...prepared,
                failure: new SseServerError({ reason: "History", id: target, cause: error })
              }))
            )
      })

    const resume = (id: unknown, lastEventId: string): Effect.Effect<Resumed> => {
      if (lastEventId === "") return Effect.succeed(fresh)
      return Effect.map(Effect.either(store.since(lastEventId, String(id))), (result): Resumed => {
        const replay: History.Replay | { readonly _tag: "Gap"; readonly reason: "Unavailable" } = Either.isRight(result)
          ? result.right
          : { _tag: "Gap", reason: "Unavailable" }
        if (replay._tag === "Gap") {
          return {
            resume: { _tag: "Gap", reason: replay.reason, lastEventId },
            frames: [gapFrame(lastEventId, replay.reason)],
            replayed: new Set()
          }
        }
        return {
          resume: { _tag: "Replayed", count: replay.entries.length },
          frames: replay.entries.map((entry) => entry.frame),
          replayed: new Set(replay.entries.map((entry) => entry.key))
        }
      })
    }
    return { prepare, resume }
  })
