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
import * as Encoder from "../Encoder.js"
import * as History from "../History.js"
import * as Message from "../Message.js"
import * as SseEvent from "../SseEvent.js"
import type * as SseServer from "../SseServer.js"
import { Connection, heartbeatFrame, type ServerContext } from "./connection.js"
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
      ? `History: the history could not record it, so it was delivered to no one (${
        this.id === undefined ? "a broadcast" : `for source ${String(this.id)}`
      })`
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
    description: "Messages not sent because the history could not record them (its store was unavailable)",
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

/** @internal */
export const gapFrame = (lastEventId: string, reason: "Unknown" | "Expired" | "Unavailable"): Uint8Array =>
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
export const make = <Id>(
  options: SseServer.Options & { readonly history?: SseServer.HistoryOptions<Id> | undefined } = {}
): Effect.Effect<SseServer.SseServer<Id>, never, Scope.Scope | History.History> =>
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
    const historyOptions = options.history
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
      record: undefined,
      compareKeys: (a, b) => log === undefined ? 0 : log.compare(a, b),
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

    const encodeError = (id: unknown, cause: unknown) => new SseServerError({ reason: "Encode", id, cause })

    // --- the history: every message goes through the server's log, and is delivered in the log's order ---

    const byKey = new Map<string, Array<Connection<Id>>>()
    const deliverEntry = (entry: History.Entry) => {
      const targets = entry.target === undefined ? open : byKey.get(entry.target)
      if (targets === undefined) return
      for (const connection of targets) connection.offerEntry(entry)
      flushWritten()
    }
    // Entries were lost before this process could deliver them: every connection is told at once.
    const signalGap = (reason: "Expired" | "Unavailable") => {
      for (const connection of open) connection.unsafeOffer(gapFrame(connection.lastSentId, reason))
      flushWritten()
    }
    const log = historyOptions === undefined ? undefined : yield* Effect.flatMap(
      History.History,
      (store) => store.open(name, { onEntry: deliverEntry, onGap: signalGap })
    )

    const historyError = (id: unknown, error: History.HistoryError) =>
      error.reason === "Encode"
        ? encodeError(id, error.cause)
        : new SseServerError({ reason: "History", id, cause: error })

    // Nothing is delivered unless it was recorded: a failure means no connection anywhere got it.
    const append = (
      currentLog: History.Log,
      id: unknown,
      items: ReadonlyArray<History.Item>
    ): Effect.Effect<void, SseServerError> =>
      Effect.asVoid(Effect.catchAll(currentLog.append(items), (error) =>
        Effect.zipRight(
          Effect.sync(() => {
            if (error.reason === "Unavailable") metrics.historyFailures.unsafeUpdate(1, tags)
          }),
          Effect.fail(historyError(id, error))
        )))

    const keyOf = (id: Id): string => historyOptions!.key(id)

    if (log !== undefined) {
      ;(context as { record: ServerContext["record"] }).record = (id, message) =>
        append(log, id, [{ target: keyOf(id as Id), message }])
    }

    // A reconnection with Last-Event-ID: the source holds entries back while the history is read, so the missed
    // ones go out first and none is lost or repeated at the hand-over.
    const resume = (connection: Connection<Id>, lastEventId: string): Effect.Effect<Uint8Array | undefined> => {
      if (log === undefined || lastEventId === "") return Effect.succeed(undefined)
      connection.startReplay()
      return Effect.map(Effect.either(log.since(lastEventId, connection.historyKey!)), (result) => {
        const replay: History.Replay | { readonly _tag: "Gap"; readonly reason: "Unavailable" } = Either.isRight(result)
          ? result.right
          : { _tag: "Gap", reason: "Unavailable" }
        if (replay._tag === "Gap") {
          connection.resume = { _tag: "Gap", reason: replay.reason, lastEventId }
          connection.endReplay(undefined, lastEventId)
          return gapFrame(lastEventId, replay.reason)
        }
        connection.resume = { _tag: "Replayed", count: replay.entries.length }
        const last = replay.entries.at(-1)?.message.id ?? lastEventId
        connection.endReplay(replay.cursor, last)
        return concat(replay.entries.map((entry) => entry.frame))
      })
    }

    const remove = (connection: Connection<Id>) => {
      if (!open.delete(connection)) return
      if (connection.historyKey !== undefined) {
        const rest = (byKey.get(connection.historyKey) ?? []).filter((c) => c !== connection)
        if (rest.length === 0) byKey.delete(connection.historyKey)
        else byKey.set(connection.historyKey, rest)
      }
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
      if (connection.historyKey !== undefined) {
        byKey.set(connection.historyKey, [...(byKey.get(connection.historyKey) ?? []), connection])
      }
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
            log === undefined ? undefined : keyOf(id),
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

    const broadcast = (message: Message.Message): Effect.Effect<void, SseServerError> => {
      if (log !== undefined) return append(log, undefined, [{ target: undefined, message }])
      return Either.match(Encoder.encode(message), {
        onLeft: (cause) => Effect.fail(encodeError(undefined, cause)),
        onRight: (frame) => broadcastFrame(frame)
      })
    }

    const send = (id: Id, message: Message.Message): Effect.Effect<boolean, SseServerError> => {
      if (log !== undefined) {
        // Delivered once recorded, through the log: true when a connection of the id is open here.
        return Effect.map(
          append(log, id, [{ target: keyOf(id), message }]),
          () => connectionsOf(id).some((c) => c.isOpen)
        )
      }
      return Either.match(Encoder.encode(message), {
        onLeft: (cause) => Effect.fail(encodeError(id, cause)),
        onRight: (frame) =>
          Effect.map(
            Effect.forEach(connectionsOf(id), (connection) => Effect.either(connection.sendFrame(frame))),
            (results) => results.some(Either.isRight)
          )
      })
    }

    const event = <A, I, R>(sseEvent: SseEvent.SseEvent<A, I, R>): SseServer.ServerEvent<Id, A, R> => ({
      send: (payload, encodeOptions) => {
        if (typeof payload !== "function") {
          return Effect.flatMap(
            Effect.mapError(sseEvent.encode(payload, encodeOptions), (cause) => encodeError(undefined, cause)),
            broadcast
          )
        }
        const payloadOf = payload as (id: Id, lastEventId: string) => A
        // Each id connected here gets its own payload (computed once per id, from its newest connection).
        return Effect.suspend(() => {
          const newest = new Map<Id, Connection<Id>>()
          MutableHashMap.forEach(byId, (connections, id) => {
            const connection = connections.at(-1)
            if (connection !== undefined) newest.set(id, connection)
          })
          return Effect.flatMap(
            Effect.forEach(newest, ([id, connection]) =>
              Effect.flatMap(connection.lastEventId, (lastEventId) =>
                Effect.map(
                  Effect.mapError(sseEvent.encode(payloadOf(id, lastEventId), encodeOptions), (cause) =>
                    encodeError(id, cause)),
                  (message) =>
                    [id, message] as const
                ))),
            (messages) => {
              // With a history: one append for all of them, so they keep one place in the log's order.
              if (log !== undefined) {
                return append(log, undefined, messages.map(([id, message]) => ({ target: keyOf(id), message })))
              }
              return Effect.forEach(messages, ([id, message]) =>
                Effect.asVoid(send(id, message)), { discard: true })
            }
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
          if (Either.isRight(hint)) {
            connection.offerControl(hint.right)
          }
          connection.unsafeClose()
        }
        // Finalizers run uninterruptibly: without `interruptible`, the timeouts below could not stop the wait.
        const allDone = Effect.interruptible(
          // A connection's queue is shut down when its request's scope closes: that is when it is done.
          Effect.forEach(closing, (connection) =>
            Queue.awaitShutdown(connection.queue), { discard: true })
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
      send,
      broadcast,
      broadcastFrame,
      event
    }
    return server
  })

/** @internal */
export const makeConfig = <Id>(
  options: Config.Config.Wrap<SseServer.Options>,
  history?: SseServer.HistoryOptions<Id>
): Effect.Effect<SseServer.SseServer<Id>, ConfigError.ConfigError, Scope.Scope | History.History> =>
  Effect.flatMap(Config.unwrap(options), (resolved) => make<Id>({ ...resolved, history }))

/** @internal */
export const connect = <Self, Id>(tag: Context.Tag<Self, SseServer.SseServer<Id>>, id: Id) =>
  Effect.flatMap(tag, (server) => server.connect(id))

/** @internal */
export const handler = <Self, Id, E, R>(
  tag: Context.Tag<Self, SseServer.SseServer<Id>>,
  id: Effect.Effect<Id, E, R>
) => Effect.flatMap(id, (id) => connect(tag, id))
