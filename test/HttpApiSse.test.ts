import {
  HttpApi,
  HttpApiBuilder,
  HttpApiEndpoint,
  HttpApiError,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiScalar,
  HttpApiSchema,
  HttpApiSecurity,
  HttpApiSwagger,
  HttpClient,
  HttpClientRequest,
  HttpServer,
  type HttpServerResponse,
  OpenApi
} from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, expect, it } from "@effect/vitest"
import { Validator } from "@seriousme/openapi-schema-validator"
import {
  Cause,
  Chunk,
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Layer,
  Option,
  Queue,
  Redacted,
  Schema,
  Stream,
  TestClock
} from "effect"
import { Encoder, History, HttpApiSse, Message, SseClient, SseEvent, SseServer } from "effect-sse"
import * as SseServerNode from "effect-sse/SseServer/Node"
import * as Http from "node:http"
import * as Example from "../examples/api.js"
import { connect, eventually } from "./utils/http.js"

// ---------------------------------------------------------------------------------------------------------------
// The declaration
// ---------------------------------------------------------------------------------------------------------------

class RoomClosed extends Schema.TaggedError<RoomClosed>()("RoomClosed", { room: Schema.String }) {}

class RoomNotFound extends Schema.TaggedError<RoomNotFound>()("RoomNotFound", { room: Schema.String }, {
  [HttpApiSchema.AnnotationStatus]: 404
}) {}

const Chat = SseEvent.make("chat", Schema.Struct({ from: Schema.String, text: Schema.String }))
const Joined = SseEvent.make("joined", Schema.Struct({ user: Schema.String }))
const RoomEvents = HttpApiSse.events({ Chat, Joined, ReplayGap: SseEvent.ReplayGap }, { failure: RoomClosed })

const Completion = HttpApiSse.events({ Token: SseEvent.make("token", Schema.String) })

class CurrentUser extends Context.Tag("test/CurrentUser")<CurrentUser, string>() {}

