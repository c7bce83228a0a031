import * as HttpRouter from "@effect/platform/HttpRouter"
import { assert, describe, expect, expectTypeOf, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Context, Data, Effect, Exit, Fiber, Logger, Schema } from "effect"
import { History, Message, SseEvent, SseServer } from "effect-sse"
import * as RedisHistory from "effect-sse/History/Redis"
import { Redis } from "ioredis"
import { type Client, connect, eventually, listen, serve } from "./utils/http.js"
import { compareStreamIds, datas, instance } from "./utils/instances.js"
import { redisAvailable, testRedis, uniquePrefix } from "./utils/redis.js"
import { makeServer } from "./utils/sse.js"

const ids = (messages: ReadonlyArray<Message.Received>) => messages.map((m) => m.lastEventId)
const isIncreasing = (list: ReadonlyArray<string>) =>
  list.every((id, i) => i === 0 || compareStreamIds(list[i - 1]!, id) < 0)
const gaps = (client: Client) => client.messages().filter((m) => m.event === SseEvent.ReplayGap.name)

// Skipped only outside CI with neither redis-server nor REDIS_URL: under CI=true utils/redis.ts throws instead.
describe.skipIf(!redisAvailable)("Delivery guarantees on Redis", () => {
  it.scopedLive(
    "two instances broadcasting at once: clients see the stream's order, and a resume elsewhere yields exactly the rest",
    () =>
      Effect.gen(function*() {
        const redis = yield* testRedis
        const prefix = uniquePrefix()
        const [a, b, c] = [
          yield* instance(redis, prefix),
          yield* instance(redis, prefix),
          yield* instance(redis, prefix)
        ]
        // The watcher sits on a sending instance: its own sends and the other's must interleave in one order.
        const watcher = yield* connect(`${a!.url}/events/watcher`)
        const mover = yield* connect(`${b!.url}/events/mover`)
        yield* eventually(
          "both clients",
          Effect.map(Effect.zipWith(a!.sse.size, b!.sse.size, (x, y) => x + y), (n) => n === 2)
        )
        const each = 40
        const sendAll = (sse: SseServer.SseServer<string>, tag: string) =>
          Effect.forEach(
            Array.from({ length: each }, (_, i) => i + 1),
            (i) => Effect.zipRight(sse.broadcast(Message.make({ data: `${tag}${i}` })), Effect.sleep("1 millis")),
            { discard: true }
          )
        const senders = yield* Effect.fork(Effect.all([sendAll(a!.sse, "a"), sendAll(b!.sse, "b")], { concurrency: 2 }))
        yield* mover.waitFor("a third of the events", () => mover.messages().length >= 25)
        yield* mover.destroy
        const before = mover.messages().slice()
        const moved = yield* connect(`${c!.url}/events/mover`, {
          headers: { "last-event-id": before.at(-1)!.lastEventId }
        })
        yield* Fiber.join(senders)
        yield* watcher.waitFor("every event", () => watcher.messages().length >= 2 * each)
        yield* moved.waitFor("the rest", () => before.length + moved.messages().length >= 2 * each)
        const all = Array.from({ length: each }, (_, i) => [`a${i + 1}`, `b${i + 1}`]).flat().sort()
        expect(isIncreasing(ids(watcher.messages()))).toBe(true)
        expect([...datas(watcher)].sort()).toEqual(all)
        const seen = [...before, ...moved.messages()]
        expect(isIncreasing(ids(seen))).toBe(true)
        expect(seen.map((m) => m.data).sort()).toEqual(all)
        expect(gaps(moved)).toEqual([])
      })
  )

  it.scopedLive("a send to the id \"*\" stays private: it is not the broadcast marker, live or replayed", () =>
    Effect.gen(function*() {
      const redis = yield* testRedis
      const prefix = uniquePrefix()
      const [a, b] = [yield* instance(redis, prefix), yield* instance(redis, prefix)]
      const star = yield* connect(`${a!.url}/events/*`)
      const other = yield* connect(`${b!.url}/events/other`)
      yield* eventually(
        "both clients",
        Effect.map(Effect.zipWith(a!.sse.size, b!.sse.size, (x, y) => x + y), (n) => n === 2)
      )
      yield* a!.sse.broadcast(Message.make({ data: "to all" }))
      yield* other.waitFor("the broadcast", () => datas(other).includes("to all"))
      const from = other.messages()[0]!.lastEventId
      yield* b!.sse.send("*", Message.make({ data: "private to *" }))
      yield* a!.sse.broadcast(Message.make({ data: "end" }))
      yield* star.waitFor("its private message and the end", () => datas(star).includes("end"))
      yield* other.waitFor("the end", () => datas(other).includes("end"))
      expect(datas(star)).toEqual(["to all", "private to *", "end"])
      expect(datas(other)).toEqual(["to all", "end"])
      yield* other.destroy
      const again = yield* connect(`${a!.url}/events/other`, { headers: { "last-event-id": from } })
      yield* again.waitFor("the replay", () => datas(again).includes("end"))
      expect(datas(again)).toEqual(["end"])
    }))

  it.scopedLive(
    "a send that times out in a frozen Redis is delivered to no one, and Redis refuses it when it wakes: no ghost entry",
    () =>
      Effect.gen(function*() {
        const redis = yield* testRedis
        if (!redis.own) return
        const prefix = uniquePrefix()
        const a = yield* instance(redis, prefix, { timeout: "1 second" })
        const client = yield* connect(`${a.url}/events/c`)
        yield* eventually("the client", Effect.map(a.sse.size, (n) => n === 1))
        yield* a.sse.broadcast(Message.make({ data: "before" }))
        yield* redis.pause
        const exit = yield* Effect.exit(a.sse.broadcast(Message.make({ data: "ghost" })))
        assert(Exit.isFailure(exit))
        expect(exit.cause._tag === "Fail" && exit.cause.error.reason).toBe("History")
        yield* Effect.sleep("1200 millis")
        yield* redis.resume
        yield* eventually(
          "the history to recover",
          Effect.map(Effect.exit(a.sse.broadcast(Message.make({ data: "after" }))), Exit.isSuccess),
          10_000
        )
        yield* client.waitFor("the message after", () => datas(client).includes("after"))
        expect(datas(client)).not.toContain("ghost")
        const raw = new Redis(redis.url)
        const entries = yield* Effect.promise(() => raw.xrange(`${prefix}:events:events`, "-", "+"))
        raw.disconnect()
        expect(entries.flatMap(([, fields]) => fields).filter((f) => f === "ghost")).toEqual([])
      })
  )

  it.scopedLive("a frozen Redis: one send waits out the timeout, the next fail at once; one warning for the outage", () => {
    const warnings: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === "Warning") warnings.push(String(message))
    })
    return Effect.gen(function*() {
      const redis = yield* testRedis
      if (!redis.own) return
      const prefix = uniquePrefix()
      const a = yield* instance(redis, prefix, { timeout: "1 second" })
      yield* a.sse.broadcast(Message.make({ data: "before" }))
      yield* redis.pause
      const first = yield* Effect.exit(a.sse.broadcast(Message.make({ data: "1" })))
      expect(Exit.isFailure(first)).toBe(true)
      const started = Date.now()
      for (let i = 0; i < 50; i++) {
        expect(Exit.isFailure(yield* Effect.exit(a.sse.broadcast(Message.make({ data: "more" }))))).toBe(true)
      }
      // 50 sends that each waited out the timeout would take 50 s.
      expect(Date.now() - started).toBeLessThan(1500)
      yield* redis.resume
      yield* eventually(
        "recovery",
        Effect.map(Effect.exit(a.sse.broadcast(Message.make({ data: "after" }))), Exit.isSuccess),
        10_000
      )
      expect(warnings.length).toBe(1)
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
  })

  it.scopedLive(
    "Redis restarted without its data: live clients on every instance are sent ReplayGap at once",
    () =>
      Effect.gen(function*() {
        const redis = yield* testRedis
        if (!redis.own) return
        const prefix = uniquePrefix()
        const [a, b] = [yield* instance(redis, prefix), yield* instance(redis, prefix)]
        const onA = yield* connect(`${a!.url}/events/on-a`)
        const onB = yield* connect(`${b!.url}/events/on-b`)
        yield* eventually(
          "both clients",
          Effect.map(Effect.zipWith(a!.sse.size, b!.sse.size, (x, y) => x + y), (n) => n === 2)
        )
        yield* a!.sse.broadcast(Message.make({ data: "before" }))
        yield* onB.waitFor("the first message", () => datas(onB).includes("before"))
        const lastSeen = onB.messages()[0]!.lastEventId
        yield* redis.stop
        yield* redis.start
        for (const client of [onA, onB]) {
          yield* client.waitFor("the live gap", () => gaps(client).length === 1, 20_000)
          expect(yield* SseEvent.ReplayGap.decode(gaps(client)[0]!)).toEqual({
            lastEventId: lastSeen,
            reason: "Unavailable"
          })
          expect(client.ended()).toBe(false)
        }
        yield* eventually(
          "the history to recover",
          Effect.map(Effect.exit(b!.sse.broadcast(Message.make({ data: "after" }))), Exit.isSuccess),
          10_000
        )
        for (const client of [onA, onB]) yield* client.waitFor("live again", () => datas(client).includes("after"))
      }),
    60_000
  )

  it.scopedLive("a tail that falls behind the trim tells its server at once (Expired)", () =>
    Effect.gen(function*() {
      const redis = yield* testRedis
      const store = yield* RedisHistory.make({ url: redis.url, prefix: uniquePrefix(), maxEntries: 5 })
      const delivered: Array<History.Entry> = []
      const told: Array<string> = []
      const log = yield* store.open("trim", { onEntry: (e) => delivered.push(e), onGap: (r) => told.push(r) })
      // One atomic append of 20: the stream keeps 5, so the tail cannot have read the first 15.
      const entries = yield* log.append(
        Array.from({ length: 20 }, (_, i) => ({ target: undefined, message: Message.make({ data: String(i) }) }))
      )
      expect(entries.length).toBe(20)
      yield* eventually("the gap", Effect.sync(() => told.length > 0))
      expect(told).toEqual(["Expired"])
      yield* eventually("the last 5", Effect.sync(() => delivered.length === 5))
      expect(delivered.map((e) => e.message.data)).toEqual(["15", "16", "17", "18", "19"])
    }))

  const Note = SseEvent.make("note", Schema.Struct({ text: Schema.String }))

  it.scopedLive(
    "per-source payloads reach the ids connected to the sending instance only, recorded in one append and replayed anywhere",
    () =>
      Effect.gen(function*() {
        const redis = yield* testRedis
        const prefix = uniquePrefix()
        const [a, b, c] = [
          yield* instance(redis, prefix),
          yield* instance(redis, prefix),
          yield* instance(redis, prefix)
        ]
        const u1 = yield* connect(`${a!.url}/events/u1`)
        const u2 = yield* connect(`${a!.url}/events/u2`)
        const u3 = yield* connect(`${b!.url}/events/u3`)
        yield* eventually(
          "three clients",
          Effect.map(Effect.zipWith(a!.sse.size, b!.sse.size, (x, y) => x + y), (n) => n === 3)
        )
        yield* a!.sse.broadcast(Message.make({ data: "start" }))
        for (const client of [u1, u2, u3]) yield* client.waitFor("start", () => datas(client).includes("start"))
        const from = u1.messages()[0]!.lastEventId
        const raw = new Redis(redis.url)
        const scriptCalls = Effect.promise(() =>
          raw.info("commandstats").then((info) => Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? 0))
        )
        const callsBefore = yield* scriptCalls
        yield* a!.sse.event(Note).sendEachLocal((id) => ({ text: `for ${id}` }))
        const callsAfter = yield* scriptCalls
        raw.disconnect()
        yield* c!.sse.broadcast(Message.make({ data: "end" }))
        for (const client of [u1, u2, u3]) yield* client.waitFor("end", () => datas(client).includes("end"))
        expect(datas(u1)).toEqual(["start", JSON.stringify({ text: "for u1" }), "end"])
        expect(datas(u2)).toEqual(["start", JSON.stringify({ text: "for u2" }), "end"])
        expect(datas(u3)).toEqual(["start", "end"])
        // One append (one run of the append script) for both payloads.
        expect(callsAfter - callsBefore).toBe(1)
        yield* u1.destroy
        const moved = yield* connect(`${c!.url}/events/u1`, { headers: { "last-event-id": from } })
        yield* moved.waitFor("the replay", () => datas(moved).includes("end"))
        expect(datas(moved)).toEqual([JSON.stringify({ text: "for u1" }), "end"])
      })
  )
})

