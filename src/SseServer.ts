/**
 * The SSE server: a service, provided by a Layer, that keeps every connected event source under an id the app
 * chooses (a user id, a session id) and sends messages and typed events to one source or to all of them.
 *
 * The server is a hub (registry, limits, fan-out, heartbeats, shutdown) and writers that move frames to clients.
 * Every connection belongs to the server's scope and has a bounded queue for when its client reads slowly. With
 * `effect-sse/SseServer/Node` provided, a Node HTTP/1.1 connection outlives its handler: the head goes out
 * through Node's response, the socket is taken over, and sends write to it within the call while it keeps up.
 * Everywhere else the response body is a Stream fed by the queue. One fiber per server fills silences with
 * heartbeat comments; a slow consumer never stalls the others; closing the Layer's scope ends every response,
 * after a `retry:` with jitter. A server given `history` options records every message in its own log of the
 * `History` store (which its Layer then requires), delivers it in the log's order, and first sends a reconnecting
 * client what it missed.
 *
 * @since 0.1.0
 */
import type * as Headers from "@effect/platform/Headers"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as History from "./History.js"
import * as connection from "./internal/connection.js"
import * as internal from "./internal/sseServer.js"
import type * as Message from "./Message.js"
import type * as SseEvent from "./SseEvent.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export const SourceTypeId: unique symbol = connection.SourceTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type SourceTypeId = typeof SourceTypeId

/**
 * What happens when a frame meets a full connection queue (a client that reads too slowly):
 *
 * - `"close"` (default): the sender waits for room at most `sendTimeout`, then the connection is closed and
 *   counted as dropped. Broadcasts never wait: frames for a full connection queue behind it in order, and a
 *   background fiber applies the timeout.
 * - `"dropNewest"`: the frame is dropped for that connection.
 * - `"dropOldest"`: the oldest queued frame is dropped to make room (a sliding queue).
 *
 * @since 0.1.0
 * @category models
 */
export type SlowConsumerPolicy = "close" | "dropNewest" | "dropOldest"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Written once, first thing on every stream, as `retry:`. Absent: a comment opens the stream instead. */
  readonly retry?: Duration.DurationInput | undefined
  /** A heartbeat comment is written when nothing was written for this long. Absent or zero: no heartbeats. */
  readonly keepAlive?: Duration.DurationInput | undefined
  /**
   * Frames each connection's queue holds while its socket pushes back (on Node, frames the socket takes at once
   * are written without queueing). Default 256.
   */
  readonly bufferCapacity?: number | undefined
  /** Default `"close"`. */
  readonly slowConsumer?: SlowConsumerPolicy | undefined
  /** How long a send waits on a full queue under the `"close"` policy. Default 5 seconds. */
  readonly sendTimeout?: Duration.DurationInput | undefined
  /**
   * `"replace"` (default, as the Go seed): a new connection under an id closes the previous one.
   * `"multiple"`: several connections per id are kept (a user with two tabs); a send to the id reaches all.
   */
  readonly connectionsPerId?: "replace" | "multiple" | undefined
  /** The most connections in all; past it a connect is answered `503` with `Retry-After`. */
  readonly maxConnections?: number | undefined
  /** The most connections per id (with `connectionsPerId: "multiple"`); past it, `503` with `Retry-After`. */
  readonly maxConnectionsPerId?: number | undefined
  /** The `Retry-After` of a `503`. Default 5 seconds. */
  readonly retryAfter?: Duration.DurationInput | undefined
  /** How long shutdown waits for responses to end before aborting them. Default 5 seconds. */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
  /**
   * At shutdown every connection is told `retry: <retry> + random(0, shutdownJitter)` before it is closed, so
   * that thousands of clients do not reconnect in the same instant. Default 5 seconds.
   */
  readonly shutdownJitter?: Duration.DurationInput | undefined
  /**
   * Names the server in metrics (`sse_server` label) and spans, and its log in a history store: servers that
   * share a store need names of their own. Default `"default"`.
   */
  readonly name?: string | undefined
}

