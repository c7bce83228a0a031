import * as Headers from "@effect/platform/Headers"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as MutableHashMap from "effect/MutableHashMap"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Encoder from "../Encoder.js"
import * as History from "../History.js"
import * as Message from "../Message.js"
import * as SseEvent from "../SseEvent.js"
import type * as SseServer from "../SseServer.js"
import { Connection, heartbeatFrame, type Prepared, type ServerContext } from "./connection.js"
import * as NodeSink from "./nodeSink.js"

/** @internal */
export const TypeId: SseServer.TypeId = Symbol.for("effect-sse/SseServer") as SseServer.TypeId

/** @internal */
export class SseServerError extends Data.TaggedError("SseServerError")<{
  readonly reason: "Encode" | "Closed" | "Dropped" | "SlowConsumer" | "History"
  readonly id: unknown
  readonly cause?: unknown
}> {
  override get message(): string {
    return this.reason === "History"
      ? `History: delivered here, but the history could not record it for ${
        this.id === undefined ? "every source" : `source ${String(this.id)}`
      }`
      : `${this.reason}: could not send to source ${String(this.id)}`
  }
}

/** @internal */
export const metrics = {
  connectionsOpen: Metric.gauge("sse_connections_open", { description: "Open SSE connections" }),
  connectionsRefused: Metric.counter("sse_connections_refused_total", {
    description: "SSE connections answered 503 (limits or shutdown)",
    incremental: true
  }),
  framesSent: Metric.counter("sse_frames_sent_total", { description: "Frames written to sockets", incremental: true }),
  framesDropped: Metric.counter("sse_frames_dropped_total", {
    description: "Frames dropped by the slow-consumer policy or discarded when a connection was aborted",
    incremental: true
  }),
  bytesWritten: Metric.counter("sse_bytes_written_total", {
    description: "Bytes written to sockets",
    incremental: true
  }),
  historyFailures: Metric.counter("sse_history_failures_total", {
    description: "Messages delivered locally that the history could not record (its store was unavailable)",
    incremental: true
  })
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

const gapFrame = (lastEventId: string, reason: "Unknown" | "Expired" | "Unavailable"): Uint8Array =>
  Either.getOrElse(
    Either.flatMap(
      Schema.encodeEither(SseEvent.ReplayGap.dataSchema)({ lastEventId, reason }),
      (data) => Encoder.encode(Message.make({ event: SseEvent.ReplayGap.name, data }))
    ),
    () => Encoder.comment("replay gap")
  )

const millis = (input: Duration.DurationInput | undefined, fallback: number): number =>
  input === undefined ? fallback : Duration.toMillis(Duration.decode(input))

const eventStreamHeaders = (request: HttpServerRequest.HttpServerRequest) => {
  const headers: Record<string, string> = {
    "cache-control": "no-cache, no-transform",
    "x-accel-buffering": "no"
  }
  // `Connection` is a hop-by-hop header that HTTP/2 forbids: only sent when the request is known to be HTTP/1.x.
  if ((request.source as { readonly httpVersionMajor?: unknown }).httpVersionMajor === 1) {
    headers.connection = "keep-alive"
  }
  return Headers.fromInput(headers)
}

// Node's request object, when the platform is Node: lets an aborted connection free its socket at once.
const socketDestroyer = (request: HttpServerRequest.HttpServerRequest) => () => {
  const socket = (request.source as { readonly socket?: { readonly destroy?: unknown } }).socket
  if (socket !== undefined && typeof socket.destroy === "function") socket.destroy()
}

/** @internal */
export const make = <Id>(options: SseServer.Options = {}): Effect.Effect<SseServer.SseServer<Id>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const policy = options.slowConsumer ?? "close"
    const capacity = Math.max(1, options.bufferCapacity ?? 256)
    const keepAlive = millis(options.keepAlive, 0)
    const retryMillis = options.retry === undefined ? undefined : millis(options.retry, 0)
    const prelude = retryMillis === undefined
      ? Encoder.comment()
      : Either.getOrElse(Encoder.retry(retryMillis), () => Encoder.comment())
    const retryAfterSeconds = Math.max(1, Math.ceil(millis(options.retryAfter, 5000) / 1000))
    const shutdownTimeout = millis(options.shutdownTimeout, 5000)
    const shutdownJitter = millis(options.shutdownJitter, 5000)
    const name = options.name ?? "default"
    const tags = [MetricLabel.make("sse_server", name)]

    const clock = yield* Effect.clock
    const history = yield* Effect.serviceOption(History.History)
    const runDrainer = yield* FiberSet.makeRuntime<never, void, never>()

    const open = new Set<Connection<Id>>()
    const byId = MutableHashMap.empty<Id, Array<Connection<Id>>>()
    const live = new Set<Connection<Id>>()
    let shuttingDown = false

    // The last batch joined, shared by every connection that batches the same frames.
    let joined: { readonly frames: ReadonlyArray<Uint8Array>; readonly bytes: Uint8Array } = {
      frames: [],
      bytes: new Uint8Array(0)
    }

    const updateOpenGauge = () => metrics.connectionsOpen.unsafeUpdate(open.size, tags)

    const onWritten = (frames: number, bytes: number) => {
      metrics.framesSent.unsafeUpdate(frames, tags)
      metrics.bytesWritten.unsafeUpdate(bytes, tags)
    }
    // Frames written within sends are counted in plain numbers and reported once per send or broadcast: a metric
    // update per connection would cost more than the write.
    let unreportedFrames = 0
    let unreportedBytes = 0
    const flushWritten = () => {
      if (unreportedFrames === 0) return
      onWritten(unreportedFrames, unreportedBytes)
      unreportedFrames = 0
      unreportedBytes = 0
    }
    const context: ServerContext = {
      policy,
      capacity,
      sendTimeout: millis(options.sendTimeout, 5000),
      now: () => clock.unsafeCurrentTimeMillis(),
      unregister: (connection) => {
        remove(connection as Connection<Id>)
        live.delete(connection as Connection<Id>)
      },
      onDropped: (frames) => {
        if (frames > 0) metrics.framesDropped.unsafeUpdate(frames, tags)
      },
      onWritten,
      countWritten: (bytes) => {
        unreportedFrames++
        unreportedBytes += bytes
      },
      flushWritten,
      fork: (effect) => {
        runDrainer(effect)
      },
      error: (reason, id, cause) => new SseServerError({ reason, id, cause }),
      prepare: (target, message) => prepare(target as Id | undefined, message),
      join: (frames, count, bytes) => {
        if (count === joined.frames.length && bytes === joined.bytes.length) {
          let same = true
          for (let i = 0; i < count && same; i++) same = frames[i] === joined.frames[i]
          if (same) return joined.bytes
        }
        const parts = frames.slice(0, count)
        joined = { frames: parts, bytes: concat(parts) }
        return joined.bytes
      }
    }

    const encodePlain = (target: Id | undefined, message: Message.Message): Effect.Effect<Prepared, SseServerError> =>
      Either.match(Encoder.encode(message), {
        onLeft: (cause) => Effect.fail(new SseServerError({ reason: "Encode", id: target, cause })),
        onRight: (frame) => Effect.succeed({ frame, key: undefined, failure: undefined })
      })

    // With a history, every message is recorded (and given an id) before it goes out. When the store is down,
    // the message is still delivered here, and the sender is told that the history did not get it.
    const prepare: (target: Id | undefined, message: Message.Message) => Effect.Effect<Prepared, SseServerError> =
      Option.isNone(history) ?
        encodePlain :
        (target, message) =>
          Effect.matchEffect(history.value.append(target === undefined ? undefined : String(target), message), {
            onSuccess: (entry) => Effect.succeed({ frame: entry.frame, key: entry.key, failure: undefined }),
            onFailure: (error) =>
              error.reason === "Encode"
                ? Effect.fail(new SseServerError({ reason: "Encode", id: target, cause: error.cause }))
                : Effect.zipRight(
                  Effect.zipRight(
                    Effect.sync(() => metrics.historyFailures.unsafeUpdate(1, tags)),
                    Effect.logWarning("effect-sse: the history could not record a message", error)
                  ),
                  Effect.map(encodePlain(target, message), (prepared) => ({
                    ...prepared,
                    failure: new SseServerError({ reason: "History", id: target, cause: error })
                  }))
                )
          })

    const reportFailure = (prepared: Prepared): Effect.Effect<void, SseServerError> =>
      prepared.failure === undefined ? Effect.void : Effect.fail(prepared.failure)

    const deliverAll = (prepared: Prepared) =>
      Effect.suspend(() => {
        for (const connection of open) connection.unsafeOffer(prepared.frame, prepared.key)
        flushWritten()
        return reportFailure(prepared)
      })

    // Entries that other processes recorded: delivered to the sources connected here.
    if (Option.isSome(history)) {
      yield* history.value.remote.pipe(
        Stream.runForEach((entry) =>
          Effect.sync(() => {
            for (const connection of open) {
              if (entry.target === undefined || String(connection.id) === entry.target) {
                connection.unsafeOffer(entry.frame, entry.key)
              }
            }
            flushWritten()
          })
        ),
        Effect.forkScoped
      )
    }

    // A reconnection with Last-Event-ID: the source holds live frames back while the history is read, so the
    // missed frames go out first and none is lost or repeated at the hand-over.
    const resume = (connection: Connection<Id>, lastEventId: string): Effect.Effect<Uint8Array | undefined> => {
      if (Option.isNone(history) || lastEventId === "") return Effect.succeed(undefined)
      connection.startReplay()
      return Effect.map(Effect.either(history.value.since(lastEventId, String(connection.id))), (result) => {
        const replay: History.Replay | { readonly _tag: "Gap"; readonly reason: "Unavailable" } = Either.isRight(result)
          ? result.right
          : { _tag: "Gap", reason: "Unavailable" }
        if (replay._tag === "Gap") {
          connection.resume = { _tag: "Gap", reason: replay.reason, lastEventId }
          connection.endReplay(new Set())
          return gapFrame(lastEventId, replay.reason)
        }
        connection.resume = { _tag: "Replayed", count: replay.entries.length }
        connection.endReplay(new Set(replay.entries.map((entry) => entry.key)))
        return concat(replay.entries.map((entry) => entry.frame))
      })
    }

    const remove = (connection: Connection<Id>) => {
      if (!open.delete(connection)) return
      const siblings = MutableHashMap.get(byId, connection.id)
      if (Option.isSome(siblings)) {
        const rest = siblings.value.filter((c) => c !== connection)
        if (rest.length === 0) MutableHashMap.remove(byId, connection.id)
        else MutableHashMap.set(byId, connection.id, rest)
      }
      updateOpenGauge()
    }

    const connectionsOf = (id: Id): ReadonlyArray<Connection<Id>> =>
      Option.getOrElse(MutableHashMap.get(byId, id), () => [])

    const refuse = (reason: string) => {
      metrics.connectionsRefused.unsafeUpdate(1, tags)
      return HttpServerResponse.text(`${reason}: try again in ${retryAfterSeconds} seconds\n`, {
        status: 503,
        headers: Headers.fromInput({ "retry-after": String(retryAfterSeconds), "cache-control": "no-store" })
      })
    }

    // Checks the limits and registers in one synchronous step, so that concurrent connects cannot overshoot.
    const admit = (id: Id): string | undefined => {
      if (shuttingDown) return "The event stream server is shutting down"
      const siblings = connectionsOf(id)
      const replacing = options.connectionsPerId !== "multiple" ? siblings.length : 0
      if (options.maxConnections !== undefined && open.size - replacing >= options.maxConnections) {
        return "Too many event stream connections"
      }
      if (
        options.connectionsPerId === "multiple" && options.maxConnectionsPerId !== undefined &&
        siblings.length >= options.maxConnectionsPerId
      ) {
        return "Too many event stream connections for this id"
      }
      return undefined
    }

    const register = (connection: Connection<Id>) => {
      if (options.connectionsPerId !== "multiple") {
        // As in the seed: the newest connection of an id replaces the previous one, which ends cleanly.
        for (const previous of connectionsOf(connection.id)) {
          remove(previous)
          previous.unsafeClose()
        }
      }
      open.add(connection)
      live.add(connection)
      MutableHashMap.set(byId, connection.id, [...connectionsOf(connection.id), connection])
      updateOpenGauge()
    }

    const heartbeat = (connection: Connection<Id>): Effect.Effect<never> =>
      Effect.suspend(() => {
        const idle = context.now() - connection.lastWrite
        if (idle >= keepAlive) {
          connection.offerControl(heartbeatFrame)
          return Effect.zipRight(Effect.sleep(keepAlive), heartbeat(connection))
        }
        return Effect.zipRight(Effect.sleep(keepAlive - idle), heartbeat(connection))
      })

    const connect = (id: Id) =>
      Effect.withFiberRuntime<
        HttpServerResponse.HttpServerResponse,
        never,
        HttpServerRequest.HttpServerRequest | Scope.Scope
      >((fiber) =>
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          const refused = admit(id)
          if (refused !== undefined) return refuse(refused)
          yield* Effect.makeSpanScoped("SseServer.connection", {
            attributes: { "sse.server": name, "sse.id": String(id) },
            kind: "server",
            captureStackTrace: false
          })
          const queue = policy === "dropOldest"
            ? yield* Queue.sliding<Uint8Array>(capacity)
            : yield* Queue.bounded<Uint8Array>(capacity)
          const connection = new Connection<Id>(
            id,
            queue,
            fiber,
            socketDestroyer(request),
            context,
            request.headers["last-event-id"] ?? ""
          )
          yield* Effect.acquireRelease(
            Effect.sync(() => register(connection)),
            () =>
              Effect.zipRight(
                Effect.sync(() => {
                  context.unregister(connection as Connection<unknown>)
                  connection.release()
                }),
                Queue.shutdown(queue)
              )
          )
          const replayed = yield* resume(connection, request.headers["last-event-id"] ?? "")
          if (keepAlive > 0) yield* Effect.forkScoped(heartbeat(connection))
          const opening = replayed === undefined ? prelude : concat([prelude, replayed])
          const contentType = "text/event-stream; charset=utf-8"
          const headers = eventStreamHeaders(request)
          const sink = NodeSink.forRequest(request)
          if (sink === undefined) return HttpServerResponse.stream(connection.body(opening), { contentType, headers })
          connection.writeTo(sink, opening, Runtime.runFork(yield* Effect.runtime<never>()))
          return HttpServerResponse.raw(sink.readable, { contentType, headers })
        })
      )

    const broadcastFrame = (frame: Uint8Array) =>
      Effect.sync(() => {
        for (const connection of open) connection.unsafeOffer(frame)
        flushWritten()
      })

    const encodeError = (cause: unknown) => new SseServerError({ reason: "Encode", id: undefined, cause })

    const broadcast = (message: Message.Message) => Effect.flatMap(prepare(undefined, message), deliverAll)

    const event = <A, I, R>(sseEvent: SseEvent.SseEvent<A, I, R>): SseServer.ServerEvent<Id, A, R> => ({
      send: (payload, encodeOptions) => {
        if (typeof payload !== "function") {
          return Effect.flatMap(
            Effect.mapError(sseEvent.encode(payload, encodeOptions), encodeError),
            broadcast
          )
        }
        const payloadOf = payload as (id: Id, lastEventId: string) => A
        // Every source gets its own payload; a history failure is reported once all of them have been sent.
        return Effect.suspend(() => {
          let failure: SseServerError | undefined
          return Effect.zipRight(
            Effect.forEach(
              Array.from(open),
              (connection) =>
                Effect.flatMap(connection.lastEventId, (lastEventId) =>
                  Effect.flatMap(
                    Effect.mapError(sseEvent.encode(payloadOf(connection.id, lastEventId), encodeOptions), encodeError),
                    (message) =>
                      Effect.map(prepare(connection.id, message), (prepared) => {
                        connection.unsafeOffer(prepared.frame, prepared.key)
                        failure ??= prepared.failure
                      })
                  )),
              { discard: true }
            ),
            Effect.suspend(() => {
              flushWritten()
              return failure === undefined ? Effect.void : Effect.fail(failure)
            })
          )
        })
      }
    })

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        shuttingDown = true
        const closing = Array.from(live)
        for (const connection of closing) {
          const jitter = yield* Random.nextIntBetween(0, Math.max(1, shutdownJitter))
          const hint = Encoder.retry((retryMillis ?? 0) + jitter)
          if (Either.isRight(hint)) connection.offerControl(hint.right)
          connection.unsafeClose()
        }
        // Finalizers run uninterruptibly: without `interruptible`, the timeouts below could not stop the wait.
        const allDone = Effect.interruptible(
          // A connection's queue is shut down when its request's scope closes: that is when it is done.
          Effect.forEach(closing, (connection) => Queue.awaitShutdown(connection.queue), { discard: true })
        )
        const finished = yield* Effect.timeoutTo(allDone, {
          duration: shutdownTimeout,
          onSuccess: () => true,
          onTimeout: () => false
        })
        if (!finished) {
          for (const connection of closing) connection.abort()
          yield* Effect.timeoutTo(allDone, { duration: 1000, onSuccess: () => true, onTimeout: () => false })
        }
      })
    )

    const server: SseServer.SseServer<Id> = {
      [TypeId]: TypeId,
      connect,
      get: (id) => Effect.sync(() => Option.fromNullable(connectionsOf(id).at(-1))),
      getAll: (id) => Effect.sync(() => connectionsOf(id)),
      size: Effect.sync(() => open.size),
      sources: Effect.sync(() => Array.from(open)),
      send: (id, message) =>
        Effect.flatMap(prepare(id, message), (prepared) =>
          Effect.flatMap(
            Effect.forEach(
              connectionsOf(id),
              (connection) => Effect.either(connection.sendFrame(prepared.frame, prepared.key))
            ),
            (results) => Effect.as(reportFailure(prepared), results.some(Either.isRight))
          )),
      broadcast,
      broadcastFrame,
      event
    }
    return server
  })

/** @internal */
export const makeConfig = <Id>(
  options: Config.Config.Wrap<SseServer.Options>
): Effect.Effect<SseServer.SseServer<Id>, ConfigError.ConfigError, Scope.Scope> =>
  Effect.flatMap(Config.unwrap(options), (resolved) => make<Id>(resolved))

/** @internal */
export const connect = <Self, Id>(tag: Context.Tag<Self, SseServer.SseServer<Id>>, id: Id) =>
  Effect.flatMap(tag, (server) => server.connect(id))

/** @internal */
export const handler = <Self, Id, E, R>(
  tag: Context.Tag<Self, SseServer.SseServer<Id>>,
  id: Effect.Effect<Id, E, R>
) => Effect.flatMap(id, (id) => connect(tag, id))
