import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Exit, Fiber, Option, Queue, Schedule, Schema, Stream, TestClock } from "effect"
import { Message, SseClient, SseEvent } from "effect-sse"
import { eventually } from "./utils/http.js"
import { eventStream, scripted } from "./utils/scripted.js"
import { eventsRoute, startServer } from "./utils/sse.js"

const collect = <E>(stream: Stream.Stream<Message.Received, E, HttpClient.HttpClient>) =>
  stream.pipe(
    Stream.map((m) => m.data),
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray),
    Effect.provide(NodeHttpClient.layer)
  )

/** Runs `collect` on the first `n` messages in a fiber of its own, for tests that drive the clock meanwhile. */
const forkTake = <E>(stream: Stream.Stream<Message.Received, E, HttpClient.HttpClient>, n: number) =>
  Effect.fork(collect(Stream.take(stream, n)))

/** Quick reconnects for tests that are not about timing: 10 ms, no jitter. */
const fast = { retry: "10 millis", minDelay: "1 millis", reconnect: SseClient.defaultSchedule({ jitter: 0 }) } as const

/** Records connection states in a queue, to wait on them. */
const stateLog = Effect.gen(function*() {
  const queue = yield* Queue.unbounded<SseClient.ConnectionState>()
  const all: Array<SseClient.ConnectionState> = []
  return {
    all,
    onState: (state: SseClient.ConnectionState) =>
      Effect.zipRight(Effect.sync(() => all.push(state)), queue.offer(state)),
    next: (tag: SseClient.ConnectionState["_tag"]) =>
      Effect.gen(function*() {
        while (true) {
          const state = yield* Queue.take(queue)
          if (state._tag === tag) return state
        }
      }),
    /** The delay of the next `Retrying` state, in milliseconds. */
    nextDelay: Effect.gen(function*() {
      while (true) {
        const state = yield* Queue.take(queue)
        if (state._tag === "Retrying") return Duration.toMillis(state.delay)
      }
    })
  }
})

describe("SseClient: the stream", () => {
  it.scopedLive("receives the messages of an SseServer, with event names, ids and data", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer<string, never, never>({}, eventsRoute)
      const fiber = yield* SseClient.get(`${url}/events/a`).pipe(
        Stream.take(2),
        Stream.runCollect,
        Effect.provide(NodeHttpClient.layer),
        Effect.fork
      )
      yield* eventually("the client to connect", Effect.map(sse.size, (n) => n === 1))
      yield* sse.send("a", Message.make({ data: "one\ntwo", id: "1" }))
      yield* sse.send("a", Message.make({ data: "{}", event: "update" }))
      const messages = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      expect(messages.map((m) => [m.event, m.data, m.id, m.lastEventId])).toEqual([
        ["message", "one\ntwo", "1", "1"],
        ["update", "{}", undefined, "1"]
      ])
    }))

  it.scopedLive("asks for text/event-stream without caching, and sends no Last-Event-ID on a first connection", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => res.writeHead(204).end())
      yield* collect(SseClient.get(server.url))
      const headers = server.requests[0]!.headers
      expect(headers.accept).toBe("text/event-stream")
      expect(headers["cache-control"]).toBe("no-cache")
      expect(headers["last-event-id"]).toBeUndefined()
    }))

  it.scopedLive("a POST with a JSON body streams its response, as AI streaming APIs do", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res, request) => {
        eventStream(res)
        const { prompt } = JSON.parse(request.body) as { prompt: string }
        for (const word of prompt.split(" ")) res.write(`data: ${JSON.stringify({ token: word })}\n\n`)
        res.end("event: done\ndata: [DONE]\n\n")
      })
      const request = yield* HttpClientRequest.post(server.url).pipe(
        HttpClientRequest.bodyJson({ prompt: "hello effect world" })
      )
      const data = yield* collect(SseClient.stream(request, { reconnect: false }))
      expect(server.requests[0]!.method).toBe("POST")
      expect(server.requests[0]!.headers["content-type"]).toBe("application/json")
      expect(data).toEqual(["{\"token\":\"hello\"}", "{\"token\":\"effect\"}", "{\"token\":\"world\"}", "[DONE]"])
    }))

  it.scopedLive("CRLF line endings and a leading BOM are read as the standard says", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => {
        eventStream(res)
        res.end("\uFEFFdata: a\r\ndata: b\r\n\r\nevent: x\rdata: c\r\r")
      })
      const messages = yield* SseClient.get(server.url, { reconnect: false }).pipe(
        Stream.runCollect,
        Effect.provide(NodeHttpClient.layer)
      )
      expect(Chunk.toReadonlyArray(messages).map((m) => [m.event, m.data])).toEqual([["message", "a\nb"], ["x", "c"]])
    }))

  it.scopedLive("a slow trickle of one byte at a time gives the same events", () =>
    Effect.gen(function*() {
      const body = "id: 7\nevent: greet\ndata: héllo wörld 👋\n\ndata: second\n\n"
      const bytes = Buffer.from(body)
      const server = yield* scripted((res) => {
        eventStream(res)
        let i = 0
        const timer = setInterval(() => {
          if (i < bytes.length) res.write(bytes.subarray(i, ++i))
          else {
            clearInterval(timer)
            res.end()
          }
        }, 1)
        res.on("close", () => clearInterval(timer))
      })
      const data = yield* collect(SseClient.get(server.url, { reconnect: false }))
      expect(data).toEqual(["héllo wörld 👋", "second"])
    }))

  it.scopedLive("interrupting the consumer aborts the request, and the server sees the disconnect", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer<string, never, never>({}, eventsRoute)
      const fiber = yield* SseClient.get(`${url}/events/gone`).pipe(
        Stream.runDrain,
        Effect.provide(NodeHttpClient.layer),
        Effect.fork
      )
      yield* eventually("the client to connect", Effect.map(sse.size, (n) => n === 1))
      yield* Fiber.interrupt(fiber)
      yield* eventually("the server to see the disconnect", Effect.map(sse.size, (n) => n === 0))
    }))
})

