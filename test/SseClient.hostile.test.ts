// Hostile and broken servers, as a process left running unattended meets them. The tests of delays, timeouts,
// error shapes, 3xx, gzip and sendOnce failed against the client before it bounded its waits and retyped its
// errors; the others pin down behaviour that already held (one request at a time) or that a choice keeps
// (redirects followed by followRedirects, a body fetch decoded).
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Exit, Fiber, Layer, Queue, Schedule, Scope, Stream, TestClock } from "effect"
import { SseClient } from "effect-sse"
import { gzipSync } from "node:zlib"
import { eventually } from "./utils/http.js"
import { eventStream, scripted } from "./utils/scripted.js"

/** Records connection states, to wait on them. */
const stateLog = Effect.gen(function*() {
  const queue = yield* Queue.unbounded<SseClient.ConnectionState>()
  const all: Array<SseClient.ConnectionState> = []
  return {
    all,
    onState: (state: SseClient.ConnectionState) =>
      Effect.zipRight(Effect.sync(() => all.push(state)), queue.offer(state)),
    next: <Tag extends SseClient.ConnectionState["_tag"]>(tag: Tag) =>
      Effect.gen(function*() {
        while (true) {
          const state = yield* Queue.take(queue)
          if (state._tag === tag) return state as Extract<SseClient.ConnectionState, { _tag: Tag }>
        }
      }).pipe(realTimeout(15_000, `the ${tag} state`))
  }
})

/** Fails (dies) if the effect takes longer than `ms` of real time, whatever clock the test runs on. */
const realTimeout = (ms: number, what: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.raceFirst(
    effect,
    Effect.async<never>((resume) => {
      const timer = setTimeout(() => resume(Effect.dieMessage(`timed out waiting for ${what}`)), ms)
      return Effect.sync(() => clearTimeout(timer))
    })
  )

const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const drain = <E>(stream: Stream.Stream<unknown, E, HttpClient.HttpClient>) =>
  stream.pipe(Stream.runDrain, Effect.provide(NodeHttpClient.layer))

/** A URL on which nothing listens: a port that was just free. */
const closedPort = Effect.map(Effect.scoped(scripted((res) => res.end())), (server) => server.url)

describe("SseClient: delays have a floor", () => {
  it.scopedLive("a server that sends retry: 0 and closes, again and again, is not hammered", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => {
        eventStream(res)
        res.end("retry: 0\n\n")
      })
      yield* drain(SseClient.get(server.url)).pipe(Effect.forkScoped)
      yield* server.waitFor("a reconnection", () => server.requests.length >= 2)
      yield* realSleep(1000)
      // The floor (100 ms), doubling while nothing arrives: 100, 200, 400, 800 ms, so at most 5 requests in the
      // first 1.5 seconds. Before the floor, the backoff multiplied 0: hundreds of requests a second.
      expect(server.requests.length).toBeLessThanOrEqual(6)
    }))

  it.scopedLive("a server that sends retry: 0 and then goes down is not hammered either", () =>
    Effect.gen(function*() {
      const serverScope = yield* Scope.make()
      const server = yield* scripted((res) => {
        eventStream(res)
        res.write("retry: 0\ndata: hello\n\n")
      }).pipe(Scope.extend(serverScope))
      let attempts = 0
      const onState = (state: SseClient.ConnectionState) =>
        Effect.sync(() => {
          if (state._tag === "Connecting") attempts++
        })
      const received = yield* Queue.unbounded<string>()
      yield* SseClient.get(server.url, { onState }).pipe(
        Stream.runForEach((m) => received.offer(m.data)),
        Effect.provide(NodeHttpClient.layer),
        Effect.forkScoped
      )
      expect(yield* Queue.take(received)).toBe("hello")
      // The server goes down: every later attempt is refused.
      yield* Scope.close(serverScope, Exit.void)
      yield* eventually("a refused reconnection", Effect.sync(() => attempts >= 2))
      yield* realSleep(1000)
      // 100, 200, 400, 800 ms: a handful of attempts in the second; before the floor, thousands.
      expect(attempts).toBeLessThanOrEqual(6)
    }))

  it.scoped("after retry: 0 the waits start at minDelay and double while attempts fail", () =>
    Effect.gen(function*() {
      const log = yield* stateLog
      const server = yield* scripted((res, _, index) => {
        if (index > 0) return res.writeHead(503).end()
        eventStream(res)
        res.end("retry: 0\ndata: a\n\n")
      })
      yield* SseClient.get(server.url, { onState: log.onState, reconnect: SseClient.defaultSchedule({ jitter: 0 }) })
        .pipe(Stream.runDrain, Effect.provide(NodeHttpClient.layer), Effect.forkScoped)
      const delays: Array<number> = []
      for (let i = 0; i < 4; i++) {
        const delay = Duration.toMillis((yield* log.next("Retrying")).delay)
        delays.push(delay)
        yield* TestClock.adjust(Duration.millis(delay))
        yield* server.waitFor("the next attempt", () => server.requests.length === i + 2)
      }
      expect(delays).toEqual([100, 200, 400, 800])
    }))

  it.scopedLive("minDelay also holds a custom schedule that asks for no wait at all", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => res.writeHead(503).end())
      const reconnect = Schedule.intersect(Schedule.forever, Schedule.recurs(3))
      const log = yield* stateLog
      yield* drain(SseClient.get(server.url, { reconnect, minDelay: "50 millis", onState: log.onState })).pipe(
        Effect.flip
      )
      const delays = log.all.flatMap((s) => s._tag === "Retrying" ? [Duration.toMillis(s.delay)] : [])
      expect(delays).toEqual([50, 50, 50])
    }))
})

