import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option, Supervisor } from "effect"
import type { SseServer } from "effect-sse"
import { Message } from "effect-sse"
import { connect, eventually } from "./utils/http.js"
import { droppedFrames, eventsRoute, portable, startServer } from "./utils/sse.js"

const collectGarbage = () => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("run the tests with --expose-gc (vitest.config.ts sets it)")
  gc()
  gc()
}

describe("SseServer: disconnects", () => {
  it.scopedLive(
    "1,000 connect/disconnect cycles leave the registry empty and no fiber or memory behind",
    () =>
      Effect.gen(function*() {
        const supervisor = yield* Supervisor.track
        const { sse, url } = yield* startServer({ keepAlive: "1 second", retry: "1 second" }, eventsRoute).pipe(
          Effect.supervised(supervisor)
        )
        // The server's own fibers: the heartbeat sweep.
        const baseline = (yield* supervisor.value).length
        const cycle = (i: number) =>
          Effect.scoped(Effect.gen(function*() {
            const client = yield* connect(`${url}/events/${i % 50}`)
            yield* client.waitFor("the stream to open", () => client.retries().length === 1)
          }))
        const cycles = (from: number, count: number) =>
          Effect.forEach(Array.from({ length: count }, (_, i) => from + i), cycle, { concurrency: 10, discard: true })

        // Warm up, then measure what 1,000 more cycles leave behind.
        yield* cycles(0, 200)
        yield* eventually("the registry to empty", Effect.map(sse.size, (n) => n === 0))
        yield* eventually("the fibers to end", Effect.map(supervisor.value, (fibers) => fibers.length === baseline))
        collectGarbage()
        const before = process.memoryUsage().heapUsed

        // While connected, the portable path holds the request's fiber (the supervisor sees it, so the check below
        // can fail); the Node fast path holds none.
        yield* Effect.scoped(Effect.gen(function*() {
          const client = yield* connect(`${url}/events/probe`)
          yield* client.waitFor("the stream to open", () => client.retries().length === 1)
          const fibers = (yield* supervisor.value).length
          if (portable) expect(fibers).toBeGreaterThan(baseline)
          else expect(fibers).toBe(baseline)
        }))

        yield* cycles(200, 1000)
        yield* eventually("the registry to empty", Effect.map(sse.size, (n) => n === 0))
        yield* eventually("the fibers to end", Effect.map(supervisor.value, (fibers) => fibers.length === baseline))
        collectGarbage()
        const grown = process.memoryUsage().heapUsed - before
        // A leak of even 10 KB per connection would show as 10 MB here.
        expect(grown).toBeLessThan(8 * 1024 * 1024)
        expect(Option.isNone(yield* sse.get("0"))).toBe(true)
      }),
    120_000
  )
})

describe("SseServer: broadcasts during disconnects", () => {
  it.scopedLive(
    "300 clients leaving while broadcasts go on: no error, and no connection or fiber left behind",
    () =>
      Effect.gen(function*() {
        const supervisor = yield* Supervisor.track
        const { sse, url } = yield* startServer({ bufferCapacity: 16 }, eventsRoute).pipe(Effect.supervised(supervisor))
        let sent = 0
        // Bounded: at most 20,000 broadcasts, one every millisecond or so, while the clients come and go.
        const broadcaster = yield* Effect.forkScoped(
          Effect.whileLoop({
            while: () => sent < 20_000,
            body: () =>
              Effect.zipRight(
                sse.broadcast(Message.make({ data: "x".repeat(200), id: String(sent++) })),
                Effect.sleep("1 millis")
              ),
            step: () => undefined
          })
        )
        const cycle = (i: number) =>
          Effect.scoped(Effect.gen(function*() {
            const client = yield* connect(`${url}/events/${i}`)
            yield* client.waitFor("a broadcast", () => client.messages().length > 0)
          }))
        yield* Effect.forEach(Array.from({ length: 300 }, (_, i) => i), cycle, { concurrency: 10, discard: true })
        yield* Fiber.interrupt(broadcaster)
        yield* eventually("the registry to empty", Effect.map(sse.size, (n) => n === 0))
        yield* eventually("the fibers to end", Effect.map(supervisor.value, (fibers) => fibers.length === 0))
        expect(sent).toBeGreaterThan(0)
      }),
    120_000
  )
})

