import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, expect, it } from "@effect/vitest"
import { Chunk, Config, Context, Effect, Exit, Fiber, Layer, Option, Stream, TestClock } from "effect"
import { History, Message, SseClient, SseEvent, SseServer } from "effect-sse"
import { connect, eventually, listen, serve } from "./utils/http.js"
import { eventsRoute, makeServer } from "./utils/sse.js"

const data = (entries: ReadonlyArray<History.Entry>) => entries.map((entry) => entry.message.data)

/** A log of a fresh in-memory store, and what it delivered. */
const memoryLog = (options?: History.MemoryOptions) =>
  Effect.gen(function*() {
    const store = yield* History.makeMemory(options)
    const delivered: Array<History.Entry> = []
    const log = yield* store.open("test", { onEntry: (entry) => delivered.push(entry), onGap: () => {} })
    const append = (target: string | undefined, message: Message.Message) =>
      Effect.map(log.append([{ target, message }]), ([entry]) => entry!)
    return { log, store, delivered, append, since: log.since }
  })

describe("History: in memory", () => {
  it.scoped("gives messages without an id increasing ids, and keeps the app's own", () =>
    Effect.gen(function*() {
      const history = yield* memoryLog()
      const a = yield* history.append(undefined, Message.make({ data: "a" }))
      const b = yield* history.append(undefined, Message.make({ data: "b", id: "mine" }))
      const c = yield* history.append(undefined, Message.make({ data: "c" }))
      expect([a.message.id, b.message.id, c.message.id]).toEqual(["1", "mine", "3"])
      expect(new TextDecoder().decode(c.frame)).toBe("data:c\nid:3\n\n")
    }))

  it.scoped("replays what came after an id: server-wide entries and those for the reconnecting id only", () =>
    Effect.gen(function*() {
      const history = yield* memoryLog()
      yield* history.append(undefined, Message.make({ data: "all 1" }))
      yield* history.append("ada", Message.make({ data: "for ada" }))
      yield* history.append("bob", Message.make({ data: "for bob" }))
      yield* history.append(undefined, Message.make({ data: "all 2", id: "x" }))
      const replay = yield* history.since("1", "ada")
      assert(replay._tag === "Replay")
      expect(data(replay.entries)).toEqual(["for ada", "all 2"])
      const fromApp = yield* history.since("x", "ada")
      assert(fromApp._tag === "Replay")
      expect(fromApp.entries).toEqual([])
    }))

  it.scoped("an id pushed out by maxEntries has expired; one never handed out is unknown", () =>
    Effect.gen(function*() {
      const history = yield* memoryLog({ maxEntries: 3 })
      for (let i = 1; i <= 5; i++) yield* history.append(undefined, Message.make({ data: String(i) }))
      expect(yield* history.since("1", "a")).toEqual({ _tag: "Gap", reason: "Expired" })
      expect(yield* history.since("99", "a")).toEqual({ _tag: "Gap", reason: "Unknown" })
      expect(yield* history.since("nope", "a")).toEqual({ _tag: "Gap", reason: "Unknown" })
      const replay = yield* history.since("3", "a")
      assert(replay._tag === "Replay")
      expect(data(replay.entries)).toEqual(["4", "5"])
    }))

  it.scoped("entries older than maxAge expire, by the clock", () =>
    Effect.gen(function*() {
      const history = yield* memoryLog({ maxAge: "1 minute" })
      yield* history.append(undefined, Message.make({ data: "old" }))
      yield* TestClock.adjust("45 seconds")
      yield* history.append(undefined, Message.make({ data: "newer" }))
      yield* TestClock.adjust("30 seconds")
      expect(yield* history.since("1", "a")).toEqual({ _tag: "Gap", reason: "Expired" })
      const replay = yield* history.since("2", "a")
      assert(replay._tag === "Replay")
      expect(replay.entries).toEqual([])
    }))

  it.scoped("with assignIds: false, messages keep no id and only the app's ids resume", () =>
    Effect.gen(function*() {
      const history = yield* memoryLog({ assignIds: false })
      const a = yield* history.append(undefined, Message.make({ data: "a" }))
      yield* history.append(undefined, Message.make({ data: "b", id: "b" }))
      yield* history.append(undefined, Message.make({ data: "c" }))
      expect(a.message.id).toBeUndefined()
      const replay = yield* history.since("b", "x")
      assert(replay._tag === "Replay")
      expect(data(replay.entries)).toEqual(["c"])
      expect(yield* history.since("1", "x")).toEqual({ _tag: "Gap", reason: "Unknown" })
    }))
})

/** An in-memory history that answers replays late, as a remote store does: live frames arrive meanwhile. */
const slowHistory = Layer.effect(
  History.History,
  Effect.map(History.makeMemory({ maxEntries: 10_000 }), (store): History.Service => ({
    open: (namespace, subscriber) =>
      Effect.map(store.open(namespace, subscriber), (log) => ({
        ...log,
        since: (lastEventId, target) => Effect.zipRight(Effect.sleep("5 millis"), log.since(lastEventId, target))
      }))
  }))
)

