/**
 * Typed SSE endpoints for `@effect/platform`'s `HttpApi`: declare the events once, and get the route, the
 * OpenAPI description of every event and a typed, reconnecting client from the same declaration.
 *
 * - **Declaring**: `events` names the typed events (`SseEvent`s) and an optional failure; `get` / `post` make an
 *   `HttpApiEndpoint` whose success is that event stream. Path, url params, headers and middleware (auth) are
 *   added with the endpoint's usual methods, and the endpoint goes into an `HttpApiGroup` like any other.
 * - **Serving**: in `HttpApiBuilder.group`, the handler returns `SseServer.connect(tag, id)` (every guarantee of
 *   the server: heartbeats, limits, replay from a `History`, slow-consumer policy) or `stream(declaration, events)`
 *   for a one-off stream of typed events, with heartbeats, `retry:` and an end marker.
 * - **Describing**: the endpoint's OpenAPI response is `text/event-stream` with the JSON Schema of each event in
 *   the `x-itemSchema` vendor extension (an OpenAPI 3.1 document stays valid); `toOpenApi32` turns a document
 *   into OpenAPI 3.2, where the same schema is the standard `itemSchema`.
 * - **Consuming**: `client(api)` is `HttpApiClient.make` whose event-stream endpoints return a `Stream` of the
 *   decoded events, on `SseClient` (reconnects, `Last-Event-ID`, typed errors). Declare `SseEvent.ReplayGap`
 *   among the events of an endpoint served by an `SseServer` with a `History`, and the client gets gap signals.
 *
 * Two event names are reserved on the wire: `effect-sse:failure` carries the declared failure (the client fails
 * its stream with it, decoded, and does not reconnect) and `effect-sse:end` says the stream is complete (the
 * client's stream ends, without reconnecting).
 *
 * @since 0.1.0
 */
import type * as HttpApi from "@effect/platform/HttpApi"
import type * as HttpApiClient from "@effect/platform/HttpApiClient"
import type * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import type * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import type * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as ParseResult from "effect/ParseResult"
import type * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type { Covariant, Simplify } from "effect/Types"
import * as internal from "./internal/httpApiSse.js"
import type * as Message from "./Message.js"
import type * as SseClient from "./SseClient.js"
import type * as SseEvent from "./SseEvent.js"
import type * as SseServer from "./SseServer.js"

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
 * The reserved event name that carries a declared failure.
 *
 * @since 0.1.0
 * @category wire
 */
export const failureEventName: string = internal.FAILURE_EVENT

/**
 * The reserved event name that says a stream is complete.
 *
 * @since 0.1.0
 * @category wire
 */
export const endEventName: string = internal.END_EVENT

/**
 * Typed events by tag, as `SseClient.decodeEvents` takes them: the keys are the `_tag`s on both sides. Their
 * schemas need no services, so that the server, the client and the OpenAPI document can all use them.
 *
 * @since 0.1.0
 * @category models
 */
// `any` as in `SseEvent.Any`: a payload type is both input and output, so no other type admits every event; the
// precise types are recovered by inference. Unlike `SseEvent.Any`, the schemas may not need services.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EventMap = Readonly<Record<string, SseEvent.SseEvent<any, any, never>>>

/**
 * The success type of an event-stream endpoint: never a value, only what tells the typed client which events
 * and which failure the endpoint has. Handlers return an `HttpServerResponse` (from `SseServer.connect` or
 * `stream`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Body<Events extends EventMap, E> {
  readonly [TypeId]: {
    readonly events: Covariant<Events>
    readonly failure: Covariant<E>
  }
}

/**
 * A declared event stream: its events, its failure and the success schema an endpoint carries.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventStream<Events extends EventMap, E> {
  readonly [TypeId]: TypeId
  readonly events: Events
  readonly failure: Schema.Schema<E, unknown> | undefined
  /** The endpoint's success schema: `text/event-stream`, described in OpenAPI by the events' union. */
  readonly schema: Schema.Schema<Body<Events, E>, unknown>
}