describe("SseServer: slow consumers", () => {
  const frame = (i: number) => Message.make({ data: String(i).padStart(8, "0") + "x".repeat(64 * 1024), id: String(i) })
  const total = 400 // 26 MB: far more than the kernel buffers of a client that reads nothing

  // A slow client that reads nothing and a fast one that must receive every frame.
  const slowAndFast = (options: SseServer.Options) =>
    Effect.gen(function*() {
      const name = `slow-${Math.random()}`
      const { sse, url } = yield* startServer({ name, bufferCapacity: 8, ...options }, eventsRoute)
      const slow = yield* connect(`${url}/events/slow`)
      const fast = yield* connect(`${url}/events/fast`)
      slow.pause()
      yield* eventually("two sources", Effect.map(sse.size, (n) => n === 2))
      for (let i = 0; i < total; i++) {
        yield* sse.broadcast(frame(i))
        yield* fast.waitFor(`frame ${i}`, () => fast.messages().length === i + 1)
      }
      expect(fast.messages().at(-1)?.id).toBe(String(total - 1))
      expect(yield* droppedFrames(name)).toBeGreaterThan(0)
      return { sse, slow }
    })

  it.scopedLive(
    "default policy: a client that stops reading is closed and counted; the others keep receiving",
    () =>
      Effect.gen(function*() {
        const { sse } = yield* slowAndFast({ sendTimeout: "500 millis" })
        yield* eventually("the slow source to be closed", Effect.map(sse.size, (n) => n === 1))
        expect(Option.isNone(yield* sse.get("slow"))).toBe(true)
      }),
    120_000
  )

  it.scopedLive(
    "a client that falls behind and catches up gets every frame once, in order",
    () =>
      Effect.gen(function*() {
        // Frames go straight to the socket while it keeps up, into the queue while it pushes back, and straight
        // again once the queue is empty: no frame may overtake one queued before it at either switch.
        const { sse, url } = yield* startServer({ bufferCapacity: 4096, sendTimeout: "60 seconds" }, eventsRoute)
        const client = yield* connect(`${url}/events/lagging`)
        yield* eventually("the source", Effect.map(sse.size, (n) => n === 1))
        const small = (i: number) => Message.make({ data: String(i), id: String(i) })
        let next = 0
        for (; next < 50; next++) yield* sse.broadcast(small(next))
        yield* client.waitFor("the first frames", () => client.messages().length === 50)
        client.pause()
        // 12 MB while the client reads nothing, with small frames in between: the socket pushes back early on.
        for (let round = 0; round < 200; round++) {
          yield* sse.broadcast(frame(next++))
          for (let k = 0; k < 5; k++) yield* sse.broadcast(small(next++))
        }
        // More frames while it catches up, until well after it has.
        client.resume()
        const medium = (i: number) => Message.make({ data: String(i) + "m".repeat(4096), id: String(i) })
        for (let end = next + 3000; next < end; next++) {
          yield* sse.broadcast(medium(next))
          if (next % 10 === 0) yield* Effect.sleep("0 millis")
        }
        yield* client.waitFor("every frame", () => client.messages().length === next, 30_000)
        expect(client.messages().map((m) => Number(m.id))).toEqual(Array.from({ length: next }, (_, i) => i))
      }),
    120_000
  )

  // The Node writer's own fiber: the portable path has none (the request's fiber writes the Stream body).
  it.scopedLive.skipIf(portable)(
    "an idle connection holds no writer fiber: one starts when the socket pushes back and ends with the queue",
    () =>
      Effect.gen(function*() {
        const supervisor = yield* Supervisor.track
        const { sse, url } = yield* startServer({ bufferCapacity: 4096, sendTimeout: "60 seconds" }, eventsRoute).pipe(
          Effect.supervised(supervisor)
        )
        const fibers = Effect.map(supervisor.value, (all) => all.length)
        const client = yield* connect(`${url}/events/idle`)
        yield* eventually("the source", Effect.map(sse.size, (n) => n === 1))
        for (let i = 0; i < 20; i++) yield* sse.broadcast(Message.make({ data: String(i), id: String(i) }))
        yield* client.waitFor("the first frames", () => client.messages().length === 20)
        const idle = yield* fibers
        client.pause()
        for (let i = 20; i < 220; i++) yield* sse.broadcast(frame(i))
        // The socket is full: the frames wait in the queue, with a writer fiber to move them.
        yield* eventually("a writer fiber", Effect.map(fibers, (n) => n === idle + 1))
        client.resume()
        yield* client.waitFor("every frame", () => client.messages().length === 220, 30_000)
        yield* eventually("the writer to end", Effect.map(fibers, (n) => n === idle))
      }),
    120_000
  )

  it.scopedLive(
    "default policy: a send to a full source waits at most sendTimeout, then fails and closes it",
    () =>
      Effect.gen(function*() {
        const { sse, url } = yield* startServer({ bufferCapacity: 2, sendTimeout: "300 millis" }, eventsRoute)
        const slow = yield* connect(`${url}/events/slow`)
        slow.pause()
        yield* eventually("the source", Effect.map(sse.size, (n) => n === 1))
        const source = Option.getOrThrow(yield* sse.get("slow"))
        let failure: SseServer.SseServerError | undefined
        let waited = 0
        for (let i = 0; i < 2000 && failure === undefined; i++) {
          const started = Date.now()
          const result = yield* Effect.either(source.send(frame(i)))
          if (result._tag === "Left") {
            failure = result.left
            waited = Date.now() - started
          }
        }
        expect(failure?.reason).toBe("SlowConsumer")
        expect(waited).toBeGreaterThanOrEqual(250)
        expect(yield* source.isConnected).toBe(false)
        yield* eventually("the registry to empty", Effect.map(sse.size, (n) => n === 0))
      }),
    120_000
  )

  it.scopedLive(
    "dropNewest: a slow client stays connected, loses the newest frames, and the others lose nothing",
    () =>
      Effect.gen(function*() {
        const { slow, sse } = yield* slowAndFast({ slowConsumer: "dropNewest" })
        expect(yield* sse.size).toBe(2)
        slow.resume()
        // The queue is still full when the client starts reading again: markers are dropped until there is room.
        const hasEnd = () => slow.messages().some((m) => m.id === "end")
        for (let attempt = 0; attempt < 600 && !hasEnd(); attempt++) {
          yield* sse.broadcast(Message.make({ data: "end", id: "end" }))
          yield* Effect.sleep("50 millis")
        }
        yield* slow.waitFor("an end marker", hasEnd)
        const ids = slow.messages().filter((m) => m.id !== "end").map((m) => Number(m.id))
        expect(ids.length).toBeLessThan(total)
        // What arrived is a prefix in order: the newest frames were the ones dropped.
        expect(ids).toEqual(ids.map((_, i) => i))
      }),
    120_000
  )

  it.scopedLive(
    "dropOldest: a slow client stays connected, loses the oldest queued frames, and gets the newest",
    () =>
      Effect.gen(function*() {
        const { slow, sse } = yield* slowAndFast({ slowConsumer: "dropOldest" })
        expect(yield* sse.size).toBe(2)
        slow.resume()
        yield* slow.waitFor("the newest frame", () => slow.messages().at(-1)?.id === String(total - 1), 30_000)
        const ids = slow.messages().map((m) => Number(m.id))
        expect(ids.length).toBeLessThan(total)
        // In order, with a gap before the newest ones: the oldest queued frames were the ones dropped.
        expect([...ids].sort((a, b) => a - b)).toEqual(ids)
        expect(ids.slice(-8)).toEqual(Array.from({ length: 8 }, (_, i) => total - 8 + i))
      }),
    120_000
  )
})
