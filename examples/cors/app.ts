/**
 * A page on one origin reading an event stream on another, with credentials: the stream's server names the
 * page's origin in `HttpMiddleware.cors` (never `*` when cookies are involved) and allows credentials; the page
 * opens `new EventSource(url, { withCredentials: true })`. The stream gives each browser a visitor id of its own,
 * in a signed cookie it sets on the first connection, and recognises it on the next ones.
 *
 * `main.ts` runs both servers; test/examples.test.ts drives them over real sockets and in Chromium.
 */
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { Layer } from "effect"
import { Context, Effect, Option, Schema } from "effect"
import { SseEvent, SseServer } from "effect-sse"
import { randomUUID } from "node:crypto"
import * as Session from "../session.js"

export class Visitors extends Context.Tag("cors/Visitors")<Visitors, SseServer.SseServer<string>>() {}

export const Hello = SseEvent.make("hello", Schema.Struct({ visitor: Schema.String, returning: Schema.Boolean }))

/** The stream's server: `/events`, readable from `pageOrigin` with cookies. */
export const stream = (options: { readonly pageOrigin: string; readonly secret: string }) => {
  const sessions = Session.make(options.secret, "visitor")
  const events = Effect.gen(function*() {
    const known = yield* sessions.current
    const visitor = Option.getOrElse(known, () => randomUUID())
    const response = yield* SseServer.connect(Visitors, visitor)
    // The newest connection of this visitor is the one just made.
    const source = yield* Effect.flatMap(Visitors, (sse) => sse.get(visitor))
    if (Option.isSome(source)) {
      yield* Effect.ignore(source.value.event(Hello).send({ visitor, returning: Option.isSome(known) }))
    }
    // The first connection is given its id; a Set-Cookie on a cross-origin response is kept only with credentials.
    return Option.isSome(known) ? response : sessions.set(response, visitor)
  })
  return HttpRouter.empty.pipe(
    HttpRouter.get("/events", events),
    HttpMiddleware.cors({
      allowedOrigins: [options.pageOrigin],
      // What a fetch-based client (SseClient in a browser) sends; EventSource sends no preflight at all.
      allowedHeaders: ["authorization", "last-event-id", "cache-control"],
      credentials: true
    })
  )
}

export const layer: Layer.Layer<Visitors> = SseServer.layer(Visitors, {
  name: "visitors",
  keepAlive: "15 seconds",
  connectionsPerId: "multiple"
})

/** The page's server: one page that reads `streamUrl`. */
export const page = (streamUrl: string) =>
  HttpRouter.empty.pipe(HttpRouter.get(
    "/",
    HttpServerResponse.html(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>effect-sse: a stream from another origin</title></head>
<body>
<p>This page is served from <b id="origin"></b> and reads <b>${streamUrl}</b>.</p>
<p id="status">connecting</p>
<script>
  document.getElementById("origin").textContent = location.origin
  const source = new EventSource(${JSON.stringify(streamUrl)}, { withCredentials: true })
  window.hellos = []
  source.addEventListener("hello", (e) => {
    const hello = JSON.parse(e.data)
    window.hellos.push(hello)
    document.getElementById("status").textContent =
      (hello.returning ? "welcome back, visitor " : "hello, new visitor ") + hello.visitor
  })
  source.onerror = () => { document.getElementById("status").textContent = "error: state " + source.readyState }
</script>
</body>
</html>
`)
  ))
