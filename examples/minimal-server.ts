/**
 * A minimal SSE server: GET /events streams a tick every second to every client.
 *
 * Run: npm run example:server (PORT to change its port, default 3001), then curl -N http://localhost:3001/events
 */
import { HttpRouter, HttpServer } from "@effect/platform"
import { Context, Effect, Layer, Schedule } from "effect"
import { Message, SseServer } from "effect-sse"
import * as SseServerNode from "effect-sse/SseServer/Node"
import { serve } from "./serve.js"

class Ticks extends Context.Tag("Ticks")<Ticks, SseServer.SseServer<number>>() {}
let next = 0
const ticking = Effect.flatMap(Ticks, (sse) => sse.broadcast(Message.make({ data: new Date().toISOString() })))

const app = HttpRouter.empty.pipe(
  HttpRouter.get("/events", SseServer.handler(Ticks, Effect.sync(() => next++))),
  HttpServer.serve(),
  Layer.merge(Layer.scopedDiscard(Effect.forkScoped(Effect.repeat(ticking, Schedule.spaced("1 second"))))),
  // On Node, streams outlive their handlers: about 8 KiB per idle connection (docs/server.md).
  Layer.provide(SseServer.layer(Ticks, { keepAlive: "15 seconds" }).pipe(Layer.provide(SseServerNode.layer)))
)

serve({ app, defaultPort: 3001, banner: (url) => `ticking: curl -N ${url}/events` })
