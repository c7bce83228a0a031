/**
 * The live room: every browser gets an identity from the server (a signed cookie), sees who is connected, posts
 * messages (broadcast as a typed event) and gets notices written for it alone. The server records everything in
 * a history (see `history.ts`), so a page that reconnects, after "drop my connection" or a server restart, gets
 * what it missed, marked as replayed; when the history cannot cover the gap, the page is told so.
 *
 * `main.ts` runs it; the browser tests serve the same router on a port of their own.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Context, Effect, Option, ParseResult, Schema } from "effect"
import type { SseServer } from "effect-sse"
import { type History, SseEvent } from "effect-sse"
import { randomBytes } from "node:crypto"
import * as Session from "../session.js"
import { page } from "./page.js"

export class Room extends Context.Tag("room/Events")<Room, SseServer.SseServer<string>>() {}

export const Chat = SseEvent.make("chat", Schema.Struct({ from: Schema.String, text: Schema.String }))
export const Presence = SseEvent.make("presence", Schema.Struct({ users: Schema.Array(Schema.String) }))
export const Notice = SseEvent.make("notice", Schema.Struct({ text: Schema.String }))
/** To a new page only: not recorded, so no other page and no replay ever repeats it. */
export const Welcome = SseEvent.make("welcome", Schema.Struct({ user: Schema.String }))
/** To a page that came back: how many missed frames it was just sent. */
export const Resumed = SseEvent.make("resumed", Schema.Struct({ count: Schema.Number }))

/** The room's server options; tests shorten the timings. */
export const serverOptions = (overrides: SseServer.Options = {}): SseServer.Options => ({
  name: "room",
  retry: "2 seconds",
  keepAlive: "15 seconds",
  // One user may have several tabs open.
  connectionsPerId: "multiple",
  ...overrides
})

export interface RoomOptions {
  /** Signs the session cookies. Keep it across restarts to keep identities (ROOM_SECRET in main.ts). */
  readonly secret: string
  /** Told of every connection: whose it is, its `Last-Event-ID`, and how it resumed. */
  readonly onConnect?: ((connection: Connected) => void) | undefined
  /** Awaited before a connection is made: a test holds a reconnection here to post while the page is away. */
  readonly beforeConnect?: Effect.Effect<void> | undefined
}

export interface Connected {
  readonly user: string
  readonly lastEventId: string
  readonly resume: History.Resume
}

const PostMessage = Schema.Struct({
  text: Schema.Trim.pipe(
    Schema.minLength(1, { message: () => "an empty message is not sent" }),
    Schema.maxLength(500, { message: () => "a message is at most 500 characters" })
  )
})

const newGuest = () => `guest-${randomBytes(3).toString("hex")}`

const presenceOf = (sse: SseServer.SseServer<string>) =>
  Effect.gen(function*() {
    const users = Array.from(new Set((yield* sse.sources).map((source) => source.id))).sort()
    // Not recorded: presence is state, not history; every (re)connection gets the current one.
    yield* Effect.ignore(Effect.flatMap(Presence.encodeFrame({ users }), (frame) => sse.broadcastFrame(frame)))
  })

/** Posts a chat message as `from`: recorded, given the next id, and broadcast; the sender gets a notice. */
export const say = (from: string, text: string) =>
  Effect.gen(function*() {
    const sse = yield* Room
    yield* sse.event(Chat).send({ from, text })
    const others = (yield* sse.sources).filter((source) => source.id !== from).length
    const notice = yield* Effect.orDie(Notice.encode({
      text: `your message reached ${others} other connection${others === 1 ? "" : "s"}`
    }))
    yield* sse.send(from, notice)
  })

export const router = (options: RoomOptions) => {
  const sessions = Session.make(options.secret)
  const unauthorized = HttpServerResponse.text("no session: reload the page", { status: 401 })

  // The page: a browser without a valid session cookie is given a new identity here.
  const home = Effect.gen(function*() {
    const user = yield* sessions.current
    if (Option.isSome(user)) return yield* HttpServerResponse.html(page(user.value))
    const guest = newGuest()
    return sessions.set(yield* HttpServerResponse.html(page(guest)), guest)
  })

  const events = Effect.gen(function*() {
    const user = yield* sessions.current
    if (Option.isNone(user)) return unauthorized
    const request = yield* HttpServerRequest.HttpServerRequest
    if (options.beforeConnect !== undefined) yield* options.beforeConnect
    const sse = yield* Room
    const lastEventId = request.headers["last-event-id"] ?? ""
    const presence = presenceOf(sse)
    return yield* sse.connect(user.value, {
      // Given the source once what it missed is on its way, before any live frame: the page learns how it began
      // (what arrived before this was replayed), then everyone learns who is here.
      onOpen: (source) =>
        Effect.gen(function*() {
          const { resume } = source
          options.onConnect?.({ user: user.value, lastEventId, resume })
          const frame = resume._tag === "Fresh"
            ? Welcome.encodeFrame({ user: user.value })
            : resume._tag === "Replayed"
            ? Resumed.encodeFrame({ count: resume.count })
            : undefined // a gap: the server has sent SseEvent.ReplayGap already
          if (frame !== undefined) yield* Effect.ignore(Effect.flatMap(frame, (bytes) => source.sendFrame(bytes)))
          yield* presence
        }),
      // Runs once the source has left the registry: the others see who left.
      onClose: () => presence
    })
  })

  const post = Effect.gen(function*() {
    const user = yield* sessions.current
    if (Option.isNone(user)) return unauthorized
    const { text } = yield* HttpServerRequest.schemaBodyJson(PostMessage)
    yield* say(user.value, text)
    return HttpServerResponse.empty({ status: 204 })
  }).pipe(
    Effect.catchTags({
      ParseError: (error) =>
        HttpServerResponse.text(ParseResult.ArrayFormatter.formatErrorSync(error)[0]?.message ?? "a bad message", {
          status: 400
        }),
      RequestError: () => HttpServerResponse.text("a message is JSON: { text }", { status: 400 }),
      SseServerError: (error) => HttpServerResponse.text(error.message, { status: 503 })
    })
  )

  // Ends this user's connections (never anyone else's): the page's "drop my connection" button.
  const drop = Effect.gen(function*() {
    const user = yield* sessions.current
    if (Option.isNone(user)) return unauthorized
    const sse = yield* Room
    for (const source of yield* sse.getAll(user.value)) yield* source.close
    return HttpServerResponse.empty({ status: 204 })
  })

  return HttpRouter.empty.pipe(
    HttpRouter.get("/", home),
    HttpRouter.get("/events", events),
    HttpRouter.post("/messages", post),
    HttpRouter.post("/drop", drop)
  )
}