/**
 * One event a one-off stream sends: the tag of a declared event, its payload and, optionally, its id.
 *
 * @since 0.1.0
 * @category models
 */
export type Emit<Events extends EventMap> = {
  [K in keyof Events & string]: {
    readonly _tag: K
    readonly data: Events[K] extends SseEvent.SseEvent<infer A, infer _I, infer _R> ? A : never
    readonly id?: string | undefined
  }
}[keyof Events & string]

/**
 * One event the typed client yields: its tag, its decoded payload and the message it came in (for the id).
 *
 * @since 0.1.0
 * @category models
 */
export type Received<Events extends EventMap> = SseClient.Decoded<Events>

/**
 * Declares an event stream from typed events and an optional failure.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { HttpApiSse, SseEvent } from "effect-sse"
 *
 * class RoomClosed extends Schema.TaggedError<RoomClosed>()("RoomClosed", { room: Schema.String }) {}
 *
 * const RoomEvents = HttpApiSse.events({
 *   Chat: SseEvent.make("chat", Schema.Struct({ from: Schema.String, text: Schema.String })),
 *   Joined: SseEvent.make("joined", Schema.Struct({ user: Schema.String }))
 * }, { failure: RoomClosed })
 * ```
 *
 * @since 0.1.0
 * @category declaring
 */
export const events: <const Events extends EventMap, E = never, EI = never>(
  events: Events,
  options?: {
    /** Sent as `effect-sse:failure` when the stream fails with it; the client's stream fails with it, decoded. */
    readonly failure?: Schema.Schema<E, EI> | undefined
    /** The OpenAPI description of the stream. */
    readonly description?: string | undefined
  }
) => EventStream<Events, E> = internal.events

/**
 * A `GET` endpoint that streams the declared events. Chain `setPath`, `setUrlParams`, `setHeaders`, `middleware`
 * and `annotate` as on any endpoint, and add it to an `HttpApiGroup`. (The endpoint carries an `OpenApi.Transform`
 * annotation that moves the events' schema to `x-itemSchema`: annotate a transform of your own on the API or the
 * group rather than on the endpoint.)
 *
 * @example
 * ```ts
 * import { HttpApiGroup } from "@effect/platform"
 * import { Schema } from "effect"
 * import { HttpApiSse, SseEvent } from "effect-sse"
 *
 * const Chat = SseEvent.make("chat", Schema.Struct({ from: Schema.String, text: Schema.String }))
 * const RoomEvents = HttpApiSse.events({ Chat })
 *
 * const Rooms = HttpApiGroup.make("rooms").add(
 *   HttpApiSse.get("events", "/rooms/:room/events", RoomEvents).setPath(Schema.Struct({ room: Schema.String }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category declaring
 */
export const get = <const Name extends string, Events extends EventMap, E>(
  name: Name,
  path: HttpApiEndpoint.PathSegment,
  declaration: EventStream<Events, E>
): HttpApiEndpoint.HttpApiEndpoint<Name, "GET", never, never, never, never, Body<Events, E>> =>
  internal.endpoint("GET", name, path, declaration)

/**
 * A `POST` endpoint that streams the declared events, for streams started with a request body (as AI APIs are
 * called): add the body with `setPayload`; the client sends it as JSON, and again on every reconnect.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { HttpApiSse, SseEvent } from "effect-sse"
 *
 * const Token = SseEvent.make("token", Schema.String)
 * const completion = HttpApiSse.post("complete", "/complete", HttpApiSse.events({ Token }))
 *   .setPayload(Schema.Struct({ prompt: Schema.String }))
 * ```
 *
 * @since 0.1.0
 * @category declaring
 */
export const post = <const Name extends string, Events extends EventMap, E>(
  name: Name,
  path: HttpApiEndpoint.PathSegment,
  declaration: EventStream<Events, E>
): HttpApiEndpoint.HttpApiEndpoint<Name, "POST", never, never, never, never, Body<Events, E>> =>
  internal.endpoint("POST", name, path, declaration)