/**
 * How a server keeps its history, in the `History` store its Layer then requires.
 *
 * Every message goes through the server's log (named by the server's `name`): it is recorded, then delivered to
 * the connections in the log's order. A send fails (reason `History`) before anything was delivered when the
 * store cannot record it, and succeeds otherwise.
 *
 * @example
 * ```ts
 * import { Context, Data, Layer } from "effect"
 * import { History, SseServer } from "effect-sse"
 *
 * type UserId = { readonly org: number; readonly user: string }
 * class Notices extends Context.Tag("app/Notices")<Notices, SseServer.SseServer<UserId>>() {}
 *
 * const NoticesLive = SseServer.layer(Notices, {
 *   name: "notices",
 *   // Ids are compared with Equal in the registry; in the store, private entries are filed under this key.
 *   history: { key: History.jsonKey }
 * }).pipe(Layer.provide(History.layerMemory()))
 *
 * const ada: UserId = Data.struct({ org: 1, user: "ada" })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface HistoryOptions<Id> {
  /**
   * The key under which the store files messages sent to an id. It must tell ids apart exactly as `Equal` does:
   * two ids that are not equal must never share a key (`String` on a union of numbers and strings, or on
   * objects, would). `(id) => id` for string ids; `History.jsonKey` for numbers, mixed and structured ids.
   */
  readonly key: (id: Id) => string
}

/**
 * Why a send did not reach a connection.
 *
 * - `Encode`: the message or typed payload could not be encoded (the cause says why); nothing was written.
 * - `Closed`: the connection is closed or closing: its client left, it was closed, replaced, or aborted. Sends
 *   fail with this reason, whatever the slow-consumer policy, as soon as the connection is gone.
 * - `Dropped`: the slow-consumer policy dropped the frame.
 * - `SlowConsumer`: the queue stayed full for `sendTimeout`; the connection was closed.
 * - `History`: the server's history (e.g. Redis) could not record the message, so it was delivered to no one,
 *   here or elsewhere: a retry cannot deliver it twice. The cause is the `HistoryError`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Message, type SseServer } from "effect-sse"
 *
 * declare const sse: SseServer.SseServer<string>
 * const program = sse.send("ada", Message.make({ data: "hi" })).pipe(
 *   Effect.catchTag("SseServerError", (error) => Effect.log(`${error.reason} for ${String(error.id)}`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const SseServerError: typeof internal.SseServerError = internal.SseServerError

/**
 * @since 0.1.0
 * @category errors
 */
export type SseServerError = internal.SseServerError

/**
 * A typed event bound to one source.
 *
 * @since 0.1.0
 * @category models
 */
export interface SourceEvent<A, R> {
  readonly send: (payload: A, options?: SseEvent.EncodeOptions) => Effect.Effect<void, SseServerError, R>
}

/**
 * One connected event source (one open response).
 *
 * @since 0.1.0
 * @category models
 */
export interface Source<Id> {
  readonly [SourceTypeId]: SourceTypeId
  readonly id: Id
  /**
   * The request's `Last-Event-ID`: not empty when the client has just reconnected. Cleared once the first
   * message has been delivered, as the Go seed documents.
   */
  readonly lastEventId: Effect.Effect<string>
  /**
   * How the source began: `Fresh`, `Replayed` (missed frames went out first), or `Gap` (they could not be
   * replayed; the client was sent `SseEvent.ReplayGap`, and the app may send a fresh snapshot). Needs a history.
   */
  readonly resume: History.Resume
  /**
   * Whether the response is still open: false as soon as the client is gone (its socket closed), the source was
   * closed or replaced, or the server shut it down. From then on every send fails with reason `Closed`.
   */
  readonly isConnected: Effect.Effect<boolean>
  /** Sends one message. On a full queue the sender waits (see `SlowConsumerPolicy`). */
  readonly send: (message: Message.Message) => Effect.Effect<void, SseServerError>
  /** Sends an encoded frame (see `Encoder`). */
  readonly sendFrame: (frame: Uint8Array) => Effect.Effect<void, SseServerError>
  /** Binds a typed event to this source (the seed's `Source.NewEvent`). */
  readonly event: <A, I, R>(event: SseEvent.SseEvent<A, I, R>) => SourceEvent<A, R>
  /** Ends the response after the frames already queued. */
  readonly close: Effect.Effect<void>
}