describe("SseClient: validation", () => {
  it.scopedLive("204 No Content ends the stream without error and without reconnecting", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => res.writeHead(204).end())
      const data = yield* collect(SseClient.get(server.url, fast))
      expect(data).toEqual([])
      expect(server.requests.length).toBe(1)
    }))

  it.scopedLive("a 404 fails with a StatusError, carrying the status, content type and first bytes of the body", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) =>
        res.writeHead(404, { "content-type": "text/plain" }).end("no such stream")
      )
      const exit = yield* Effect.exit(collect(SseClient.get(server.url, fast)))
      const error = Exit.isFailure(exit)
        ? Option.getOrThrow(
          Exit.causeOption(exit).pipe(Option.flatMap((c) => c._tag === "Fail" ? Option.some(c.error) : Option.none()))
        )
        : undefined
      assert(error !== undefined && SseClient.isSseClientError(error) && error._tag === "StatusError")
      expect(error).toBeInstanceOf(SseClient.StatusError)
      expect(error.status).toBe(404)
      expect(error.contentType).toBe("text/plain")
      expect(error.body).toBe("no such stream")
      expect(server.requests.length).toBe(1)
    }))

  it.scopedLive("a refused connection fails with a TransportError of reason Connect, keeping the socket's error", () =>
    Effect.gen(function*() {
      // A port that was just free: nothing listens there.
      const server = yield* Effect.scoped(scripted((res) => res.end()))
      const error = yield* Effect.flip(collect(SseClient.get(server.url, { reconnect: false })))
      assert(error._tag === "TransportError")
      expect(error.reason).toBe("Connect")
      expect((error.cause as { code?: string }).code).toBe("ECONNREFUSED")
      expect(error.message).toContain(server.url)
    }))

  it.scopedLive("a 200 of another content type fails with a ContentTypeError and does not reconnect", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => res.writeHead(200, { "content-type": "application/json" }).end("{}"))
      const error = yield* Effect.flip(collect(SseClient.get(server.url, fast)))
      assert(error._tag === "ContentTypeError")
      expect(error.contentType).toBe("application/json")
      expect(error.body).toBe("{}")
      expect(server.requests.length).toBe(1)
    }))

  it.scopedLive("a content type with parameters and other letter case is accepted", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => {
        res.writeHead(200, { "content-type": "Text/Event-Stream; charset=UTF-8" })
        res.end("data: ok\n\n")
      })
      expect(yield* collect(SseClient.get(server.url, { reconnect: false }))).toEqual(["ok"])
    }))

  it.scopedLive("a line that never ends fails with an EventTooLargeError once past maxEventSize", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => {
        eventStream(res)
        res.write("data: fine\n\n")
        const timer = setInterval(() => res.write("x".repeat(1024)), 1)
        res.on("close", () => clearInterval(timer))
      })
      const received: Array<string> = []
      const error = yield* SseClient.get(server.url, { ...fast, maxEventSize: 64 * 1024 }).pipe(
        Stream.runForEach((m) => Effect.sync(() => received.push(m.data))),
        Effect.provide(NodeHttpClient.layer),
        Effect.flip
      )
      assert(error._tag === "EventTooLargeError")
      expect(error.maxEventSize).toBe(64 * 1024)
      expect(received).toEqual(["fine"])
      expect(server.requests.length).toBe(1)
      yield* server.waitFor("the request to be aborted", () => server.requests[0]!.closed)
    }))
})