/**
 * Turns an OpenAPI 3.1 document from `OpenApi.fromApi` into OpenAPI 3.2: `openapi: "3.2.0"`, and every
 * event-stream response gets the standard `itemSchema` (the `x-itemSchema` extension stays, for tools that know
 * only 3.1). Returns a copy. Use it on a served document with `OpenApi.annotations({ transform })` on the API.
 *
 * @example
 * ```ts
 * import { HttpApi, OpenApi } from "@effect/platform"
 * import { HttpApiSse } from "effect-sse"
 *
 * const Api = HttpApi.make("api").annotateContext(OpenApi.annotations({ transform: HttpApiSse.toOpenApi32 }))
 * const document = OpenApi.fromApi(Api) // openapi: "3.2.0"
 * ```
 *
 * @since 0.1.0
 * @category describing
 */
export const toOpenApi32: <A extends object>(spec: A) => A = internal.toOpenApi32

/**
 * @since 0.1.0
 * @category serving
 */
export interface StreamOptions {
  /** Written first, as `retry:` (a negative or infinite one is a defect of the handler). Absent: a comment. */
  readonly retry?: Duration.DurationInput | undefined
  /** A heartbeat comment is written after this long without an event. Default 15 seconds; zero turns it off. */
  readonly keepAlive?: Duration.DurationInput | undefined
}

/**
 * The response of a one-off event stream, for a handler: each element of `events` is encoded with its declared
 * event; when the stream ends the client is sent `effect-sse:end` (its stream ends, it does not reconnect); when
 * it fails with the declared failure the client is sent `effect-sse:failure` (its stream fails with the error).
 * Anything else (an event that does not encode, a defect) is logged and ends the response without the end event,
 * so the client reconnects, with `Last-Event-ID` if the events had ids: read it with `lastEventId` to resume.
 *
 * @example
 * ```ts
 * import { HttpApi, HttpApiBuilder, HttpApiGroup } from "@effect/platform"
 * import { Schema, Stream } from "effect"
 * import { HttpApiSse, SseEvent } from "effect-sse"
 *
 * const Token = SseEvent.make("token", Schema.String)
 * const Completion = HttpApiSse.events({ Token })
 * const Api = HttpApi.make("api").add(
 *   HttpApiGroup.make("ai").add(
 *     HttpApiSse.post("complete", "/complete", Completion).setPayload(Schema.Struct({ prompt: Schema.String }))
 *   )
 * )
 *
 * const AiLive = HttpApiBuilder.group(Api, "ai", (handlers) =>
 *   handlers.handle("complete", ({ payload }) =>
 *     HttpApiSse.stream(
 *       Completion,
 *       Stream.make(...payload.prompt.split(" ")).pipe(Stream.map((word) => ({ _tag: "Token" as const, data: word })))
 *     )))
 * ```
 *
 * @since 0.1.0
 * @category serving
 */
export const stream: <Events extends EventMap, E, R>(
  declaration: EventStream<Events, E>,
  events: Stream.Stream<Emit<Events>, E, R>,
  options?: StreamOptions
) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> = internal.stream

/**
 * The request's `Last-Event-ID` (empty on a first connection), for a one-off stream that resumes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpApiSse } from "effect-sse"
 *
 * const resumeAfter = Effect.map(HttpApiSse.lastEventId, (id) => (id === "" ? 0 : Number(id)))
 * ```
 *
 * @since 0.1.0
 * @category serving
 */
export const lastEventId: Effect.Effect<string, never, HttpServerRequest.HttpServerRequest> = internal.lastEventId

/**
 * Ends a connected `SseServer` source with a declared failure: sends `effect-sse:failure` and closes the
 * response. The typed client's stream fails with the error and does not reconnect.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { HttpApiSse, type SseServer, SseEvent } from "effect-sse"
 *
 * class RoomClosed extends Schema.TaggedError<RoomClosed>()("RoomClosed", { room: Schema.String }) {}
 * const RoomEvents = HttpApiSse.events({ Chat: SseEvent.make("chat", Schema.String) }, { failure: RoomClosed })
 *
 * declare const source: SseServer.Source<string>
 * const program = HttpApiSse.failSource(RoomEvents, source, new RoomClosed({ room: "lobby" }))
 * ```
 *
 * @since 0.1.0
 * @category serving
 */
