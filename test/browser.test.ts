/**
 * The demo room in a real browser: headless Chromium (Debian's package) driven by playwright-core, with the
 * page's native EventSource reading our SseServer, and the room's history replaying what a page missed.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Metric, Option, Schedule, Scope } from "effect"
import { SseServer } from "effect-sse"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import type { Page } from "playwright-core"
import * as Room from "../examples/room/app.js"
import * as RoomHistory from "../examples/room/history.js"
import { hasBrowser, launch } from "./utils/browser.js"
import { eventually, listen, serve } from "./utils/http.js"
import { redisAvailable, testRedis, uniquePrefix } from "./utils/redis.js"
import { tempDirectory } from "./utils/temp.js"

const secret = "browser test secret"

/**
 * The room on 127.0.0.1 (port 0, or `port` to come back where it was), with short timings; records every
 * connection. With a `gate`, connections wait at the door while it is closed.
 */
const startRoom = (options: {
  readonly store: RoomHistory.Store
  readonly maxEntries?: number
  readonly port?: number
  readonly gate?: Effect.Effect.Success<ReturnType<typeof Effect.makeLatch>>
}) =>
  Effect.gen(function*() {
    const connects: Array<Room.Connected> = []
    // Listening first, so that at the end the server's streams end before the HTTP server waits for them.
    const { server, url } = yield* (options.port === undefined ? listen : listenOn(options.port))
    const sse = yield* RoomHistory.makeServer(
      Room.serverOptions({ retry: "200 millis", keepAlive: "100 millis", shutdownJitter: "100 millis" }),
      { store: options.store, maxEntries: options.maxEntries }
    )
    const router = Room.router({
      secret,
      onConnect: (connection) => connects.push(connection),
      beforeConnect: options.gate?.await
    })
    yield* serve(server, router).pipe(Effect.provideService(Room.Room, sse))
    const say = (from: string, text: string) => Room.say(from, text).pipe(Effect.provideService(Room.Room, sse))
    return { sse, url, connects, say }
  })

/** `listen` on a given port, retried while the previous server's socket is still going away. */
const listenOn = (port: number) =>
  NodeHttpServer.make(() => Http.createServer(), { port, host: "127.0.0.1" }).pipe(
    Effect.retry(Schedule.intersect(Schedule.spaced("100 millis"), Schedule.recurs(50))),
    Effect.orDie,
    Effect.map((server) => ({ server, url: `http://127.0.0.1:${port}` }))
  )

interface Chat {
  readonly id: string
  readonly from: string
  readonly text: string
  readonly replayed: boolean
}

const chats = (page: Page) =>
  Effect.promise(() => page.evaluate(() => (window as unknown as { room: { chats: Array<Chat> } }).room.chats))
const opens = (page: Page) =>
  Effect.promise(() => page.evaluate(() => (window as unknown as { room: { opens: () => number } }).room.opens()))
const waitFor = (page: Page, what: string, fn: () => boolean) =>
  Effect.tryPromise(() => page.waitForFunction(fn, undefined, { timeout: 20_000 })).pipe(
    Effect.orDieWith((error) => new Error(`waiting for ${what}: ${String(error)}`))
  )
const waitForOpens = (page: Page, count: number) =>
  Effect.tryPromise(() =>
    page.waitForFunction(
      (count) => (window as unknown as { room: { opens: () => number } }).room.opens() >= count,
      count,
      { timeout: 20_000 }
    )
  ).pipe(Effect.orDie)
const waitForChats = (page: Page, count: number) =>
  Effect.tryPromise(() =>
    page.waitForFunction(
      (count) => (window as unknown as { room: { chats: Array<Chat> } }).room.chats.length >= count,
      count,
      { timeout: 20_000 }
    )
  ).pipe(Effect.orDie)
const send = (page: Page, text: string) =>
  Effect.promise(async () => {
    await page.fill("#text", text)
    await page.press("#text", "Enter")
  })

