import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import type { SseServer } from "effect-sse"
import { Message, SseEvent } from "effect-sse"
import { connect, eventually } from "./utils/http.js"
import { eventsRoute, makeServer, startServer } from "./utils/sse.js"

const Event = SseEvent.make("event", Schema.Unknown)
const ServerWide = SseEvent.make("se", Schema.Struct({ ID: Schema.Number, LastID: Schema.String }))

// The Go seed's handler: connect source `id`, then a two-line message with id 1 and two typed events.
const seedRoutes = (sse: SseServer.SseServer<number>) =>
  HttpRouter.empty.pipe(
    HttpRouter.get(
      "/event/:id",
      Effect.gen(function*() {
        const id = Number((yield* HttpRouter.params).id)
        const response = yield* sse.connect(id)
        const source = Option.getOrThrow(yield* sse.get(id))
        yield* source.send(Message.make({ data: `connect\n${id}`, id: "1" }))
        yield* source.event(Event).send(1)
        yield* source.event(Event).send({ ID: 5 })
        return response
      }).pipe(Effect.orDie)
    )
  )

const seedBody = (id: number) =>
  `data:connect\ndata:${id}\nid:1\n\ndata:1\nevent:event\n\ndata:{"ID":5}\nevent:event\n\n`

describe("SseServer: the Go seed's scenarios", () => {
  it.scoped("one source receives a two-line message with id 1 and two typed events, byte for byte, retry once first", () =>
    Effect.gen(function*() {
      const { url } = yield* startServer({ retry: "50 millis" }, seedRoutes)
      const client = yield* connect(`${url}/event/5`)
      const expected = `retry:50\n\n${seedBody(5)}`
      yield* client.waitFor("the seed's body", () => client.text().length >= expected.length)
      expect(client.text()).toBe(expected)
    }))

  it.scoped("two sources each receive theirs, then a server-wide event built from each id and last event id", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({ retry: "50 millis" }, seedRoutes)
      const five = yield* connect(`${url}/event/5`)
      const six = yield* connect(`${url}/event/6`)
      yield* five.waitFor("3 messages", () => five.messages().length === 3)
      yield* six.waitFor("3 messages", () => six.messages().length === 3)
      expect(yield* sse.size).toBe(2)
      yield* sse.event(ServerWide).sendEachLocal((id, lastEventId) => ({ ID: id, LastID: lastEventId }))
      yield* five.waitFor("the server-wide event", () => five.messages().length === 4)
      yield* six.waitFor("the server-wide event", () => six.messages().length === 4)
      expect(five.text()).toBe(`retry:50\n\n${seedBody(5)}data:{"ID":5,"LastID":""}\nevent:se\n\n`)
      expect(six.text()).toBe(`retry:50\n\n${seedBody(6)}data:{"ID":6,"LastID":""}\nevent:se\n\n`)
    }))

  it("a server event's send takes one payload: a payload per id is sendEachLocal, local by its name", () => {
    const perId = (sse: SseServer.SseServer<number>) =>
      // @ts-expect-error a function is not a payload: per-id payloads go through sendEachLocal
      sse.event(ServerWide).send((id: number) => ({ ID: id, LastID: "" }))
    expect(perId).toBeTypeOf("function")
  })
})

describe("SseServer: responses", () => {
  it.scoped("answers 200 with the event-stream headers, and no Content-Length", () =>
    Effect.gen(function*() {
      const { url } = yield* startServer({}, eventsRoute)
      const client = yield* connect(`${url}/events/a`)
      expect(client.status).toBe(200)
      expect(client.headers["content-type"]).toBe("text/event-stream; charset=utf-8")
      expect(client.headers["cache-control"]).toBe("no-cache, no-transform")
      expect(client.headers["x-accel-buffering"]).toBe("no")
      expect(client.headers["connection"]).toBe("keep-alive")
      expect(client.headers["content-length"]).toBeUndefined()
    }))

  it.scoped("without a retry option a comment opens the stream at once, and no retry is ever written", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({}, eventsRoute)
      const client = yield* connect(`${url}/events/a`)
      yield* client.waitFor("the opening comment", () => client.text().length > 0)
      expect(client.text()).toBe(":\n")
      yield* sse.broadcast(Message.make({ data: "x" }))
      yield* client.waitFor("a message", () => client.messages().length === 1)
      expect(client.text()).toBe(":\ndata:x\n\n")
      expect(client.retries()).toEqual([])
    }))

  it.scoped("retry is written once, first, and not repeated in messages", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({ retry: "2 seconds" }, eventsRoute)
      const client = yield* connect(`${url}/events/a`)
      yield* client.waitFor("the retry line", () => client.text().length > 0)
      yield* sse.broadcast(Message.make({ data: "1" }))
      yield* sse.broadcast(Message.make({ data: "2" }))
      yield* client.waitFor("two messages", () => client.messages().length === 2)
      expect(client.text()).toBe("retry:2000\n\ndata:1\n\ndata:2\n\n")
    }))

  it.scoped("each frame reaches the socket as soon as it is sent", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({}, eventsRoute)
      const client = yield* connect(`${url}/events/a`)
      for (let i = 0; i < 5; i++) {
        yield* sse.send("a", Message.make({ data: String(i) }))
        yield* client.waitFor(`message ${i}`, () => client.messages().length === i + 1)
      }
    }))
})

