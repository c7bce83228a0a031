import { assert, describe, expect, it } from "@effect/vitest"
import { Config, ConfigProvider, Context, Effect, Exit, Layer, Metric } from "effect"
import { History, Message, SseServer } from "effect-sse"
import * as RedisHistory from "effect-sse/History/Redis"
import { type Client, connect, eventually } from "./utils/http.js"
import { datas, instance } from "./utils/instances.js"
import { redisAvailable, testRedis, uniquePrefix } from "./utils/redis.js"

/** A log of a Redis store, and what its tail delivered. */
const redisLog = (options: RedisHistory.Options, namespace = "test") =>
  Effect.gen(function*() {
    const store = yield* RedisHistory.make(options)
    const delivered: Array<History.Entry> = []
    const gaps: Array<string> = []
    const log = yield* store.open(namespace, {
      onEntry: (entry) => delivered.push(entry),
      onGap: (reason) => gaps.push(reason)
    })
    const append = (target: string | undefined, message: Message.Message) =>
      Effect.map(log.append([{ target, message }]), ([entry]) => entry!)
    return { log, store, delivered, gaps, append, since: log.since }
  })

// Skipped only outside CI with neither redis-server nor REDIS_URL (a warning says so); under CI=true a missing
// Redis throws in utils/redis.ts, so CI never skips these silently.
describe.skipIf(!redisAvailable)("History on Redis Streams", () => {
  it.scopedLive("entries take stream ids; a replay gives what came after, for everyone and for the id", () =>
    Effect.gen(function*() {
      const redis = yield* testRedis
      const history = yield* redisLog({ url: redis.url, prefix: uniquePrefix() })
      const first = yield* history.append(undefined, Message.make({ data: "all 1" }))
      expect(first.message.id).toMatch(/^\d+-\d+$/)
      expect(new TextDecoder().decode(first.frame)).toBe(`data:all 1\nid:${first.message.id}\n\n`)
      yield* history.append("ada", Message.make({ data: "for ada", event: "note" }))
      yield* history.append("bob", Message.make({ data: "for bob" }))
      yield* history.append(undefined, Message.make({ data: "all 2", id: "app-7", retry: 1500 }))
      const replay = yield* history.since(first.message.id!, "ada")
      assert(replay._tag === "Replay")
      expect(replay.entries.map((e) => [e.message.data, e.message.event])).toEqual([["for ada", "note"], [
        "all 2",
        "message"
      ]])
      expect(replay.entries[1]!.message.id).toBe("app-7")
      // The app's own id is found too.
      const fromApp = yield* history.since("app-7", "ada")
      assert(fromApp._tag === "Replay")
      expect(fromApp.entries).toEqual([])
      expect(yield* history.since("never-sent", "ada")).toEqual({ _tag: "Gap", reason: "Unknown" })
    }))

  it.scopedLive("layerRedisConfig reads the URL and the prefix from Config", () =>
    Effect.gen(function*() {
      const redis = yield* testRedis
      const prefix = uniquePrefix()
      const layer = RedisHistory.layerRedisConfig({
        url: Config.string("REDIS_URL"),
        prefix: Config.string("SSE_PREFIX")
      }).pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
        new Map([["REDIS_URL", redis.url], ["SSE_PREFIX", prefix]])
      ))))
      const store = Context.get(yield* Layer.build(layer), History.History)
      const log = yield* store.open("test", { onEntry: () => {}, onGap: () => {} })
      const [entry] = yield* log.append([{ target: undefined, message: Message.make({ data: "configured" }) }])
      const direct = yield* redisLog({ url: redis.url, prefix })
      const replay = yield* direct.since(entry!.message.id!, "x")
      expect(replay).toEqual({ _tag: "Replay", entries: [], cursor: entry!.key })
      const missing = yield* Effect.exit(Layer.build(RedisHistory.layerRedisConfig({ url: Config.string("NOPE") })))
      expect(Exit.isFailure(missing)).toBe(true)
    }))

  it.scopedLive("an id trimmed from the capped stream has expired", () =>
    Effect.gen(function*() {
      const redis = yield* testRedis
      const history = yield* redisLog({ url: redis.url, prefix: uniquePrefix(), maxEntries: 3 })
      const first = yield* history.append(undefined, Message.make({ data: "1" }))
      for (let i = 2; i <= 5; i++) yield* history.append(undefined, Message.make({ data: String(i) }))
      expect(yield* history.since(first.message.id!, "a")).toEqual({ _tag: "Gap", reason: "Expired" })
    }))

  it.scopedLive("three instances on one Redis: a broadcast from any reaches every client once; sends find the id", () =>
    Effect.gen(function*() {
      const redis = yield* testRedis
      const prefix = uniquePrefix()
      const instances = [yield* instance(redis, prefix), yield* instance(redis, prefix), yield* instance(redis, prefix)]
      const clients: Array<Client> = []
      for (let i = 0; i < 6; i++) clients.push(yield* connect(`${instances[i % 3]!.url}/events/c${i}`))
      for (const { sse } of instances) yield* eventually("two clients each", Effect.map(sse.size, (n) => n === 2))
      for (const [j, { sse }] of instances.entries()) yield* sse.broadcast(Message.make({ data: `from ${j}` }))
      // Each instance's entries reach a client in the order that instance sent them: once its end marker is in,
      // its message is in, and a duplicate of it would be too.
      for (const [j, { sse }] of instances.entries()) yield* sse.broadcast(Message.make({ data: `end ${j}` }))
      for (const client of clients) {
        yield* client.waitFor(
          "the end markers",
          () => ["end 0", "end 1", "end 2"].every((d) => datas(client).includes(d))
        )
        expect([...datas(client)].sort()).toEqual(["end 0", "end 1", "end 2", "from 0", "from 1", "from 2"])
      }
      // A send to an id connected elsewhere reaches it, and only it.
      yield* instances[0]!.sse.send("c5", Message.make({ data: "just for c5" }))
      yield* clients[5]!.waitFor("the message for c5", () => datas(clients[5]!).includes("just for c5"))
      yield* instances[0]!.sse.broadcast(Message.make({ data: "end 2" }))
      for (const client of clients) yield* client.waitFor("the second marker", () => datas(client).includes("end 2"))
      expect(clients.map((c) => datas(c).filter((d) => d === "just for c5").length)).toEqual([0, 0, 0, 0, 0, 1])
    }))

  it.scopedLive("a client moved to another instance with Last-Event-ID gets what it missed, then live", () =>
    Effect.gen(function*() {
      const redis = yield* testRedis
      const prefix = uniquePrefix()
      const [a, b, c] = [yield* instance(redis, prefix), yield* instance(redis, prefix), yield* instance(redis, prefix)]
      const first = yield* connect(`${a!.url}/events/mover`)
      yield* eventually("the first connection", Effect.map(a!.sse.size, (n) => n === 1))
      yield* b!.sse.broadcast(Message.make({ data: "1" }))
      yield* first.waitFor("message 1", () => first.messages().length === 1)
      const lastEventId = first.messages()[0]!.lastEventId
      yield* first.destroy
      yield* eventually("the disconnect", Effect.map(a!.sse.size, (n) => n === 0))
      yield* b!.sse.broadcast(Message.make({ data: "2" }))
      yield* a!.sse.send("mover", Message.make({ data: "3 for mover" }))
      yield* c!.sse.broadcast(Message.make({ data: "4" }))
      const moved = yield* connect(`${c!.url}/events/mover`, { headers: { "last-event-id": lastEventId } })
      yield* b!.sse.broadcast(Message.make({ data: "5" }))
      yield* moved.waitFor("4 messages", () => moved.messages().length === 4)
      expect(datas(moved)).toEqual(["2", "3 for mover", "4", "5"])
    }))

  it.scopedLive(
    "Redis stopped and restarted: a send fails typed and is delivered to no one; one outage, counted; it recovers",
    () =>
      Effect.gen(function*() {
        const redis = yield* testRedis
        if (!redis.own) return console.warn("skipped: REDIS_URL is set, so this test cannot stop the server")
        const prefix = uniquePrefix()
        const [a, b] = [
          yield* instance(redis, prefix, { timeout: "500 millis" }),
          yield* instance(redis, prefix)
        ]
        const onA = yield* connect(`${a!.url}/events/on-a`)
        const onB = yield* connect(`${b!.url}/events/on-b`)
        yield* eventually(
          "both clients",
          Effect.map(Effect.zipWith(a!.sse.size, b!.sse.size, (x, y) => x + y), (n) => n === 2)
        )
        yield* a!.sse.broadcast(Message.make({ data: "before" }))
        yield* onB.waitFor("the backplane", () => datas(onB).includes("before"))
        yield* onA.waitFor("local delivery", () => datas(onA).includes("before"))

        yield* redis.stop
        const failures = Metric.value(SseServer.metrics.historyFailures.pipe(Metric.tagged("sse_server", "events")))
        const outages = Metric.value(RedisHistory.metrics.outages)
        const failedBefore = (yield* failures).count
        const outagesBefore = (yield* outages).count
        for (let i = 0; i < 5; i++) {
          const exit = yield* Effect.exit(a!.sse.broadcast(Message.make({ data: `during ${i}` })))
          assert(Exit.isFailure(exit))
          const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          expect(error?.reason).toBe("History")
          expect((error?.cause as History.HistoryError | undefined)?.reason).toBe("Unavailable")
        }
        expect((yield* failures).count - failedBefore).toBe(5)
        expect((yield* outages).count - outagesBefore).toBe(1)
        expect((yield* Metric.value(RedisHistory.metrics.available)).value).toBe(0)

        yield* Effect.sleep("1 second")
        yield* redis.start
        // The history recovers by itself: broadcasts from A reach both clients again.
        let probe = 0
        yield* eventually(
          "the history to recover",
          Effect.gen(function*() {
            yield* Effect.ignore(a!.sse.broadcast(Message.make({ data: `probe ${probe++}` })))
            yield* Effect.sleep("100 millis")
            return datas(onB).some((d) => d.startsWith("probe"))
          }),
          30_000
        )
        yield* a!.sse.broadcast(Message.make({ data: "after" }))
        yield* onB.waitFor("a message after recovery", () => datas(onB).includes("after"))
        yield* onA.waitFor("a message after recovery", () => datas(onA).includes("after"))
        // Failed sends reached no one, here or there.
        for (const client of [onA, onB]) expect(datas(client).some((d) => d.startsWith("during"))).toBe(false)
      }),
    60_000
  )
})