describe("SseClient: delays have a ceiling", () => {
  /** Runs the client against `server`, returns the first Retrying delay, then checks a reconnection follows. */
  const firstDelay = (
    handler: Parameters<typeof scripted>[0],
    options: SseClient.Options = {}
  ) =>
    Effect.gen(function*() {
      const log = yield* stateLog
      const server = yield* scripted(handler)
      yield* drain(SseClient.get(server.url, { ...options, onState: log.onState })).pipe(Effect.forkScoped)
      const delay = Duration.toMillis((yield* log.next("Retrying")).delay)
      yield* TestClock.adjust(Duration.millis(delay))
      yield* server.waitFor("the reconnection", () => server.requests.length >= 2)
      return delay
    })

  const once =
    (first: (res: Parameters<Parameters<typeof scripted>[0]>[0]) => void): Parameters<typeof scripted>[0] =>
    (res, _, index) => {
      if (index === 0) return first(res)
      eventStream(res)
    }

  it.scoped("a 14-digit retry: waits the ceiling (5 minutes by default), then reconnects", () =>
    Effect.gen(function*() {
      const delay = yield* firstDelay(once((res) => {
        eventStream(res)
        res.end("retry: 99999999999999\ndata: a\n\n")
      }))
      expect(delay).toBe(5 * 60_000)
    }))

  it.scoped("a retry: too long for a number waits the ceiling too", () =>
    Effect.gen(function*() {
      const delay = yield* firstDelay(once((res) => {
        eventStream(res)
        res.end(`retry: ${"9".repeat(400)}\ndata: a\n\n`)
      }))
      expect(delay).toBe(5 * 60_000)
    }))

  it.scoped("a Retry-After of 14 digits of seconds waits the ceiling", () =>
    Effect.gen(function*() {
      const delay = yield* firstDelay(once((res) => res.writeHead(503, { "retry-after": "99999999999999" }).end()))
      expect(delay).toBe(5 * 60_000)
    }))

  it.scoped("a Retry-After as an HTTP date in the year 9999 waits the ceiling", () =>
    Effect.gen(function*() {
      const delay = yield* firstDelay(
        once((res) => res.writeHead(503, { "retry-after": "Fri, 31 Dec 9999 23:59:59 GMT" }).end())
      )
      expect(delay).toBe(5 * 60_000)
    }))

  it.scoped("a Retry-After as an HTTP date half a minute ahead waits that long", () =>
    Effect.gen(function*() {
      const now = Math.floor(Date.now() / 1000) * 1000
      yield* TestClock.setTime(now)
      const delay = yield* firstDelay(
        once((res) => res.writeHead(503, { "retry-after": new Date(now + 30_000).toUTCString() }).end()),
        { reconnect: SseClient.defaultSchedule({ jitter: 0 }) }
      )
      expect(delay).toBe(30_000)
    }))

  it.scoped("maxDelay sets the ceiling, for the server's waits and a custom schedule's alike", () =>
    Effect.gen(function*() {
      const fromServer = yield* firstDelay(
        once((res) => res.writeHead(503, { "retry-after": "3600" }).end()),
        { maxDelay: "1 minute" }
      )
      expect(fromServer).toBe(60_000)
      const fromSchedule = yield* firstDelay(
        once((res) => res.writeHead(503).end()),
        { maxDelay: "1 minute", reconnect: Schedule.spaced("1 day") }
      )
      expect(fromSchedule).toBe(60_000)
    }))
})

