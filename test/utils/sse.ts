import * as HttpRouter from "@effect/platform/HttpRouter"
import { Effect, type Scope } from "effect"
import { SseServer } from "effect-sse"
import { listen, serve } from "./http.js"

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
    const sse = yield* SseServer.make<Id>(options)
    yield* serve(server, routes(sse))
    return { sse, url }
  })

/** `GET /events/:id` connecting the id, as a string. */
export const eventsRoute = (sse: SseServer.SseServer<string>) =>
  HttpRouter.empty.pipe(
    HttpRouter.get("/events/:id", Effect.flatMap(HttpRouter.params, (params) => sse.connect(params.id ?? "")))
  )
