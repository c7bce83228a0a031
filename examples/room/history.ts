/**
 * The room's history, in one file: where it keeps what it sent, so that a reconnecting page gets what it missed.
 *
 * - `REDIS_URL` set: Redis Streams (`effect-sse/History/Redis`); several room processes then share one room.
 * - `ROOM_HISTORY_FILE` set: a JSON-lines file, so that a restarted server still has every message (below).
 * - Neither: in memory. A restart loses it, and the pages that come back are told so (the gap signal).
 */
import { Config, Effect, Either, Layer, Option, Schema, type Scope, Stream } from "effect"
import { Encoder, History, Message, SseServer } from "effect-sse"
import * as RedisHistory from "effect-sse/History/Redis"
import * as Fs from "node:fs"

export type Store =
  | { readonly _tag: "Memory" }
  | { readonly _tag: "File"; readonly path: string }
  | { readonly _tag: "Redis"; readonly url: string; readonly prefix?: string | undefined }

export interface Options {
  readonly store: Store
  /** How many messages are kept to replay. */
  readonly maxEntries?: number | undefined
}

/** The store the environment asks for. */
export const storeFromEnv: Effect.Effect<Store> = Effect.orDie(Effect.map(
  Config.all({
    redis: Config.option(Config.string("REDIS_URL")),
    file: Config.option(Config.string("ROOM_HISTORY_FILE"))
  }),
  ({ file, redis }): Store =>
    Option.isSome(redis)
      ? { _tag: "Redis", url: redis.value }
      : Option.isSome(file)
      ? { _tag: "File", path: file.value }
      : { _tag: "Memory" }
))

export const describeStore = (store: Store): string =>
  store._tag === "Redis"
    ? `history on Redis (${store.url})`
    : store._tag === "File"
    ? `history in ${store.path}`
    : "history in memory (ROOM_HISTORY_FILE or REDIS_URL keep it across restarts)"

/** The room's server, recording into the history: it lives as long as the current scope. */
export const makeServer = (
  serverOptions: SseServer.Options,
  options: Options
): Effect.Effect<SseServer.SseServer<string>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const maxEntries = options.maxEntries ?? 1000
    const history = options.store._tag === "Redis"
      ? RedisHistory.layerRedis({
        url: options.store.url,
        prefix: options.store.prefix ?? "effect-sse-room",
        maxEntries
      })
      : options.store._tag === "File"
      ? Layer.effect(History.History, makeFileHistory(options.store.path, maxEntries))
      : History.layerMemory({ maxEntries, maxAge: "1 hour" })
    const context = yield* Layer.build(history)
    return yield* SseServer.make<string>(serverOptions).pipe(Effect.provide(context))
  })

const Line = Schema.parseJson(Schema.Struct({
  key: Schema.String,
  target: Schema.optional(Schema.String),
  message: Message.schema
}))

/**
 * A history kept in a file, one JSON line per message, for one process. Ids are counters that go on from the
 * file's last one after a restart. At start the file is cut to its last `maxEntries` lines.
 */
const makeFileHistory = (path: string, maxEntries: number): Effect.Effect<History.Service> =>
  Effect.sync(() => {
    const entries: Array<History.Entry> = []
    const toEntry = (key: string, target: string | undefined, message: Message.Message) =>
      Either.map(Encoder.encode(message), (frame): History.Entry => ({ key, target, message, frame }))
    const lines = Fs.existsSync(path) ? Fs.readFileSync(path, "utf8").split("\n").filter((line) => line !== "") : []
    for (const line of lines.slice(-maxEntries)) {
      const decoded = Schema.decodeUnknownEither(Line)(line)
      if (Either.isLeft(decoded)) continue // a line cut short by a crash
      const entry = toEntry(decoded.right.key, decoded.right.target, decoded.right.message)
      if (Either.isRight(entry)) entries.push(entry.right)
    }
    const encodeLine = (entry: History.Entry) =>
      Schema.encodeSync(Line)({ key: entry.key, target: entry.target, message: entry.message }) + "\n"
    Fs.writeFileSync(path, entries.map(encodeLine).join(""))
    let counter = entries.length === 0 ? 0 : Number(entries[entries.length - 1]!.key)

    const append = (target: string | undefined, message: Message.Message) =>
      Effect.suspend(() => {
        const key = String(counter + 1)
        const stamped = message.id !== undefined ? message : Message.make({
          data: message.data,
          event: message.event,
          id: key,
          retry: message.retry
        })
        const entry = toEntry(key, target, stamped)
        if (Either.isLeft(entry)) return Effect.fail(new History.HistoryError({ reason: "Encode", cause: entry.left }))
        return Effect.try({
          try: () => {
            Fs.appendFileSync(path, encodeLine(entry.right))
            counter++
            entries.push(entry.right)
            if (entries.length > maxEntries) entries.splice(0, entries.length - maxEntries)
            return entry.right
          },
          catch: (cause) => new History.HistoryError({ reason: "Unavailable", cause })
        })
      })

    const since = (lastEventId: string, target: string) =>
      Effect.sync((): History.Replay => {
        let at = entries.length - 1
        while (at >= 0 && entries[at]!.message.id !== lastEventId) at--
        if (at === -1) {
          const ours = /^\d+$/.test(lastEventId) && Number(lastEventId) <= counter
          return { _tag: "Gap", reason: ours ? "Expired" : "Unknown" }
        }
        return {
          _tag: "Replay",
          entries: entries.slice(at + 1).filter((entry) => entry.target === undefined || entry.target === target)
        }
      })

    return { append, since, remote: Stream.empty }
  })
