/**
 * The receiving half: any `text/event-stream` endpoint as a `Stream` of messages, on `@effect/platform`'s
 * `HttpClient` (Node, browsers, Bun, Deno), reconnecting the way the standard's `EventSource` does: after the
 * server's `retry:` time, with `Last-Event-ID`, stopping on `204 No Content`. Built to run unattended: every
 * wait is bounded (`minDelay` / `maxDelay`, `idleTimeout`), a failed attempt leaves nothing behind but its
 * small error, only one request is open at a time, and errors are tagged classes to match with
 * `Effect.catchTags`.
 *
 * @since 0.1.0
 */
import type * as Headers from "@effect/platform/Headers"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/sseClient.js"
import * as errors from "./internal/sseClientError.js"
import type * as Message from "./Message.js"
import type * as SseEvent from "./SseEvent.js"

/**
 * The identity carried by every error of the client.
 *
 * @since 0.2.0
 * @category type ids
 */
export const TypeId: unique symbol = errors.TypeId

/**
 * @since 0.2.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why a stream failed. Each error's `_tag` is its class name, so `Effect.catchTags` takes them by name:
 *
 * - `TransportError`: the connection failed (`reason` `Connect`: it was never established, so the server did
 *   not see the request; `Request`: before the response headers; `Body`: while reading; `Timeout`: nothing
 *   happened for `idleTimeout`). Reconnects.
 * - `StatusError`: the server answered neither 200 nor 204. 5xx, 408 and 429 reconnect (honouring
 *   `Retry-After`); any other status ends the stream, 3xx included (redirects are not followed).
 * - `ContentTypeError`: a 200 that is not `text/event-stream`. Ends the stream, as in the standard.
 * - `ContentEncodingError`: a compressed body that the `HttpClient` did not decode. Ends the stream.
 * - `EventTooLargeError`: an event grew past `maxEventSize`. Ends the stream.
 * - `DecodeError`: a typed event's data did not decode; from `decodeEvents`.
 *
 * @example
 * ```ts
 * import { SseClient } from "effect-sse"
 * import { Effect, Stream } from "effect"
 *
 * const program = SseClient.get("http://127.0.0.1:3000/events").pipe(
 *   Stream.runDrain,
 *   Effect.catchTags({
 *     StatusError: (error) => Effect.log(`refused with ${error.status}`),
 *     ContentTypeError: (error) => Effect.log(`not an event stream: ${error.contentType}`)
 *   })
 * )
 * ```
 *
 * @since 0.2.0
 * @category errors
 */
export type SseClientError =
  | TransportError
  | StatusError
  | ContentTypeError
  | ContentEncodingError
  | EventTooLargeError
  | DecodeError

/**
 * Whether a value is one of the client's errors.
 *
 * @example
 * ```ts
 * import { SseClient } from "effect-sse"
 *
 * SseClient.isSseClientError(new SseClient.EventTooLargeError({ maxEventSize: 1024 })) // true
 * ```
 *
 * @since 0.2.0
 * @category guards
 */
export const isSseClientError: (u: unknown) => u is SseClientError = errors.isSseClientError

/**
 * The connection failed or made no progress. `description` says what happened; `cause` is the socket's or
 * fetch's own error, when there was one.
 *
 * @example
 * ```ts
 * import { SseClient } from "effect-sse"
 *
 * const error = new SseClient.TransportError({ reason: "Timeout", description: "nothing received within 30 seconds" })
 * console.log(error.message) // "Timeout: nothing received within 30 seconds"
 * ```
 *
 * @since 0.2.0
 * @category errors
 */
export const TransportError: typeof errors.TransportError = errors.TransportError

/**
 * @since 0.2.0
 * @category errors
 */
export type TransportError = errors.TransportError

/**
 * The server answered with a status other than 200 and 204: `status`, its `contentType`, a redirect's
 * `location`, and the first bytes of its `body`.
 *
 * @example
 * ```ts
 * import { SseClient } from "effect-sse"
 * import { Effect, Stream } from "effect"
 *
 * const program = SseClient.get("http://127.0.0.1:3000/events").pipe(
 *   Stream.runDrain,
 *   Effect.catchTag("StatusError", (error) => error.status === 401 ? Effect.log("log in again") : Effect.fail(error))
 * )
 * ```
 *
 * @since 0.2.0
 * @category errors
 */
export const StatusError: typeof errors.StatusError = errors.StatusError

