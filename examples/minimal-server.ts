/**
 * A minimal SSE server: GET /events streams a tick every second to every client.
 *
 * Run: npm run example:server, then curl -N http://localhost:3001/events
 */
import { HttpRouter, HttpServer } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Context, Effect, Layer, Schedule } from "effect"
import { Message, SseServer } from "effect-sse"
import { createServer } from "node:http"

class Ticks extends Context.Tag("Ticks")<Ticks, SseServer.SseServer<number>>() {}
let next = 0
const ticking = Effect.flatMap(Ticks, (sse) => sse.broadcast(Message.make({ data: new Date().toISOString() })))

HttpRouter.empty.pipe(
  HttpRouter.get("/events", SseServer.handler(Ticks, Effect.sync(() => next++))),
  HttpServer.serve(),
  Layer.merge(Layer.scopedDiscard(Effect.forkScoped(Effect.repeat(ticking, Schedule.spaced("1 second"))))),
  Layer.provide(SseServer.layer(Ticks, { keepAlive: "15 seconds" })),
  Layer.provide(NodeHttpServer.layer(createServer, { port: 3001, host: "localhost" })),
  Layer.launch,
  NodeRuntime.runMain
)
