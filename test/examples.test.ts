/**
 * The examples as users run them: the auth and CORS examples over real sockets (CORS in Chromium too), and the
 * example servers as processes started through npm: PORT, the printed URL, a port in use, SIGTERM.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { SseClient, SseServer } from "effect-sse"
import * as Path from "node:path"
import * as Auth from "../examples/auth/app.js"
import * as Cors from "../examples/cors/app.js"
import * as Session from "../examples/session.js"
import { hasBrowser, launch } from "./utils/browser.js"
import { connect, eventually, listen, serve } from "./utils/http.js"
import { spawn } from "./utils/process.js"
import { tempDirectory } from "./utils/temp.js"

const root = Path.join(import.meta.dirname, "..")

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body)
    })
  )

const startAuth = Effect.gen(function*() {
  const { server, url } = yield* listen
  const sse = yield* SseServer.make<string>({ name: "inbox", connectionsPerId: "multiple" })
  yield* serve(server, Auth.make({ secret: "test secret" })).pipe(Effect.provideService(Auth.Inbox, sse))
  return { sse, url }
})

/** Signs in; returns the cookie header to send back and the bearer token. */
const signIn = (url: string, user: string, password: string) =>
  Effect.gen(function*() {
    const response = yield* post(`${url}/sign-in`, { user, password })
    expect(response.status).toBe(200)
    const setCookie = response.headers.get("set-cookie") ?? ""
    const { token } = (yield* Effect.promise(() => response.json())) as { token: string }
    return { setCookie, cookie: setCookie.split(";")[0]!, token }
  })

describe("examples: auth", () => {
  it.scopedLive("refuses every identity the client chooses itself", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startAuth
      const forged = Session.make("another secret").sign("ada")
      const attempts: Array<[string, Record<string, string>]> = [
        [`${url}/events`, {}],
        [`${url}/events?user=ada`, {}],
        [`${url}/events`, { "x-user-id": "ada" }],
        [`${url}/events`, { cookie: "session=ada" }],
        [`${url}/events`, { cookie: `session=${forged}` }],
        [`${url}/events`, { cookie: `session=ada.${forged.split(".")[1]!.replace(/^./, "x")}` }],
        [`${url}/events`, { authorization: "Bearer not-a-token" }]
      ]
      for (const [target, headers] of attempts) {
        const client = yield* connect(target, { headers })
        expect(client.status, `${target} ${JSON.stringify(headers)}`).toBe(401)
      }
      expect((yield* post(`${url}/sign-in`, { user: "ada", password: "hopper" })).status).toBe(401)
      expect((yield* post(`${url}/send`, { to: "ada", text: "hi" })).status).toBe(401)
      expect(yield* sse.size).toBe(0)
    }))

  it.scopedLive("a browser's signed cookie and a program's bearer token each reach their own user", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startAuth
      const ada = yield* signIn(url, "ada", "lovelace")
      expect(ada.setCookie).toMatch(/^session=ada\.[\w-]+;/)
      expect(ada.setCookie).toContain("HttpOnly")
      expect(ada.setCookie).toContain("SameSite=Lax")
      const grace = yield* signIn(url, "grace", "hopper")

      // Ada as a browser: the cookie, nothing else. Grace as a program: SseClient with a bearer token.
      const adaStream = yield* connect(`${url}/events`, { headers: { cookie: ada.cookie } })
      expect(adaStream.status).toBe(200)
      const graceNotes = yield* SseClient.get(`${url}/events`, {
        headers: Effect.succeed({ authorization: `Bearer ${grace.token}` })
      }).pipe(
        SseClient.decodeEvents({ Note: Auth.Note }),
        Stream.take(1),
        Stream.runCollect,
        Effect.provide(NodeHttpClient.layerUndici),
        Effect.fork
      )
      yield* eventually("both connected", Effect.map(sse.size, (size) => size === 2))

      const toAda = yield* post(`${url}/send`, { to: "ada", text: "from a program" }, {
        authorization: `Bearer ${grace.token}`
      })
      expect(yield* Effect.promise(() => toAda.json())).toEqual({ reached: 1 })
      yield* adaStream.waitFor("ada's note", () => adaStream.messages().some((message) => message.event === "note"))
      expect(adaStream.messages().map((message) => JSON.parse(message.data))).toEqual([
        { from: "grace", text: "from a program" }
      ])

      yield* post(`${url}/send`, { to: "grace", text: "from a browser" }, { cookie: ada.cookie })
      const notes = yield* Fiber.join(graceNotes)
      expect(Array.from(notes, (note) => note.data)).toEqual([{ from: "ada", text: "from a browser" }])
      // Grace's note never went to ada.
      expect(adaStream.messages()).toHaveLength(1)

      const signOut = yield* post(`${url}/sign-out`, {}, { cookie: ada.cookie })
      expect(signOut.headers.get("set-cookie")).toMatch(/^session=; Max-Age=0/)
    }))
})

