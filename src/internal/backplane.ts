import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Encoder from "../Encoder.js"
import * as History from "../History.js"
import * as Message from "../Message.js"
import * as SseEvent from "../SseEvent.js"
import type * as SseServer from "../SseServer.js"
import { SseServerError } from "./serverError.js"

/**
 * What a reconnecting client gets first: the frames it missed (or the replay-gap event), how the source began,
 * the key of the last log entry it now has (entries at or before it that reach the connection later are
 * duplicates), and the SSE id it would resume from.
 *
 * @internal
 */
export interface Resumed {
  readonly resume: History.Resume
  readonly frames: ReadonlyArray<Uint8Array>
  readonly cursor: string | undefined
  readonly lastSentId: string
}

/** What the server does with its log when it has a history. @internal */
export interface Recorded {
  /** The key of an id in the log. */
  readonly keyOf: (id: unknown) => string
  /**
   * Records messages (for an id's key, or for all) and delivers them through the log, in its order: `onEntry`
   * runs for each before this completes. A failure means nothing was delivered anywhere.
   */
  readonly append: (id: unknown, items: ReadonlyArray<History.Item>) => Effect.Effect<void, SseServer.SseServerError>
  /** Orders two entry keys of the log. */
  readonly compare: (a: string, b: string) => number
  /** What a client of the id with `key` that reconnects with `lastEventId` missed. */
  readonly resume: (key: string, lastEventId: string) => Effect.Effect<Resumed>
}

/**
 * Everything the server does with a `History`, behind one narrow interface: undefined without a history (the
 * server encodes and delivers itself), else the server's log.
 *
 * @internal
 */
export type Backplane = Recorded | undefined

/** What the log tells the hub. @internal */
export interface Hooks {
  readonly onEntry: (entry: History.Entry) => void
  readonly onGap: (reason: "Expired" | "Unavailable") => void
  readonly onHistoryFailure: () => void
}

/** The `SseEvent.ReplayGap` event, for a client whose last event id is `lastEventId`. @internal */
export const gapFrame = (lastEventId: string, reason: "Unknown" | "Expired" | "Unavailable"): Uint8Array =>
  Either.getOrElse(
    Either.flatMap(
      Schema.encodeEither(SseEvent.ReplayGap.dataSchema)({ lastEventId, reason }),
      (data) => Encoder.encode(Message.make({ event: SseEvent.ReplayGap.name, data }))
    ),
    () => Encoder.comment("replay gap")
  )

const fresh = (lastEventId: string): Resumed => ({
  resume: { _tag: "Fresh" },
  frames: [],
  cursor: undefined,
  lastSentId: lastEventId
})

/** A Resumed for a connection of a server without a history. @internal */
export const unrecorded = fresh

/**
 * Opens the server's log (named after the server) in the `History` store, for the current (the server's) scope.
 *
 * @internal
 */
export const make = (
  name: string,
  options: SseServer.HistoryOptions<unknown>,
  hooks: Hooks
): Effect.Effect<Recorded, never, Scope.Scope | History.History> =>
  Effect.gen(function*() {
    const store = yield* History.History
    const log = yield* store.open(name, { onEntry: hooks.onEntry, onGap: hooks.onGap })

    const append = (id: unknown, items: ReadonlyArray<History.Item>): Effect.Effect<void, SseServerError> =>
      Effect.asVoid(Effect.catchAll(log.append(items), (error) => {
        if (error.reason === "Encode") {
          return Effect.fail(new SseServerError({ reason: "Encode", id, cause: error.cause }))
        }
        hooks.onHistoryFailure()
        return Effect.fail(new SseServerError({ reason: "History", id, cause: error }))
      }))

    const resume = (key: string, lastEventId: string): Effect.Effect<Resumed> => {
      if (lastEventId === "") return Effect.succeed(fresh(lastEventId))
      return Effect.map(Effect.either(log.since(lastEventId, key)), (result): Resumed => {
        const replay: History.Replay | { readonly _tag: "Gap"; readonly reason: "Unavailable" } = Either.isRight(result)
          ? result.right
          : { _tag: "Gap", reason: "Unavailable" }
        if (replay._tag === "Gap") {
          return {
            resume: { _tag: "Gap", reason: replay.reason, lastEventId },
            frames: [gapFrame(lastEventId, replay.reason)],
            // What the client has seen all the same: a tail running late must not give it those entries again.
            cursor: log.keyOf(lastEventId),
            lastSentId: lastEventId
          }
        }
        return {
          resume: { _tag: "Replayed", count: replay.entries.length },
          frames: replay.entries.map((entry) => entry.frame),
          cursor: replay.cursor,
          lastSentId: replay.entries.at(-1)?.message.id ?? lastEventId
        }
      })
    }

    return { keyOf: options.key, append, compare: log.compare, resume }
  })