describe("History owned by its server", () => {
  class Chat extends Context.Tag("test/Chat")<Chat, SseServer.SseServer<string>>() {}

  it("a server given history options requires the store in its Layer's type; one without does not", () => {
    expectTypeOf(SseServer.layer(Chat, { name: "chat", history: { key: (id) => id } })).toEqualTypeOf<
      Layer.Layer<Chat, never, History.History>
    >()
    expectTypeOf(SseServer.layer(Chat, { name: "chat" })).toEqualTypeOf<Layer.Layer<Chat>>()
  })

  const serverOn = <Id>(name: string, key: (id: Id) => string, idOf: (param: string) => Id) =>
    Effect.gen(function*() {
      const { server, url } = yield* listen
      const sse = yield* makeServer<Id>({ name, retry: "10 millis", history: { key } })
      yield* serve(
        server,
        HttpRouter.empty.pipe(
          HttpRouter.get(
            "/events/:id",
            Effect.flatMap(HttpRouter.params, (params) => sse.connect(idOf(params.id ?? "")))
          )
        )
      )
      return { sse, url }
    })

  it.scopedLive("two servers on one store keep separate logs: a chat client's resume never replays the alerts", () =>
    Effect.gen(function*() {
      const chat = yield* serverOn("chat", (id: string) => id, (p) => p)
      const alerts = yield* serverOn("alerts", (id: string) => id, (p) => p)
      yield* chat.sse.broadcast(Message.make({ data: "chat 1" }))
      const first = yield* connect(`${chat.url}/events/ada`)
      yield* chat.sse.broadcast(Message.make({ data: "chat 2" }))
      yield* first.waitFor("chat 2", () => datas(first).includes("chat 2"))
      yield* first.destroy
      yield* alerts.sse.broadcast(Message.make({ data: "alert!" }))
      yield* chat.sse.broadcast(Message.make({ data: "chat 3" }))
      const again = yield* connect(`${chat.url}/events/ada`, {
        headers: { "last-event-id": first.messages()[0]!.lastEventId }
      })
      yield* again.waitFor("chat 3", () => datas(again).includes("chat 3"))
      expect(datas(again)).toEqual(["chat 3"])
    }).pipe(Effect.provide(History.layerMemory())))

  it.scoped("two servers of one name on one store are a defect that names the cause", () =>
    Effect.gen(function*() {
      yield* makeServer<string>({ name: "twice", history: { key: (id) => id } })
      const exit = yield* Effect.exit(SseServer.make<string>({ name: "twice", history: { key: (id) => id } }))
      assert(Exit.isFailure(exit))
      expect(String(exit.cause)).toContain("already open")
    }).pipe(Effect.provide(History.layerMemory())))

  it.scopedLive("object ids keyed by History.jsonKey: Bob's resume never replays Alice's private event", () =>
    Effect.gen(function*() {
      const server = yield* serverOn("users", History.jsonKey, (user: string) => Data.struct({ user }))
      const bob = yield* connect(`${server.url}/events/bob`)
      yield* server.sse.broadcast(Message.make({ data: "hello all" }))
      yield* bob.waitFor("the broadcast", () => datas(bob).includes("hello all"))
      yield* bob.destroy
      yield* server.sse.send(Data.struct({ user: "alice" }), Message.make({ data: "alice's secret" }))
      yield* server.sse.send(Data.struct({ user: "bob" }), Message.make({ data: "bob's own" }))
      const again = yield* connect(`${server.url}/events/bob`, {
        headers: { "last-event-id": bob.messages()[0]!.lastEventId }
      })
      yield* again.waitFor("bob's own", () => datas(again).includes("bob's own"))
      expect(datas(again)).toEqual(["bob's own"])
    }).pipe(Effect.provide(History.layerMemory())))

  it.scopedLive("ids 1 and \"1\" keyed by History.jsonKey never share a private event", () =>
    Effect.gen(function*() {
      const server = yield* serverOn(
        "mixed",
        History.jsonKey,
        (param: string): string | number => param.startsWith("n") ? Number(param.slice(1)) : param
      )
      const text = yield* connect(`${server.url}/events/1`)
      const number = yield* connect(`${server.url}/events/n1`)
      yield* eventually("both", Effect.map(server.sse.size, (n) => n === 2))
      yield* server.sse.broadcast(Message.make({ data: "start" }))
      yield* text.waitFor("start", () => datas(text).includes("start"))
      yield* number.waitFor("start", () => datas(number).includes("start"))
      const from = text.messages()[0]!.lastEventId
      yield* text.destroy
      yield* number.destroy
      yield* eventually("both gone", Effect.map(server.sse.size, (n) => n === 0))
      yield* server.sse.send(1, Message.make({ data: "to the number" }))
      yield* server.sse.send("1", Message.make({ data: "to the string" }))
      yield* server.sse.broadcast(Message.make({ data: "end" }))
      const headers = { "last-event-id": from }
      const textAgain = yield* connect(`${server.url}/events/1`, { headers })
      const numberAgain = yield* connect(`${server.url}/events/n1`, { headers })
      yield* textAgain.waitFor("end", () => datas(textAgain).includes("end"))
      yield* numberAgain.waitFor("end", () => datas(numberAgain).includes("end"))
      expect(datas(textAgain)).toEqual(["to the string", "end"])
      expect(datas(numberAgain)).toEqual(["to the number", "end"])
    }).pipe(Effect.provide(History.layerMemory())))

  it("jsonKey: equal structures share a key; numbers, strings and other values do not", () => {
    expect(History.jsonKey(Data.struct({ b: 1, a: "x" }))).toBe(History.jsonKey({ a: "x", b: 1 }))
    const keys = [1, "1", "*", null, undefined, true, "true", [1], { a: 1 }, 1n, Number.NaN, "NaN"].map(History.jsonKey)
    expect(new Set(keys).size).toBe(keys.length)
  })
})