/** The CORS example: the stream's server and the page's, each on its own port of 127.0.0.1. */
const startCors = Effect.gen(function*() {
  const stream = yield* listen
  const page = yield* listen
  const sse = yield* SseServer.make<string>({ name: "visitors", connectionsPerId: "multiple" })
  yield* serve(stream.server, Cors.stream({ pageOrigin: page.url, secret: "test secret" })).pipe(
    Effect.provideService(Cors.Visitors, sse)
  )
  yield* serve(page.server, Cors.page(`${stream.url}/events`))
  return { streamUrl: stream.url, pageUrl: page.url }
})

describe("examples: CORS", () => {
  it.scopedLive("answers the page's origin with credentials, on the preflight and on the stream", () =>
    Effect.gen(function*() {
      const { pageUrl, streamUrl } = yield* startCors
      const preflight = yield* Effect.promise(() =>
        fetch(`${streamUrl}/events`, {
          method: "OPTIONS",
          headers: {
            origin: pageUrl,
            "access-control-request-method": "GET",
            "access-control-request-headers": "authorization"
          }
        })
      )
      expect(preflight.status).toBe(204)
      expect(preflight.headers.get("access-control-allow-origin")).toBe(pageUrl)
      expect(preflight.headers.get("access-control-allow-credentials")).toBe("true")
      expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization")

      const first = yield* connect(`${streamUrl}/events`, { headers: { origin: pageUrl } })
      expect(first.status).toBe(200)
      expect(first.headers["access-control-allow-origin"]).toBe(pageUrl)
      expect(first.headers["access-control-allow-credentials"]).toBe("true")
      const cookie = String(first.headers["set-cookie"]).split(";")[0]!
      yield* first.waitFor("hello", () => first.messages().length > 0)
      const hello = JSON.parse(first.messages()[0]!.data)
      expect(hello.returning).toBe(false)
      expect(cookie).toBe(`visitor=${Session.make("test secret").sign(hello.visitor)}`)

      const again = yield* connect(`${streamUrl}/events`, { headers: { origin: pageUrl, cookie } })
      yield* again.waitFor("hello", () => again.messages().length > 0)
      expect(JSON.parse(again.messages()[0]!.data)).toEqual({ visitor: hello.visitor, returning: true })
      expect(again.headers["set-cookie"]).toBeUndefined()

      // Another origin is not named: the response names the page's origin, so a browser refuses it.
      const other = yield* connect(`${streamUrl}/events`, { headers: { origin: "http://evil.example" } })
      expect(other.headers["access-control-allow-origin"]).toBe(pageUrl)
    }))

  it.scopedLive.skipIf(!hasBrowser)(
    "a page on another origin reads the stream in Chromium, and is known again",
    () =>
      Effect.gen(function*() {
        const { pageUrl, streamUrl } = yield* startCors
        const browser = yield* launch
        const page = yield* Effect.promise(() => browser.newPage())
        const hellos = () =>
          page.evaluate(() => (window as unknown as { hellos: Array<{ visitor: string; returning: boolean }> }).hellos)
        yield* Effect.promise(() => page.goto(pageUrl))
        yield* Effect.promise(() => page.waitForFunction(() => (window as unknown as { hellos: [] }).hellos.length > 0))
        const [first] = yield* Effect.promise(hellos)
        expect(first!.returning).toBe(false)
        // The cookie set by the stream's origin went back to it from the page's origin (withCredentials).
        yield* Effect.promise(() => page.reload())
        yield* Effect.promise(() => page.waitForFunction(() => (window as unknown as { hellos: [] }).hellos.length > 0))
        expect(yield* Effect.promise(hellos)).toEqual([{ visitor: first!.visitor, returning: true }])

        // The same page served from an origin the stream does not name gets nothing.
        const stranger = yield* listen
        yield* serve(stranger.server, Cors.page(`${streamUrl}/events`))
        const refused = yield* Effect.promise(() => browser.newPage())
        yield* Effect.promise(() => refused.goto(stranger.url))
        yield* Effect.promise(() =>
          refused.waitForFunction(() => document.getElementById("status")?.textContent === "error: state 2")
        )
        expect(yield* Effect.promise(() => refused.evaluate(() => (window as unknown as { hellos: [] }).hellos)))
          .toEqual(
            []
          )
      }),
    60_000
  )
})