export const failSource: <Events extends EventMap, E, Id>(
  declaration: EventStream<Events, E>,
  source: SseServer.Source<Id>,
  error: E
) => Effect.Effect<void, SseServer.SseServerError | SseEvent.SseEventError> = internal.failSource

/**
 * Ends a connected `SseServer` source for good: sends `effect-sse:end` and closes the response. The typed
 * client's stream ends and does not reconnect (a plain `source.close` makes it reconnect).
 *
 * @example
 * ```ts
 * import { HttpApiSse, type SseServer } from "effect-sse"
 *
 * declare const source: SseServer.Source<string>
 * const program = HttpApiSse.endSource(source)
 * ```
 *
 * @since 0.1.0
 * @category serving
 */
export const endSource: <Id>(source: SseServer.Source<Id>) => Effect.Effect<void, SseServer.SseServerError> =
  internal.endSource

/**
 * What an event-stream endpoint takes: its typed path, url params, headers and payload, as `HttpApiClient`'s
 * methods do.
 *
 * @since 0.1.0
 * @category consuming
 */
export type Request<Path, UrlParams, Payload, Headers> = (
  & ([Path] extends [void] ? unknown : { readonly path: Path })
  & ([UrlParams] extends [never] ? unknown : { readonly urlParams: UrlParams })
  & ([Headers] extends [never] ? unknown : { readonly headers: Headers })
  & ([Payload] extends [never] ? unknown : { readonly payload: Payload })
) extends infer Req ? keyof Req extends never ? void : Req : void

/**
 * The typed client: `HttpApiClient.Client`, where every event-stream endpoint is a function returning a `Stream`
 * of its decoded events. It fails with the stream's declared failure (sent by the server mid-stream), an error
 * the endpoint, its group or the API declares (a refusal before the stream starts, e.g. the auth middleware's
 * `Unauthorized`), an `SseClient` error (after the reconnects `SseClient` allows), or a `ParseError` when the
 * request's own input does not encode.
 *
 * @since 0.1.0
 * @category consuming
 */
export type Client<Groups extends HttpApiGroup.HttpApiGroup.Any, E> = Simplify<
  & {
    readonly [Group in Extract<Groups, { readonly topLevel: false }> as HttpApiGroup.HttpApiGroup.Name<Group>]:
      ClientGroup<Group, Group["identifier"], E>
  }
  & {
    readonly [Method in ClientTopLevelMethods<Groups, E> as Method[0]]: Method[1]
  }
>

/**
 * @since 0.1.0
 * @category consuming
 */
export type ClientGroup<Groups extends HttpApiGroup.HttpApiGroup.Any, GroupName extends Groups["identifier"], E> =
  [HttpApiGroup.HttpApiGroup.WithName<Groups, GroupName>] extends
    [HttpApiGroup.HttpApiGroup<infer _GroupName, infer _Endpoints, infer _GroupError, infer _GroupErrorR>] ? {
      readonly [Endpoint in _Endpoints as HttpApiEndpoint.HttpApiEndpoint.Name<Endpoint>]: ClientMethod<
        Endpoint,
        E,
        _GroupError
      >
    } :
    never

/**
 * An event-stream endpoint's function, or `HttpApiClient`'s for any other endpoint.
 *
 * @since 0.1.0
 * @category consuming
 */
export type ClientMethod<Endpoint, E, GroupError> = [Endpoint] extends [
  HttpApiEndpoint.HttpApiEndpoint<
    infer _Name,
    infer _Method,
    infer _Path,
    infer _UrlParams,
    infer _Payload,
    infer _Headers,
    infer _Success,
    infer _Error,
    infer _R,
    infer _RE
  >
] ? [_Success] extends [Body<infer Events, infer F>] ? (
      request: Simplify<Request<_Path, _UrlParams, _Payload, _Headers>>,
      options?: SseClient.Options
    ) => Stream.Stream<
      Received<Events>,
      F | _Error | GroupError | E | SseClient.SseClientError | ParseResult.ParseError
    >
  : HttpApiClient.Client.Method<Endpoint, E, GroupError, never>
  : never