describe("SseClient: idleTimeout covers every wait of an attempt", () => {
  it.scoped("a server that accepts and never sends headers times out, and the request is aborted", () =>
    Effect.gen(function*() {
      const server = yield* scripted(() => {})
      const fiber = yield* drain(SseClient.get(server.url, { idleTimeout: "10 seconds", reconnect: false })).pipe(
        Effect.flip,
        Effect.fork
      )
      yield* server.waitFor("the request", () => server.requests.length === 1)
      yield* TestClock.adjust("11 seconds")
      const error = yield* Fiber.join(fiber).pipe(realTimeout(15_000, "the stream to fail"))
      assert(error._tag === "TransportError")
      expect(error.reason).toBe("Timeout")
      expect(error.message).toBe("Timeout: no response headers within 10s")
      yield* server.waitFor("the request to be aborted", () => server.requests[0]!.closed)
    }))

  it.scoped("with reconnects, a hung attempt is dropped and the next one is made", () =>
    Effect.gen(function*() {
      const log = yield* stateLog
      const server = yield* scripted((res, _, index) => {
        if (index === 0) return
        eventStream(res)
        res.write("data: finally\n\n")
      })
      const fiber = yield* SseClient.get(server.url, { idleTimeout: "10 seconds", onState: log.onState }).pipe(
        Stream.take(1),
        Stream.runCollect,
        Effect.provide(NodeHttpClient.layer),
        Effect.fork
      )
      yield* server.waitFor("the request", () => server.requests.length === 1)
      yield* TestClock.adjust("11 seconds")
      const retrying = yield* log.next("Retrying")
      yield* TestClock.adjust(retrying.delay)
      const messages = yield* Fiber.join(fiber).pipe(realTimeout(15_000, "the message"))
      expect(Chunk.toReadonlyArray(messages).map((m) => m.data)).toEqual(["finally"])
      expect(server.requests[0]!.closed).toBe(true)
    }))

  it.scoped("headers that arrive in time, then a body that stops, time out as well", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => {
        eventStream(res)
        res.write("data: one\n\n")
      })
      const received: Array<string> = []
      const fiber = yield* SseClient.get(server.url, { idleTimeout: "10 seconds", reconnect: false }).pipe(
        Stream.runForEach((m) => Effect.sync(() => received.push(m.data))),
        Effect.provide(NodeHttpClient.layer),
        Effect.flip,
        Effect.fork
      )
      yield* server.waitFor("the request", () => server.requests.length === 1)
      yield* TestClock.adjust("11 seconds")
      const error = yield* Fiber.join(fiber).pipe(realTimeout(15_000, "the stream to fail"))
      assert(error._tag === "TransportError")
      expect(error.message).toBe("Timeout: nothing received within 10s")
      expect(received).toEqual(["one"])
    }))
})

