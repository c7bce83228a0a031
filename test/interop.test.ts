/**
 * Interop with clients and servers other people wrote: the npm `eventsource` package reading our SseServer, and
 * our SseClient reading a better-sse server.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { createSession } from "better-sse"
import { Chunk, Effect, Option, Schema, Stream } from "effect"
import { Message, SseClient, SseEvent } from "effect-sse"
import { EventSource } from "eventsource"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { eventually } from "./utils/http.js"
import { eventsRoute, startServer } from "./utils/sse.js"

interface Seen {
  readonly type: string
  readonly data: string
  readonly lastEventId: string
}

/** An npm `eventsource` client for the scope, recording default and `chat` events and every open. */
const openEventSource = (url: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const source = new EventSource(url)
      const seen: Array<Seen> = []
      const record = (event: MessageEvent) =>
        seen.push({ type: event.type, data: String(event.data), lastEventId: event.lastEventId })
      let opens = 0
      source.onopen = () => opens++
      source.onmessage = record
      source.addEventListener("chat", record)
      return { source, seen, opens: () => opens }
    }),
    ({ source }) => Effect.sync(() => source.close())
  )

describe("interop: the npm eventsource package as a client of SseServer", () => {
  it.scopedLive("receives default and named events with their lastEventId", () =>
    Effect.gen(function*() {
      const Chat = SseEvent.make("chat", Schema.Struct({ text: Schema.String }))
      const { sse, url } = yield* startServer<string, never, never>({ retry: "100 millis" }, eventsRoute)
      const client = yield* openEventSource(`${url}/events/es`)
      yield* eventually("the connection", Effect.map(sse.size, (n) => n === 1))
      yield* sse.send("es", Message.make({ data: "line 1\nline 2", id: "a1" }))
      yield* sse.event(Chat).send({ text: "hi" }, { id: "a2" })
      yield* eventually("two events", Effect.sync(() => client.seen.length === 2))
      expect(client.seen).toEqual([
        { type: "message", data: "line 1\nline 2", lastEventId: "a1" },
        { type: "chat", data: "{\"text\":\"hi\"}", lastEventId: "a2" }
      ])
    }))

  it.scopedLive("reconnects after the server closes the source, sending Last-Event-ID", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer<string, never, never>({ retry: "50 millis" }, eventsRoute)
      const client = yield* openEventSource(`${url}/events/es`)
      yield* eventually("the connection", Effect.map(sse.size, (n) => n === 1))
      yield* sse.send("es", Message.make({ data: "before", id: "41" }))
      yield* eventually("the first event", Effect.sync(() => client.seen.length === 1))
      const first = Option.getOrThrow(yield* sse.get("es"))
      yield* first.close
      yield* eventually("the reconnection", Effect.sync(() => client.opens() === 2))
      const second = Option.getOrThrow(yield* sse.get("es"))
      expect(second).not.toBe(first)
      expect(yield* second.lastEventId).toBe("41")
      yield* sse.send("es", Message.make({ data: "after", id: "42" }))
      yield* eventually("the second event", Effect.sync(() => client.seen.length === 2))
      expect(client.seen.map((e) => e.data)).toEqual(["before", "after"])
    }))
})

describe("interop: SseClient reading a better-sse server", () => {
  /** A better-sse server: each connection gets `retry`, a default event, a named one, then ends. */
  const betterSseServer = Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly server: Http.Server; readonly lastIds: Array<string> }>(
      (resume) => {
        const lastIds: Array<string> = []
        let connection = 0
        const server = Http.createServer(async (req, res) => {
          const session = await createSession(req, res, { retry: 20, keepAlive: null })
          lastIds.push(session.lastId)
          const n = ++connection
          session.push(`hello ${n}`, "message", `${n}-1`)
          session.push({ n }, "count", `${n}-2`)
          setTimeout(() => res.end(), 10)
        })
        server.listen(0, "127.0.0.1", () =>
          resume(Effect.succeed({
            url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
            server,
            lastIds
          })))
      }
    ),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

  it.scopedLive("receives default and named events, follows retry: and resumes with Last-Event-ID", () =>
    Effect.gen(function*() {
      const { lastIds, url } = yield* betterSseServer
      const messages = yield* SseClient.get(url).pipe(
        Stream.take(4),
        Stream.runCollect,
        Effect.provide(NodeHttpClient.layer)
      )
      expect(Chunk.toReadonlyArray(messages).map((m) => [m.event, m.data, m.lastEventId])).toEqual([
        ["message", "\"hello 1\"", "1-1"],
        ["count", "{\"n\":1}", "1-2"],
        ["message", "\"hello 2\"", "2-1"],
        ["count", "{\"n\":2}", "2-2"]
      ])
      expect(lastIds.slice(0, 2)).toEqual(["", "1-2"])
    }))
})