class Authorization extends HttpApiMiddleware.Tag<Authorization>()("test/Authorization", {
  failure: HttpApiError.Unauthorized,
  provides: CurrentUser,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

class Rooms extends Context.Tag("test/Rooms")<Rooms, SseServer.SseServer<string>>() {}

const RoomPath = Schema.Struct({ room: Schema.String })

const Api = HttpApi.make("test").add(
  HttpApiGroup.make("rooms")
    .add(HttpApiEndpoint.get("list", "/rooms").addSuccess(Schema.Array(Schema.String)))
    .add(HttpApiSse.get("live", "/rooms/:room/live", RoomEvents).setPath(RoomPath))
    .add(
      HttpApiSse.get("replay", "/rooms/:room/replay", RoomEvents)
        .setPath(RoomPath)
        .setUrlParams(Schema.Struct({
          count: Schema.NumberFromString,
          fail: Schema.optional(Schema.Literal("closed", "defect")),
          idle: Schema.optional(Schema.Literal("yes"))
        }))
        .setHeaders(Schema.Struct({ "x-greeting": Schema.String }))
        .addError(RoomNotFound)
    )
    .middleware(Authorization)
).add(
  // A top-level group: its endpoints are methods of the client itself.
  HttpApiGroup.make("ai", { topLevel: true }).add(
    HttpApiSse.post("complete", "/complete", Completion).setPayload(Schema.Struct({ prompt: Schema.String }))
  )
)

// ---------------------------------------------------------------------------------------------------------------
// The server: a real listener on 127.0.0.1, port 0
// ---------------------------------------------------------------------------------------------------------------

interface Observed {
  /** Every bearer token the auth middleware was asked about, in order. */
  readonly authAttempts: Array<string>
  /** The `Last-Event-ID` of every request that reached a handler of an event stream, in order. */
  readonly lastEventIds: Array<string>
  /** How many one-off streams have ended, whatever ended them (their finalizers ran). */
  released: number
}

const serveApi = (
  options: { readonly holdSecondLive?: Deferred.Deferred<void>; readonly fastPath?: boolean } = {}
) =>
  Effect.gen(function*() {
    const observed: Observed = { authAttempts: [], lastEventIds: [], released: 0 }
    const AuthorizationLive = Layer.succeed(Authorization, {
      bearer: (token) => {
        observed.authAttempts.push(Redacted.value(token))
        return Redacted.value(token) === "secret"
          ? Effect.succeed("ada")
          : Effect.fail(new HttpApiError.Unauthorized())
      }
    })
    const RoomsLive = HttpApiBuilder.group(Api, "rooms", (handlers) =>
      handlers
        .handle("list", () => Effect.succeed(["lobby"]))
        .handle("live", ({ path }) =>
          Effect.gen(function*() {
            observed.lastEventIds.push(yield* HttpApiSse.lastEventId)
            if (observed.lastEventIds.length === 2 && options.holdSecondLive !== undefined) {
              yield* Deferred.await(options.holdSecondLive)
            }
            return yield* SseServer.connect(Rooms, path.room)
          }))
        .handle("replay", ({ headers, path, urlParams }) =>
          Effect.gen(function*() {
            const lastEventId = yield* HttpApiSse.lastEventId
            observed.lastEventIds.push(lastEventId)
            if (path.room === "missing") return yield* new RoomNotFound({ room: path.room })
            const user = yield* CurrentUser
            // Resumes after the last id the client saw: events are numbered 1..count.
            const from = lastEventId === "" ? 1 : Number(lastEventId) + 1
            const chats = Stream.range(from, urlParams.count).pipe(
              Stream.map((n): HttpApiSse.Emit<typeof RoomEvents.events> => ({
                _tag: "Chat",
                data: { from: user, text: `${headers["x-greeting"]} ${path.room} ${n}` },
                id: String(n)
              }))
            )
            const first = observed.lastEventIds.length === 1
            const ending: Stream.Stream<never, RoomClosed> = urlParams.fail === "closed"
              ? Stream.fail(new RoomClosed({ room: path.room }))
              : urlParams.fail === "defect" && first
              ? Stream.die("the upstream went away")
              : urlParams.idle === "yes"
              ? Stream.never
              : Stream.empty
            const joined = Stream.succeed({ _tag: "Joined" as const, data: { user } })
            return yield* HttpApiSse.stream(
              RoomEvents,
              Stream.concat(Stream.concat(first ? joined : Stream.empty, chats), ending).pipe(
                Stream.ensuring(Effect.sync(() => observed.released++))
              ),
              { retry: "20 millis", keepAlive: "50 millis" }
            )
          })))
    const AiLive = HttpApiBuilder.group(Api, "ai", (handlers) =>
      handlers.handle("complete", ({ payload }) =>
        HttpApiSse.stream(
          Completion,
          Stream.fromIterable(payload.prompt.split(" ")).pipe(
            Stream.map((word) => ({ _tag: "Token" as const, data: word }))
          )
        )))
    const ApiLive = HttpApiBuilder.api(Api).pipe(
      Layer.provide(RoomsLive),
      Layer.provide(AiLive),
      Layer.provide(AuthorizationLive)
    )
    // The rooms' server, with a history, on the portable Stream body or on the Node fast path.
    const RoomsServerLive = SseServer.layer(Rooms, { retry: "10 millis", history: { key: String } }).pipe(
      Layer.provide(History.layerMemory()),
      Layer.provide(options.fastPath === true ? SseServerNode.layer : Layer.empty)
    )
    const ServerLive = HttpApiBuilder.serve().pipe(
      Layer.provide(HttpApiBuilder.middlewareCors()),
      Layer.provide(HttpApiScalar.layer({ path: "/docs" })),
      Layer.provide(HttpApiSwagger.layer({ path: "/swagger" })),
      Layer.provide(ApiLive),
      Layer.provideMerge(RoomsServerLive),
      Layer.provideMerge(NodeHttpServer.layer(Http.createServer, { port: 0, host: "127.0.0.1" }))
    )
    const context = yield* Layer.build(ServerLive)
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") {
      return yield* Effect.dieMessage("expected a TCP address")
    }
    return { url: `http://127.0.0.1:${address.port}`, rooms: Context.get(context, Rooms), observed }
  })

/** The typed client of `Api`, with the token when given. */
const makeClient = (url: string, token?: string) =>
  HttpApiSse.client(Api, {
    baseUrl: url,
    transformClient: token === undefined ? undefined : HttpClient.mapRequest(HttpClientRequest.bearerToken(token))
  })

/** Quick reconnects for tests that are not about timing. */
const fast: SseClient.Options = { retry: "10 millis", reconnect: SseClient.defaultSchedule({ jitter: 0 }) }

const validate = async (document: unknown) => {
  const validator = new Validator()
  const result = await validator.validate(document as Record<string, unknown>)
  return { valid: result.valid, errors: JSON.stringify(result.errors ?? []), version: validator.version }
}

/** The content of an operation's 200 response, by media type. */
const responseContent = (document: object, path: string): Record<string, Record<string, unknown>> => {
  const spec = document as {
    readonly paths: Record<
      string,
      { readonly get: { readonly responses: Record<string, { readonly content: object }> } }
    >
  }
  return spec.paths[path]!.get.responses["200"]!.content as Record<string, Record<string, unknown>>
}

/** The event-stream media type of an operation. */
const eventStreamMedia = (document: object, path: string) => responseContent(document, path)["text/event-stream"]!

interface ItemSchema {
  readonly required: ReadonlyArray<string>
  readonly properties: { readonly event: { readonly enum: ReadonlyArray<string> }; readonly data: unknown }
}

// ---------------------------------------------------------------------------------------------------------------

describe("HttpApiSse: describing", () => {
  it("an event-stream endpoint is a text/event-stream response whose events are in x-itemSchema", () => {
    const document = OpenApi.fromApi(Api)
    expect(Object.keys(responseContent(document, "/rooms/{room}/replay"))).toEqual(["text/event-stream"])
    const media = eventStreamMedia(document, "/rooms/{room}/replay")
    expect(media.schema).toMatchObject({ type: "string" })
    const items = (media["x-itemSchema"] as { readonly anyOf: ReadonlyArray<ItemSchema> }).anyOf
    expect(items.map((item) => item.properties.event.enum)).toEqual([
      ["chat"],
      ["joined"],
      [SseEvent.ReplayGap.name],
      [HttpApiSse.failureEventName],
      [HttpApiSse.endEventName]
    ])
    // The payload travels as JSON text in `data`, described by its schema.
    expect(items[0]!.properties.data).toMatchObject({
      type: "string",
      contentMediaType: "application/json",
      contentSchema: { type: "object", required: ["from", "text"] }
    })
    expect(items[0]!.required).toEqual(["event", "data"])
    // Path, url params, headers and the group's security are described as for any endpoint.
    const operation = document.paths["/rooms/{room}/replay"]!.get!
    expect(operation.parameters.map((p) => `${p.in}:${p.name}`).sort()).toEqual(
      ["header:x-greeting", "path:room", "query:count", "query:fail", "query:idle"]
    )
    expect(operation.security).toEqual([{ bearer: [] }])
  })

  it.effect("the OpenAPI 3.1 document is valid; itemSchema is only valid in 3.2, which toOpenApi32 produces", () =>
    Effect.gen(function*() {
      const document = OpenApi.fromApi(Api)
      const v31 = yield* Effect.promise(() => validate(document))
      expect(v31).toMatchObject({ valid: true, version: "3.1" })

      // The validator does check media types: the 3.2 keyword in a 3.1 document is refused.
      const misplaced = structuredClone(document)
      const media = eventStreamMedia(misplaced, "/rooms/{room}/live")
      media.itemSchema = media["x-itemSchema"]
      expect((yield* Effect.promise(() => validate(misplaced))).valid).toBe(false)

      const upgraded = HttpApiSse.toOpenApi32(document)
      expect((upgraded as { readonly openapi: string }).openapi).toBe("3.2.0")
      const upgradedMedia = eventStreamMedia(upgraded, "/rooms/{room}/live")
      expect(upgradedMedia.itemSchema).toEqual(upgradedMedia["x-itemSchema"])
      expect(yield* Effect.promise(() => validate(upgraded))).toMatchObject({ valid: true, version: "3.2" })
      // A copy: the cached document of the API is left as it was.
      expect(document.openapi).toBe("3.1.0")
      expect(eventStreamMedia(document, "/rooms/{room}/live").itemSchema).toBeUndefined()
    }))
})

/** Runs a response's body in a fiber of its own, recording what it writes as text. */
const readBody = (response: HttpServerResponse.HttpServerResponse) =>
  Effect.gen(function*() {
    const body = response.body
    if (body._tag !== "Stream") return yield* Effect.dieMessage(`expected a streaming body, got ${body._tag}`)
    const written: Array<string> = []
    const decoder = new TextDecoder()
    yield* body.stream.pipe(
      Stream.runForEach((bytes) => Effect.sync(() => written.push(decoder.decode(bytes)))),
      Effect.forkScoped
    )
    yield* TestClock.adjust(0)
    return written
  })

type Emit = HttpApiSse.Emit<typeof RoomEvents.events>

const chat = (text: string): Emit => ({ _tag: "Chat", data: { from: "ada", text } })

/** The frame of an event, as the library's encoder writes it. */
const frame = (event: string, data: string) => Either.getOrThrow(Encoder.encodeText(Message.make({ event, data })))

describe("HttpApiSse.stream", () => {
  it.scoped("writes a heartbeat after keepAlive without a write, and none while events keep coming", () =>
    Effect.gen(function*() {
      const queue = yield* Queue.unbounded<Emit>()
      const written = yield* readBody(
        yield* HttpApiSse.stream(RoomEvents, Stream.fromQueue(queue), {
          keepAlive: "15 seconds"
        })
      )
      expect(written).toEqual([":\n"])
      yield* TestClock.adjust("14999 millis")
      expect(written).toEqual([":\n"])
      yield* TestClock.adjust("1 millis")
      expect(written).toEqual([":\n", ":\n"])
      // An event at 20 s: the next heartbeat is due at 35 s, not at the 30 s of a fixed beat.
      yield* TestClock.adjust("5 seconds")
      yield* queue.offer(chat("hi"))
      yield* TestClock.adjust(0)
      expect(written.slice(2)).toEqual([frame("chat", JSON.stringify({ from: "ada", text: "hi" }))])
      yield* TestClock.adjust("14 seconds")
      expect(written).toHaveLength(3)
      yield* TestClock.adjust("1 second")
      expect(written.slice(3)).toEqual([":\n"])
    }))

  it.scoped("heartbeats every 15 seconds by default, none with keepAlive zero", () =>
    Effect.gen(function*() {
      const byDefault = yield* readBody(yield* HttpApiSse.stream(RoomEvents, Stream.never))
      const off = yield* readBody(
        yield* HttpApiSse.stream(RoomEvents, Stream.never, { keepAlive: 0, retry: "1 second" })
      )
      yield* TestClock.adjust("15 seconds")
      expect(byDefault).toEqual([":\n", ":\n"])
      yield* TestClock.adjust("1 hour")
      expect(off).toEqual(["retry:1000\n\n"])
    }))

  it.effect("a retry it cannot write is a defect of the handler, before anything is written", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(HttpApiSse.stream(RoomEvents, Stream.empty, { retry: Duration.infinity }))
      assert(Exit.isFailure(exit) && Cause.isDie(exit.cause), `expected a defect, got ${String(exit)}`)
    }))

  it.scoped("the events of one chunk of the app's stream go out as one write, then the end event", () =>
    Effect.gen(function*() {
      const written = yield* readBody(yield* HttpApiSse.stream(RoomEvents, Stream.make(chat("a"), chat("b"))))
      expect(written).toEqual([
        ":\n",
        frame("chat", JSON.stringify({ from: "ada", text: "a" })) +
        frame("chat", JSON.stringify({ from: "ada", text: "b" })),
        frame(HttpApiSse.endEventName, "{}")
      ])
    }))

  it.scoped("an id that would break the framing is refused: the response ends there, without the end event", () =>
    Effect.gen(function*() {
      const hostile: Emit = { _tag: "Chat", data: { from: "eve", text: "x" }, id: "1\nevent:injected" }
      const written = yield* readBody(yield* HttpApiSse.stream(RoomEvents, Stream.make(chat("a"), hostile)))
      // Both events were one chunk, so neither went out: nothing past the opening, and no injected line.
      expect(written).toEqual([":\n"])
    }))

  it.scoped("a declared failure is sent as the failure event, an undeclared one ends the response", () =>
    Effect.gen(function*() {
      const declared = yield* readBody(
        yield* HttpApiSse.stream(RoomEvents, Stream.fail(new RoomClosed({ room: "attic" })), { keepAlive: 0 })
      )
      expect(declared).toEqual([
        ":\n",
        frame(HttpApiSse.failureEventName, JSON.stringify({ room: "attic", _tag: "RoomClosed" }))
      ])
      const undeclared = yield* readBody(yield* HttpApiSse.stream(RoomEvents, Stream.die("boom"), { keepAlive: 0 }))
      expect(undeclared).toEqual([":\n"])
    }))
})