/** A server with an in-memory history on a real port. */
const startWithHistory = (options: History.MemoryOptions = {}, layer = History.layerMemory(options)) =>
  Effect.gen(function*() {
    const { server, url } = yield* listen
    const history = yield* Layer.build(layer)
    const sse = yield* makeServer<string>({ retry: "5 millis", history: { key: (id) => id } }).pipe(
      Effect.provide(history)
    )
    yield* serve(server, eventsRoute(sse))
    return { sse, url }
  })

describe("SseServer with a history: reconnects with Last-Event-ID", () => {
  it.scoped("recent: the newest id replays nothing, and live messages follow", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startWithHistory()
      yield* sse.broadcast(Message.make({ data: "one" }))
      yield* sse.broadcast(Message.make({ data: "two" }))
      const client = yield* connect(`${url}/events/a`, { headers: { "last-event-id": "2" } })
      const source = Option.getOrThrow(yield* sse.get("a"))
      expect(source.resume).toEqual({ _tag: "Replayed", count: 0 })
      yield* sse.broadcast(Message.make({ data: "three" }))
      yield* client.waitFor("the live message", () => client.messages().length === 1)
      expect(client.messages().map((m) => [m.data, m.id])).toEqual([["three", "3"]])
    }))

  it.scoped("in the middle: what came after it, for everyone and for this id, then live", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startWithHistory()
      yield* sse.broadcast(Message.make({ data: "1" }))
      yield* sse.broadcast(Message.make({ data: "2" }))
      // Addressed to ids that are not connected: recorded all the same.
      yield* sse.send("a", Message.make({ data: "3 for a" }))
      yield* sse.send("b", Message.make({ data: "4 for b" }))
      yield* sse.broadcast(Message.make({ data: "5" }))
      const client = yield* connect(`${url}/events/a`, { headers: { "last-event-id": "1" } })
      yield* sse.broadcast(Message.make({ data: "6" }))
      yield* client.waitFor("4 messages", () => client.messages().length === 4)
      expect(client.messages().map((m) => m.data)).toEqual(["2", "3 for a", "5", "6"])
      expect(client.messages().map((m) => m.id)).toEqual(["2", "3", "5", "6"])
      expect(Option.getOrThrow(yield* sse.get("a")).resume).toEqual({ _tag: "Replayed", count: 3 })
    }))

  it.scoped("unknown: the client is sent the replay-gap event first, and the source says so", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startWithHistory()
      yield* sse.broadcast(Message.make({ data: "1" }))
      const client = yield* connect(`${url}/events/a`, { headers: { "last-event-id": "from-elsewhere" } })
      yield* client.waitFor("the gap event", () => client.messages().length === 1)
      const [gap] = client.messages()
      expect(gap!.event).toBe(SseEvent.ReplayGap.name)
      expect(yield* SseEvent.ReplayGap.decode(gap!)).toEqual({ lastEventId: "from-elsewhere", reason: "Unknown" })
      expect(Option.getOrThrow(yield* sse.get("a")).resume).toEqual({
        _tag: "Gap",
        reason: "Unknown",
        lastEventId: "from-elsewhere"
      })
    }))

  it.scoped("expired: older than the history keeps, told as Expired", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startWithHistory({ maxEntries: 2 })
      for (let i = 1; i <= 4; i++) yield* sse.broadcast(Message.make({ data: String(i) }))
      const client = yield* connect(`${url}/events/a`, { headers: { "last-event-id": "1" } })
      yield* client.waitFor("the gap event", () => client.messages().length === 1)
      expect(yield* SseEvent.ReplayGap.decode(client.messages()[0]!)).toEqual({ lastEventId: "1", reason: "Expired" })
    }))

  it.scopedLive("expired under concurrent sends: the SseClient surfaces the typed gap, then every live message in order", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startWithHistory({ maxEntries: 5 })
      for (let i = 1; i <= 10; i++) yield* sse.broadcast(Message.make({ data: `old ${i}` }))
      let sending = true
      let sent = 0
      const sender = yield* Effect.fork(Effect.whileLoop({
        while: () => sending,
        body: () => Effect.zipRight(sse.broadcast(Message.make({ data: `live ${++sent}` })), Effect.sleep("1 millis")),
        step: () => {}
      }))
      const events = yield* SseClient.get(`${url}/events/a`, { lastEventId: "1", reconnect: false }).pipe(
        SseClient.decodeEvents({ ReplayGap: SseEvent.ReplayGap }, { unknown: "surface" }),
        Stream.take(40),
        Stream.runCollect,
        Effect.provide(NodeHttpClient.layer)
      )
      sending = false
      yield* Fiber.join(sender)
      const list = Chunk.toReadonlyArray(events)
      const [gap, ...live] = list
      assert(gap?._tag === "ReplayGap")
      expect(gap.data).toEqual({ lastEventId: "1", reason: "Expired" })
      const numbers = live.map((e) => Number(e.message.data.replace("live ", "")))
      expect(live.every((e) => e.message.data.startsWith("live "))).toBe(true)
      // Contiguous from wherever the connection started: nothing lost, nothing twice.
      expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i))
    }))

  it.scoped("a first connection (no Last-Event-ID) replays nothing and is Fresh", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startWithHistory()
      yield* sse.broadcast(Message.make({ data: "before" }))
      const client = yield* connect(`${url}/events/a`)
      yield* sse.broadcast(Message.make({ data: "after" }))
      yield* client.waitFor("the live message", () => client.messages().length === 1)
      expect(client.messages().map((m) => m.data)).toEqual(["after"])
      expect(Option.getOrThrow(yield* sse.get("a")).resume).toEqual({ _tag: "Fresh" })
    }))

  const everyMessageOnce = (layer: Layer.Layer<History.History>) =>
    Effect.gen(function*() {
      const { sse, url } = yield* startWithHistory({}, layer)
      const total = 1000
      const client = yield* SseClient.get(`${url}/events/a`, {
        retry: "1 millis",
        minDelay: "1 millis",
        reconnect: SseClient.defaultSchedule({ jitter: 0 })
      }).pipe(
        Stream.take(total),
        Stream.map((m) => Number(m.data)),
        Stream.runCollect,
        Effect.provide(NodeHttpClient.layer),
        Effect.fork
      )
      yield* eventually("the client to connect", Effect.map(sse.size, (n) => n === 1))
      let drops = 0
      const dropper = yield* Effect.fork(Effect.forever(Effect.gen(function*() {
        yield* Effect.sleep("25 millis")
        const source = yield* sse.get("a")
        if (Option.isSome(source)) {
          drops++
          yield* source.value.close
        }
      })))
      for (let i = 1; i <= total; i++) {
        yield* sse.broadcast(Message.make({ data: String(i) }))
        if (i % 5 === 0) yield* Effect.sleep("1 millis")
      }
      const received = Chunk.toReadonlyArray(yield* Fiber.join(client))
      yield* Fiber.interrupt(dropper)
      expect(received).toEqual(Array.from({ length: total }, (_, i) => i + 1))
      expect(drops).toBeGreaterThan(3)
    })

  it.scopedLive("under concurrent sends and repeated drops, the SseClient gets every message once, in order", () =>
    everyMessageOnce(History.layerMemory({ maxEntries: 10_000 })))

  it.scopedLive("the same when the history answers late: live frames sent meanwhile wait for the replay", () =>
    everyMessageOnce(slowHistory))
})

