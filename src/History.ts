/**
 * Recent frames with their ids, so that a client reconnecting with `Last-Event-ID` gets what it missed. A
 * history is a store (`layerMemory` for one process, `History/Redis` for many) in which each server that is given
 * one (`SseServer.make({ history: { key } })`) opens a log of its own, namespaced by the server's name.
 *
 * Every message of such a server goes through its log: it is recorded first, then delivered to the server's
 * connections in the log's order (on Redis, the stream's order, the same on every instance). So the
 * `Last-Event-ID` a client holds names exactly the prefix of the log it has seen, and a resume on any instance
 * yields exactly the rest.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/history.js"
import type * as Message from "./Message.js"

/**
 * A history's store could not be reached or did not answer in time (`Unavailable`: nothing was recorded or
 * delivered), or refused the entry (`Encode`: an id or event name it cannot write).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { History, Message } from "effect-sse"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* History.History
 *   const log = yield* store.open("chat", { onEntry: () => {}, onGap: () => {} })
 *   yield* log.append([{ target: undefined, message: Message.make({ data: "x" }) }])
 * }).pipe(
 *   Effect.catchTag("HistoryError", (error) => Effect.log(`not recorded: ${error.reason}`)),
 *   Effect.scoped,
 *   Effect.provide(History.layerMemory())
 * )
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
  /** The log's own key, ordered by the log's `compare`: the order of recording. */
  readonly key: string
  /**
   * The key of the id it is meant for (the server's `history.key` of the id), or `undefined` for every
   * connection. A private entry and a broadcast can never be mistaken for each other, whatever the key.
   */
  readonly target: string | undefined
  /** The message, with the SSE id it goes out with (the app's, or one the history assigned). */
  readonly message: Message.Message
  /** The message's bytes, to write as they are. */
  readonly frame: Uint8Array
}

/**
 * A message to record: for the connections of one id (`target`, the id's key) or for all (`undefined`).
 *
 * @example
 * ```ts
 * import { History, Message } from "effect-sse"
 *
 * const items: ReadonlyArray<History.Item> = [
 *   { target: undefined, message: Message.make({ data: "to everyone" }) },
 *   { target: History.jsonKey(42), message: Message.make({ data: "to user 42 only" }) }
 * ]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Item {
  readonly target: string | undefined
  readonly message: Message.Message
}

/**
 * What a reconnecting source is owed.
 *
 * - `Replay`: every entry after its `Last-Event-ID` that is meant for it (possibly none), and `cursor`, the key
 *   of the last entry the client has now been given (the replayed one, or the one its id named): anything at or
 *   before it that reaches the connection later is a duplicate.
 * - `Gap`: the id is `Unknown` to the history, or `Expired` (older than what it keeps): the client must be
 *   brought up to date some other way, e.g. with a fresh snapshot.
 *
 * @since 0.1.0
 * @category models
 */
