import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Message from "../Message.js"
import * as Parser from "../Parser.js"
import type * as SseClient from "../SseClient.js"
import { concat } from "./bytes.js"
import * as Errors from "./sseClientError.js"

const DEFAULT_RETRY = 3000
const DEFAULT_MIN_DELAY = 100
const DEFAULT_MAX_DELAY = 5 * 60_000
const DEFAULT_MAX_BACKOFF = 30_000
const BODY_SNIPPET = 512
const SNIPPET_TIMEOUT = 1000

/** @internal */
export const isEventStream = (contentType: string | undefined): boolean =>
  contentType !== undefined &&
  contentType.split(";", 1)[0]!.trim().toLowerCase() === "text/event-stream"

/** `Retry-After` in seconds or as an HTTP date; `undefined` when absent or unreadable. @internal */
export const parseRetryAfter = (value: string | undefined, now: number): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Duration.millis(Number(trimmed) * 1000)
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Duration.millis(Math.max(0, date - now))
}

/** The floor and ceiling of every wait, in milliseconds. @internal */
export interface Bounds {
  readonly min: number
  readonly max: number
}

/** @internal */
export const clampMillis = (millis: number, bounds: Bounds): number =>
  // NaN (an unreadable delay) waits the floor; Infinity and anything past the ceiling wait the ceiling.
  Number.isNaN(millis) ? bounds.min : Math.min(bounds.max, Math.max(bounds.min, millis))

const toBounds = (options: SseClient.DelayOptions): Bounds => {
  const min = options.minDelay === undefined ? DEFAULT_MIN_DELAY : Duration.toMillis(Duration.decode(options.minDelay))
  const max = options.maxDelay === undefined ? DEFAULT_MAX_DELAY : Duration.toMillis(Duration.decode(options.maxDelay))
  return { min, max: Math.max(min, max) }
}

/** @internal */
export const defaultDelay = (input: SseClient.RetryInput, failures: number, maxBackoff: number): Duration.Duration => {
  const base = Duration.toMillis(input.retry)
  const backoff = Math.max(base, Math.min(maxBackoff, base * Math.pow(2, failures)))
  const after = input.retryAfter === undefined ? 0 : Duration.toMillis(input.retryAfter)
  return Duration.millis(Math.max(backoff, after))
}

/** @internal */
export const defaultSchedule = (
  options: SseClient.DefaultScheduleOptions = {}
): Schedule.Schedule<unknown, SseClient.RetryInput> => {
  const maxBackoff = options.maxBackoff === undefined
    ? DEFAULT_MAX_BACKOFF
    : Duration.toMillis(Duration.decode(options.maxBackoff))
  const jitter = options.jitter ?? 0.2
  const schedule = Schedule.addDelay(
    Schedule.intersect(Schedule.identity<SseClient.RetryInput>(), Schedule.count),
    ([input, failures]: [SseClient.RetryInput, number]) => defaultDelay(input, failures, maxBackoff)
  )
  // Jitter only lengthens the wait, so that a server's `retry:` and `Retry-After` stay lower bounds.
  return jitter > 0 ? Schedule.jitteredWith(schedule, { min: 1, max: 1 + jitter }) : schedule
}

/** The first bytes of a refusal's body, for the error; bounded in size and in time. */
const readSnippet = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<string> =>
  response.stream.pipe(
    Stream.runFoldWhile(
      [] as Array<Uint8Array>,
      (chunks) => chunks.reduce((n, c) => n + c.length, 0) < BODY_SNIPPET,
      (chunks, chunk: Uint8Array) => {
        chunks.push(chunk)
        return chunks
      }
    ),
    Effect.map((chunks) => new TextDecoder().decode(concat(chunks).subarray(0, BODY_SNIPPET))),
    Effect.timeoutTo({ duration: SNIPPET_TIMEOUT, onSuccess: (s) => s, onTimeout: () => "" }),
    Effect.orElseSucceed(() => "")
  )

/**
 * Whether the first bytes of a body cannot begin an event stream: control bytes or invalid UTF-8, as every
 * compressed format shows within its first bytes. Text means the HttpClient decoded the body (fetch does).
 */
const looksEncoded = (bytes: Uint8Array): boolean => {
  const head = bytes.subarray(0, 64)
  for (const byte of head) {
    if (byte === 0x7f || (byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d)) return true
  }
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(head, { stream: true })
    return false
  } catch {
    return true
  }
}