/**
 * @since 0.2.0
 * @category errors
 */
export type StatusError = errors.StatusError

/**
 * A 200 that is not `text/event-stream` (`contentType` is `""` when the header was missing).
 *
 * @example
 * ```ts
 * import { SseClient } from "effect-sse"
 *
 * const error = new SseClient.ContentTypeError({ contentType: "text/html", body: "<!doctype html>" })
 * ```
 *
 * @since 0.2.0
 * @category errors
 */
export const ContentTypeError: typeof errors.ContentTypeError = errors.ContentTypeError

/**
 * @since 0.2.0
 * @category errors
 */
export type ContentTypeError = errors.ContentTypeError

/**
 * The body came compressed (`contentEncoding`) and the `HttpClient` did not decode it. The client asks for
 * `Accept-Encoding: identity` unless the request sets it; a server or proxy that compresses anyway is refused
 * at once, rather than read as an empty stream and reconnected forever.
 *
 * @example
 * ```ts
 * import { SseClient } from "effect-sse"
 *
 * const error = new SseClient.ContentEncodingError({ contentEncoding: "gzip" })
 * ```
 *
 * @since 0.2.0
 * @category errors
 */
export const ContentEncodingError: typeof errors.ContentEncodingError = errors.ContentEncodingError

/**
 * @since 0.2.0
 * @category errors
 */
export type ContentEncodingError = errors.ContentEncodingError

/**
 * An event grew past `maxEventSize`.
 *
 * @example
 * ```ts
 * import { SseClient } from "effect-sse"
 *
 * const error = new SseClient.EventTooLargeError({ maxEventSize: 4 * 1024 * 1024 })
 * ```
 *
 * @since 0.2.0
 * @category errors
 */
export const EventTooLargeError: typeof errors.EventTooLargeError = errors.EventTooLargeError

/**
 * @since 0.2.0
 * @category errors
 */
export type EventTooLargeError = errors.EventTooLargeError

/**
 * A typed event's data did not decode (`event` names it; `cause` is the `SseEvent.SseEventError`).
 *
 * @example
 * ```ts
 * import { SseClient } from "effect-sse"
 *
 * const error = new SseClient.DecodeError({ event: "chat", cause: undefined })
 * ```
 *
 * @since 0.2.0
 * @category errors
 */
export const DecodeError: typeof errors.DecodeError = errors.DecodeError

/**
 * @since 0.2.0
 * @category errors
 */
export type DecodeError = errors.DecodeError

/**
 * The rule the client follows when no `shouldReconnect` is given: `TransportError`s reconnect, and
 * `StatusError`s of 5xx, 408 and 429; nothing else does. Extend it in a rule of your own.
 *
 * @example
 * ```ts
 * import { SseClient } from "effect-sse"
 *
 * // Also wait out a 404 while the stream is being created.
 * const stream = SseClient.get("http://127.0.0.1:3000/events", {
 *   shouldReconnect: (error) =>
 *     SseClient.defaultShouldReconnect(error) || (error._tag === "StatusError" && error.status === 404)
 * })
 * ```
 *
 * @since 0.2.0
 * @category reconnecting
 */
export const defaultShouldReconnect: (error: SseClientError) => boolean = errors.defaultShouldReconnect

/**
 * What the reconnect schedule sees each time a connection ends.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryInput {
  /** Why the connection ended; `undefined` when the server ended the response normally. */
  readonly error: SseClientError | undefined
  /**
   * The reconnection time: the server's latest `retry:`, else the `retry` option (3 seconds by default), held
   * between `minDelay` and `maxDelay`.
   */
  readonly retry: Duration.Duration
  /** The `Retry-After` of a 503, 429 or other refusal, when it had one, held between `minDelay` and `maxDelay`. */
  readonly retryAfter: Duration.Duration | undefined
  /** The id that the next request sends as `Last-Event-ID`. */
  readonly lastEventId: string
}

/**
 * The connection's life, for UIs: `Connecting` (attempt 1, 2, ...), `Open`, `Retrying` after `delay`, and
 * `Closed` once the stream ends (204, a failure, the schedule giving up, or interruption).
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionState =
  | { readonly _tag: "Connecting"; readonly attempt: number }
  | { readonly _tag: "Open"; readonly attempt: number }
  | { readonly _tag: "Retrying"; readonly attempt: number; readonly delay: Duration.Duration }
  | { readonly _tag: "Closed"; readonly attempt: number }

/**
 * The floor and ceiling of every wait before a reconnection, whoever chose it: the server's `retry:`, a
 * `Retry-After`, the default schedule or a custom one.
 *
 * @since 0.2.0
 * @category models
 */
