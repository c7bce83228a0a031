/**
 * The live room: every open tab is a user with an id of its own, sees who is connected, posts messages
 * (broadcast as a typed event), and gets notifications written for it alone (a server-wide event whose payload
 * depends on the receiving id, as in the Go seed). The page uses the browser's native EventSource.
 *
 * `main.ts` runs it; the interop tests serve the same router on a port of their own.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Context, type Duration, Effect, Layer, Schema } from "effect"
import { Message, SseEvent, SseServer } from "effect-sse"
import * as SseServerNode from "effect-sse/SseServer/Node"
import { page } from "./page.js"

export class Room extends Context.Tag("room/Events")<Room, SseServer.SseServer<string>>() {}

export const Chat = SseEvent.make("chat", Schema.Struct({ from: Schema.String, text: Schema.String }))
export const Presence = SseEvent.make("presence", Schema.Struct({ users: Schema.Array(Schema.String) }))
export const Notice = SseEvent.make("notice", Schema.Struct({ text: Schema.String }))

export interface RoomOptions {
  readonly retry?: Duration.DurationInput | undefined
  readonly keepAlive?: Duration.DurationInput | undefined
  /** Told of every connection with its `Last-Event-ID` (empty on a first connection). */
  readonly onConnect?: ((user: string, lastEventId: string) => void) | undefined
}

export const layer = (options: RoomOptions = {}): Layer.Layer<Room> =>
  SseServer.layer(Room, {
    name: "room",
    retry: options.retry ?? "2 seconds",
    keepAlive: options.keepAlive ?? "15 seconds",
    // Two tabs of one browser share nothing, but a user id may be reused by a reloaded tab: keep both.
    connectionsPerId: "multiple"
  }).pipe(
    // On Node, a browser's stream outlives its handler: no fiber, request scope or span held per connection.
    Layer.provide(SseServerNode.layer)
  )

const PostMessage = Schema.Struct({ from: Schema.String, text: Schema.String.pipe(Schema.maxLength(500)) })

// Chat messages carry increasing ids, so a reconnecting browser says where it stopped.
let nextId = 1

const presenceOf = (sse: SseServer.SseServer<string>) =>
  Effect.gen(function*() {
    const sources = yield* sse.sources
    const users = Array.from(new Set(sources.map((source) => source.id))).sort()
    yield* Effect.ignore(sse.event(Presence).send({ users }))
  })

const events = (options: RoomOptions) =>
  Effect.gen(function*() {
    const sse = yield* Room
    const request = yield* HttpServerRequest.HttpServerRequest
    const url = new URL(request.url, "http://localhost")
    const user = url.searchParams.get("user") ?? "anonymous"
    options.onConnect?.(user, request.headers["last-event-id"] ?? "")
    const presence = presenceOf(sse)
    return yield* sse.connect(user, {
      // The welcome goes out before any live frame; then everyone learns who is here.
      onOpen: (source) =>
        Effect.zipRight(Effect.ignore(source.send(Message.make({ data: `welcome, ${user}` }))), presence),
      // Runs once the source has left the registry: the others see who left.
      onClose: () => presence
    })
  })

const post = Effect.gen(function*() {
  const sse = yield* Room
  const message = yield* HttpServerRequest.schemaBodyJson(PostMessage)
  const id = String(nextId++)
  yield* sse.event(Chat).send(message, { id })
  const listeners = (yield* sse.size) - 1
  yield* sse.event(Notice).sendEachLocal((user) => ({
    text: user === message.from
      ? `delivered to ${listeners} other connection${listeners === 1 ? "" : "s"}`
      : `new message from ${message.from}`
  }))
  return HttpServerResponse.empty({ status: 204 })
}).pipe(Effect.catchTag("ParseError", () => HttpServerResponse.text("bad message", { status: 400 })))

// Ends a user's connections: the page's "drop connection" button, to watch EventSource reconnect.
const drop = Effect.gen(function*() {
  const sse = yield* Room
  const url = new URL((yield* HttpServerRequest.HttpServerRequest).url, "http://localhost")
  for (const source of yield* sse.getAll(url.searchParams.get("user") ?? "")) yield* source.close
  return HttpServerResponse.empty({ status: 204 })
})

export const router = (options: RoomOptions = {}) =>
  HttpRouter.empty.pipe(
    HttpRouter.get("/", HttpServerResponse.html(page)),
    HttpRouter.get("/events", events(options)),
    HttpRouter.post("/messages", Effect.orDie(post)),
    HttpRouter.post("/drop", drop)
  )
