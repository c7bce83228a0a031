/**
 * Typed SSE in an `HttpApi`: two ordinary endpoints and one event stream, declared once; the server built with
 * `HttpApiBuilder`, the OpenAPI document (3.2, with the events' `itemSchema`) rendered by Scalar at `/docs`, and a
 * typed client derived from the same declaration that posts to a room and reads its events.
 *
 * Run: npm run example:api            (the demo, then it keeps serving: open http://127.0.0.1:3000/docs)
 *      npm run example:api -- --once  (the demo, then it exits)
 */
import {
  HttpApi,
  HttpApiBuilder,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiScalar,
  HttpApiSchema,
  HttpServer,
  OpenApi
} from "@effect/platform"
import { NodeHttpClient, NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Chunk, Console, Context, Deferred, Effect, Fiber, Layer, Schema, Stream } from "effect"
import { HttpApiSse, SseEvent, SseServer } from "effect-sse"
import { createServer } from "node:http"
import { pathToFileURL } from "node:url"

// ---- The declaration: shared by the server, the OpenAPI document and the client -----------------------------

const ChatMessage = Schema.Struct({ from: Schema.String, text: Schema.String }).annotations({
  identifier: "ChatMessage"
})

/** The room's events: chat messages and people joining. */
export const RoomEvents = HttpApiSse.events({
  Chat: SseEvent.make("chat", ChatMessage),
  Joined: SseEvent.make("joined", Schema.Struct({ user: Schema.String }))
}, { description: "What happens in a room" })

const RoomPath = Schema.Struct({ room: Schema.String })

export class Chat extends HttpApiGroup.make("chat")
  .add(
    HttpApiEndpoint.get("health", "/health").addSuccess(Schema.Struct({ status: Schema.Literal("ok") }))
  )
  .add(
    HttpApiEndpoint.post("post", "/rooms/:room/messages")
      .setPath(RoomPath)
      .setPayload(ChatMessage)
      .addSuccess(HttpApiSchema.NoContent)
  )
  .add(
    HttpApiSse.get("events", "/rooms/:room/events", RoomEvents)
      .setPath(RoomPath)
      .setUrlParams(Schema.Struct({ user: Schema.String }))
      .annotate(OpenApi.Summary, "The room's events, as Server-Sent Events")
  )
{}

/** The API, described as OpenAPI 3.2 (the events' schema in the standard `itemSchema`). */
export const Api = HttpApi.make("chat-api")
  .add(Chat)
  .annotateContext(OpenApi.annotations({ title: "Chat", version: "1.0.0", transform: HttpApiSse.toOpenApi32 }))

// ---- The server --------------------------------------------------------------------------------------------

/** One SSE server; its ids are rooms, and everyone in a room listens to it. */
class Rooms extends Context.Tag("example/Rooms")<Rooms, SseServer.SseServer<string>>() {}

/** Sends a typed event to everyone in a room (an undeliverable chat line is not the poster's error here). */
const sendToRoom = <A, I>(room: string, event: SseEvent.SseEvent<A, I>, payload: A) =>
  Effect.gen(function*() {
    const rooms = yield* Rooms
    const message = yield* event.encode(payload)
    yield* rooms.send(room, message)
  }).pipe(Effect.ignore)

const ChatLive = HttpApiBuilder.group(Api, "chat", (handlers) =>
  handlers
    .handle("health", () => Effect.succeed({ status: "ok" as const }))
    .handle("post", ({ path, payload }) => sendToRoom(path.room, RoomEvents.events.Chat, payload))
    .handle("events", ({ path, urlParams }) =>
      SseServer.connect(Rooms, path.room, {
        // Once the newcomer is registered, tell the whole room (the newcomer included) who joined.
        onOpen: () => sendToRoom(path.room, RoomEvents.events.Joined, { user: urlParams.user })
      })))

/** The server on `port` (0: any free port), with the docs page at `/docs`. */
export const ServerLive = (port: number) =>
  HttpApiBuilder.serve().pipe(
    Layer.provide(HttpApiScalar.layer({ path: "/docs" })),
    Layer.provide(HttpApiBuilder.middlewareCors()),
    Layer.provide(HttpApiBuilder.api(Api).pipe(Layer.provide(ChatLive))),
    Layer.provideMerge(SseServer.layer(Rooms, { keepAlive: "15 seconds", connectionsPerId: "multiple" })),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
  )

// ---- The typed client --------------------------------------------------------------------------------------

/** Ada listens to the lobby; once she is in, Bob posts to it. Every call is typed from the declaration. */
export const demo = (baseUrl: string) =>
  Effect.gen(function*() {
    const client = yield* HttpApiSse.client(Api, { baseUrl })
    yield* Console.log("health:", yield* client.chat.health())
    const joined = yield* Deferred.make<void>()
    const listening = yield* client.chat.events({ path: { room: "lobby" }, urlParams: { user: "ada" } }).pipe(
      Stream.tap((event) =>
        event._tag === "Chat"
          ? Console.log(`[lobby] ${event.data.from}: ${event.data.text}`)
          : Effect.zipRight(Console.log(`[lobby] ${event.data.user} joined`), Deferred.succeed(joined, void 0))
      ),
      Stream.take(3),
      Stream.runCollect,
      Effect.fork
    )
    yield* Deferred.await(joined)
    for (const text of ["hello", "anyone here?"]) {
      yield* client.chat.post({ path: { room: "lobby" }, payload: { from: "bob", text } })
    }
    return Chunk.toReadonlyArray(yield* Fiber.join(listening))
  })

const main = Effect.gen(function*() {
  const url = yield* HttpServer.addressFormattedWith((address) => Effect.succeed(address))
  yield* demo(url)
  if (process.argv.includes("--once")) return
  yield* Console.log(`Serving: the API docs (Scalar) at ${url}/docs; Ctrl-C to stop`)
  return yield* Effect.never
})

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main.pipe(
    Effect.provide(Layer.merge(ServerLive(Number(process.env.PORT ?? 3000)), NodeHttpClient.layer)),
    NodeRuntime.runMain
  )
}