describe("SseClient: idleTimeout counts only the client's own waiting", () => {
  it.scoped("on FetchHttpClient too, a body that stops times out and its request is aborted", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => {
        eventStream(res)
        res.write("data: one\n\n")
      })
      const log = yield* stateLog
      const fiber = yield* SseClient.get(server.url, {
        idleTimeout: "10 seconds",
        reconnect: false,
        onState: log.onState
      })
        .pipe(Stream.runDrain, Effect.provide(FetchHttpClient.layer), Effect.flip, Effect.fork)
      yield* log.next("Open")
      yield* server.waitFor("the request", () => server.requests.length === 1)
      yield* TestClock.adjust("11 seconds")
      const error = yield* Fiber.join(fiber).pipe(realTimeout(15_000, "the stream to fail"))
      assert(error._tag === "TransportError")
      expect(error.reason).toBe("Timeout")
      yield* server.waitFor("the request to be aborted", () => server.requests[0]!.closed)
    }))

  it.scoped("a consumer slower than idleTimeout does not time the connection out", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => {
        eventStream(res)
        res.write("data: 1\n\n")
        const timers = [
          setTimeout(() => res.write("data: 2\n\n"), 50),
          setTimeout(() => res.write("data: 3\n\n"), 600)
        ]
        res.on("close", () => timers.forEach(clearTimeout))
      })
      const log = yield* stateLog
      const started = yield* Queue.unbounded<string>()
      const fiber = yield* SseClient.get(server.url, { idleTimeout: "10 seconds", onState: log.onState }).pipe(
        Stream.take(3),
        // The consumer holds each message for a minute of the test clock.
        Stream.mapEffect((m) => Effect.zipRight(started.offer(m.data), Effect.as(Effect.sleep("60 seconds"), m.data))),
        Stream.runCollect,
        Effect.provide(NodeHttpClient.layer),
        Effect.fork
      )
      const next = Queue.take(started).pipe(realTimeout(15_000, "the next message"))
      expect(yield* next).toBe("1")
      // Message 2 arrives (in real time) while the consumer still holds message 1: it waits in the socket's buffer.
      yield* realSleep(200)
      yield* TestClock.adjust("60 seconds")
      expect(yield* next).toBe("2")
      // Held for a minute again; then the client waits for message 3, which comes well within idleTimeout.
      yield* TestClock.adjust("60 seconds")
      expect(yield* next).toBe("3")
      yield* TestClock.adjust("60 seconds")
      const data = yield* Fiber.join(fiber).pipe(realTimeout(15_000, "the stream"))
      expect(Chunk.toReadonlyArray(data)).toEqual(["1", "2", "3"])
      expect(server.requests.length).toBe(1)
      expect(log.all.some((s) => s._tag === "Retrying")).toBe(false)
    }))
})

describe("SseClient: errors a user can match on", () => {
  it("every error's _tag is its class name: the client's, the parser's and the encoder's", async () => {
    const { Encoder, Parser } = await import("effect-sse")
    const errors = [
      new SseClient.TransportError({ reason: "Connect", description: "refused" }),
      new SseClient.StatusError({ status: 500, contentType: undefined, location: undefined, body: "" }),
      new SseClient.ContentTypeError({ contentType: "text/html", body: "" }),
      new SseClient.ContentEncodingError({ contentEncoding: "gzip" }),
      new SseClient.EventTooLargeError({ maxEventSize: 1 }),
      new SseClient.DecodeError({ event: "x", cause: undefined }),
      new Parser.SseParseError({ reason: "EventTooLarge", maxEventSize: 1 }),
      new Encoder.SseEncodeError({ reason: "NulInId", value: "\0" })
    ]
    for (const error of errors) expect(error._tag).toBe(error.constructor.name)
    expect(errors.slice(0, 6).every(SseClient.isSseClientError)).toBe(true)
    expect(errors.slice(6).some(SseClient.isSseClientError)).toBe(false)
  })

  it.scopedLive("Effect.catchTags takes the errors by their names, and a StatusError's status is a number", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => res.writeHead(401, { "content-type": "text/plain" }).end("log in"))
      const handled = yield* drain(SseClient.get(server.url)).pipe(
        Effect.as("drained"),
        Effect.catchTags({
          StatusError: (error) => {
            const status: number = error.status
            return Effect.succeed(`status ${status}: ${error.body}`)
          },
          TransportError: (error) => Effect.succeed(`transport ${error.reason}`)
        })
      )
      expect(handled).toBe("status 401: log in")
    }))

  it.scopedLive("a client built with filterStatusOk: a 404 is a StatusError and ends the stream at once", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => res.writeHead(404, { "content-type": "text/plain" }).end("gone"))
      const error = yield* SseClient.get(server.url, {
        minDelay: "1 millis",
        reconnect: Schedule.intersect(Schedule.spaced("1 millis"), Schedule.recurs(3))
      }).pipe(
        Stream.runDrain,
        Effect.provide(
          Layer.effect(HttpClient.HttpClient, Effect.map(HttpClient.HttpClient, HttpClient.filterStatusOk))
        ),
        Effect.provide(NodeHttpClient.layer),
        Effect.flip
      )
      assert(error._tag === "StatusError")
      expect(error.status).toBe(404)
      expect(error.body).toBe("gone")
      expect(server.requests.length).toBe(1)
    }))

  it.scopedLive("a client built with filterStatusOk: a 503 reconnects as with any client", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res, _, index) => {
        if (index < 2) return res.writeHead(503).end()
        eventStream(res)
        res.write("data: up\n\n")
      })
      const data = yield* SseClient.get(server.url, { minDelay: "1 millis", retry: "1 millis" }).pipe(
        Stream.take(1),
        Stream.map((m) => m.data),
        Stream.runCollect,
        Effect.provide(
          Layer.effect(HttpClient.HttpClient, Effect.map(HttpClient.HttpClient, HttpClient.filterStatusOk))
        ),
        Effect.provide(NodeHttpClient.layer)
      )
      expect(Chunk.toReadonlyArray(data)).toEqual(["up"])
      expect(server.requests.length).toBe(3)
    }))

  it.scopedLive("defaultShouldReconnect is exported, so a rule can extend it", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res, _, index) => {
        if (index === 0) return res.writeHead(404).end()
        if (index === 1) return res.writeHead(502).end()
        eventStream(res)
        res.write("data: created\n\n")
      })
      const shouldReconnect = (error: SseClient.SseClientError) =>
        SseClient.defaultShouldReconnect(error) || (error._tag === "StatusError" && error.status === 404)
      const data = yield* SseClient.get(server.url, { minDelay: "1 millis", retry: "1 millis", shouldReconnect }).pipe(
        Stream.take(1),
        Stream.map((m) => m.data),
        Stream.runCollect,
        Effect.provide(NodeHttpClient.layer)
      )
      expect(Chunk.toReadonlyArray(data)).toEqual(["created"])
      expect(SseClient.defaultShouldReconnect(
        new SseClient.StatusError({
          status: 404,
          contentType: undefined,
          location: undefined,
          body: ""
        })
      )).toBe(false)
    }))
})