export interface DelayOptions {
  /** The shortest wait: a `retry: 0` cannot make the client hammer a server. Default 100 milliseconds. */
  readonly minDelay?: Duration.DurationInput | undefined
  /** The longest wait: a huge `retry:` or `Retry-After` cannot silence the client. Default 5 minutes. */
  readonly maxDelay?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<R = never> extends DelayOptions {
  /**
   * `true` (the default) reconnects with `defaultSchedule()`; `false` never reconnects (a server ending the
   * response then ends the stream); a `Schedule` fed with `RetryInput` decides for itself, its waits held
   * between `minDelay` and `maxDelay`. The schedule starts over once a connection delivers a message.
   */
  readonly reconnect?: boolean | Schedule.Schedule<unknown, RetryInput, R> | undefined
  /** Which errors reconnect. Default: `defaultShouldReconnect`. */
  readonly shouldReconnect?: ((error: SseClientError) => boolean) | undefined
  /** Extra request headers, computed again before every attempt (e.g. a fresh token). */
  readonly headers?: Effect.Effect<Headers.Input, never, R> | undefined
  /**
   * The longest an attempt may make no progress: connecting and waiting for the response headers, then
   * between two chunks of the body (heartbeat comments count). Past it the attempt fails with a
   * `TransportError` of reason `Timeout` (and reconnects). Default: none; set it to a few times the server's
   * heartbeat interval.
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /** The reconnection time until the server sends `retry:`. Default: 3 seconds. */
  readonly retry?: Duration.DurationInput | undefined
  /** The largest event the parser buffers. Default: `Parser.defaultMaxEventSize`. */
  readonly maxEventSize?: number | undefined
  /** Resume from this id: the first request sends it as `Last-Event-ID`. */
  readonly lastEventId?: string | undefined
  /**
   * The request must reach the server at most once (a `POST` that starts a job, say): the client still retries
   * connections that were never established (`TransportError` reason `Connect`), but once a request may have
   * been received it is not sent again; where the client would reconnect, the stream ends (or fails) instead.
   * Default `false`.
   */
  readonly sendOnce?: boolean | undefined
  /** Told of every connection state change. */
  readonly onState?: ((state: ConnectionState) => Effect.Effect<void, never, R>) | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface DefaultScheduleOptions {
  /**
   * The longest wait that backing off reaches (a longer `retry:` or `Retry-After` is still honoured, up to the
   * client's `maxDelay`). Default 30 seconds.
   */
  readonly maxBackoff?: Duration.DurationInput | undefined
  /** Up to this fraction is added to each wait, at random, so that many clients spread out. Default 0.2. */
  readonly jitter?: number | undefined
}

/**
 * The default reconnect schedule: wait the server's `retry:` time (3 seconds when it sent none), doubled for
 * every further failure in a row up to `maxBackoff`, never less than a `Retry-After`, plus up to 20% jitter.
 * The client holds every wait between its `minDelay` and `maxDelay`, so that a `retry: 0` backs off from 100
 * milliseconds rather than from nothing.
 * It never gives up; compose it with `Schedule.recurs` (or `Schedule.upTo`) to bound it.
 *
 * @example
 * ```ts
 * import { SseClient } from "effect-sse"
 * import { HttpClientRequest } from "@effect/platform"
 * import { Schedule } from "effect"
 *
 * // Five reconnects in a row at most, backing off up to 10 seconds.
 * const schedule = SseClient.defaultSchedule({ maxBackoff: "10 seconds" }).pipe(Schedule.intersect(Schedule.recurs(5)))
 * const events = SseClient.stream(HttpClientRequest.get("http://127.0.0.1:3000/events"), { reconnect: schedule })
 * ```
 *
 * @since 0.1.0
 * @category reconnecting
 */
export const defaultSchedule: (options?: DefaultScheduleOptions) => Schedule.Schedule<unknown, RetryInput> =
  internal.defaultSchedule

/**
 * Streams the messages of an event-stream endpoint. The request may be any method with any body (a `POST`
 * with JSON, as AI streaming APIs are called); the client adds `Accept: text/event-stream` and
 * `Cache-Control: no-cache`, and `Last-Event-ID` when resuming. Interrupting the stream aborts the request.
 *
 * @example
 * ```ts
 * import { SseClient } from "effect-sse"
 * import { FetchHttpClient, HttpClientRequest } from "@effect/platform"
 * import { Effect, Stream } from "effect"
 *
 * const program = SseClient.stream(HttpClientRequest.get("http://127.0.0.1:3000/events")).pipe(
 *   Stream.take(10),
 *   Stream.runForEach((message) => Effect.log(message.event, message.data)),
 *   Effect.provide(FetchHttpClient.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const stream: <R = never>(
  request: HttpClientRequest.HttpClientRequest,
  options?: Options<R>
) => Stream.Stream<Message.Received, SseClientError, HttpClient.HttpClient | R> = internal.stream

/**
 * `stream` for a `GET` of a URL.
 *
 * @example
 * ```ts
 * import { SseClient } from "effect-sse"
 * import { Stream } from "effect"
 *
 * const messages = SseClient.get("http://127.0.0.1:3000/events", { idleTimeout: "45 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const get = <R = never>(
  url: string | URL,
  options?: Options<R>
): Stream.Stream<Message.Received, SseClientError, HttpClient.HttpClient | R> =>
  internal.stream(HttpClientRequest.get(url), options)

/**
 * Typed events by tag: the keys become the `_tag`s of the decoded union.
 *
 * @since 0.1.0
 * @category typed events
 */
export type EventMap = Readonly<Record<string, SseEvent.Any>>

/**
 * What the schemas of an `EventMap` require.
 *
 * @since 0.1.0
 * @category typed events
 */
export type EventMapContext<Events extends EventMap> = {
  [K in keyof Events]: Events[K] extends SseEvent.SseEvent<infer _A, infer _I, infer R> ? R : never
}[keyof Events]

/**
 * A decoded typed event: its tag, its payload, and the message it came in (for the id).
 *
 * @since 0.1.0
 * @category typed events
 */
export type Decoded<Events extends EventMap> = {
  [K in keyof Events & string]: {
    readonly _tag: K
    readonly data: Events[K] extends SseEvent.SseEvent<infer A, infer _I, infer _R> ? A : never
    readonly message: Message.Received
  }
}[keyof Events & string]

/**
 * A message of no declared event, when `decodeEvents` is asked to surface them.
 *
 * @since 0.1.0
 * @category typed events
 */
export interface Unknown {
  readonly _tag: "Unknown"
  readonly message: Message.Received
}

/**
 * @since 0.1.0
 * @category typed events
 */
export interface DecodeEventsOptions {
  /** `"skip"` (the default) drops messages of undeclared events; `"surface"` yields them as `Unknown`. */
  readonly unknown?: "skip" | "surface" | undefined
}

/**
 * Decodes messages into a discriminated union of typed events. Data that does not decode fails the stream with
 * a `DecodeError`, naming the event.
 *
 * @example
 * ```ts
 * import { SseClient, SseEvent } from "effect-sse"
 * import { Effect, Schema, Stream } from "effect"
 *
 * const Chat = SseEvent.make("chat", Schema.Struct({ from: Schema.String, text: Schema.String }))
 * const Joined = SseEvent.make("joined", Schema.Struct({ user: Schema.String }))
 *
 * const program = SseClient.get("http://127.0.0.1:3000/events").pipe(
 *   SseClient.decodeEvents({ Chat, Joined }),
 *   Stream.runForEach((event) =>
 *     event._tag === "Chat" ? Effect.log(`${event.data.from}: ${event.data.text}`) : Effect.log(`${event.data.user} joined`)
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category typed events
 */
export const decodeEvents: {
  <const Events extends EventMap>(
    events: Events,
    options: DecodeEventsOptions & { readonly unknown: "surface" }
  ): <E, R>(
    self: Stream.Stream<Message.Received, E, R>
  ) => Stream.Stream<Decoded<Events> | Unknown, E | DecodeError, R | EventMapContext<Events>>
  <const Events extends EventMap>(
    events: Events,
    options?: DecodeEventsOptions
  ): <E, R>(
    self: Stream.Stream<Message.Received, E, R>
  ) => Stream.Stream<Decoded<Events>, E | DecodeError, R | EventMapContext<Events>>
  // The internal function is typed loosely; these signatures say what it yields.
} = internal.decodeEvents as never
