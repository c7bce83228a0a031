import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert, describe, expect, it } from "@effect/vitest"
import { Data, Effect, Fiber, Option, Supervisor, TestClock, Tracer } from "effect"
import type { SseServer } from "effect-sse"
import { Message } from "effect-sse"
import * as Net from "node:net"
import { connect, eventually } from "./utils/http.js"
import { droppedFrames, eventsRoute, portable, startServer } from "./utils/sse.js"

/** A raw TCP client: what it writes is sent as is, what it receives is kept as text. */
const rawClient = (url: string, request: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly text: () => string; readonly closed: () => boolean; readonly socket: Net.Socket }>(
      (resume) => {
        const { hostname, port } = new URL(url)
        let text = ""
        let closed = false
        const socket = Net.connect({ host: hostname, port: Number(port) }, () => {
          socket.write(request)
          resume(Effect.succeed({ text: () => text, closed: () => closed, socket }))
        })
        socket.on("data", (chunk: Buffer) => {
          text += chunk.toString("latin1")
        })
        socket.on("error", () => {})
        socket.on("close", () => {
          closed = true
        })
      }
    ),
    (client) => Effect.sync(() => client.socket.destroy())
  )

const waitUntil = (what: string, condition: () => boolean) => eventually(what, Effect.sync(condition))

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`

// These test the Node fast path itself; the "portable" vitest project runs the server without it.
describe.skipIf(portable)("SseServer on Node: the fast path", () => {
  it.scopedLive("the handler returns at once: an open stream holds no request fiber, and frames go out as chunks", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.track
      const { sse, url } = yield* startServer({ retry: "1 second" }, eventsRoute).pipe(Effect.supervised(supervisor))
      const baseline = (yield* supervisor.value).length
      const client = yield* rawClient(url, get("/events/a"))
      yield* waitUntil("the opening frame", () => client.text().includes("retry:1000"))
      yield* sse.broadcast(Message.make({ data: "hi" }))
      yield* waitUntil("the message", () => client.text().includes("data:hi"))
      const [head, body] = client.text().split("\r\n\r\n", 2) as [string, string]
      expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
      expect(head.toLowerCase()).toContain("transfer-encoding: chunked")
      expect(head.toLowerCase()).toContain("content-type: text/event-stream; charset=utf-8")
      // Exactly two chunks: the opening and the message, each framed by its size.
      expect(body).toBe("c\r\nretry:1000\n\n\r\n9\r\ndata:hi\n\n\r\n")
      // The pin: if the fast path were silently not taken, the platform's handler fiber would still run here.
      expect((yield* supervisor.value).length).toBe(baseline)
      yield* Effect.sync(() => client.socket.destroy())
      yield* eventually("the source to leave", Effect.map(sse.size, (n) => n === 0))
    }))

  it.scopedLive("the request's span ends with the handler; the connection's span joins its trace and ends with the stream", () =>
    Effect.gen(function*() {
      const ended: Array<string> = []
      const started: Array<Tracer.Span> = []
      const native = yield* Effect.tracer
      const tracer = Tracer.make({
        span: (name, parent, context, links, startTime, kind, options) => {
          const span = native.span(name, parent, context, links, startTime, kind, options)
          started.push(span)
          const end = span.end.bind(span)
          span.end = (endTime, exit) => {
            ended.push(name)
            end(endTime, exit)
          }
          return span
        },
        context: native.context
      })
      const { sse, url } = yield* Effect.withTracer(startServer({}, eventsRoute), tracer)
      const client = yield* connect(`${url}/events/a`)
      yield* client.waitFor("the stream to open", () => client.text().length > 0)
      const connection = started.find((span) => span.name === "SseServer.connection")
      const request = started.find((span) => span.name !== "SseServer.connection")
      assert.isDefined(connection)
      assert.isDefined(request)
      yield* eventually("the request span to end", Effect.sync(() => ended.includes(request.name)))
      expect(ended).not.toContain("SseServer.connection")
      expect(connection.traceId).toBe(request.traceId)
      yield* client.destroy
      yield* eventually("the source to leave", Effect.map(sse.size, (n) => n === 0))
      expect(ended).toContain("SseServer.connection")
    }))

  it.scopedLive("an open stream keeps nothing of its request: the request can be collected while the stream goes on", () =>
    Effect.gen(function*() {
      const gc = (globalThis as { gc?: () => void }).gc
      assert.isDefined(gc, "run the tests with --expose-gc (vitest.config.ts sets it)")
      const requests: Array<WeakRef<object>> = []
      const { sse, url } = yield* startServer<string, never, never>(
        { keepAlive: "1 second", retry: "1 second" },
        (sse) =>
          HttpRouter.empty.pipe(HttpRouter.get(
            "/events/:id",
            Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
              requests.push(new WeakRef(request))
              return sse.connect("a", { onClose: () => Effect.void })
            })
          ))
      )
      const client = yield* rawClient(url, get("/events/a"))
      yield* waitUntil("the opening frame", () => client.text().includes("retry:1000"))
      // Collections run until the request is gone (the platform lets go of it once the handler has returned).
      yield* eventually(
        "the request to be collected",
        Effect.promise(async () => {
          gc!()
          await new Promise((resolve) => setTimeout(resolve, 10))
          return requests[0]!.deref() === undefined
        }),
        10_000
      )
      yield* sse.broadcast(Message.make({ data: "still here" }))
      yield* waitUntil("the stream to go on", () => client.text().includes("data:still here"))
    }))

  it.scopedLive("frames sent within one tick leave as one chunk, in order: one write per socket for a burst", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({ retry: "1 second" }, eventsRoute)
      const client = yield* rawClient(url, get("/events/a"))
      yield* waitUntil("the opening frame", () => client.text().includes("retry:1000"))
      yield* Effect.forEach([1, 2, 3, 4, 5], (i) => sse.broadcast(Message.make({ data: `m${i}` })), { discard: true })
      yield* waitUntil("the burst", () => client.text().includes("data:m5\n\n"))
      const body = client.text().split("\r\n\r\n", 2)[1]!
      const burst = "data:m1\n\ndata:m2\n\ndata:m3\n\ndata:m4\n\ndata:m5\n\n"
      expect(body).toBe(`c\r\nretry:1000\n\n\r\n${burst.length.toString(16)}\r\n${burst}\r\n`)
    }))

  for (const { size, count } of [{ size: 64 * 1024, count: 400 }, { size: 1024, count: 25_000 }]) {
    it.scopedLive(
      `a burst larger than the socket's buffer reaches the socket within the burst: pushback still shows (${size}-byte frames)`,
      () =>
        Effect.gen(function*() {
          // A client that never reads. Frames are held until the end of the tick only while they fit the socket's
          // buffer: past it they are written at once, the socket pushes back, and under "dropNewest" the rest of
          // the burst is dropped. Held without bound, none would be.
          const name = `burst-pushback-${size}`
          const { sse, url } = yield* startServer({ name, slowConsumer: "dropNewest", bufferCapacity: 4 }, eventsRoute)
          const client = yield* rawClient(url, get("/events/a"))
          yield* Effect.sync(() => client.socket.pause())
          yield* eventually("the source", Effect.map(sse.size, (n) => n === 1))
          const frame = Message.make({ data: "x".repeat(size) })
          // One synchronous run of sends: no tick passes in between.
          yield* Effect.sync(() => {
            for (let i = 0; i < count; i++) Effect.runSync(sse.broadcast(frame))
          })
          expect(yield* droppedFrames(name)).toBeGreaterThan(0)
          const source = Option.getOrThrow(yield* sse.get("a"))
          expect(yield* source.isConnected).toBe(true)
        })
    )
  }

  it.scopedLive("an HTTP/1.0 request cannot be taken over: the portable path serves it, with the same frames", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({}, eventsRoute)
      const client = yield* rawClient(url, "GET /events/old HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
      yield* eventually("the source", Effect.map(sse.size, (n) => n === 1))
      yield* sse.broadcast(Message.make({ data: "hi" }))
      yield* waitUntil("the message", () => client.text().includes("data:hi\n\n"))
      expect(client.text().toLowerCase()).not.toContain("transfer-encoding")
    }))
})