export type Replay =
  | { readonly _tag: "Replay"; readonly entries: ReadonlyArray<Entry>; readonly cursor: string }
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
 * What a log tells its server, in the log's order.
 *
 * @example
 * ```ts
 * import { History } from "effect-sse"
 *
 * const printing: History.Subscriber = {
 *   onEntry: (entry) => console.log(entry.key, entry.target ?? "everyone", entry.message.data),
 *   onGap: (reason) => console.log(`entries lost (${reason}): every client must be told`)
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Subscriber {
  /** Every entry of the log, from whichever process recorded it, once and in order: deliver it. */
  readonly onEntry: (entry: Entry) => void
  /**
   * Entries were lost before they could be delivered (the store lost its data, or the log was trimmed past
   * what had been read): every live connection may have missed some, and should be told at once.
   */
  readonly onGap: (reason: "Expired" | "Unavailable") => void
}

/**
 * One server's log in a store.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { History, Message } from "effect-sse"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* History.History
 *   const log = yield* store.open("news", { onEntry: () => {}, onGap: () => {} })
 *   const [first] = yield* log.append([{ target: undefined, message: Message.make({ data: "a" }) }])
 *   yield* log.append([{ target: "ada", message: Message.make({ data: "b" }) }])
 *   const replay = yield* log.since(first!.message.id!, "bob") // nothing for bob: "b" is ada's
 * }).pipe(Effect.scoped, Effect.provide(History.layerMemory()))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Log {
  /**
   * Records messages, in order and all or nothing, and completes once this process's subscriber has been given
   * them (on a shared store, bounded by the store's timeout: past it, they are recorded and will be delivered).
   * A failure means that none was recorded, and so none was or will be delivered anywhere.
   */
  readonly append: (items: ReadonlyArray<Item>) => Effect.Effect<ReadonlyArray<Entry>, HistoryError>
  /** The entries after `lastEventId` meant for `target` (an id's key) or for everyone, oldest first. */
  readonly since: (lastEventId: string, target: string) => Effect.Effect<Replay, HistoryError>
  /** Orders two entry keys of this log. */
  readonly compare: (a: string, b: string) => number
  /**
   * The key a client's `Last-Event-ID` names, when the id alone tells it (an id the log assigned), without asking
   * the store: what a client that could not be replayed has seen at least.
   */
  readonly keyOf: (lastEventId: string) => string | undefined
}

/**
 * A store of logs: what `layerMemory` and `History/Redis` provide. A server given a history opens its log in its
 * own scope, under its name. A store of one's own implements `open`; wrapping one is as short:
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { History } from "effect-sse"
 *
 * // Counts what every server records, around the in-memory store.
 * let recorded = 0
 * const Counting = Layer.effect(
 *   History.History,
 *   Effect.map(History.makeMemory(), (store): History.Service => ({
 *     open: (namespace, subscriber) =>
 *       Effect.map(store.open(namespace, subscriber), (log) => ({
 *         ...log,
 *         append: (items) => Effect.tap(log.append(items), (entries) => Effect.sync(() => (recorded += entries.length)))
 *       }))
 *   }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Opens the log `namespace` for the scope. Logs of different namespaces never share an entry. In one process,
   * a namespace can be open once at a time per store (a second open is a defect: two servers with one name).
   */
  readonly open: (namespace: string, subscriber: Subscriber) => Effect.Effect<Log, never, Scope.Scope>
}

/**
 * The store of a server's history. A server that is given `history` options requires it, so that the server's
 * Layer shows it in its type and a missing store is a compile error, not a silent absence.
 *
 * @example
 * ```ts
 * import { Context, Layer } from "effect"
 * import { History, SseServer } from "effect-sse"
 *
 * class Chat extends Context.Tag("app/Chat")<Chat, SseServer.SseServer<string>>() {}
 * // Layer<Chat, never, History.History> until the store is provided:
 * const ChatLive = SseServer.layer(Chat, { name: "chat", history: { key: (id) => id } }).pipe(
 *   Layer.provide(History.layerMemory())
 * )
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
  /** How many entries each log keeps. Default 1,000. */
  readonly maxEntries?: number | undefined
  /** How long entries are kept. Default 5 minutes. */
  readonly maxAge?: Duration.DurationInput | undefined
  /**
   * Messages sent without an id get one from the log (`"1"`, `"2"`, ...), so that every message can be
   * resumed from. Default `true`. With `false`, only messages the app gave an id can be resumed from.
   */
  readonly assignIds?: boolean | undefined
}

/**
 * An in-memory store, each log bounded by count and by age. Appending delivers within the same step, so a
 * server's order is the order of its sends.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { History, Message } from "effect-sse"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* History.makeMemory({ maxEntries: 100 })
 *   const log = yield* store.open("news", { onEntry: (entry) => console.log(entry.key), onGap: () => {} })
 *   yield* log.append([{ target: undefined, message: Message.make({ data: "a" }) }]) // id "1"
 *   yield* log.append([{ target: "ada", message: Message.make({ data: "b" }) }]) // id "2", for ada only
 *   const replay = yield* log.since("1", "bob") // { _tag: "Replay", entries: [], cursor: "1" }
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: (options?: MemoryOptions) => Effect.Effect<Service> = internal.makeMemory

/**
 * The in-memory store as a Layer, for the servers that are given `history` options.
 *
 * @example
 * ```ts
 * import { Context, Layer } from "effect"
 * import { History, SseServer } from "effect-sse"
 *
 * class Events extends Context.Tag("app/Events")<Events, SseServer.SseServer<string>>() {}
 * const EventsLive = SseServer.layer(Events, { name: "events", history: { key: (id) => id } }).pipe(
 *   Layer.provide(History.layerMemory({ maxEntries: 10_000, maxAge: "10 minutes" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<History> =>
  Layer.effect(History, internal.makeMemory(options))

/**
 * The key of a JSON-like id (numbers, strings, arrays, plain objects such as a `Data.struct`), for
 * `history.key`: the id's JSON with object keys sorted, so that ids that are `Equal` share a key and `1` and
 * `"1"` do not.
 *
 * @example
 * ```ts
 * import { Data } from "effect"
 * import { History } from "effect-sse"
 *
 * History.jsonKey(Data.struct({ org: 1, user: "ada" })) // '{"org":1,"user":"ada"}'
 * History.jsonKey(1) // "1"
 * History.jsonKey("1") // '"1"'
 * ```
 *
 * @since 0.1.0
 * @category keys
 */
export const jsonKey: (id: unknown) => string = internal.jsonKey
