/**
 * The demo room in a real browser: headless Chromium (Debian's package) driven by playwright-core, with the
 * page's native EventSource reading our SseServer.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric, Option } from "effect"
import { SseServer } from "effect-sse"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Room from "../examples/room/app.js"
import { hasBrowser, launch } from "./utils/browser.js"
import { eventually, listen, serve } from "./utils/http.js"
import { makeServer } from "./utils/sse.js"

/** The room on 127.0.0.1, port 0, with short timings; records every connection's Last-Event-ID. */
const startRoom = Effect.gen(function*() {
  const connects: Array<{ readonly user: string; readonly lastEventId: string }> = []
  const { server, url } = yield* listen
  const sse = yield* makeServer<string>({
    name: "room",
    retry: "200 millis",
    keepAlive: "100 millis",
    connectionsPerId: "multiple"
  })
  const router = Room.router({ onConnect: (user, lastEventId) => connects.push({ user, lastEventId }) })
  yield* serve(server, router).pipe(Effect.provideService(Room.Room, sse))
  return { sse, url, connects }
})

const post = (url: string, body: unknown) =>
  Effect.promise(() =>
    fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
  )

const framesSent = Metric.value(SseServer.metrics.framesSent.pipe(Metric.tagged("sse_server", "room")))

// Skipped only outside CI when Debian's chromium is not installed (see utils/browser.ts).
describe.skipIf(!hasBrowser)("browser: the demo room in headless Chromium", () => {
  it.scopedLive(
    "receives default and named events, stays open on heartbeats, reconnects with Last-Event-ID",
    () =>
      Effect.gen(function*() {
        const { connects, sse, url } = yield* startRoom
        const browser = yield* launch
        const page = yield* Effect.promise(() => browser.newPage())
        yield* Effect.promise(() => page.goto(url))
        yield* Effect.promise(() =>
          page.waitForFunction(() => document.getElementById("state")?.textContent === "open")
        )
        const user = yield* Effect.promise(() =>
          page.evaluate(() => (window as unknown as { room: { user: string } }).room.user)
        )
        expect(connects).toEqual([{ user, lastEventId: "" }])

        // The default (unnamed) event: the welcome line, through onmessage.
        yield* Effect.promise(() => page.waitForSelector(`text=welcome, ${user}`))
        // Named events through addEventListener: presence, chat, and a notice written for this user alone.
        yield* Effect.promise(() => page.waitForSelector(`#users >> text=${user} (you)`))
        yield* post(`${url}/messages`, { from: "test-bot", text: "hello from the test" })
        yield* Effect.promise(() => page.fill("#text", "hello from the page"))
        yield* Effect.promise(() => page.press("#text", "Enter"))
        yield* Effect.promise(() => page.waitForSelector("#messages >> text=hello from the page"))
        yield* Effect.promise(() => page.waitForSelector("#messages >> text=hello from the test"))
        yield* Effect.promise(() => page.waitForSelector("#notices >> text=new message from test-bot"))
        yield* Effect.promise(() => page.waitForSelector("#notices >> text=delivered to 0 other connections"))
        const lastId = yield* Effect.promise(() => page.textContent("#last-id"))

        // Heartbeats every 100 ms keep the stream alive through a second of silence: no reconnect, still open.
        const before = (yield* framesSent).count
        yield* Effect.sleep("1 second")
        expect((yield* framesSent).count - before).toBeGreaterThanOrEqual(3)
        const opens = () => page.evaluate(() => (window as unknown as { room: { opens: () => number } }).room.opens())
        expect(yield* Effect.promise(opens)).toBe(1)
        expect(yield* Effect.promise(() => page.textContent("#state"))).toBe("open")

        // The server ends the response: the browser reconnects on its own and sends the last id it saw.
        yield* Effect.promise(() => page.click("#drop"))
        yield* eventually("the browser to reconnect", Effect.sync(() => connects.length === 2))
        expect(connects[1]).toEqual({ user, lastEventId: lastId })
        yield* Effect.promise(() =>
          page.waitForFunction(() => document.getElementById("reconnects")?.textContent === "1")
        )
        const source = Option.getOrThrow(yield* sse.get(user))
        expect(yield* source.isConnected).toBe(true)

        // The screenshot shows the received messages.
        const file = Path.join(Os.tmpdir(), `effect-sse-room-${process.pid}.png`)
        yield* Effect.promise(() => page.screenshot({ path: file, fullPage: true }))
        const png = Fs.readFileSync(file)
        expect(png.subarray(1, 4).toString("latin1")).toBe("PNG")
        expect(png.length).toBeGreaterThan(10_000)
        const visible = yield* Effect.promise(() => page.locator("#messages").innerText())
        expect(visible).toContain("hello from the page")
        expect(visible).toContain("hello from the test")
        console.log(`browser test screenshot: ${file}`)
      }),
    60_000
  )
})