describe("SseServer with a history: sends", () => {
  class Events extends Context.Tag("test/History/Events")<Events, SseServer.SseServer<string>>() {}

  it.scoped("layerConfig takes the history options beside the Config ones, and records through the store", () =>
    Effect.gen(function*() {
      const layer = SseServer.layerConfig(Events, { name: Config.succeed("configured") }, { key: (id) => id })
      const context = yield* Layer.build(Layer.provideMerge(layer, History.layerMemory()))
      const sse = Context.get(context, Events)
      yield* sse.send("ada", Message.make({ data: "kept for ada" }))
      const log = yield* Context.get(context, History.History).open("other", { onEntry: () => {}, onGap: () => {} })
      // The server's log is its own: another log of the store knows nothing of it.
      expect(yield* log.since("1", "ada")).toEqual({ _tag: "Gap", reason: "Unknown" })
      const configured = yield* Effect.exit(
        Context.get(context, History.History).open("configured", { onEntry: () => {}, onGap: () => {} })
      )
      expect(Exit.isFailure(configured)).toBe(true)
    }))

  it.scopedLive("a source's own send is recorded for its id: every connection of the id gets it, and a resume too", () =>
    Effect.gen(function*() {
      const { server, url } = yield* listen
      const sse = yield* makeServer<string>({ name: "own", connectionsPerId: "multiple", history: { key: (id) => id } })
        .pipe(Effect.provide(History.layerMemory()))
      yield* serve(server, eventsRoute(sse))
      const first = yield* connect(`${url}/events/ada`)
      const second = yield* connect(`${url}/events/ada`)
      yield* eventually("two connections", Effect.map(sse.size, (n) => n === 2))
      yield* sse.broadcast(Message.make({ data: "start" }))
      const [one] = yield* sse.getAll("ada")
      yield* one!.send(Message.make({ data: "from a source" }))
      for (const client of [first, second]) {
        yield* client.waitFor("the source's send", () => client.messages().some((m) => m.data === "from a source"))
      }
      expect(second.messages().map((m) => [m.data, m.id])).toEqual([["start", "1"], ["from a source", "2"]])
      const again = yield* connect(`${url}/events/ada`, { headers: { "last-event-id": "1" } })
      yield* again.waitFor("the replay", () => again.messages().length === 1)
      expect(again.messages()[0]!.data).toBe("from a source")
    }))
})
