/**
 * Recent frames with their ids, so that a client reconnecting with `Last-Event-ID` gets what it missed. Plug a
 * history into every `SseServer` by providing its Layer: `layerMemory` for one process, `History/Redis` for many.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/history.js"
import type * as Message from "./Message.js"

/**
 * A history's store could not be reached (e.g. Redis is down), or refused the entry (an id it cannot write).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { History, Message } from "effect-sse"
 *
 * const program = Effect.gen(function*() {
 *   const history = yield* History.History
 *   yield* history.append(undefined, Message.make({ data: "x" }))
 * }).pipe(Effect.catchTag("HistoryError", (error) => Effect.log(`not recorded: ${error.reason}`)))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const HistoryError: typeof internal.HistoryError = internal.HistoryError

/**
 * @since 0.1.0
 * @category errors
 */
export type HistoryError = internal.HistoryError

/**
 * One recorded frame.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  /** The history's own key, ordered: the order of recording. */
  readonly key: string
  /** The id of the source it was meant for (`String(id)`), or `undefined` for every source. */
  readonly target: string | undefined
  /** The message, with the SSE id it went out with (the app's, or one the history assigned). */
  readonly message: Message.Message
  /** The message's bytes, to write as they are. */
  readonly frame: Uint8Array
}

/**
 * What a reconnecting source is owed.
 *
 * - `Replay`: every entry after its `Last-Event-ID` that is meant for it (possibly none).
 * - `Gap`: the id is `Unknown` to the history, or `Expired` (older than what it keeps): the client must be
 *   brought up to date some other way, e.g. with a fresh snapshot.
 *
 * @since 0.1.0
 * @category models
 */
export type Replay =
  | { readonly _tag: "Replay"; readonly entries: ReadonlyArray<Entry> }
  | { readonly _tag: "Gap"; readonly reason: "Unknown" | "Expired" }

/**
 * How a source began: `Fresh` (no `Last-Event-ID`, or no history), `Replayed` (it received `count` missed
 * frames first), or `Gap` (what it missed could not be replayed: the id is unknown, expired, or the store is
 * unavailable; it was sent the `SseEvent.ReplayGap` event first).
 *
 * @since 0.1.0
 * @category models
 */
export type Resume =
  | { readonly _tag: "Fresh" }
  | { readonly _tag: "Replayed"; readonly count: number }
  | { readonly _tag: "Gap"; readonly reason: "Unknown" | "Expired" | "Unavailable"; readonly lastEventId: string }

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Records a message for one source (its `String(id)`) or for all (`undefined`), giving it an id if needed. */
  readonly append: (target: string | undefined, message: Message.Message) => Effect.Effect<Entry, HistoryError>
  /** The entries after `lastEventId` meant for `target` (or for everyone), oldest first. */
  readonly since: (lastEventId: string, target: string) => Effect.Effect<Replay, HistoryError>
  /**
   * Entries recorded by other processes sharing the store, to deliver to this process's sources. Empty for a
   * history of one process.
   */
  readonly remote: Stream.Stream<Entry>
}

/**
 * The history a server records into, when one is provided.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { History } from "effect-sse"
 *
 * const program = Effect.gen(function*() {
 *   const history = yield* History.History
 *   const replay = yield* history.since("41", "user-7")
 *   if (replay._tag === "Replay") console.log(replay.entries.length, "missed")
 * }).pipe(Effect.provide(History.layerMemory()))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class History extends Context.Tag("effect-sse/History")<History, Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /** How many entries are kept. Default 1,000. */
  readonly maxEntries?: number | undefined
  /** How long entries are kept. Default 5 minutes. */
  readonly maxAge?: Duration.DurationInput | undefined
  /**
   * Messages sent without an id get one from the history (`"1"`, `"2"`, ...), so that every message can be
   * resumed from. Default `true`. With `false`, only messages the app gave an id can be resumed from.
   */
  readonly assignIds?: boolean | undefined
}

/**
 * An in-memory history, bounded by count and by age.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { History, Message } from "effect-sse"
 *
 * const program = Effect.gen(function*() {
 *   const history = yield* History.makeMemory({ maxEntries: 100 })
 *   yield* history.append(undefined, Message.make({ data: "a" })) // id "1"
 *   yield* history.append(undefined, Message.make({ data: "b" })) // id "2"
 *   const replay = yield* history.since("1", "some-user") // { _tag: "Replay", entries: [b] }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: (options?: MemoryOptions) => Effect.Effect<Service> = internal.makeMemory

/**
 * The in-memory history as a Layer: provide it to `SseServer.layer` (or to the program) and every server records
 * into it and replays from it.
 *
 * @example
 * ```ts
 * import { Context, Layer } from "effect"
 * import { History, SseServer } from "effect-sse"
 *
 * class Events extends Context.Tag("app/Events")<Events, SseServer.SseServer<string>>() {}
 * const EventsLive = SseServer.layer(Events, { keepAlive: "15 seconds" }).pipe(
 *   Layer.provide(History.layerMemory({ maxEntries: 10_000, maxAge: "10 minutes" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<History> =>
  Layer.effect(History, internal.makeMemory(options))