describe("SseServer: pipelined requests never hold a source", () => {
  const pipelined = (options: SseServer.Options) =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer(options, eventsRoute)
      const requests = Array.from({ length: 100 }, (_, i) => get(`/events/p${i}`)).join("")
      const client = yield* rawClient(url, requests)
      if (portable) {
        // The portable path cannot tell a queued response from one in flight: they register until the socket goes.
        yield* eventually("the requests to register", Effect.map(sse.size, (n) => n === 100))
      } else {
        // The first request's stream takes the socket over. A request behind it can never be answered before the
        // stream ends, and Node would hand it the same socket: it is refused if it waits in Node's queue, and
        // the socket is closed if Node gives it the socket (the client broke its own stream).
        yield* waitUntil("the server to close the socket", client.closed)
        expect(client.text()).toMatch(/^HTTP\/1\.1 200 OK/)
        // What the first stream wrote before the socket closed went out: its opening frame, as a chunk.
        expect(client.text().split("\r\n\r\n", 2)[1]).toMatch(/^2\r\n:\n\r\n/)
      }
      yield* Effect.sync(() => client.socket.destroy())
      yield* eventually("every source to leave", Effect.map(sse.size, (n) => n === 0))
      return { sse, url }
    })

  it.scopedLive("100 GETs in one write, then the socket destroyed: no source is left", () => pipelined({}))

  it.scopedLive("with maxConnections 100, later clients are not locked out", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* pipelined({ maxConnections: 100 })
      const clients = yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => i),
        (i) => connect(`${url}/events/later${i}`),
        { concurrency: 20 }
      )
      expect(clients.every((client) => client.status === 200)).toBe(true)
      expect(yield* sse.size).toBe(100)
    }))
})

