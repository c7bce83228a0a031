import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import * as Stream from "effect/Stream"
import type * as Message from "../Message.js"
import * as Parser from "../Parser.js"
import type * as SseClient from "../SseClient.js"

/** @internal */
export class SseClientError extends Data.TaggedError("SseClientError")<{
  readonly reason: SseClient.SseClientErrorReason
  readonly status?: number | undefined
  readonly contentType?: string | undefined
  readonly body?: string | undefined
  readonly event?: string | undefined
  readonly cause?: unknown
}> {
  override get message(): string {
    switch (this.reason) {
      case "Transport":
        return `Transport: ${this.cause instanceof Error ? this.cause.message : "the connection failed"}`
      case "Status":
        return `Status: the server answered ${this.status}${this.body ? `: ${JSON.stringify(this.body)}` : ""}`
      case "ContentType":
        return `ContentType: expected text/event-stream, got ${JSON.stringify(this.contentType ?? "")}`
      case "EventTooLarge":
        return `EventTooLarge: ${this.cause instanceof Error ? this.cause.message : "an event exceeded the limit"}`
      case "Stalled":
        return "Stalled: nothing arrived within the idle timeout"
      case "Decode":
        return `Decode: event ${JSON.stringify(this.event ?? "")} did not decode` +
          (this.cause instanceof Error ? `: ${this.cause.message}` : "")
    }
  }
}

const DEFAULT_RETRY = 3000
const BODY_SNIPPET = 512

/** @internal */
export const isEventStream = (contentType: string | undefined): boolean =>
  contentType !== undefined &&
  contentType.split(";", 1)[0]!.trim().toLowerCase() === "text/event-stream"

/** `Retry-After` in seconds or as an HTTP date; `undefined` when absent or unreadable. @internal */
export const parseRetryAfter = (value: string | undefined, now: number): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Duration.seconds(parseInt(trimmed, 10))
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Duration.millis(Math.max(0, date - now))
}

/** The standard's split: these statuses are worth another try, every other one fails the stream. @internal */
export const isRetryableStatus = (status: number): boolean => status >= 500 || status === 408 || status === 429

/** @internal */
export const defaultShouldReconnect = (error: SseClient.SseClientError): boolean => {
  switch (error.reason) {
    case "Transport":
    case "Stalled":
      return true
    case "Status":
      return error.status !== undefined && isRetryableStatus(error.status)
    default:
      return false
  }
}

/** @internal */
export const defaultDelay = (
  input: SseClient.RetryInput,
  failures: number,
  maxDelay: number
): Duration.Duration => {
  const base = Duration.toMillis(input.retry)
  const backoff = Math.max(base, Math.min(maxDelay, base * Math.pow(2, failures)))
  const after = input.retryAfter === undefined ? 0 : Duration.toMillis(input.retryAfter)
  return Duration.millis(Math.max(backoff, after))
}

/** @internal */
export const defaultSchedule = (
  options: SseClient.DefaultScheduleOptions = {}
): Schedule.Schedule<unknown, SseClient.RetryInput> => {
  const maxDelay = options.maxDelay === undefined ? 30_000 : Duration.toMillis(Duration.decode(options.maxDelay))
  const jitter = options.jitter ?? 0.2
  const schedule = Schedule.addDelay(
    Schedule.intersect(Schedule.identity<SseClient.RetryInput>(), Schedule.count),
    ([input, failures]: [SseClient.RetryInput, number]) => defaultDelay(input, failures, maxDelay)
  )
  // Jitter only lengthens the wait, so that a server's `retry:` and `Retry-After` stay lower bounds.
  return jitter > 0 ? Schedule.jitteredWith(schedule, { min: 1, max: 1 + jitter }) : schedule
}

/** Why one connection ended: the schedule's input, and whether it may reconnect at all. */
class Ended implements SseClient.RetryInput {
  constructor(
    readonly error: SseClientError | undefined,
    readonly retry: Duration.Duration,
    readonly retryAfter: Duration.Duration | undefined,
    readonly lastEventId: string,
    readonly reconnect: boolean
  ) {}
}

// Emitted once per connection when it opens, so that `Stream.retry` starts its schedule over, then filtered out.
const OPENED = Symbol.for("effect-sse/SseClient/Opened")
type Output = Message.Received | typeof OPENED

const readSnippet = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<string> =>
  response.stream.pipe(
    Stream.runFoldWhile(
      Chunk.empty<Uint8Array>(),
      (chunks: Chunk.Chunk<Uint8Array>) => Chunk.reduce(chunks, 0, (n, c) => n + c.length) < BODY_SNIPPET,
      (chunks, chunk: Uint8Array) => Chunk.append(chunks, chunk)
    ),
    Effect.map((chunks) => {
      const bytes = new Uint8Array(Chunk.reduce(chunks, 0, (n, c) => n + c.length))
      let offset = 0
      for (const chunk of chunks) {
        bytes.set(chunk, offset)
        offset += chunk.length
      }
      return new TextDecoder().decode(bytes.subarray(0, BODY_SNIPPET))
    }),
    Effect.timeoutTo({ duration: "1 second", onSuccess: (s) => s, onTimeout: () => "" }),
    Effect.orElseSucceed(() => "")
  )

