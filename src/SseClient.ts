/**
 * The receiving half: any `text/event-stream` endpoint as a `Stream` of messages, on `@effect/platform`'s
 * `HttpClient` (Node, browsers, Bun, Deno), reconnecting the way the standard's `EventSource` does: after the
 * server's `retry:` time, with `Last-Event-ID`, stopping on `204 No Content`.
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
import type * as Message from "./Message.js"
import type * as SseEvent from "./SseEvent.js"

/**
 * Why a stream failed:
 *
 * - `Transport`: the request or the response body failed (the cause is the `HttpClientError`). Reconnects.
 * - `Status`: the server answered neither 200 nor 204 (`status`, `contentType` and the first bytes of `body`
 *   say what it sent instead). 5xx, 408 and 429 reconnect, honouring `Retry-After`; other statuses fail.
 * - `ContentType`: a 200 that is not `text/event-stream`. Fails, as in the standard.
 * - `EventTooLarge`: an event grew past `maxEventSize`. Fails.
 * - `Stalled`: nothing arrived, not even a heartbeat, for `idleTimeout`. Reconnects.
 * - `Decode`: a typed event's data did not decode (`event` names it); from `decodeEvents`.
 *
 * @since 0.1.0
 * @category errors
 */
export type SseClientErrorReason = "Transport" | "Status" | "ContentType" | "EventTooLarge" | "Stalled" | "Decode"

/**
 * The one error of the client, with a `reason`.
 *
 * @example
 * ```ts
 * import { SseClient } from "effect-sse"
 * import { Effect, Stream } from "effect"
 *
 * const program = SseClient.get("http://127.0.0.1:3000/events").pipe(
 *   Stream.runDrain,
 *   Effect.catchTag("SseClientError", (error) =>
 *     error.reason === "Status" ? Effect.log(`refused with ${error.status}`) : Effect.fail(error))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const SseClientError: typeof internal.SseClientError = internal.SseClientError

/**
 * @since 0.1.0
 * @category errors
 */
export type SseClientError = internal.SseClientError

/**
 * What the reconnect schedule sees each time a connection ends.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryInput {
  /** Why the connection ended; `undefined` when the server ended the response normally. */
  readonly error: SseClientError | undefined
  /** The reconnection time: the server's latest `retry:`, else the `retry` option (3 seconds by default). */
  readonly retry: Duration.Duration
  /** The `Retry-After` of a 503, 429 or other refusal, when it had one. */
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
 * @since 0.1.0
 * @category models
 */
export interface Options<R = never> {
  /**
   * `true` (the default) reconnects with `defaultSchedule()`; `false` never reconnects (a server ending the
   * response then ends the stream); a `Schedule` fed with `RetryInput` decides for itself. The schedule starts
   * over once a connection opens.
   */
  readonly reconnect?: boolean | Schedule.Schedule<unknown, RetryInput, R> | undefined
  /** Which errors reconnect. Default: `Transport`, `Stalled`, and `Status` 5xx, 408 or 429. */
  readonly shouldReconnect?: ((error: SseClientError) => boolean) | undefined
  /** Extra request headers, computed again before every attempt (e.g. a fresh token). */
  readonly headers?: Effect.Effect<Headers.Input, never, R> | undefined
  /** A connection on which nothing arrives for this long is dropped (reason `Stalled`). Default: none. */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /** The reconnection time until the server sends `retry:`. Default: 3 seconds. */
  readonly retry?: Duration.DurationInput | undefined
  /** The largest event the parser buffers. Default: `Parser.defaultMaxEventSize`. */
  readonly maxEventSize?: number | undefined
  /** Resume from this id: the first request sends it as `Last-Event-ID`. */
  readonly lastEventId?: string | undefined
  /** Told of every connection state change. */
  readonly onState?: ((state: ConnectionState) => Effect.Effect<void, never, R>) | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface DefaultScheduleOptions {
  /** The longest wait that backing off reaches (a longer `retry:` or `Retry-After` is still honoured). Default 30 seconds. */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** Up to this fraction is added to each wait, at random, so that many clients spread out. Default 0.2. */
  readonly jitter?: number | undefined
}

/**
 * The default reconnect schedule: wait the server's `retry:` time (3 seconds when it sent none), doubled for
 * every further failure in a row up to `maxDelay`, never less than a `Retry-After`, plus up to 20% jitter.
 * It never gives up; compose it with `Schedule.recurs` (or `Schedule.upTo`) to bound it.
 *
 * @example
 * ```ts
 * import { SseClient } from "effect-sse"
 * import { HttpClientRequest } from "@effect/platform"
 * import { Schedule } from "effect"
 *
 * // Five reconnects in a row at most, backing off up to 10 seconds.
 * const schedule = SseClient.defaultSchedule({ maxDelay: "10 seconds" }).pipe(Schedule.intersect(Schedule.recurs(5)))
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
 * reason `Decode`, naming the event.
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
  ) => Stream.Stream<Decoded<Events> | Unknown, E | SseClientError, R | EventMapContext<Events>>
  <const Events extends EventMap>(
    events: Events,
    options?: DecodeEventsOptions
  ): <E, R>(
    self: Stream.Stream<Message.Received, E, R>
  ) => Stream.Stream<Decoded<Events>, E | SseClientError, R | EventMapContext<Events>>
  // The internal function is typed loosely; these signatures say what it yields.
} = internal.decodeEvents as never
