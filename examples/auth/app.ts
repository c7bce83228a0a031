/**
 * One event stream, two ways to sign in: a browser signs in with a form and gets a signed, HttpOnly session
 * cookie, which its `EventSource` sends by itself; a program (a CLI, another service) gets a bearer token and sends
 * it in `Authorization` (SseClient's `headers` option). Either way the server decides who the connection is: no
 * query string or header chosen by the client names a user.
 *
 * `main.ts` runs it; test/examples.test.ts drives it over real sockets.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { Layer } from "effect"
import { Context, Effect, Option, Schema } from "effect"
import { SseEvent, SseServer } from "effect-sse"
import { randomBytes } from "node:crypto"
import * as Session from "../session.js"

export class Inbox extends Context.Tag("auth/Inbox")<Inbox, SseServer.SseServer<string>>() {}

export const Note = SseEvent.make("note", Schema.Struct({ from: Schema.String, text: Schema.String }))

/** The example's accounts. A real app checks a password hash. */
export const accounts: Readonly<Record<string, string>> = { ada: "lovelace", grace: "hopper" }

const SignIn = Schema.Struct({ user: Schema.String, password: Schema.String })
const Send = Schema.Struct({ to: Schema.String, text: Schema.String.pipe(Schema.maxLength(500)) })

export const make = (options: { readonly secret: string }) => {
  const sessions = Session.make(options.secret)
  // Bearer tokens, issued at sign-in; a real app stores them (hashed) with an expiry and lets users revoke them.
  const tokens = new Map<string, string>()

  /** The signed-in user: a bearer token first (programs), else the session cookie (browsers). */
  const currentUser = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const bearer = /^Bearer (\S+)$/.exec(request.headers["authorization"] ?? "")?.[1]
    return bearer !== undefined ? Option.fromNullable(tokens.get(bearer)) : yield* sessions.current
  })
  const unauthorized = HttpServerResponse.text("sign in first", { status: 401 })

  const signIn = Effect.gen(function*() {
    const { password, user } = yield* HttpServerRequest.schemaBodyJson(SignIn)
    if (accounts[user] !== password) return HttpServerResponse.text("wrong user or password", { status: 401 })
    const token = randomBytes(24).toString("base64url")
    tokens.set(token, user)
    return sessions.set(yield* HttpServerResponse.json({ user, token }), user)
  }).pipe(Effect.catchTag("ParseError", () => HttpServerResponse.text("expected { user, password }", { status: 400 })))

  const events = Effect.gen(function*() {
    const user = yield* currentUser
    if (Option.isNone(user)) return unauthorized
    return yield* SseServer.connect(Inbox, user.value)
  })

  // A note to one user: it reaches that user's connections and no one else's.
  const send = Effect.gen(function*() {
    const user = yield* currentUser
    if (Option.isNone(user)) return unauthorized
    const { text, to } = yield* HttpServerRequest.schemaBodyJson(Send)
    const sources = yield* Effect.flatMap(Inbox, (inbox) => inbox.getAll(to))
    for (const source of sources) yield* Effect.ignore(source.event(Note).send({ from: user.value, text }))
    return yield* HttpServerResponse.json({ reached: sources.length })
  }).pipe(Effect.catchTag("ParseError", () => HttpServerResponse.text("expected { to, text }", { status: 400 })))

  const signOut = Effect.succeed(sessions.clear(HttpServerResponse.empty({ status: 204 })))

  return HttpRouter.empty.pipe(
    HttpRouter.get("/", HttpServerResponse.html(page)),
    HttpRouter.post("/sign-in", Effect.orDie(signIn)),
    HttpRouter.post("/sign-out", signOut),
    HttpRouter.get("/events", events),
    HttpRouter.post("/send", Effect.orDie(send))
  )
}

export const layer: Layer.Layer<Inbox> = SseServer.layer(Inbox, {
  name: "inbox",
  keepAlive: "15 seconds",
  connectionsPerId: "multiple"
})

const page = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>effect-sse: sign in, then stream</title>
<style>body { font: 15px/1.4 system-ui, sans-serif; max-width: 40em; margin: 2em auto; padding: 0 1em; }</style>
</head>
<body>
<h1>Inbox</h1>
<form id="sign-in">
  <input id="user" placeholder="ada or grace" autocomplete="username">
  <input id="password" type="password" placeholder="lovelace or hopper" autocomplete="current-password">
  <button>Sign in</button>
</form>
<p id="status">signed out</p>
<form id="send" hidden><input id="to" placeholder="to"><input id="text" placeholder="note"><button>Send</button></form>
<ul id="notes"></ul>
<script>
  const $ = (id) => document.getElementById(id)
  let source
  const listen = () => {
    source?.close()
    // No token in the URL: the HttpOnly session cookie goes with the request by itself.
    source = new EventSource("/events")
    source.onopen = () => { $("status").textContent = "connected"; $("send").hidden = false }
    source.onerror = () => { $("status").textContent = source.readyState === 2 ? "refused: sign in" : "reconnecting" }
    source.addEventListener("note", (e) => {
      const { from, text } = JSON.parse(e.data)
      const li = document.createElement("li")
      li.textContent = from + ": " + text
      $("notes").append(li)
    })
  }
  $("sign-in").onsubmit = async (e) => {
    e.preventDefault()
    const response = await fetch("/sign-in", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: $("user").value, password: $("password").value }) })
    if (response.ok) listen(); else $("status").textContent = await response.text()
  }
  $("send").onsubmit = async (e) => {
    e.preventDefault()
    const response = await fetch("/send", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ to: $("to").value, text: $("text").value }) })
    $("status").textContent = response.ok ? "sent to " + (await response.json()).reached + " connection(s)" : await response.text()
  }
  listen()
</script>
</body>
</html>
`