describe("HttpApiSse: serving and consuming over real sockets", () => {
  it.scopedLive("the typed client receives the typed events of a one-off stream, which ends the client's stream", () =>
    Effect.gen(function*() {
      const { observed, url } = yield* serveApi()
      const client = yield* makeClient(url, "secret")
      expect(yield* client.rooms.list()).toEqual(["lobby"])
      const events = yield* client.rooms.replay({
        path: { room: "lobby" },
        urlParams: { count: 3 },
        headers: { "x-greeting": "hello" }
      }, fast).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))
      expect(events.map((event) => [event._tag, event.data, event.message.lastEventId])).toEqual([
        ["Joined", { user: "ada" }, ""],
        ["Chat", { from: "ada", text: "hello lobby 1" }, "1"],
        ["Chat", { from: "ada", text: "hello lobby 2" }, "2"],
        ["Chat", { from: "ada", text: "hello lobby 3" }, "3"]
      ])
      // The end event ended the stream: no reconnection followed.
      expect(observed.lastEventIds).toEqual([""])
    }).pipe(Effect.provide(NodeHttpClient.layer)))

  it.scopedLive("a declared failure arrives typed, after the events before it, and the client does not reconnect", () =>
    Effect.gen(function*() {
      const { observed, url } = yield* serveApi()
      const client = yield* makeClient(url, "secret")
      const seen: Array<string> = []
      const error = yield* client.rooms.replay({
        path: { room: "attic" },
        urlParams: { count: 2, fail: "closed" },
        headers: { "x-greeting": "hi" }
      }, fast).pipe(
        Stream.runForEach((event) => Effect.sync(() => seen.push(event._tag))),
        Effect.flip
      )
      assert(error instanceof RoomClosed, `expected RoomClosed, got ${String(error)}`)
      expect(error.room).toBe("attic")
      expect(seen).toEqual(["Joined", "Chat", "Chat"])
      expect(observed.lastEventIds).toEqual([""])
    }).pipe(Effect.provide(NodeHttpClient.layer)))

  it.scopedLive("an error the endpoint declares with addError, answered before the stream starts, arrives typed", () =>
    Effect.gen(function*() {
      const { observed, url } = yield* serveApi()
      const client = yield* makeClient(url, "secret")
      const states: Array<SseClient.ConnectionState["_tag"]> = []
      const error = yield* client.rooms.replay({
        path: { room: "missing" },
        urlParams: { count: 1 },
        headers: { "x-greeting": "hi" }
      }, { ...fast, onState: (state) => Effect.sync(() => states.push(state._tag)) }).pipe(
        Stream.runDrain,
        Effect.flip
      )
      assert(error instanceof RoomNotFound, `expected RoomNotFound, got ${String(error)}`)
      expect(error.room).toBe("missing")
      expect(states).toEqual(["Connecting", "Closed"])
      expect(observed.lastEventIds).toEqual([""])
    }).pipe(Effect.provide(NodeHttpClient.layer)))

  it.scopedLive("an undeclared failure ends the response without the end event; the client resumes from its id", () =>
    Effect.gen(function*() {
      const { observed, url } = yield* serveApi()
      const client = yield* makeClient(url, "secret")
      const events = yield* client.rooms.replay({
        path: { room: "lobby" },
        urlParams: { count: 4, fail: "defect" },
        headers: { "x-greeting": "hi" }
      }, fast).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))
      // The first response sent all four events, then its stream died: the client reconnected with Last-Event-ID 4
      // and the second response had nothing left to send but the end event.
      expect(events.map((event) => event.message.lastEventId)).toEqual(["", "1", "2", "3", "4"])
      expect(observed.lastEventIds).toEqual(["", "4"])
    }).pipe(Effect.provide(NodeHttpClient.layer)))

  it.scopedLive("a POST event stream sends its typed payload as JSON; a top-level group's stream is a client method", () =>
    Effect.gen(function*() {
      const { url } = yield* serveApi()
      const client = yield* makeClient(url)
      const tokens = yield* client.complete({ payload: { prompt: "typed events everywhere" } }, fast).pipe(
        Stream.map((event) => event._tag === "Token" ? event.data : event._tag),
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray)
      )
      expect(tokens).toEqual(["typed", "events", "everywhere"])
    }).pipe(Effect.provide(NodeHttpClient.layer)))

  it.scopedLive("a one-off stream opens with retry:, sends heartbeats while idle and the event-stream headers", () =>
    Effect.gen(function*() {
      const { url } = yield* serveApi()
      const raw = yield* connect(`${url}/rooms/lobby/replay?count=1&idle=yes`, {
        headers: { authorization: "Bearer secret", "x-greeting": "hey", origin: "http://example.test" }
      })
      expect(raw.status).toBe(200)
      expect(raw.headers["content-type"]).toBe("text/event-stream; charset=utf-8")
      expect(raw.headers["cache-control"]).toBe("no-cache, no-transform")
      // HttpApiBuilder.middlewareCors applies to event streams like any endpoint.
      expect(raw.headers["access-control-allow-origin"]).toBe("*")
      yield* raw.waitFor("two events and a heartbeat", () => raw.messages().length === 2 && raw.comments().length >= 1)
      expect(raw.text().startsWith("retry:20\n\n")).toBe(true)
      expect(raw.messages().map((m) => m.event)).toEqual(["joined", "chat"])
      expect(raw.ended()).toBe(false)
    }))

  it.scopedLive("a client that drops mid-stream ends the app's stream: its finalizers run", () =>
    Effect.gen(function*() {
      const { observed, url } = yield* serveApi()
      const raw = yield* connect(`${url}/rooms/lobby/replay?count=1&idle=yes`, {
        headers: { authorization: "Bearer secret", "x-greeting": "hey" }
      })
      yield* raw.waitFor("a heartbeat", () => raw.comments().length >= 1)
      expect(observed.released).toBe(0)
      yield* raw.destroy
      yield* eventually("the stream's release", Effect.sync(() => observed.released === 1))
    }))

  it.scopedLive("the pages served by HttpApiScalar and HttpApiSwagger carry the events' description", () =>
    Effect.gen(function*() {
      const { url } = yield* serveApi()
      for (const page of ["/docs", "/swagger"]) {
        const html = yield* Effect.promise(() => fetch(`${url}${page}`).then((response) => response.text()))
        expect(html).toContain("x-itemSchema")
        expect(html).toContain("text/event-stream")
      }
    }))

  it.scopedLive("a request whose own input does not encode fails the client's stream with a ParseError", () =>
    Effect.gen(function*() {
      const { observed, url } = yield* serveApi()
      const client = yield* makeClient(url, "secret")
      const error = yield* client.rooms.replay({
        path: { room: "lobby" },
        urlParams: { count: 1 },
        headers: { "x-greeting": 42 as unknown as string }
      }, fast).pipe(Stream.runDrain, Effect.flip)
      expect(error._tag).toBe("ParseError")
      expect(observed.lastEventIds).toEqual([])
    }).pipe(Effect.provide(NodeHttpClient.layer)))
})