/** How one attempt ended: the error (none for a normal end), and a `Retry-After`. */
interface Ended {
  readonly error: Errors.SseClientError | undefined
  readonly retryAfter?: Duration.Duration | undefined
  /** Whether the request may be sent again whatever the rule says (204 says it may not). */
  readonly final?: boolean | undefined
}

/** An open response, one chunk of its body per pull. */
interface Open {
  /** Everything of the attempt; closing it releases the response. */
  readonly scope: Scope.CloseableScope
  /** The request's abort alone (a child of `scope`): the idle watchdog closes it to end a pull that waits. */
  readonly requestScope: Scope.CloseableScope
  readonly pull: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<HttpClientError.ResponseError>>
  /** The response's `Content-Encoding`, checked against the first chunk; cleared once checked. */
  contentEncoding: string | undefined
  /** When the pull now waiting began; `undefined` while the consumer holds a chunk (its own time is not idle). */
  waitingSince: number | undefined
  /** Set by the watchdog when it aborted the request. */
  timedOut: boolean
}

/** @internal */
export const stream = <R = never>(
  request: HttpClientRequest.HttpClientRequest,
  options: SseClient.Options<R> = {}
): Stream.Stream<Message.Received, Errors.SseClientError, HttpClient.HttpClient | R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const client = HttpClient.withScope(yield* HttpClient.HttpClient)
    const streamScope = yield* Effect.scope
    const shouldReconnect = options.shouldReconnect ?? Errors.defaultShouldReconnect
    const idleTimeout = options.idleTimeout === undefined ? undefined : Duration.decode(options.idleTimeout)
    const onState = options.onState ?? (() => Effect.void)
    const clock = yield* Effect.clock
    const bounds = toBounds(options)
    const schedule: Schedule.Schedule<unknown, SseClient.RetryInput, R> | undefined = options.reconnect === false
      ? undefined
      : (options.reconnect === undefined || options.reconnect === true)
      ? defaultSchedule()
      : options.reconnect
    let base = request.pipe(
      HttpClientRequest.setHeader("accept", "text/event-stream"),
      HttpClientRequest.setHeader("cache-control", "no-cache")
    )
    // The client reads the body as it is; a compressed one is refused (see looksEncoded) unless the HttpClient
    // decodes it. Browsers ignore the header and decode.
    if (base.headers["accept-encoding"] === undefined) {
      base = HttpClientRequest.setHeader(base, "accept-encoding", "identity")
    }

    // What survives reconnects: the parser (with the last event id), the server's reconnection time, the
    // schedule's state. Nothing of a failed attempt is kept but its small error.
    let retry = options.retry === undefined ? DEFAULT_RETRY : Duration.toMillis(Duration.decode(options.retry))
    let scheduleState: unknown = schedule?.initial
    let attempt = 0
    // Once the server may have seen the request, `sendOnce` forbids another.
    let sent = false
    let current: Open | undefined
    let output: Array<Message.Received> = []
    const parser = Parser.make({
      onMessage: (message) => output.push(message),
      onRetry: (millis) => {
        retry = millis
      }
    }, { lastEventId: options.lastEventId, maxEventSize: options.maxEventSize })

    const withinIdle = <A, E, R2>(effect: Effect.Effect<A, E, R2>, what: string) =>
      idleTimeout === undefined ? effect : Effect.timeoutFail(effect, {
        duration: idleTimeout,
        onTimeout: () =>
          new Errors.TransportError({
            reason: "Timeout",
            description: `${what} within ${Duration.format(idleTimeout)}`
          })
      })

    /** Ends the stream: with the error, or (`undefined`) normally. */
    const finish = (error: Errors.SseClientError | undefined) =>
      Effect.fail(error === undefined ? Option.none() : Option.some(error))

    /** After an attempt ended: waits and lets the caller connect again, or ends the stream. */
    const decide = (ended: Ended): Effect.Effect<void, Option.Option<Errors.SseClientError>, R> =>
      Effect.gen(function*() {
        const { error } = ended
        const allowed = schedule !== undefined && ended.final !== true &&
          (error === undefined || shouldReconnect(error)) &&
          (options.sendOnce !== true || !sent)
        if (!allowed) return yield* finish(error)
        const input: SseClient.RetryInput = {
          error,
          retry: Duration.millis(clampMillis(retry, bounds)),
          retryAfter: ended.retryAfter === undefined
            ? undefined
            : Duration.millis(clampMillis(Duration.toMillis(ended.retryAfter), bounds)),
          lastEventId: parser.lastEventId
        }
        const now = yield* Clock.currentTimeMillis
        const [state, , decision] = yield* schedule.step(now, input, scheduleState)
        scheduleState = state
        if (ScheduleDecision.isDone(decision)) return yield* finish(error)
        const delay = Duration.millis(clampMillis(Intervals.start(decision.intervals) - now, bounds))
        yield* onState({ _tag: "Retrying", attempt, delay })
        // No timer for no wait (a timer of 0 still takes a millisecond or more).
        if (Duration.toMillis(delay) > 0) yield* Effect.sleep(delay)
      })

    /** Closes the open response (aborting the request) before anything else happens. */
    const close = (open: Open) =>
      Effect.suspend(() => {
        current = undefined
        parser.end()
        output = []
        return Scope.close(open.scope, Exit.void)
      })
    // An end found in a chunk that also completed messages: they go out first, the end is handled next pull.
    let endAfterOutput: Ended | undefined

    const refused = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<Ended> =>
      Effect.gen(function*() {
        if (response.status === 204) {
          // The standard's way for a server to say "stop": no error, and no reconnection.
          return { error: undefined, final: true }
        }
        const contentType = response.headers["content-type"]
        const body = yield* readSnippet(response)
        if (response.status !== 200) {
          const now = yield* Clock.currentTimeMillis
          return {
            error: new Errors.StatusError({
              status: response.status,
              contentType,
              location: response.headers["location"],
              body
            }),
            retryAfter: parseRetryAfter(response.headers["retry-after"], now)
          }
        }
        return { error: new Errors.ContentTypeError({ contentType: contentType ?? "", body }) }
      })

    /** One request: an open response, or how it ended. */
    const connect: Effect.Effect<Open | Ended, never, R> = Effect.gen(function*() {
      attempt++
      yield* onState({ _tag: "Connecting", attempt })
      let prepared = base
      if (options.headers !== undefined) prepared = HttpClientRequest.setHeaders(prepared, yield* options.headers)
      const lastEventId = parser.lastEventId
      if (lastEventId !== "") prepared = HttpClientRequest.setHeader(prepared, "last-event-id", lastEventId)
      const scope = yield* Scope.fork(streamScope, ExecutionStrategy.sequential)
      const requestScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
      const result = yield* client.execute(prepared).pipe(
        Scope.extend(requestScope),
        Effect.catchTag("ResponseError", (error) =>
          // A client built with `filterStatusOk` fails a refusal: it is read like any other.
          error.reason === "StatusCode" ? Effect.succeed(error.response) : Effect.fail(error)),
        Effect.mapError(Errors.fromHttpClientError),
        (effect) => withinIdle(effect, "no response headers"),
        Effect.flatMap((response): Effect.Effect<Open | Ended, never, Scope.Scope> => {
          if (response.status !== 200 || !isEventStream(response.headers["content-type"])) return refused(response)
          return Effect.map(Stream.toPull(response.stream), (pull): Open => ({
            scope,
            requestScope,
            pull,
            contentEncoding: response.headers["content-encoding"],
            waitingSince: undefined,
            timedOut: false
          }))
        }),
        Effect.catchAll((error): Effect.Effect<Ended> => Effect.succeed({ error })),
        Scope.extend(scope)
      )
      if (!("error" in result && result.error?._tag === "TransportError" && result.error.reason === "Connect")) {
        sent = true
      }
      if ("pull" in result) {
        current = result
        if (idleTimeout !== undefined) yield* Effect.forkIn(watchdog(result, Duration.toMillis(idleTimeout)), scope)
        yield* onState({ _tag: "Open", attempt })
        return result
      }
      yield* Scope.close(scope, Exit.void)
      return result
    })

    const ended = (open: Open, end: Ended) => Effect.zipRight(close(open), Effect.succeed(end))

    /**
     * Aborts the request once a pull has waited `idle` milliseconds. One fiber per attempt that wakes once per
     * `idle` at most, instead of a timer raced against every pull of the body.
     */
    const watchdog = (open: Open, idle: number): Effect.Effect<void> =>
      Effect.gen(function*() {
        // Each turn sleeps until the earliest moment the pull could be late: bounded by the attempt's life.
        while (true) {
          const since = open.waitingSince
          const waited = since === undefined ? 0 : clock.unsafeCurrentTimeMillis() - since
          if (waited >= idle) {
            open.timedOut = true
            return yield* Scope.close(open.requestScope, Exit.void)
          }
          yield* Effect.sleep(Duration.millis(idle - waited))
        }
      })

    const bodyTimeout = (open: Open) =>
      idleTimeout !== undefined && open.timedOut
        ? new Errors.TransportError({
          reason: "Timeout",
          description: `nothing received within ${Duration.format(idleTimeout)}`
        })
        : undefined

    /** Reads chunks of the open response until it yields messages or ends. */
    const read = (open: Open): Effect.Effect<Chunk.Chunk<Message.Received> | Ended> =>
      Effect.suspend(() => {
        open.waitingSince = clock.unsafeCurrentTimeMillis()
        return open.pull
      }).pipe(
        Effect.matchEffect({
          onFailure: (error) =>
            ended(open, {
              error: bodyTimeout(open) ??
                (Option.isNone(error) ? undefined : Errors.fromHttpClientError(error.value))
            }),
          onSuccess: (chunks) => {
            open.waitingSince = undefined
            for (const bytes of chunks) {
              if (open.contentEncoding !== undefined) {
                const contentEncoding = open.contentEncoding
                open.contentEncoding = undefined
                if (contentEncoding.toLowerCase() !== "identity" && looksEncoded(bytes)) {
                  return ended(open, { error: new Errors.ContentEncodingError({ contentEncoding }) })
                }
              }
              const error = parser.feed(bytes)
              if (error !== undefined) {
                const tooLarge: Ended = { error: new Errors.EventTooLargeError({ maxEventSize: error.maxEventSize }) }
                if (output.length === 0) return ended(open, tooLarge)
                endAfterOutput = tooLarge
                break
              }
            }
            if (output.length === 0) return read(open)
            // A connection that delivers is healthy: the next failure backs off from the start.
            scheduleState = schedule?.initial
            const messages = Chunk.unsafeFromArray(output)
            output = []
            return Effect.succeed(messages)
          }
        })
      )

    const pull: Effect.Effect<Chunk.Chunk<Message.Received>, Option.Option<Errors.SseClientError>, R> = Effect.gen(
      function*() {
        // Bounded by the schedule: each turn either yields, or waits out a decided delay, or ends the stream.
        while (true) {
          const open = current ?? (yield* connect)
          if ("pull" in open && endAfterOutput !== undefined) {
            const end = endAfterOutput
            endAfterOutput = undefined
            yield* close(open)
            yield* decide(end)
            continue
          }
          const result = "pull" in open ? yield* read(open) : open
          if (Chunk.isChunk(result)) return result
          yield* decide(result)
        }
      }
    )

    return Stream.repeatEffectChunkOption(pull).pipe(
      Stream.ensuring(Effect.suspend(() => onState({ _tag: "Closed", attempt })))
    )
  }))

/** @internal */
export const decodeEvents = (
  events: SseClient.EventMap,
  options: SseClient.DecodeEventsOptions = {}
) =>
<E, R>(self: Stream.Stream<Message.Received, E, R>): Stream.Stream<unknown, E | Errors.DecodeError, unknown> => {
  const byName = new Map<string, { readonly tag: string; readonly event: SseClient.EventMap[string] }>()
  for (const [tag, event] of Object.entries(events)) byName.set(event.name, { tag, event })
  const surface = options.unknown === "surface"
  const skip = Effect.succeed(Option.none())
  return Stream.filterMap(
    Stream.mapEffect(self, (message) => {
      const entry = byName.get(message.event)
      if (entry === undefined) return surface ? Effect.succeed(Option.some({ _tag: "Unknown", message })) : skip
      return Effect.mapBoth(entry.event.decode(message), {
        onFailure: (cause) => new Errors.DecodeError({ event: message.event, cause }),
        onSuccess: (data) => Option.some({ _tag: entry.tag, data, message })
      })
    }),
    (decoded) => decoded
  )
}