/**
 * A typed event bound to a whole server (the seed's `Server.NewEvent`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerEvent<Id, A, R> {
  /**
   * Sends one value to every source: it is encoded once and the same bytes go to every connection (on every
   * process, with a shared history).
   */
  readonly send: (payload: A, options?: SseEvent.EncodeOptions) => Effect.Effect<void, SseServerError, R>
  /**
   * Sends each id **connected to this process** a payload of its own, computed from the id and its last event id
   * (once per id, from its newest connection). Local by design, as its name says: the function runs here, so ids
   * connected only to other processes get nothing. With a history, the payloads are recorded in one append, as
   * private entries of their ids, so a client that reconnects on any process gets its own payload replayed.
   *
   * @example
   * ```ts
   * import { Effect, Schema } from "effect"
   * import { SseEvent, type SseServer } from "effect-sse"
   *
   * const Notice = SseEvent.make("notice", Schema.Struct({ text: Schema.String }))
   * declare const sse: SseServer.SseServer<string>
   *
   * const greetEveryone = sse.event(Notice).sendEachLocal((user) => ({ text: `hello, ${user}` }))
   * ```
   */
  readonly sendEachLocal: (
    payloadOf: (id: Id, lastEventId: string) => A,
    options?: SseEvent.EncodeOptions
  ) => Effect.Effect<void, SseServerError, R>
}