describe("SseServer: a source's state after its client leaves", () => {
  for (const slowConsumer of ["close", "dropNewest", "dropOldest"] as const) {
    it.scopedLive(`${slowConsumer}: isConnected turns false and every send fails Closed`, () =>
      Effect.gen(function*() {
        const { sse, url } = yield* startServer({ slowConsumer }, eventsRoute)
        const client = yield* connect(`${url}/events/gone`)
        yield* client.waitFor("the stream to open", () => client.text().length > 0)
        const source = Option.getOrThrow(yield* sse.get("gone"))
        expect(yield* source.isConnected).toBe(true)
        yield* client.destroy
        yield* eventually("isConnected to turn false", source.isConnected.pipe(Effect.map((open) => !open)))
        const sent = yield* Effect.flip(source.send(Message.make({ data: "late" })))
        expect(sent.reason).toBe("Closed")
        const frame = yield* Effect.flip(source.sendFrame(new TextEncoder().encode("data:late\n\n")))
        expect(frame.reason).toBe("Closed")
        expect(yield* sse.send("gone", Message.make({ data: "late" }))).toBe(false)
        expect(yield* sse.size).toBe(0)
      }))
  }
})

describe("SseServer: connect gives the handler the new source", () => {
  const greeted = (sse: SseServer.SseServer<string>) =>
    HttpRouter.empty.pipe(
      HttpRouter.get(
        "/greeted/:id",
        Effect.flatMap(HttpRouter.params, (params) =>
          sse.connect(params.id ?? "", {
            headers: { "x-greeting": "yes" },
            onOpen: (source) =>
              Effect.gen(function*() {
                // A slow snapshot: broadcasts made meanwhile must follow the greeting, not precede it.
                yield* Effect.sleep("20 millis")
                yield* source.send(Message.make({ event: "welcome", data: String(source.id) }))
              })
          }))
      )
    )

  it.scopedLive("onOpen's frames go out before any live frame, and none of the live frames is lost", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({}, greeted)
      let sent = 0
      const flood = yield* Effect.fork(Effect.forever(Effect.zipRight(
        Effect.suspend(() => sse.broadcast(Message.make({ data: String(sent++) }))),
        Effect.sleep("1 millis")
      )))
      const clients = yield* Effect.forEach(
        Array.from({ length: 10 }, (_, i) => i),
        (i) => connect(`${url}/greeted/u${i}`),
        { concurrency: 10 }
      )
      for (const client of clients) {
        yield* client.waitFor("the welcome and live frames", () => client.messages().length > 5)
        expect(client.headers["x-greeting"]).toBe("yes")
        expect(client.messages()[0]?.event).toBe("welcome")
        // Consecutive: the live frames held during the greeting are released in order, none dropped.
        const live = client.messages().slice(1).map((m) => Number(m.data))
        expect(live).toEqual(live.map((_, i) => live[0]! + i))
      }
      yield* Fiber.interrupt(flood)
    }))

  it.scopedLive("onClose runs once the source is gone, after it has left the registry", () =>
    Effect.gen(function*() {
      const seen: Array<{ readonly id: string; readonly size: number }> = []
      const { url } = yield* startServer<string, never, never>({}, (sse) =>
        HttpRouter.empty.pipe(
          HttpRouter.get(
            "/watched/:id",
            Effect.flatMap(HttpRouter.params, (params) =>
              sse.connect(params.id ?? "", {
                onClose: (source) => Effect.map(sse.size, (size) => void seen.push({ id: source.id, size }))
              }))
          )
        ))
      const first = yield* connect(`${url}/watched/a`)
      const second = yield* connect(`${url}/watched/b`)
      yield* first.waitFor("the stream to open", () => first.text().length > 0)
      yield* second.waitFor("the stream to open", () => second.text().length > 0)
      expect(seen).toEqual([])
      yield* first.destroy
      yield* waitUntil("onClose", () => seen.length === 1)
      expect(seen).toEqual([{ id: "a", size: 1 }])
    }))

  class Denied extends Data.TaggedError("Denied")<{ readonly reason: string }> {}

  it.scopedLive("when onOpen fails, the source is closed, never registered for good, and connect fails with its error", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer<string, never, never>({}, (sse) =>
        HttpRouter.empty.pipe(
          HttpRouter.get(
            "/denied",
            sse.connect("denied", { onOpen: () => Effect.fail(new Denied({ reason: "not allowed" })) }).pipe(
              Effect.catchTag("Denied", () => HttpServerResponse.text("denied", { status: 403 }))
            )
          )
        ))
      const client = yield* connect(`${url}/denied`)
      expect(client.status).toBe(403)
      expect(yield* sse.size).toBe(0)
    }))
})

