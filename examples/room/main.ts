/**
 * The demo: the live room on http://localhost:3000 (or PORT). Open it in two tabs.
 *
 * Run: npm start
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { Layer } from "effect"
import { serve } from "../serve.js"
import * as Room from "./app.js"

serve({
  app: Room.router().pipe(HttpServer.serve(), Layer.provide(Room.layer())),
  defaultPort: 3000,
  banner: (url) => `effect-sse room: open ${url} in two tabs`
})