/** @internal */
export const stream = <R = never>(
  request: HttpClientRequest.HttpClientRequest,
  options: SseClient.Options<R> = {}
): Stream.Stream<Message.Received, SseClient.SseClientError, HttpClient.HttpClient | R> =>
  Stream.unwrap(Effect.gen(function*() {
    const client = HttpClient.withScope(yield* HttpClient.HttpClient)
    const shouldReconnect = options.shouldReconnect ?? defaultShouldReconnect
    const idleTimeout = options.idleTimeout === undefined ? undefined : Duration.decode(options.idleTimeout)
    const onState = options.onState ?? (() => Effect.void)
    const base = request.pipe(
      HttpClientRequest.setHeader("accept", "text/event-stream"),
      HttpClientRequest.setHeader("cache-control", "no-cache")
    )
    // What survives reconnects: the last event id and the server's reconnection time.
    let lastEventId = options.lastEventId ?? ""
    let retry = options.retry === undefined ? Duration.millis(DEFAULT_RETRY) : Duration.decode(options.retry)
    let attempt = 0

    const ended = (error: SseClientError | undefined, retryAfter?: Duration.Duration) =>
      new Ended(error, retry, retryAfter, lastEventId, error === undefined || shouldReconnect(error))

    const connectOnce: Stream.Stream<Output, Ended, R> = Stream.unwrapScoped(Effect.gen(function*() {
      attempt++
      yield* onState({ _tag: "Connecting", attempt })
      let prepared = base
      if (options.headers !== undefined) prepared = HttpClientRequest.setHeaders(prepared, yield* options.headers)
      if (lastEventId !== "") prepared = HttpClientRequest.setHeader(prepared, "last-event-id", lastEventId)
      const response = yield* Effect.mapError(
        client.execute(prepared),
        (cause: HttpClientError.HttpClientError) => ended(new SseClientError({ reason: "Transport", cause }))
      )
      const contentType = response.headers["content-type"]
      if (response.status === 204) {
        // The standard's way for a server to say "stop": no error, and no reconnection.
        return yield* Effect.fail(new Ended(undefined, retry, undefined, lastEventId, false))
      }
      if (response.status !== 200) {
        const now = yield* Clock.currentTimeMillis
        const body = yield* readSnippet(response)
        return yield* Effect.fail(ended(
          new SseClientError({ reason: "Status", status: response.status, contentType, body }),
          parseRetryAfter(response.headers["retry-after"], now)
        ))
      }
      if (!isEventStream(contentType)) {
        const body = yield* readSnippet(response)
        return yield* Effect.fail(ended(
          new SseClientError({ reason: "ContentType", status: response.status, contentType, body })
        ))
      }
      yield* onState({ _tag: "Open", attempt })
      const bytes = Stream.mapError(
        response.stream,
        (cause): SseClientError => new SseClientError({ reason: "Transport", cause })
      )
      const watched = idleTimeout === undefined
        ? bytes
        : Stream.timeoutFail(bytes, () => new SseClientError({ reason: "Stalled" }), idleTimeout)
      const messages = watched.pipe(
        Stream.pipeThroughChannel(Parser.channelWith<Message.Received, SseClientError>(
          (push) => ({
            onMessage: push,
            onRetry: (millis) => {
              retry = Duration.millis(millis)
            }
          }),
          { lastEventId, maxEventSize: options.maxEventSize },
          (parser) => {
            lastEventId = parser.lastEventId
          }
        )),
        Stream.mapError((error) =>
          error._tag === "SseParseError"
            ? ended(new SseClientError({ reason: "EventTooLarge", cause: error }))
            : ended(error)
        )
      )
      // A response that ends is a dropped connection, like a network error: the standard reconnects.
      return Stream.concat(
        Stream.concat(Stream.succeed<Output>(OPENED), messages),
        Stream.suspend(() => Stream.fail(ended(undefined)))
      )
    }))

    const schedule = options.reconnect === false
      ? Schedule.stop
      : (options.reconnect === undefined || options.reconnect === true)
      ? defaultSchedule()
      : options.reconnect
    const policy = schedule.pipe(
      Schedule.whileInput((input: Ended) => input.reconnect),
      Schedule.onDecision((_, decision) =>
        ScheduleDecision.isDone(decision) ? Effect.void : Effect.flatMap(
          Clock.currentTimeMillis,
          (now) =>
            onState({
              _tag: "Retrying",
              attempt,
              delay: Duration.millis(Math.max(0, Intervals.start(decision.intervals) - now))
            })
        )
      )
    )

    return connectOnce.pipe(
      Stream.retry(policy),
      Stream.catchAll((end) => end.error === undefined ? Stream.empty : Stream.fail(end.error)),
      Stream.filter((output): output is Message.Received => output !== OPENED),
      Stream.ensuring(Effect.suspend(() => onState({ _tag: "Closed", attempt })))
    )
  }))

/** @internal */
export const decodeEvents = (
  events: SseClient.EventMap,
  options: SseClient.DecodeEventsOptions = {}
) =>
<E, R>(self: Stream.Stream<Message.Received, E, R>): Stream.Stream<unknown, E | SseClientError, unknown> => {
  const byName = new Map<string, { readonly tag: string; readonly event: SseClient.EventMap[string] }>()
  for (const [tag, event] of Object.entries(events)) byName.set(event.name, { tag, event })
  const surface = options.unknown === "surface"
  const skip = Effect.succeed(Option.none())
  return Stream.filterMap(
    Stream.mapEffect(self, (message) => {
      const entry = byName.get(message.event)
      if (entry === undefined) return surface ? Effect.succeed(Option.some({ _tag: "Unknown", message })) : skip
      return Effect.mapBoth(entry.event.decode(message), {
        onFailure: (cause) => new SseClientError({ reason: "Decode", event: message.event, cause }),
        onSuccess: (data) => Option.some({ _tag: entry.tag, data, message })
      })
    }),
    (decoded) => decoded
  )
}
