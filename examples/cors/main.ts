/**
 * The CORS example: a page on http://localhost:3003 (PORT) reading a stream on http://localhost:3004
 * (STREAM_PORT) with credentials. Reload the page: the stream recognises you by the cookie it set.
 *
 * Run: npm run example:cors
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { Config, Effect, Layer } from "effect"
import { serve } from "../serve.js"
import * as Session from "../session.js"
import * as Cors from "./app.js"

const { host, pagePort, streamPort } = Effect.runSync(Effect.all({
  host: Config.string("HOST").pipe(Config.withDefault("localhost")),
  pagePort: Config.integer("PORT").pipe(Config.withDefault(3003)),
  streamPort: Config.integer("STREAM_PORT").pipe(Config.withDefault(3004))
}))

serve(
  {
    app: Cors.page(`http://${host}:${streamPort}/events`).pipe(HttpServer.serve()),
    defaultPort: pagePort,
    banner: (url) => `cors example: open ${url} (the page; its stream is on port ${streamPort})`
  },
  {
    app: Cors.stream({ pageOrigin: `http://${host}:${pagePort}`, secret: Session.randomSecret() }).pipe(
      HttpServer.serve(),
      Layer.provide(Cors.layer)
    ),
    defaultPort: streamPort,
    portVariable: "STREAM_PORT",
    banner: (url) => `cors example: the stream on ${url}/events`
  }
)