describe("SseServer: sources", () => {
  it.scoped("get, size and sources find connected sources; unknown ids are None", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({}, eventsRoute)
      const a = yield* connect(`${url}/events/a`)
      yield* connect(`${url}/events/b`)
      yield* eventually("two sources", Effect.map(sse.size, (n) => n === 2))
      expect((yield* sse.sources).map((source) => source.id).sort()).toEqual(["a", "b"])
      assert.isTrue(Option.isSome(yield* sse.get("a")))
      assert.isTrue(Option.isNone(yield* sse.get("zzz")))
      yield* a.destroy
      yield* eventually("a to leave", Effect.map(sse.get("a"), Option.isNone))
      expect(yield* sse.size).toBe(1)
    }))

  it.scoped("a second connection under a connected id replaces the first, which ends cleanly", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({}, eventsRoute)
      const first = yield* connect(`${url}/events/a`)
      yield* first.waitFor("the stream to open", () => first.text().length > 0)
      const second = yield* connect(`${url}/events/a`)
      yield* first.waitFor("the first response to end", () => first.ended())
      expect(yield* sse.size).toBe(1)
      yield* sse.send("a", Message.make({ data: "to the newest" }))
      yield* second.waitFor("the message", () => second.messages().length === 1)
      expect(first.messages()).toEqual([])
    }))

  it.scoped("with connectionsPerId multiple, every connection of an id receives a send to it", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({ connectionsPerId: "multiple" }, eventsRoute)
      const tab1 = yield* connect(`${url}/events/u`)
      const tab2 = yield* connect(`${url}/events/u`)
      const other = yield* connect(`${url}/events/v`)
      yield* eventually("three connections", Effect.map(sse.size, (n) => n === 3))
      expect((yield* sse.getAll("u")).length).toBe(2)
      expect(yield* sse.send("u", Message.make({ data: "both tabs" }))).toBe(true)
      yield* sse.send("v", Message.make({ data: "other" }))
      yield* tab1.waitFor("the message", () => tab1.messages().length === 1)
      yield* tab2.waitFor("the message", () => tab2.messages().length === 1)
      yield* other.waitFor("its own message", () => other.messages().length === 1)
      expect(other.messages()[0]?.data).toBe("other")
      expect(yield* sse.send("nobody", Message.make({ data: "x" }))).toBe(false)
    }))

  it.scoped("lastEventId is the request's Last-Event-ID until the first message is delivered", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({}, eventsRoute)
      const client = yield* connect(`${url}/events/a`, { headers: { "last-event-id": "41" } })
      yield* client.waitFor("the stream to open", () => client.text().length > 0)
      const source = Option.getOrThrow(yield* sse.get("a"))
      expect(yield* source.lastEventId).toBe("41")
      yield* source.send(Message.make({ data: "x", id: "42" }))
      yield* client.waitFor("the message", () => client.messages().length === 1)
      yield* eventually("lastEventId to clear", Effect.map(source.lastEventId, (id) => id === ""))
    }))

  it.scoped("a source's typed event sends its JSON payload; a bad payload is a typed error and writes nothing", () =>
    Effect.gen(function*() {
      const Count = SseEvent.make("count", Schema.Number.pipe(Schema.int()))
      const { sse, url } = yield* startServer({}, eventsRoute)
      const client = yield* connect(`${url}/events/a`)
      yield* eventually("the source", Effect.map(sse.size, (n) => n === 1))
      const source = Option.getOrThrow(yield* sse.get("a"))
      const error = yield* Effect.flip(source.event(Count).send(1.5))
      expect(error.reason).toBe("Encode")
      yield* source.event(Count).send(7, { id: "c7" })
      yield* client.waitFor("the event", () => client.messages().length === 1)
      expect(client.messages()[0]).toMatchObject({ event: "count", data: "7", id: "c7" })
    }))

  it.scoped("an injected event name or id is refused with a typed error and nothing reaches the stream", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({}, eventsRoute)
      const client = yield* connect(`${url}/events/a`)
      yield* eventually("the source", Effect.map(sse.size, (n) => n === 1))
      const bad = Message.make({ data: "x", event: "a\ndata: injected" })
      expect((yield* Effect.flip(sse.broadcast(bad))).reason).toBe("Encode")
      expect((yield* Effect.flip(sse.send("a", bad))).reason).toBe("Encode")
      yield* sse.broadcast(Message.make({ data: "fine" }))
      yield* client.waitFor("the good message", () => client.messages().length === 1)
      expect(client.messages().map((m) => m.data)).toEqual(["fine"])
    }))

  it.scoped("close ends the response after what was queued; sends to a closed source fail with Closed", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({}, eventsRoute)
      const client = yield* connect(`${url}/events/a`)
      yield* eventually("the source", Effect.map(sse.size, (n) => n === 1))
      const source = Option.getOrThrow(yield* sse.get("a"))
      yield* source.send(Message.make({ data: "last words" }))
      yield* source.close
      yield* client.waitFor("the response to end", () => client.ended())
      expect(client.messages().map((m) => m.data)).toEqual(["last words"])
      expect((yield* Effect.flip(source.send(Message.make({ data: "late" })))).reason).toBe("Closed")
      yield* eventually("the registry to empty", Effect.map(sse.size, (n) => n === 0))
    }))

  it.scoped("a server-wide event given a value encodes it once for every connection", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({}, eventsRoute)
      const a = yield* connect(`${url}/events/a`)
      const b = yield* connect(`${url}/events/b`)
      yield* eventually("two sources", Effect.map(sse.size, (n) => n === 2))
      yield* sse.event(Event).send({ same: "for all" }, { id: "9" })
      for (const client of [a, b]) {
        yield* client.waitFor("the event", () => client.messages().length === 1)
        expect(client.messages()[0]).toMatchObject({ event: "event", data: "{\"same\":\"for all\"}", id: "9" })
      }
    }))
})

