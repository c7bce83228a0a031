import * as Headers from "@effect/platform/Headers"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import * as MetricLabel from "effect/MetricLabel"
import * as MutableHashMap from "effect/MutableHashMap"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import * as Encoder from "../Encoder.js"
import type * as History from "../History.js"
import type * as Message from "../Message.js"
import type * as SseEvent from "../SseEvent.js"
import type * as SseServer from "../SseServer.js"
import * as Backplane from "./backplane.js"
import { Connection } from "./connection.js"
import { Hub, resolveSettings } from "./hub.js"
import { NodeFastPath, nodeResponseOf, NodeWriter, takeOver } from "./nodeWriter.js"
import { SseServerError } from "./serverError.js"
import * as StreamWriter from "./streamWriter.js"

export { SseServerError } from "./serverError.js"
export { metrics } from "./serverMetrics.js"

/** @internal */
export const TypeId: SseServer.TypeId = Symbol.for("effect-sse/SseServer") as SseServer.TypeId

const contentType = "text/event-stream; charset=utf-8"

const baseHeaders = Headers.fromInput({ "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" })
// `Connection` is a hop-by-hop header that HTTP/2 forbids: only sent when the request is known to be HTTP/1.x.
const http1Headers = Headers.set(baseHeaders, "connection", "keep-alive")

const eventStreamHeaders = (
  request: HttpServerRequest.HttpServerRequest,
  extra: Headers.Input | undefined
): Headers.Headers => {
  const headers = (request.source as { readonly httpVersionMajor?: unknown }).httpVersionMajor === 1
    ? http1Headers
    : baseHeaders
  return extra === undefined ? headers : Headers.merge(Headers.fromInput(extra), headers)
}

/**
 * The callback that ends a connection, for the transport's listeners. Made here, apart from `connect`: a closure
 * made inside it would keep its scope, and so the request, alive for the connection's whole life.
 */
const disposerOf = <Id>(connection: Connection<Id>) => () => connection.dispose()