describe("SseServer: heartbeats come from one sweep per server", () => {
  it.scoped("50 idle connections each get a heartbeat after keepAlive, from one fiber", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.track
      const { sse, url } = yield* startServer({ keepAlive: "15 seconds" }, eventsRoute).pipe(
        Effect.supervised(supervisor)
      )
      // The HTTP server's and the sweep.
      const baseline = (yield* supervisor.value).length
      const clients = yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        (i) => connect(`${url}/events/${i}`)
      )
      yield* eventually("50 sources", Effect.map(sse.size, (n) => n === 50))
      for (const client of clients) yield* client.waitFor("the opening", () => client.comments().length === 1)
      // No fiber per connection on Node (the portable path holds each request's fibers), and no heartbeat fiber.
      const fibers = Effect.map(supervisor.value, (all) => all.length)
      if (portable) expect(yield* fibers).toBeGreaterThanOrEqual(baseline + 50)
      else yield* eventually("the handlers' fibers to end", Effect.map(fibers, (n) => n === baseline))
      yield* TestClock.adjust("15 seconds")
      for (const client of clients) yield* client.waitFor("a heartbeat", () => client.comments().length === 2)
      yield* TestClock.adjust("15 seconds")
      for (const client of clients) yield* client.waitFor("a second heartbeat", () => client.comments().length === 3)
    }))
})