describe("SseServer: platforms other than Node", () => {
  it.scopedLive("served as a web handler, the response body is a Stream carrying the same frames", () =>
    Effect.gen(function*() {
      // On Node, frames go straight into Node's response; elsewhere (Bun, Deno, workers) the platform gets the
      // same frames as an Effect Stream. A web handler exercises that path with real web streams.
      const sse = yield* makeServer<string>({ retry: "2 seconds" })
      const handler = HttpApp.toWebHandler(sse.connect("web"))
      const response = yield* Effect.promise(() => handler(new Request("http://127.0.0.1/events")))
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8")
      const reader = response.body!.getReader()
      const decoder = new TextDecoder()
      let text = ""
      const readUntil = (expected: string) =>
        Effect.promise(async () => {
          for (let i = 0; i < 100 && !text.includes(expected); i++) {
            const { done, value } = await reader.read()
            if (done) break
            text += decoder.decode(value, { stream: true })
          }
        })
      yield* readUntil("retry:2000\n\n")
      yield* eventually("the source", Effect.map(sse.size, (n) => n === 1))
      yield* sse.broadcast(Message.make({ data: "a\nb", id: "7" }))
      yield* readUntil("data:a\ndata:b\nid:7\n\n")
      expect(text).toBe("retry:2000\n\ndata:a\ndata:b\nid:7\n\n")
      const source = Option.getOrThrow(yield* sse.get("web"))
      yield* source.close
      const end = yield* Effect.promise(() => reader.read())
      expect(end.done).toBe(true)
      yield* eventually("the registry to empty", Effect.map(sse.size, (n) => n === 0))
    }))
})