describe("SseClient: reconnecting", () => {
  it.scopedLive("a connection dropped in the middle of an event reconnects with the last id, and the partial event is discarded", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res, request, index) => {
        eventStream(res)
        if (index === 0) {
          res.write("id: 1\ndata: first\n\nid: 2\ndata: cut off")
          setTimeout(() => res.destroy(), 20)
        } else {
          res.end(`data: resumed after ${request.headers["last-event-id"]}\n\n`)
        }
      })
      const data = yield* collect(SseClient.get(server.url, fast).pipe(Stream.take(2)))
      expect(data).toEqual(["first", "resumed after 1"])
      expect(server.requests[1]!.headers["last-event-id"]).toBe("1")
    }))

  it.scopedLive("an id sent with an event without data still becomes the Last-Event-ID", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res, request, index) => {
        eventStream(res)
        res.end(index === 0 ? "id: 1\ndata: a\n\nid: 2\n\n" : `data: ${request.headers["last-event-id"]}\n\n`)
      })
      expect(yield* collect(SseClient.get(server.url, fast).pipe(Stream.take(2)))).toEqual(["a", "2"])
    }))

  it.scopedLive("a 500 then a 200: the client reconnects and receives", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res, _, index) => {
        if (index === 0) return res.writeHead(500).end("oops")
        eventStream(res)
        res.write("data: ok\n\n")
      })
      expect(yield* collect(SseClient.get(server.url, fast).pipe(Stream.take(1)))).toEqual(["ok"])
      expect(server.requests.length).toBe(2)
    }))

  it.scopedLive("408 and 429 reconnect; other 4xx fail; shouldReconnect overrides the rule", () =>
    Effect.gen(function*() {
      const statuses = [408, 429, 200]
      const server = yield* scripted((res, _, index) => {
        const status = statuses[index] ?? 200
        if (status !== 200) return res.writeHead(status).end()
        eventStream(res)
        res.write("data: ok\n\n")
      })
      expect(yield* collect(SseClient.get(server.url, fast).pipe(Stream.take(1)))).toEqual(["ok"])
      expect(server.requests.length).toBe(3)

      const notFoundOnce = yield* scripted((res, _, index) => {
        if (index === 0) return res.writeHead(404).end()
        eventStream(res)
        res.write("data: found\n\n")
      })
      const shouldReconnect = (error: SseClient.SseClientError) => error._tag === "StatusError"
      expect(
        yield* collect(SseClient.get(notFoundOnce.url, { ...fast, shouldReconnect }).pipe(Stream.take(1)))
      ).toEqual(["found"])
    }))

  it.scopedLive("a server that replays from Last-Event-ID and drops every few events: nothing lost, nothing twice", () =>
    Effect.gen(function*() {
      const total = 30
      const server = yield* scripted((res, request) => {
        eventStream(res)
        const from = Number(request.headers["last-event-id"] ?? "0")
        // Three events per connection, then the connection drops (sometimes after the next event's first line).
        const batch = []
        for (let id = from + 1; id <= Math.min(total, from + 3); id++) batch.push(`id: ${id}\ndata: event ${id}\n\n`)
        res.write(batch.join(""))
        if (from + 3 < total && from % 2 === 0) res.write(`id: ${from + 4}\ndata: partial`)
        setTimeout(() => res.destroy(), 5)
      })
      const data = yield* collect(SseClient.get(server.url, fast).pipe(Stream.take(total)))
      expect(data).toEqual(Array.from({ length: total }, (_, i) => `event ${i + 1}`))
      expect(server.requests.length).toBe(total / 3)
    }))

  it.scopedLive("300 reconnections leave no socket open behind them, and each resumes from the last id", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res, _, index) => {
        eventStream(res)
        res.end(`id: ${index}\ndata: ${index}\n\n`)
      })
      const sockets = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length
      const before = sockets()
      const quick = { ...fast, retry: "1 millis" } as const
      const data = yield* collect(SseClient.get(server.url, quick).pipe(Stream.take(300)))
      expect(data).toEqual(Array.from({ length: 300 }, (_, i) => String(i)))
      // Every connection but the last (interrupted by take) was ended by the server; all of them are closed.
      yield* server.waitFor("every response to close", () => server.requests.every((r) => r.closed))
      expect(server.requests.length).toBeGreaterThanOrEqual(300)
      // Client and server sockets both count here: a handful may linger in a keep-alive pool, not hundreds.
      yield* eventually("sockets to be released", Effect.sync(() => sockets() - before <= 10))
      expect(server.requests.slice(1).map((r) => r.headers["last-event-id"])).toEqual(
        Array.from({ length: server.requests.length - 1 }, (_, i) => String(i))
      )
    }))

  it.scopedLive("request headers are computed again for every attempt", () =>
    Effect.gen(function*() {
      let token = 0
      const server = yield* scripted((res, _, index) => {
        eventStream(res)
        res.end(`data: ${index}\n\n`)
      })
      const headers = Effect.sync(() => ({ authorization: `Bearer ${++token}` }))
      yield* collect(SseClient.get(server.url, { ...fast, headers }).pipe(Stream.take(3)))
      expect(server.requests.map((r) => r.headers.authorization)).toEqual(["Bearer 1", "Bearer 2", "Bearer 3"])
    }))

  it.scopedLive("with reconnect: false, a server ending the response ends the stream, and an error fails it", () =>
    Effect.gen(function*() {
      const ends = yield* scripted((res) => {
        eventStream(res)
        res.end("data: only\n\n")
      })
      expect(yield* collect(SseClient.get(ends.url, { reconnect: false }))).toEqual(["only"])
      expect(ends.requests.length).toBe(1)

      const fails = yield* scripted((res) => res.writeHead(503).end())
      const error = yield* Effect.flip(collect(SseClient.get(fails.url, { reconnect: false })))
      assert(error._tag === "StatusError")
      expect(error.status).toBe(503)
      expect(fails.requests.length).toBe(1)
    }))

  it.scopedLive("a custom Schedule bounds the reconnects; the stream then fails with the last error", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => res.writeHead(502).end())
      const reconnect = Schedule.intersect(Schedule.spaced("5 millis"), Schedule.recurs(2))
      const error = yield* Effect.flip(collect(SseClient.get(server.url, { reconnect, minDelay: "1 millis" })))
      assert(error._tag === "StatusError")
      expect(error.status).toBe(502)
      expect(server.requests.length).toBe(3)
    }))

  it.scopedLive("the default schedule backs off while attempts fail and starts over once a connection opens", () =>
    Effect.gen(function*() {
      const log = yield* stateLog
      const plan = [500, 500, 500, 200, 500, 200]
      const server = yield* scripted((res, _, index) => {
        const status = plan[index] ?? 200
        if (status !== 200) return res.writeHead(status).end()
        eventStream(res)
        res.end(`data: ${index}\n\n`)
      })
      yield* collect(SseClient.get(server.url, { ...fast, onState: log.onState }).pipe(Stream.take(2)))
      const delays = log.all.flatMap((s) => s._tag === "Retrying" ? [Math.round(Duration.toMillis(s.delay))] : [])
      // 10 ms doubling: 10, 20, 40; the open connection ends (a drop): 10 again; then 10 after the lone failure.
      expect(delays.slice(0, 5).map((d) => Math.round(d / 10) * 10)).toEqual([10, 20, 40, 10, 20])
      expect(log.all.filter((s) => s._tag === "Open").length).toBe(2)
    }))
})