describe("SseClient: redirects and encodings", () => {
  const redirectingServer = scripted((res, request) => {
    if (request.path === "/old") return res.writeHead(301, { location: "/new" }).end()
    eventStream(res)
    res.write("data: moved\n\n")
  })

  it.scopedLive("a 3xx on the Node client is a terminal StatusError that names the location and the way out", () =>
    Effect.gen(function*() {
      const server = yield* redirectingServer
      const error = yield* drain(SseClient.get(`${server.url}/old`, { minDelay: "1 millis" })).pipe(Effect.flip)
      assert(error._tag === "StatusError")
      expect(error.status).toBe(301)
      expect(error.location).toBe("/new")
      expect(error.message).toContain("HttpClient.followRedirects")
      expect(server.requests.length).toBe(1)
    }))

  it.scopedLive("with HttpClient.followRedirects the client follows, like fetch", () =>
    Effect.gen(function*() {
      const server = yield* redirectingServer
      const data = yield* SseClient.get(`${server.url}/old`).pipe(
        Stream.take(1),
        Stream.map((m) => m.data),
        Stream.runCollect,
        Effect.provide(Layer.effect(
          HttpClient.HttpClient,
          Effect.map(HttpClient.HttpClient, (client) => HttpClient.followRedirects(client))
        )),
        Effect.provide(NodeHttpClient.layer)
      )
      expect(Chunk.toReadonlyArray(data)).toEqual(["moved"])
      expect(server.requests.map((r) => r.path)).toEqual(["/old", "/new"])
    }))

  const gzipServer = scripted((res) => {
    eventStream(res, { "content-encoding": "gzip" })
    res.end(gzipSync("data: squeezed\n\n"))
  })

  it.scopedLive("asks for identity, and a gzip body the HttpClient leaves encoded is a ContentEncodingError", () =>
    Effect.gen(function*() {
      const server = yield* gzipServer
      const error = yield* drain(SseClient.get(server.url, { minDelay: "1 millis" })).pipe(Effect.flip)
      assert(error._tag === "ContentEncodingError")
      expect(error.contentEncoding).toBe("gzip")
      expect(server.requests.length).toBe(1)
      expect(server.requests[0]!.headers["accept-encoding"]).toBe("identity")
    }))

  it.scopedLive("a gzip body that the HttpClient decodes (fetch) is read", () =>
    Effect.gen(function*() {
      const server = yield* gzipServer
      const data = yield* SseClient.get(server.url, { reconnect: false }).pipe(
        Stream.map((m) => m.data),
        Stream.runCollect,
        Effect.provide(FetchHttpClient.layer)
      )
      expect(Chunk.toReadonlyArray(data)).toEqual(["squeezed"])
    }))

  it.scopedLive("an Accept-Encoding the request sets is kept", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => res.writeHead(204).end())
      const request = HttpClientRequest.get(server.url).pipe(HttpClientRequest.setHeader("accept-encoding", "br"))
      yield* drain(SseClient.stream(request))
      expect(server.requests[0]!.headers["accept-encoding"]).toBe("br")
    }))
})

