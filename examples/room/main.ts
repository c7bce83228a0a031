/**
 * The demo: the live room on http://localhost:3000 (or PORT). Open it in two tabs.
 *
 * Run: npm start
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as HttpServer from "@effect/platform/HttpServer"
import { Config, Console, Effect, Layer } from "effect"
import { createServer } from "node:http"
import * as Room from "./app.js"

const Main = Layer.unwrapEffect(Effect.gen(function*() {
  const port = yield* Config.port("PORT").pipe(Config.withDefault(3000))
  yield* Console.log(`effect-sse room: open http://localhost:${port} in two tabs`)
  return Room.router().pipe(
    HttpServer.serve(),
    Layer.provide(Room.layer()),
    Layer.provide(NodeHttpServer.layer(createServer, { port, host: "localhost" }))
  )
}))

NodeRuntime.runMain(Layer.launch(Main))