describe("SseClient: timing with TestClock", () => {
  it.scoped("waits the server's retry: time before reconnecting, plus at most 20% jitter", () =>
    Effect.gen(function*() {
      const log = yield* stateLog
      const server = yield* scripted((res, _, index) => {
        eventStream(res)
        res.end(index === 0 ? "retry: 5000\ndata: a\n\n" : "data: b\n\n")
      })
      const fiber = yield* forkTake(SseClient.get(server.url, { onState: log.onState }), 2)
      const delay = yield* log.nextDelay
      expect(delay).toBeGreaterThanOrEqual(5000)
      expect(delay).toBeLessThanOrEqual(6000)
      yield* TestClock.adjust(Duration.millis(delay - 1))
      expect(server.requests.length).toBe(1)
      yield* TestClock.adjust("1 millis")
      yield* server.waitFor("the reconnection", () => server.requests.length === 2)
      expect(yield* Fiber.join(fiber)).toEqual(["a", "b"])
    }))

  it.scoped("without retry: from the server, waits 3 seconds", () =>
    Effect.gen(function*() {
      const log = yield* stateLog
      const server = yield* scripted((res) => {
        eventStream(res)
        res.end("data: a\n\n")
      })
      yield* SseClient.get(server.url, { onState: log.onState }).pipe(
        Stream.runDrain,
        Effect.provide(NodeHttpClient.layer),
        Effect.forkScoped
      )
      const delay = yield* log.nextDelay
      expect(delay).toBeGreaterThanOrEqual(3000)
      expect(delay).toBeLessThanOrEqual(3600)
    }))

  it.scoped("a 503 with Retry-After waits at least that long", () =>
    Effect.gen(function*() {
      const log = yield* stateLog
      const server = yield* scripted((res, _, index) => {
        if (index === 0) return res.writeHead(503, { "retry-after": "20" }).end()
        eventStream(res)
        res.write("data: back\n\n")
      })
      const fiber = yield* forkTake(SseClient.get(server.url, { onState: log.onState }), 1)
      expect(yield* log.nextDelay).toBeGreaterThanOrEqual(20_000)
      yield* TestClock.adjust("19 seconds")
      expect(server.requests.length).toBe(1)
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(fiber)).toEqual(["back"])
    }))

  it.scoped("a connection silent for idleTimeout is dropped and reconnected", () =>
    Effect.gen(function*() {
      const log = yield* stateLog
      const server = yield* scripted((res, _, index) => {
        eventStream(res)
        res.write(`retry: 100\ndata: ${index}\n\n`)
      })
      const fiber = yield* forkTake(SseClient.get(server.url, { onState: log.onState, idleTimeout: "30 seconds" }), 2)
      yield* log.next("Open")
      yield* server.waitFor("the first request", () => server.requests.length === 1)
      yield* TestClock.adjust("31 seconds")
      yield* log.next("Retrying")
      yield* server.waitFor("the stalled request to be aborted", () => server.requests[0]!.closed)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toEqual(["0", "1"])
    }))

  it.scoped("without reconnecting, a stall fails the stream with a TransportError of reason Timeout", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => {
        eventStream(res)
        res.write(":\n")
      })
      const log = yield* stateLog
      const fiber = yield* SseClient.get(server.url, {
        reconnect: false,
        idleTimeout: "5 seconds",
        onState: log.onState
      })
        .pipe(Stream.runDrain, Effect.provide(NodeHttpClient.layer), Effect.flip, Effect.fork)
      yield* log.next("Open")
      yield* TestClock.adjust("6 seconds")
      const error = yield* Fiber.join(fiber)
      assert(error._tag === "TransportError")
      expect(error.reason).toBe("Timeout")
      expect(error.message).toBe("Timeout: nothing received within 5s")
    }))
})