/** Every chat once, in the order sent, with increasing ids; the page's list shows each once. */
const expectExactlyOnce = (page: Page, texts: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const received = yield* chats(page)
    expect(received.map((chat) => chat.text)).toEqual(texts)
    // Ids are counters ("7"), or Redis stream ids ("1764374400000-3"): compared part by part.
    const ids = received.map((chat) => chat.id)
    const after = (a: string, b: string) => {
      const [x, y] = [a.split("-").map(Number), b.split("-").map(Number)]
      return x[0]! > y[0]! || (x[0] === y[0] && (x[1] ?? 0) > (y[1] ?? 0))
    }
    expect(ids.every((id, i) => i === 0 || after(id, ids[i - 1]!)), `ids ${ids.join(",")}`).toBe(true)
    const listed = yield* Effect.promise(() => page.locator("#messages li[data-id]").count())
    expect(listed).toBe(texts.length)
    return received
  })

const welcomes = (page: Page) => Effect.promise(() => page.locator("#messages >> text=welcome, ").count())

const framesSent = Metric.value(SseServer.metrics.framesSent.pipe(Metric.tagged("sse_server", "room")))

/** A new browser with the room open at `url`, once its stream is open. */
const openRoom = (url: string) =>
  Effect.gen(function*() {
    const browser = yield* launch
    const page = yield* Effect.promise(() => browser.newPage())
    yield* Effect.promise(() => page.goto(url))
    yield* waitFor(page, "open", () => document.getElementById("state")?.textContent === "open")
    return page
  })