describe("SseClient: one request at a time, and at most once when asked", () => {
  it.scopedLive("hung, stalled and dropped attempts in turn: the server never sees two requests open at once", () =>
    Effect.gen(function*() {
      let open = 0
      let most = 0
      const server = yield* scripted((res, _, index) => {
        open++
        most = Math.max(most, open)
        res.on("close", () => open--)
        switch (index % 3) {
          case 0:
            return // no headers: the idle timeout ends it
          case 1:
            eventStream(res)
            return res.write(`data: ${index}\n\n`) // then silence: the idle timeout ends it
          default:
            eventStream(res)
            res.write(`data: ${index}\n\n`)
            setTimeout(() => res.destroy(), 5)
        }
      })
      yield* SseClient.get(server.url, { idleTimeout: "100 millis", minDelay: "50 millis", retry: "50 millis" }).pipe(
        Stream.take(10),
        Stream.runDrain,
        Effect.provide(NodeHttpClient.layer)
      )
      expect(server.requests.length).toBeGreaterThanOrEqual(15)
      expect(most).toBe(1)
    }))

  it.scopedLive("sendOnce: a POST whose response drops is not sent again; the stream fails with the drop", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => {
        eventStream(res)
        res.write("id: 1\ndata: started\n\n")
        setTimeout(() => res.destroy(), 5)
      })
      const request = yield* HttpClientRequest.post(server.url).pipe(HttpClientRequest.bodyJson({ job: "charge" }))
      const received: Array<string> = []
      const error = yield* drain(
        SseClient.stream(request, { sendOnce: true, minDelay: "1 millis" }).pipe(
          Stream.tap((m) => Effect.sync(() => received.push(m.data)))
        )
      ).pipe(Effect.flip)
      assert(error._tag === "TransportError")
      expect(error.reason).toBe("Body")
      expect(error.message).toBe(`Body: POST ${server.url}: aborted`)
      expect(received).toEqual(["started"])
      expect(server.requests.length).toBe(1)
    }))

  it.scopedLive("sendOnce: a response that ends normally ends the stream, without another request", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => {
        eventStream(res)
        res.end("data: done\n\n")
      })
      const request = yield* HttpClientRequest.post(server.url).pipe(HttpClientRequest.bodyJson({ job: "charge" }))
      const data = yield* SseClient.stream(request, { sendOnce: true, minDelay: "1 millis" }).pipe(
        Stream.map((m) => m.data),
        Stream.runCollect,
        Effect.provide(NodeHttpClient.layer)
      )
      expect(Chunk.toReadonlyArray(data)).toEqual(["done"])
      expect(server.requests.length).toBe(1)
    }))

  it.scopedLive("sendOnce: a 503 fails the stream instead of sending the POST again", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => res.writeHead(503).end())
      const request = yield* HttpClientRequest.post(server.url).pipe(HttpClientRequest.bodyJson({ job: "charge" }))
      const error = yield* drain(SseClient.stream(request, { sendOnce: true, minDelay: "1 millis" })).pipe(Effect.flip)
      assert(error._tag === "StatusError")
      expect(server.requests.length).toBe(1)
    }))

  it.scopedLive("sendOnce still retries a connection that was refused: the server never saw the request", () =>
    Effect.gen(function*() {
      const url = yield* closedPort
      const log = yield* stateLog
      const request = yield* HttpClientRequest.post(url).pipe(HttpClientRequest.bodyJson({ job: "charge" }))
      const error = yield* drain(SseClient.stream(request, {
        sendOnce: true,
        onState: log.onState,
        minDelay: "1 millis",
        reconnect: Schedule.intersect(Schedule.spaced("1 millis"), Schedule.recurs(3))
      })).pipe(Effect.flip)
      assert(error._tag === "TransportError")
      expect(error.reason).toBe("Connect")
      expect(log.all.filter((s) => s._tag === "Connecting").length).toBe(4)
    }))
})
