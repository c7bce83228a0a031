import * as HttpRouter from "@effect/platform/HttpRouter"
import { Effect, Layer, Metric, MetricLabel, type Scope } from "effect"
import { SseServer } from "effect-sse"
import * as SseServerNode from "effect-sse/SseServer/Node"
import { listen, serve } from "./http.js"

/**
 * The writer the server tests run on: the Node fast path, or with `SSE_WRITER=portable` (the vitest project
 * "portable") the Stream body that every other platform takes.
 */
export const portable = process.env.SSE_WRITER === "portable"

/** Provides the writer under test to a server's layer or constructor. */
export const writerLayer: Layer.Layer<Layer.Layer.Success<typeof SseServerNode.layer>> = portable
  ? Layer.empty as Layer.Layer<Layer.Layer.Success<typeof SseServerNode.layer>>
  : SseServerNode.layer

/** `SseServer.make` on the writer under test (with a history when the options give one). */
export const makeServer: typeof SseServer.make =
  (<Id>(options?: SseServer.Options) =>
    SseServer.make<Id>(options).pipe(Effect.provide(writerLayer))) as typeof SseServer.make

/**
 * A real HTTP server with an SseServer, acquired in the order that lets shutdown work: the HTTP server first
 * (closed last), then the SseServer (whose shutdown ends the responses), then the routes (removed first).
 */
export const startServer = <Id, E, R>(
  options: SseServer.Options,
  routes: (sse: SseServer.SseServer<Id>) => HttpRouter.HttpRouter<E, R>
): Effect.Effect<{ readonly sse: SseServer.SseServer<Id>; readonly url: string }, never, Scope.Scope | R> =>
  Effect.gen(function*() {
    const { server, url } = yield* listen
    const sse = yield* makeServer<Id>(options)
    yield* serve(server, routes(sse))
    return { sse, url }
  })

/** `GET /events/:id` connecting the id, as a string. */
export const eventsRoute = (sse: SseServer.SseServer<string>) =>
  HttpRouter.empty.pipe(
    HttpRouter.get("/events/:id", Effect.flatMap(HttpRouter.params, (params) => sse.connect(params.id ?? "")))
  )

/** Frames dropped so far by the servers named `name` (the `framesDropped` counter). */
export const droppedFrames = (name: string) =>
  Effect.map(
    Metric.value(Metric.taggedWithLabels(SseServer.metrics.framesDropped, [MetricLabel.make("sse_server", name)])),
    (state) => state.count
  )