describe("examples: as processes", () => {
  const env = { PORT: "0", HOST: "127.0.0.1" }

  it.scopedLive(
    "example:server prints its URL once bound; a second one on that port says so in one line",
    () =>
      Effect.gen(function*() {
        const first = yield* spawn("npm", ["run", "--silent", "example:server"], { cwd: root, env })
        const [, url] = yield* first.line(/^ticking: curl -N (http:\/\/127\.0\.0\.1:\d+)\/events$/, 60_000)
        const client = yield* connect(`${url}/events`)
        yield* client.waitFor("a tick", () => client.messages().length > 0, 15_000)

        const port = new URL(url!).port
        const second = yield* spawn("npm", ["run", "--silent", "example:server"], {
          cwd: root,
          env: { ...env, PORT: port }
        })
        expect(yield* second.exited(60_000)).toBe(1)
        expect(second.stdout()).toBe("")
        expect(second.stderr().trim().split("\n")).toEqual([
          `port ${port} is in use: stop what holds it, or set PORT to another port`
        ])
      }),
    120_000
  )

  it.scopedLive(
    "npm start on a history file it cannot read says so in one line, and prints no URL",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDirectory("effect-sse-room-")
        const npm = yield* spawn("npm", ["run", "--silent", "start"], {
          cwd: root,
          env: { ...env, ROOM_HISTORY_FILE: dir }
        })
        expect(yield* npm.exited(60_000)).toBe(1)
        expect(npm.stdout()).toBe("")
        expect(npm.stderr().trim().split("\n")).toEqual([
          expect.stringMatching(/^cannot start: Unavailable: the history store cannot be reached: EISDIR/)
        ])
      }),
    120_000
  )

  it.scopedLive(
    "npm start passes SIGTERM to the server, which ends its streams and exits",
    () =>
      Effect.gen(function*() {
        const npm = yield* spawn("npm", ["start"], { cwd: root, env })
        const [, url] = yield* npm.line(/open (http:\/\/127\.0\.0\.1:\d+) in two tabs/, 60_000)
        // The room's identity is a cookie the page sets.
        const home = yield* Effect.promise(() => fetch(url!))
        const cookie = (home.headers.get("set-cookie") ?? "").split(";")[0]!
        const client = yield* connect(`${url}/events`, { headers: { cookie } })
        expect(client.status).toBe(200)
        // SIGTERM to npm only, as a supervisor sends it: the server must hear it, tell the client, and stop.
        yield* npm.kill("SIGTERM")
        yield* client.waitFor("the stream to end", client.ended, 30_000)
        expect(yield* npm.exited(30_000)).toBe(0)
      }),
    120_000
  )
})