/**
 * @since 0.1.0
 * @category consuming
 */
export type ClientTopLevelMethods<Groups extends HttpApiGroup.HttpApiGroup.Any, E> =
  Extract<Groups, { readonly topLevel: true }> extends
    HttpApiGroup.HttpApiGroup<infer _Id, infer _Endpoints, infer _Error, infer _ErrorR, infer _TopLevel> ?
    _Endpoints extends infer Endpoint ?
      [HttpApiEndpoint.HttpApiEndpoint.Name<Endpoint>, ClientMethod<Endpoint, E, _Error>]
    : never :
    never

/**
 * @since 0.1.0
 * @category consuming
 */
export interface ClientOptions {
  /** Prepended to every request's URL. */
  readonly baseUrl?: URL | string | undefined
  /** Applied to the `HttpClient` of every request, the event streams' included (e.g. to add a token). */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/**
 * Derives a typed client from an `HttpApi`, like `HttpApiClient.make`: ordinary endpoints are `HttpApiClient`'s;
 * an event-stream endpoint is a function of its typed request (and `SseClient.Options`, e.g. a reconnect
 * schedule, `lastEventId`, `onState`) that returns a `Stream` of its decoded events. The stream reconnects as
 * `SseClient` does, sending `Last-Event-ID`; it fails with the endpoint's declared failure when the server sends
 * it, and ends when the server says the stream is complete.
 *
 * @example
 * ```ts
 * import { HttpApi, HttpApiGroup } from "@effect/platform"
 * import { Effect, Schema, Stream } from "effect"
 * import { HttpApiSse, SseEvent } from "effect-sse"
 *
 * const Chat = SseEvent.make("chat", Schema.Struct({ from: Schema.String, text: Schema.String }))
 * const Api = HttpApi.make("api").add(
 *   HttpApiGroup.make("rooms").add(
 *     HttpApiSse.get("events", "/rooms/:room/events", HttpApiSse.events({ Chat }))
 *       .setPath(Schema.Struct({ room: Schema.String }))
 *   )
 * )
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* HttpApiSse.client(Api, { baseUrl: "http://127.0.0.1:3000" })
 *   yield* client.rooms.events({ path: { room: "lobby" } }).pipe(
 *     Stream.runForEach((event) => Effect.log(`${event.data.from}: ${event.data.text}`))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category consuming
 */
export const client: <ApiId extends string, Groups extends HttpApiGroup.HttpApiGroup.Any, ApiError, ApiR>(
  api: HttpApi.HttpApi<ApiId, Groups, ApiError, ApiR>,
  options?: ClientOptions
) => Effect.Effect<
  Client<Groups, ApiError>,
  never,
  | HttpApiMiddleware.HttpApiMiddleware.Without<ApiR | HttpApiGroup.HttpApiGroup.ClientContext<Groups>>
  | HttpClient.HttpClient
> = internal.client as never

/**
 * Decodes any stream of messages with a declaration, as the typed client does: for a stream read some other way
 * (e.g. `SseClient.stream` with a request of your own).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { HttpApiSse, SseClient, SseEvent } from "effect-sse"
 *
 * const RoomEvents = HttpApiSse.events({ Chat: SseEvent.make("chat", Schema.String) })
 * const events = SseClient.get("http://127.0.0.1:3000/rooms/lobby/events").pipe(HttpApiSse.decode(RoomEvents))
 * ```
 *
 * @since 0.1.0
 * @category consuming
 */
export const decode: <Events extends EventMap, E>(
  declaration: EventStream<Events, E>
) => <E1, R>(
  messages: Stream.Stream<Message.Received, E1, R>
) => Stream.Stream<Received<Events>, E1 | E | SseClient.SseClientError, R> = internal.decode