describe("SseClient: typed events", () => {
  const Chat = SseEvent.make("chat", Schema.Struct({ from: Schema.String, text: Schema.String }))
  const Joined = SseEvent.make("joined", Schema.Struct({ user: Schema.String }))
  const body = [
    "event: joined\ndata: {\"user\":\"ada\"}\n\n",
    "event: typing\ndata: ada\n\n",
    "event: chat\nid: 9\ndata: {\"from\":\"ada\",\"text\":\"hi\"}\n\n"
  ].join("")

  it.scopedLive("decode into a discriminated union keyed by tag; unknown events are skipped", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => {
        eventStream(res)
        res.end(body)
      })
      const events = yield* SseClient.get(server.url, { reconnect: false }).pipe(
        SseClient.decodeEvents({ Chat, Joined }),
        Stream.runCollect,
        Effect.provide(NodeHttpClient.layer)
      )
      const list = Chunk.toReadonlyArray(events)
      expect(list.map((e) => e._tag)).toEqual(["Joined", "Chat"])
      const chat = list[1]!
      assert(chat._tag === "Chat")
      expect(chat.data).toEqual({ from: "ada", text: "hi" })
      expect(chat.message.id).toBe("9")
    }))

  it.scopedLive("unknown events can be surfaced instead", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => {
        eventStream(res)
        res.end(body)
      })
      const events = yield* SseClient.get(server.url, { reconnect: false }).pipe(
        SseClient.decodeEvents({ Chat, Joined }, { unknown: "surface" }),
        Stream.runCollect,
        Effect.provide(NodeHttpClient.layer)
      )
      const list = Chunk.toReadonlyArray(events)
      expect(list.map((e) => e._tag)).toEqual(["Joined", "Unknown", "Chat"])
      const unknown = list[1]!
      assert(unknown._tag === "Unknown")
      expect(unknown.message.event).toBe("typing")
    }))

  it.scopedLive("data that does not decode fails with a DecodeError, naming the event", () =>
    Effect.gen(function*() {
      const server = yield* scripted((res) => {
        eventStream(res)
        res.end("event: chat\ndata: {\"from\":1}\n\n")
      })
      const error = yield* SseClient.get(server.url, { reconnect: false }).pipe(
        SseClient.decodeEvents({ Chat }),
        Stream.runDrain,
        Effect.provide(NodeHttpClient.layer),
        Effect.flip
      )
      assert(error._tag === "DecodeError")
      expect(error.event).toBe("chat")
      expect(error.message).toContain("chat")
    }))
})