// Skipped only outside CI when Debian's chromium is not installed (see utils/browser.ts).
describe.skipIf(!hasBrowser)("browser: the demo room in headless Chromium", () => {
  it.scopedLive(
    "a server-given identity, named events, heartbeats, a reconnect with Last-Event-ID, phone width",
    () =>
      Effect.gen(function*() {
        const { connects, say, sse, url } = yield* startRoom({ store: { _tag: "Memory" } })
        const page = yield* openRoom(url)
        const user = yield* Effect.promise(() => page.textContent("#me"))
        expect(user).toMatch(/^guest-[0-9a-f]{6}$/)
        expect(connects).toEqual([{ user, lastEventId: "", resume: { _tag: "Fresh" } }])
        // The identity is the cookie's: HttpOnly, invisible to the page's scripts, and the same after a reload.
        expect(yield* Effect.promise(() => page.evaluate(() => document.cookie))).toBe("")

        yield* Effect.promise(() => page.waitForSelector(`text=welcome, ${user}`))
        yield* Effect.promise(() => page.waitForSelector(`#users >> text=${user} (you)`))
        yield* say("test-bot", "hello from the test")
        yield* send(page, "hello from the page")
        yield* waitForChats(page, 2)
        yield* Effect.promise(() => page.waitForSelector("#notices >> text=your message reached 0 other connections"))
        const [, mine] = yield* expectExactlyOnce(page, ["hello from the test", "hello from the page"])
        expect(mine!.from).toBe(user)

        // A message the server rejects is not silently cleared: the reason shows, the text stays to fix.
        const long = "x".repeat(501)
        yield* send(page, long)
        yield* Effect.promise(() =>
          page.waitForSelector("#error >> text=not sent: a message is at most 500 characters")
        )
        expect(yield* Effect.promise(() => page.inputValue("#text"))).toBe(long)
        yield* send(page, "   ")
        yield* Effect.promise(() => page.waitForSelector("#error >> text=not sent: an empty message is not sent"))
        expect((yield* chats(page)).length).toBe(2)

        // Heartbeats every 100 ms keep the stream alive through a second of silence: no reconnect, still open.
        const before = (yield* framesSent).count
        yield* Effect.sleep("1 second")
        expect((yield* framesSent).count - before).toBeGreaterThanOrEqual(3)
        expect(yield* opens(page)).toBe(1)

        // The server ends the response: the browser reconnects on its own and sends the last id it saw.
        const lastId = yield* Effect.promise(() => page.textContent("#last-id"))
        yield* Effect.promise(() => page.click("#drop"))
        yield* waitForOpens(page, 2)
        yield* eventually("the reconnection", Effect.sync(() => connects.length === 2))
        expect(connects[1]).toMatchObject({ user, lastEventId: expect.any(String) })
        expect(Number(connects[1]!.lastEventId)).toBeGreaterThanOrEqual(Number(lastId))
        const source = Option.getOrThrow(yield* sse.get(user!))
        expect(yield* source.isConnected).toBe(true)

        // A reload keeps the identity (the cookie), and is a new page: welcomed again, once.
        yield* Effect.promise(() => page.reload())
        yield* waitFor(page, "open", () => document.getElementById("state")?.textContent === "open")
        expect(yield* Effect.promise(() => page.textContent("#me"))).toBe(user)
        expect(yield* welcomes(page)).toBe(1)

        // At phone width nothing scrolls sideways.
        yield* Effect.promise(() => page.setViewportSize({ width: 360, height: 740 }))
        const overflow = yield* Effect.promise(() =>
          page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
        )
        expect(overflow).toBe(0)

        const file = Path.join(Os.tmpdir(), `effect-sse-room-${process.pid}.png`)
        yield* Effect.promise(() => page.screenshot({ path: file, fullPage: true }))
        expect(Fs.readFileSync(file).subarray(1, 4).toString("latin1")).toBe("PNG")
        console.log(`browser test screenshot: ${file}`)
      }),
    60_000
  )

  it.scopedLive(
    "after 'drop my connection', what was posted meanwhile arrives once, in order, marked replayed",
    () =>
      Effect.gen(function*() {
        const gate = yield* Effect.makeLatch(true)
        const { connects, say, url } = yield* startRoom({ store: { _tag: "Memory" }, gate })
        const page = yield* openRoom(url)
        yield* send(page, "before the drop")
        yield* waitForChats(page, 1)

        // The reconnection waits at the door while two people post; the page shows it is away.
        yield* gate.close
        yield* Effect.promise(() => page.click("#drop"))
        yield* waitFor(page, "reconnecting", () => document.getElementById("state")?.textContent === "reconnecting")
        yield* waitFor(page, "presence cleared", () => document.getElementById("users")?.className === "offline")
        yield* say("alice", "while you were away 1")
        yield* send(page, "while you were away 2") // posted from the page itself: its POST works, its stream is away
        yield* say("bob", "while you were away 3")
        yield* gate.open

        yield* waitForChats(page, 4)
        yield* send(page, "after the reconnect")
        yield* waitForChats(page, 5)
        const received = yield* expectExactlyOnce(page, [
          "before the drop",
          "while you were away 1",
          "while you were away 2",
          "while you were away 3",
          "after the reconnect"
        ])
        expect(received.map((chat) => chat.replayed)).toEqual([false, true, true, true, false])
        expect(connects[1]!.resume).toMatchObject({ _tag: "Replayed" })
        yield* Effect.promise(() => page.waitForSelector("#banner >> text=missed event(s) replayed"))
        yield* Effect.promise(() => page.waitForSelector("#users >> text=(you)"))
        expect(yield* welcomes(page)).toBe(1)
      }),
    60_000
  )

  const fileStore: Effect.Effect<RoomHistory.Store, never, Scope.Scope> = Effect.map(
    tempDirectory("effect-sse-room-"),
    (dir) => ({ _tag: "File", path: Path.join(dir, "history.jsonl") })
  )
  const redisStore: Effect.Effect<RoomHistory.Store, never, Scope.Scope> = Effect.map(
    testRedis,
    (redis) => ({ _tag: "Redis", url: redis.url, prefix: uniquePrefix() })
  )
  const stores: ReadonlyArray<[string, Effect.Effect<RoomHistory.Store, never, Scope.Scope>, boolean]> = [
    ["a file", fileStore, true],
    ["Redis", redisStore, redisAvailable]
  ]

  it.scopedLive.each(stores.filter(([, , available]) => available))(
    "after a server restart with a history in %s, nothing is lost and ids go on",
    ([, makeStore]) =>
      Effect.gen(function*() {
        const store = yield* makeStore
        // The first server lives in a scope of its own, closed halfway; the browser lives as long as the test.
        const first = yield* Scope.make()
        const a = yield* Scope.extend(startRoom({ store }), first)
        const page = yield* openRoom(a.url)
        const user = yield* Effect.promise(() => page.textContent("#me"))
        yield* send(page, "before the restart 1")
        yield* send(page, "before the restart 2")
        yield* waitForChats(page, 2)

        // The server stops: the page says so, and a message it tries to send is refused in words, not lost.
        yield* Scope.close(first, Exit.void)
        yield* waitFor(page, "reconnecting", () => document.getElementById("state")?.textContent === "reconnecting")
        yield* send(page, "sent while the server is down")
        yield* Effect.promise(() => page.waitForSelector("#error >> text=the server cannot be reached"))
        expect(yield* Effect.promise(() => page.inputValue("#text"))).toBe("sent while the server is down")

        // A new server on the same port and file; the page's reconnection waits while someone posts.
        const gate = yield* Effect.makeLatch(false)
        const b = yield* startRoom({ store, port: Number(new URL(a.url).port), gate })
        yield* b.say("carol", "after the restart 1")
        yield* b.say("carol", "after the restart 2")
        yield* gate.open
        yield* waitForChats(page, 4)
        yield* Effect.promise(() => page.click("#compose button")) // the refused message, sent again
        yield* waitForChats(page, 5)

        const received = yield* expectExactlyOnce(page, [
          "before the restart 1",
          "before the restart 2",
          "after the restart 1",
          "after the restart 2",
          "sent while the server is down"
        ])
        expect(received.map((chat) => chat.replayed)).toEqual([false, false, true, true, false])
        expect(b.connects[0]).toMatchObject({ user, resume: { _tag: "Replayed" } })
        expect(yield* Effect.promise(() => page.textContent("#me"))).toBe(user)
        expect(yield* Effect.promise(() => page.textContent("#error"))).toBe("")
        expect(yield* welcomes(page)).toBe(1)
      }),
    60_000
  )

  const gapStores: ReadonlyArray<[string, Effect.Effect<RoomHistory.Store, never, Scope.Scope>, boolean]> = [
    ["memory", Effect.succeed({ _tag: "Memory" }), true],
    ...stores
  ]

  it.scopedLive.each(gapStores.filter(([, , available]) => available))(
    "when the history (in %s) no longer has what a page missed, the page shows the gap",
    ([, makeStore]) =>
      Effect.gen(function*() {
        const gate = yield* Effect.makeLatch(true)
        const { connects, say, url } = yield* startRoom({ store: yield* makeStore, maxEntries: 4, gate })
        const page = yield* openRoom(url)
        yield* say("alice", "seen")
        yield* waitForChats(page, 1)
        yield* gate.close
        yield* Effect.promise(() => page.click("#drop"))
        yield* waitFor(page, "reconnecting", () => document.getElementById("state")?.textContent === "reconnecting")
        // Each post is a chat and a notice to its sender: ten entries, where the history keeps four.
        for (let i = 1; i <= 5; i++) yield* say("alice", `missed ${i}`)
        yield* gate.open
        yield* Effect.promise(() =>
          page.waitForSelector("#banner.gap >> text=could not be recovered (Expired)", { timeout: 20_000 })
        )
        expect(connects[1]!.resume).toMatchObject({ _tag: "Gap", reason: "Expired" })
        yield* say("alice", "after the gap")
        yield* waitForChats(page, 2)
        expect((yield* chats(page)).map((chat) => chat.text)).toEqual(["seen", "after the gap"])
      }),
    60_000
  )
})