/** @internal */
export const make = <Id>(
  options: SseServer.Options & { readonly history?: SseServer.HistoryOptions<Id> | undefined } = {}
): Effect.Effect<SseServer.SseServer<Id>, never, Scope.Scope | History.History> =>
  Effect.gen(function*() {
    const settings = resolveSettings(options)
    const clock = yield* Effect.clock
    const tracer = yield* Effect.tracer
    const serverContext = yield* Effect.context<never>()
    const fastPath = yield* Effect.serviceOption(NodeFastPath)
    const runFork = yield* FiberSet.makeRuntime<never, void, never>()
    const hub = new Hub<Id>(
      settings,
      clock,
      [MetricLabel.make("sse_server", settings.name)],
      (effect) => runFork(effect)
    )
    // With a history, every message goes through the server's log and is delivered in its order.
    const backplane = options.history === undefined ? undefined : yield* Backplane.make(
      settings.name,
      options.history as SseServer.HistoryOptions<unknown>,
      {
        onEntry: (entry) => hub.deliverEntry(entry),
        onGap: (reason) => hub.signalGap(reason),
        onHistoryFailure: () => hub.onHistoryFailure()
      }
    )
    hub.backplane = backplane
    if (settings.keepAlive > 0) runFork(hub.sweep())
    yield* Effect.addFinalizer(() => hub.shutdown())

    // A connection belongs to the server, not to the request: nothing in it refers to the request or its fiber, so
    // on Node the handler can return while the stream goes on. Its span joins the request's trace by ids only.
    const newConnection = (id: Id, lastEventId: string, parent: Option.Option<Tracer.AnySpan>) => {
      const historyKey = backplane === undefined ? undefined : backplane.keyOf(id)
      const span = tracer.span(
        "SseServer.connection",
        Option.map(
          parent,
          (span) => Tracer.externalSpan({ traceId: span.traceId, spanId: span.spanId, sampled: span.sampled })
        ),
        serverContext,
        [],
        clock.unsafeCurrentTimeNanos(),
        "server",
        { captureStackTrace: false }
      )
      span.attribute("sse.server", settings.name)
      span.attribute("sse.id", String(id))
      return new Connection<Id>(id, historyKey, hub, span, lastEventId)
    }

    // Replays what the client missed and runs `onOpen`; without a history or `onOpen`, nothing to wait for.
    const opening = <E, R>(
      connection: Connection<Id>,
      lastEventId: string,
      onOpen: ((source: SseServer.Source<Id>) => Effect.Effect<void, E, R>) | undefined
    ): Effect.Effect<Backplane.Resumed, E, R> => {
      const key = connection.historyKey
      if ((backplane === undefined || key === undefined) && onOpen === undefined) {
        return Effect.succeed(Backplane.unrecorded(lastEventId))
      }
      const resumed = backplane === undefined || key === undefined
        ? Effect.succeed(Backplane.unrecorded(lastEventId))
        : backplane.resume(key, lastEventId)
      return Effect.onError(
        Effect.tap(resumed, (resumed) => {
          connection.resume = resumed.resume
          return onOpen === undefined ? Effect.void : onOpen(connection)
        }),
        () => Effect.sync(() => connection.dispose())
      )
    }

    const connect = <E = never, R = never>(id: Id, connectOptions?: SseServer.ConnectOptions<Id, E, R>) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        const refused = hub.admit(id)
        if (refused !== undefined) return Effect.succeed(hub.refuse(refused))
        const response = Option.isSome(fastPath) ? nodeResponseOf(request, fastPath.value.toServerResponse) : undefined
        // Waiting behind another response on a pipelined socket: Node would never tell that it is gone.
        if (response !== undefined && response.socket === null && !response.writableEnded) {
          return Effect.succeed(hub.refuse("Pipelined behind another response"))
        }
        const lastEventId = request.headers["last-event-id"] ?? ""
        return Effect.flatMap(Effect.currentSpan.pipe(Effect.option), (parent) => {
          const connection = newConnection(id, lastEventId, parent)
          const dispose = disposerOf(connection)
          hub.register(connection)
          // However the request came, its socket closing ends the connection (pipelined requests included).
          const watch = StreamWriter.watchSocket(request.source, dispose)
          connection.onDispose = watch?.stop
          connection.onAbort = watch?.destroy
          if (connectOptions?.onClose !== undefined) connection.onClosed = connectOptions.onClose(connection)
          return Effect.flatMap(opening(connection, lastEventId, connectOptions?.onOpen), (opened) => {
            const headers = eventStreamHeaders(request, connectOptions?.headers)
            const first = [settings.prelude, ...opened.frames]
            if (connection.isGone) return Effect.succeed(HttpServerResponse.empty({ status: 200, headers }))
            const takenOver = response === undefined ? undefined : takeOver(request, response, headers, contentType)
            if (takenOver !== undefined) {
              connection.open(first, opened, new NodeWriter(takenOver.socket, dispose))
              // What middleware and the platform see: an empty 200 with the stream's headers; the stream goes on.
              return Effect.succeed(HttpServerResponse.empty({ status: 200, headers }))
            }
            const body = StreamWriter.body(connection, connection.open(first, opened, undefined))
            // The portable path: the response body is the stream, and the request's scope its lifetime.
            return Effect.as(
              Effect.addFinalizer(() => Effect.sync(dispose)),
              HttpServerResponse.stream(body, { contentType, headers })
            )
          })
        })
      })

    const encodeError = (id: unknown, cause: unknown) => new SseServerError({ reason: "Encode", id, cause })

    const broadcast = (message: Message.Message): Effect.Effect<void, SseServerError> => {
      if (backplane !== undefined) return backplane.append(undefined, [{ target: undefined, message }])
      return Either.match(Encoder.encode(message), {
        onLeft: (cause) => Effect.fail(encodeError(undefined, cause)),
        onRight: (frame) => Effect.sync(() => hub.deliverAll(frame))
      })
    }

    const send = (id: Id, message: Message.Message): Effect.Effect<boolean, SseServerError> => {
      if (backplane !== undefined) {
        // Delivered once recorded, through the log: true when a connection of the id is open here.
        return Effect.map(
          backplane.append(id, [{ target: backplane.keyOf(id), message }]),
          () => hub.connectionsOf(id).some((connection) => connection.isOpen)
        )
      }
      return Either.match(Encoder.encode(message), {
        onLeft: (cause) => Effect.fail(encodeError(id, cause)),
        onRight: (frame) =>
          Effect.map(
            Effect.forEach(hub.connectionsOf(id), (connection) => Effect.either(connection.sendOne(frame, false))),
            (results) => results.some(Either.isRight)
          )
      })
    }

    const event = <A, I, R>(sseEvent: SseEvent.SseEvent<A, I, R>): SseServer.ServerEvent<Id, A, R> => ({
      send: (payload, encodeOptions) =>
        Effect.flatMap(
          Effect.mapError(sseEvent.encode(payload, encodeOptions), (cause) => encodeError(undefined, cause)),
          broadcast
        ),
      // Each id connected here gets its own payload, computed once per id from its newest connection.
      sendEachLocal: (payloadOf, encodeOptions) =>
        Effect.suspend(() => {
          const newest = MutableHashMap.empty<Id, Connection<Id>>()
          for (const connection of hub.open) MutableHashMap.set(newest, connection.id, connection)
          return Effect.flatMap(
            Effect.forEach(newest, ([id, connection]) =>
              Effect.flatMap(connection.lastEventId, (lastEventId) =>
                Effect.map(
                  Effect.mapError(
                    sseEvent.encode(payloadOf(id, lastEventId), encodeOptions),
                    (cause) => encodeError(id, cause)
                  ),
                  (message) => [id, message] as const
                ))),
            (messages) =>
              // With a history: one append for all of them, each a private entry of its id.
              backplane !== undefined
                ? backplane.append(
                  undefined,
                  messages.map(([id, message]) => ({ target: backplane.keyOf(id), message }))
                )
                : Effect.forEach(messages, ([id, message]) => send(id, message), { discard: true })
          )
        })
    })

    const server: SseServer.SseServer<Id> = {
      [TypeId]: TypeId,
      connect,
      get: (id) => Effect.sync(() => Option.fromNullable(hub.connectionsOf(id).at(-1))),
      getAll: (id) => Effect.sync(() => hub.connectionsOf(id)),
      size: Effect.sync(() => hub.open.size),
      sources: Effect.sync(() => Array.from(hub.open)),
      send,
      broadcast,
      broadcastFrame: (frame) => Effect.sync(() => hub.deliverAll(frame)),
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
export const connect = <Self, Id, E = never, R = never>(
  tag: Context.Tag<Self, SseServer.SseServer<Id>>,
  id: Id,
  options?: SseServer.ConnectOptions<Id, E, R>
) => Effect.flatMap(tag, (server) => server.connect(id, options))

/** @internal */
export const handler = <Self, Id, E, R, E2 = never, R2 = never>(
  tag: Context.Tag<Self, SseServer.SseServer<Id>>,
  id: Effect.Effect<Id, E, R>,
  options?: SseServer.ConnectOptions<Id, E2, R2>
) => Effect.flatMap(id, (id) => connect(tag, id, options))