for (const fastPath of [false, true]) {
  describe(`HttpApiSse: connected to an SseServer, ${fastPath ? "on the Node fast path" : "with a Stream body"}`, () => {
    it.scopedLive("with ReplayGap declared, a Last-Event-ID the history does not know arrives as a typed gap first", () =>
      Effect.gen(function*() {
        const { rooms, url } = yield* serveApi({ fastPath })
        const client = yield* makeClient(url, "secret")
        const fiber = yield* client.rooms.live({ path: { room: "lobby" } }, { ...fast, lastEventId: "nope" }).pipe(
          Stream.take(2),
          Stream.runCollect,
          Effect.map(Chunk.toReadonlyArray),
          Effect.fork
        )
        yield* eventually("the connection", Effect.map(rooms.size, (n) => n === 1))
        yield* rooms.event(Chat).send({ from: "bob", text: "fresh" })
        const [gap, next] = yield* fiber.await.pipe(Effect.flatten)
        assert(gap?._tag === "ReplayGap")
        expect(gap.data).toEqual({ lastEventId: "nope", reason: "Unknown" })
        expect(next?.data).toEqual({ from: "bob", text: "fresh" })
      }).pipe(Effect.provide(NodeHttpClient.layer)))

    it.scopedLive("the group's auth middleware answers an unauthenticated connect with 401; the client does not retry", () =>
      Effect.gen(function*() {
        const { observed, rooms, url } = yield* serveApi({ fastPath })
        const client = yield* makeClient(url)
        const states: Array<SseClient.ConnectionState["_tag"]> = []
        const error = yield* client.rooms.live({ path: { room: "lobby" } }, {
          ...fast,
          onState: (state) => Effect.sync(() => states.push(state._tag))
        }).pipe(Stream.runDrain, Effect.flip)
        // The middleware's declared failure, decoded from the 401 as HttpApiClient decodes it.
        assert(error instanceof HttpApiError.Unauthorized, `expected Unauthorized, got ${String(error)}`)
        expect(states).toEqual(["Connecting", "Closed"])
        expect(observed.authAttempts).toEqual([""])
        expect(observed.lastEventIds).toEqual([])
        expect(yield* rooms.size).toBe(0)
        // The wrong token is refused the same way.
        const wrong = yield* makeClient(url, "guess")
        const refused = yield* wrong.rooms.live({ path: { room: "lobby" } }, fast).pipe(Stream.runDrain, Effect.flip)
        expect(refused).toBeInstanceOf(HttpApiError.Unauthorized)
        expect(observed.authAttempts).toEqual(["", "guess"])
      }).pipe(Effect.provide(NodeHttpClient.layer)))

    it.scopedLive("a connected SseServer source sends typed events; failSource fails the client's stream typed", () =>
      Effect.gen(function*() {
        const { observed, rooms, url } = yield* serveApi({ fastPath })
        const client = yield* makeClient(url, "secret")
        const seen: Array<unknown> = []
        const fiber = yield* client.rooms.live({ path: { room: "lobby" } }, fast).pipe(
          Stream.runForEach((event) => Effect.sync(() => seen.push(event.data))),
          Effect.flip,
          Effect.fork
        )
        yield* eventually("the connection", Effect.map(rooms.size, (n) => n === 1))
        const source = Option.getOrThrow(yield* rooms.get("lobby"))
        yield* source.event(Chat).send({ from: "bob", text: "hi" })
        yield* eventually("the chat", Effect.sync(() => seen.length === 1))
        yield* HttpApiSse.failSource(RoomEvents, source, new RoomClosed({ room: "lobby" }))
        const error = yield* fiber.await.pipe(Effect.flatten)
        assert(error instanceof RoomClosed)
        expect(seen).toEqual([{ from: "bob", text: "hi" }])
        expect(observed.lastEventIds).toEqual([""])
      }).pipe(Effect.provide(NodeHttpClient.layer)))

    it.scopedLive("endSource ends the client's stream without a reconnect; a plain close makes it reconnect", () =>
      Effect.gen(function*() {
        const { observed, rooms, url } = yield* serveApi({ fastPath })
        const client = yield* makeClient(url, "secret")
        const fiber = yield* client.rooms.live({ path: { room: "lobby" } }, fast).pipe(Stream.runDrain, Effect.fork)
        yield* eventually("the connection", Effect.map(rooms.size, (n) => n === 1))
        yield* Option.getOrThrow(yield* rooms.get("lobby")).close
        yield* eventually("the reconnection", Effect.sync(() => observed.lastEventIds.length === 2))
        yield* eventually("the connection", Effect.map(rooms.size, (n) => n === 1))
        yield* HttpApiSse.endSource(Option.getOrThrow(yield* rooms.get("lobby")))
        yield* fiber.await.pipe(Effect.flatten)
        expect(observed.lastEventIds).toHaveLength(2)
      }).pipe(Effect.provide(NodeHttpClient.layer)))

    it.scopedLive("a reconnect resumes from Last-Event-ID through the typed client: missed events are replayed", () =>
      Effect.gen(function*() {
        const hold = yield* Deferred.make<void>()
        const { observed, rooms, url } = yield* serveApi({ holdSecondLive: hold, fastPath })
        const client = yield* makeClient(url, "secret")
        const seen: Array<[string, string]> = []
        const fiber = yield* client.rooms.live({ path: { room: "lobby" } }, fast).pipe(
          Stream.take(4),
          Stream.runForEach((event) =>
            Effect.sync(() =>
              seen.push([event._tag === "Chat" ? event.data.text : event._tag, event.message.lastEventId])
            )
          ),
          Effect.fork
        )
        yield* eventually("the connection", Effect.map(rooms.size, (n) => n === 1))
        const chat = rooms.event(Chat)
        yield* chat.send({ from: "bob", text: "one" })
        yield* chat.send({ from: "bob", text: "two" })
        yield* eventually("two chats", Effect.sync(() => seen.length === 2))
        // The connection drops; while the client is away (its second request held), two more are sent.
        yield* Option.getOrThrow(yield* rooms.get("lobby")).close
        yield* eventually("the reconnection", Effect.sync(() => observed.lastEventIds.length === 2))
        yield* chat.send({ from: "bob", text: "three" })
        yield* chat.send({ from: "bob", text: "four" })
        yield* Deferred.succeed(hold, void 0)
        yield* fiber.await.pipe(Effect.flatten)
        expect(seen.map(([text]) => text)).toEqual(["one", "two", "three", "four"])
        const [, secondId] = seen[1]!
        expect(observed.lastEventIds).toEqual(["", secondId])
      }).pipe(Effect.provide(NodeHttpClient.layer)))

    it.scopedLive(
      fastPath
        ? "on the fast path the head goes out inside connect: middlewareCors's headers do not reach the client"
        : "HttpApiBuilder.middlewareCors's headers reach the client of a connected stream",
      () =>
        Effect.gen(function*() {
          const { url } = yield* serveApi({ fastPath })
          const raw = yield* connect(`${url}/rooms/lobby/live`, {
            headers: { authorization: "Bearer secret", origin: "http://example.test" }
          })
          expect(raw.status).toBe(200)
          expect(raw.headers["content-type"]).toBe("text/event-stream; charset=utf-8")
          expect(raw.headers["access-control-allow-origin"]).toBe(fastPath ? undefined : "*")
        })
    )
  })
}

describe("HttpApiSse: the example (npm run example:api)", () => {
  it.effect("its OpenAPI document is valid OpenAPI 3.2 and matches the snapshot checked in", () =>
    Effect.gen(function*() {
      const document = OpenApi.fromApi(Example.Api)
      expect(yield* Effect.promise(() => validate(document))).toMatchObject({ valid: true, version: "3.2" })
      yield* Effect.promise(() =>
        expect(`${JSON.stringify(document, null, 2)}\n`).toMatchFileSnapshot("./__snapshots__/api.openapi.json")
      )
    }))

  it.scopedLive("its typed client reads the room's events while it posts to the room", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Example.ServerLive(0))
      const address = Context.get(context, HttpServer.HttpServer).address
      if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
      const events = yield* Example.demo(`http://127.0.0.1:${address.port}`)
      expect(events.map((event) => [event._tag, event.data])).toEqual([
        ["Joined", { user: "ada" }],
        ["Chat", { from: "bob", text: "hello" }],
        ["Chat", { from: "bob", text: "anyone here?" }]
      ])
    }).pipe(Effect.provide(NodeHttpClient.layer)))
})