describe("SseClient: the default schedule", () => {
  const input = (retry: number, retryAfter?: number): SseClient.RetryInput => ({
    error: undefined,
    retry: Duration.millis(retry),
    retryAfter: retryAfter === undefined ? undefined : Duration.millis(retryAfter),
    lastEventId: ""
  })

  // Steps the schedule under TestClock, reading each wait off the clock's pending sleep.
  const delays = (inputs: ReadonlyArray<SseClient.RetryInput>, options?: SseClient.DefaultScheduleOptions) =>
    Effect.gen(function*() {
      const driver = yield* Schedule.driver(SseClient.defaultSchedule(options))
      const out: Array<number> = []
      for (const i of inputs) {
        const fiber = yield* Effect.fork(driver.next(i))
        yield* TestClock.adjust(0)
        const [due] = Chunk.toReadonlyArray(yield* TestClock.sleeps())
        assert(due !== undefined)
        const delay = due - (yield* TestClock.currentTimeMillis)
        out.push(delay)
        yield* TestClock.adjust(Duration.millis(delay))
        yield* Fiber.join(fiber)
      }
      return out
    })

  it.effect("doubles the wait per failure in a row, up to maxBackoff", () =>
    Effect.gen(function*() {
      const same = Array.from({ length: 5 }, () => input(1000))
      expect(yield* delays(same, { jitter: 0, maxBackoff: "5 seconds" })).toEqual([1000, 2000, 4000, 5000, 5000])
    }))

  it.effect("a retry: longer than maxBackoff, or a longer Retry-After, is still honoured", () =>
    Effect.gen(function*() {
      expect(yield* delays([input(10_000), input(10_000)], { jitter: 0, maxBackoff: "5 seconds" })).toEqual([
        10_000,
        10_000
      ])
      expect(yield* delays([input(1000, 7000), input(1000)], { jitter: 0 })).toEqual([7000, 2000])
    }))

  it.effect("jitter only lengthens the wait, by at most the given fraction", () =>
    Effect.gen(function*() {
      const waits = yield* delays(Array.from({ length: 20 }, () => input(1000)), {
        jitter: 0.5,
        maxBackoff: "1 second"
      })
      for (const wait of waits) {
        expect(wait).toBeGreaterThanOrEqual(1000)
        expect(wait).toBeLessThanOrEqual(1500)
      }
      expect(new Set(waits).size).toBeGreaterThan(1)
    }))
})