/**
 * Options of one connection.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Message, type SseServer } from "effect-sse"
 *
 * declare const sse: SseServer.SseServer<string>
 *
 * const route = sse.connect("ada", {
 *   headers: { "access-control-allow-origin": "https://app.example" },
 *   // Runs before any live frame reaches the new source: greet it, or send it a snapshot.
 *   onOpen: (source) => source.send(Message.make({ event: "welcome", data: String(source.id) })),
 *   // Runs once it is gone, after it has left the registry.
 *   onClose: (source) => Effect.log(`${source.id} left`)
 * })
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface ConnectOptions<Id, E = never, R = never> {
  /**
   * Runs once the source is registered, before live frames flow to it: what it sends (a greeting, a snapshot)
   * goes out right after the opening `retry:` and any replay, and the broadcasts and sends made meanwhile follow,
   * in order. When it fails or is interrupted, the source is closed and `connect` fails with its error.
   */
  readonly onOpen?: ((source: Source<Id>) => Effect.Effect<void, E, R>) | undefined
  /**
   * Runs once the source is gone (its client left, it was closed, replaced or aborted, or `onOpen` failed), after
   * it has left the registry, in a fiber of the server's scope. Use it rather than a finalizer of the request's
   * scope: on the Node fast path, the request's scope closes as soon as `connect` returns.
   */
  readonly onClose?: ((source: Source<Id>) => Effect.Effect<void>) | undefined
  /**
   * Headers added to the event stream's response (e.g. CORS). On the Node fast path the head is sent inside
   * `connect`, so headers that middleware adds to the returned response do not reach the client: give them here.
   */
  readonly headers?: Headers.Input | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SseServer<Id> {
  readonly [TypeId]: TypeId
  /**
   * Registers the current request as the source `id` and returns the response that streams it (the seed's
   * `NewSource`). `options.onOpen` is given the new source before live frames flow to it. The connection belongs
   * to the server, not to the request: closing the server's scope ends it.
   *
   * With `effect-sse/SseServer/Node` provided, an HTTP/1.1 request on Node is taken over: the head and the
   * opening frames go out inside `connect`, and the response returned is an empty `200` with the stream's
   * headers: what middleware, logs and the request span see, while the stream goes on outside the handler (its
   * own `SseServer.connection` span covers its life). Otherwise the response streams the body.
   *
   * Past a connection limit, during shutdown, or for a request pipelined behind another response on its socket
   * (which Node would never report as gone), the response is a `503` with `Retry-After` and nothing registers.
   */
  readonly connect: <E = never, R = never>(
    id: Id,
    options?: ConnectOptions<Id, E, R>
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest | Scope.Scope>
  /** The newest open connection of an id (the seed's `Get`). */
  readonly get: (id: Id) => Effect.Effect<Option.Option<Source<Id>>>
  /** Every open connection of an id. */
  readonly getAll: (id: Id) => Effect.Effect<ReadonlyArray<Source<Id>>>
  /** The number of open connections (the seed's `Len`). */
  readonly size: Effect.Effect<number>
  /** Every open connection (the seed's `Range`). */
  readonly sources: Effect.Effect<ReadonlyArray<Source<Id>>>
  /**
   * Sends a message to every connection of an id; true when at least one took it. With a history, the message
   * is recorded for the id and reaches its connections on every process; true when one is open on this one.
   */
  readonly send: (id: Id, message: Message.Message) => Effect.Effect<boolean, SseServerError>
  /** Sends a message to every connection, encoded once. */
  readonly broadcast: (message: Message.Message) => Effect.Effect<void, SseServerError>
  /**
   * Sends an encoded frame to every connection, as it is: a history does not record it (it has no id to give).
   * The frame is shared with the writes, not copied: do not change its bytes afterwards.
   */
  readonly broadcastFrame: (frame: Uint8Array) => Effect.Effect<void>
  /** Binds a typed event to the server (the seed's `NewEvent`). */
  readonly event: <A, I, R>(event: SseEvent.SseEvent<A, I, R>) => ServerEvent<Id, A, R>
}

/**
 * Builds a server whose lifetime is the current scope: closing it ends every response. Given `history` options,
 * it opens its log in the `History` store, which it then requires.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { History, Message, SseServer } from "effect-sse"
 *
 * const program = Effect.gen(function*() {
 *   const sse = yield* SseServer.make<number>({ retry: "3 seconds", keepAlive: "15 seconds" })
 *   yield* sse.broadcast(Message.make({ data: "hello" }))
 *   const recorded = yield* SseServer.make<string>({ name: "chat", history: { key: (id) => id } })
 *   yield* recorded.send("ada", Message.make({ data: "replayed to ada if she reconnects" }))
 * }).pipe(Effect.scoped, Effect.provide(History.layerMemory()))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  <Id>(
    options: Options & { readonly history: HistoryOptions<Id> }
  ): Effect.Effect<SseServer<Id>, never, Scope.Scope | History.History>
  <Id>(options?: Options): Effect.Effect<SseServer<Id>, never, Scope.Scope>
} = internal.make as never

/**
 * A Layer for a server under the app's own tag. An app can run several servers, each under its own tag (and,
 * with a history, its own `name`).
 *
 * @example
 * ```ts
 * import { Context, Layer } from "effect"
 * import { History, SseServer } from "effect-sse"
 *
 * class Notifications extends Context.Tag("app/Notifications")<Notifications, SseServer.SseServer<number>>() {}
 * class Chat extends Context.Tag("app/Chat")<Chat, SseServer.SseServer<string>>() {}
 *
 * const NotificationsLive = SseServer.layer(Notifications, { retry: "3 seconds", keepAlive: "15 seconds" })
 * // Layer<Chat, never, History.History>: the store is a visible requirement.
 * const ChatLive = SseServer.layer(Chat, { name: "chat", history: { key: (id) => id } })
 * const AppLive = Layer.mergeAll(NotificationsLive, ChatLive).pipe(Layer.provide(History.layerMemory()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: {
  <Self, Id>(
    tag: Context.Tag<Self, SseServer<Id>>,
    options: Options & { readonly history: HistoryOptions<Id> }
  ): Layer.Layer<Self, never, History.History>
  <Self, Id>(tag: Context.Tag<Self, SseServer<Id>>, options?: Options): Layer.Layer<Self>
} = (<Self, Id>(
  tag: Context.Tag<Self, SseServer<Id>>,
  options?: Options & { readonly history?: HistoryOptions<Id> | undefined }
): Layer.Layer<Self, never, History.History> => Layer.scoped(tag, internal.make<Id>(options))) as never

/**
 * A Layer reading the options from Effect `Config`; the history options, which hold a function, are given
 * beside them.
 *
 * @example
 * ```ts
 * import { Config, Context } from "effect"
 * import { SseServer } from "effect-sse"
 *
 * class Events extends Context.Tag("app/Events")<Events, SseServer.SseServer<string>>() {}
 *
 * const EventsLive = SseServer.layerConfig(Events, {
 *   retry: Config.duration("SSE_RETRY").pipe(Config.withDefault("3 seconds")),
 *   keepAlive: Config.duration("SSE_KEEP_ALIVE").pipe(Config.withDefault("15 seconds")),
 *   bufferCapacity: Config.integer("SSE_BUFFER").pipe(Config.withDefault(256))
 * })
 * // With a history (requires History.History):
 * const RecordedLive = SseServer.layerConfig(Events, { name: Config.succeed("events") }, { key: (id) => id })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: {
  <Self, Id>(
    tag: Context.Tag<Self, SseServer<Id>>,
    options: Config.Config.Wrap<Options>,
    history: HistoryOptions<Id>
  ): Layer.Layer<Self, ConfigError.ConfigError, History.History>
  <Self, Id>(
    tag: Context.Tag<Self, SseServer<Id>>,
    options: Config.Config.Wrap<Options>
  ): Layer.Layer<Self, ConfigError.ConfigError>
} = (<Self, Id>(
  tag: Context.Tag<Self, SseServer<Id>>,
  options: Config.Config.Wrap<Options>,
  history?: HistoryOptions<Id>
): Layer.Layer<Self, ConfigError.ConfigError, History.History> =>
  Layer.scoped(tag, internal.makeConfig<Id>(options, history))) as never

/**
 * The SSE endpoint as an Effect, for a route handler: reads the server from its tag and connects the current
 * request under `id`. Use it after authenticating.
 *
 * @example
 * ```ts
 * import { HttpRouter, HttpServerRequest } from "@effect/platform"
 * import { Context, Effect } from "effect"
 * import { SseServer } from "effect-sse"
 *
 * class Events extends Context.Tag("app/Events")<Events, SseServer.SseServer<string>>() {}
 *
 * const route = HttpRouter.get(
 *   "/events",
 *   Effect.gen(function*() {
 *     const request = yield* HttpServerRequest.HttpServerRequest
 *     const user = request.headers["x-user"] ?? "anonymous" // authenticate here
 *     return yield* SseServer.connect(Events, user)
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category routes
 */
export const connect: <Self, Id, E = never, R = never>(
  tag: Context.Tag<Self, SseServer<Id>>,
  id: Id,
  options?: ConnectOptions<Id, E, R>
) => Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  E,
  R | Self | HttpServerRequest.HttpServerRequest | Scope.Scope
> = internal.connect

/**
 * An SSE endpoint in one line: the id comes from an Effect run per request (route params, headers, a session).
 *
 * @example
 * ```ts
 * import { HttpRouter } from "@effect/platform"
 * import { Context, Effect } from "effect"
 * import { SseServer } from "effect-sse"
 *
 * class Events extends Context.Tag("app/Events")<Events, SseServer.SseServer<string>>() {}
 *
 * const router = HttpRouter.empty.pipe(
 *   HttpRouter.get("/events/:id", SseServer.handler(Events, Effect.map(HttpRouter.params, (p) => p.id ?? "")))
 * )
 * ```
 *
 * @since 0.1.0
 * @category routes
 */
export const handler: <Self, Id, E, R, E2 = never, R2 = never>(
  tag: Context.Tag<Self, SseServer<Id>>,
  id: Effect.Effect<Id, E, R>,
  options?: ConnectOptions<Id, E2, R2>
) => Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  E | E2,
  R | R2 | Self | HttpServerRequest.HttpServerRequest | Scope.Scope
> = internal.handler

/**
 * The metrics every server updates, labelled `sse_server` with its name: open connections (gauge), and counters
 * of connections refused, frames sent, frames dropped and bytes written.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { SseServer } from "effect-sse"
 *
 * const open = Effect.map(
 *   Metric.value(SseServer.metrics.connectionsOpen.pipe(Metric.tagged("sse_server", "default"))),
 *   (state) => state.value
 * )
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics: typeof internal.metrics = internal.metrics
