/**
 * The room's history: where its server records what it sends, so that a reconnecting page gets what it missed.
 *
 * - `REDIS_URL` set: Redis Streams (`effect-sse/History/Redis`); several room processes then share one room.
 * - `ROOM_HISTORY_FILE` set: a JSON-lines file, so that a restarted server still has every message (`layerFile`).
 * - Neither: in memory. A restart loses it, and the pages that come back are told so (the gap signal).
 */
import { Config, Effect, Either, Layer, Option, Schema, type Scope } from "effect"
import { Encoder, History, Message, SseServer } from "effect-sse"
import * as RedisHistory from "effect-sse/History/Redis"
import * as SseServerNode from "effect-sse/SseServer/Node"
import * as Fs from "node:fs"

export type Store =
  | { readonly _tag: "Memory" }
  | { readonly _tag: "File"; readonly path: string }
  | { readonly _tag: "Redis"; readonly url: string; readonly prefix?: string | undefined }

export interface Options {
  readonly store: Store
  /** How many messages are kept to replay. Default 1,000. */
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

/** The history store of the options; the Redis one under a prefix of the room's own, so it shares no key. */
export const layer = (options: Options): Layer.Layer<History.History, History.HistoryError> => {
  const maxEntries = options.maxEntries ?? 1000
  switch (options.store._tag) {
    case "Redis":
      return RedisHistory.layerRedis({
        url: options.store.url,
        prefix: options.store.prefix ?? "effect-sse-room",
        maxEntries,
        maxAge: "1 hour"
      })
    case "File":
      return layerFile({ path: options.store.path, maxEntries })
    case "Memory":
      return History.layerMemory({ maxEntries, maxAge: "1 hour" })
  }
}

/**
 * The room's server, recording into the history (its log is named after the server, "room"): it lives as long as
 * the current scope. Users are strings, so a user is its own key in the history. On Node's fast path: a browser's
 * stream outlives its handler, with no fiber, request scope or span held per connection.
 */
export const makeServer = (
  serverOptions: SseServer.Options,
  options: Options
): Effect.Effect<SseServer.SseServer<string>, History.HistoryError, Scope.Scope> =>
  Effect.flatMap(
    Layer.build(Layer.merge(layer(options), SseServerNode.layer)),
    (context) =>
      SseServer.make<string>({ ...serverOptions, history: { key: (user) => user } }).pipe(Effect.provide(context))
  )

// The file store -------------------------------------------------------------------------------------------------

export interface FileOptions {
  readonly path: string
  /** How many entries each log keeps. */
  readonly maxEntries: number
}

/** The keys (and ids) the store hands out: "1", "2", ... (no sign, no leading zero, a safe integer). */
const counter = /^[1-9]\d{0,14}$/

/** One line of the file: an entry of the log `log`. The frame is not stored: it is encoded again on loading. */
const Line = Schema.parseJson(Schema.Struct({
  log: Schema.String,
  key: Schema.String.pipe(Schema.pattern(counter)),
  target: Schema.optional(Schema.String),
  message: Message.schema
}))

/** The file, open for appending, and its length: what a failed write is cut back to. */
interface OpenFile {
  readonly fd: number
  size: number
}

/** A log's entries (its last `maxEntries`, oldest first) and its last key, which only ever grows. */
interface FileLog {
  readonly entries: Array<History.Entry>
  counter: number
}

/** Whether `id` is a key this log has handed out. */
const isOurs = (id: string, log: FileLog): boolean => counter.test(id) && Number(id) <= log.counter

const unavailable = (cause: unknown) => new History.HistoryError({ reason: "Unavailable", cause })

/** The entry of a message recorded under `key`: the app's id is kept, a message without one gets the key. */
const toEntry = (key: string, target: string | undefined, message: Message.Message) => {
  const stamped = message.id !== undefined ? message : Message.make({
    data: message.data,
    event: message.event,
    id: key,
    retry: message.retry
  })
  return Either.mapBoth(Encoder.encode(stamped), {
    onLeft: (cause) => new History.HistoryError({ reason: "Encode", cause }),
    onRight: (frame): History.Entry => ({ key, target, message: stamped, frame })
  })
}

/** Closes a descriptor the store is done with (one that fails to close has nothing left to lose). */
const close = (fd: number) => {
  try {
    Fs.closeSync(fd)
  } catch {
    // Already closed.
  }
}

const encodeLine = (log: string, entry: History.Entry) =>
  Either.map(
    Schema.encodeEither(Line)({ log, key: entry.key, target: entry.target, message: entry.message }),
    (json) => json + "\n"
  )

/**
 * Reads the file's logs. A line that does not decode is skipped: the only one a crash can leave is the last,
 * cut short mid-write.
 */
const load = (path: string, maxEntries: number): Map<string, FileLog> => {
  const logs = new Map<string, FileLog>()
  const text = Fs.existsSync(path) ? Fs.readFileSync(path, "utf8") : ""
  for (const line of text.split("\n")) {
    const decoded = Schema.decodeUnknownEither(Line)(line)
    if (Either.isLeft(decoded)) continue
    const { key, log, message, target } = decoded.right
    const entry = toEntry(key, target, message)
    if (Either.isLeft(entry)) continue
    const state = logs.get(log) ?? { entries: [], counter: 0 }
    logs.set(log, state)
    state.entries.push(entry.right)
    if (state.entries.length > maxEntries) state.entries.shift()
    state.counter = Math.max(state.counter, Number(key))
  }
  return logs
}

/**
 * A history store in a JSON-lines file, for one process at a time (two processes on one file would interleave
 * their counters). Each log keeps its last `maxEntries` entries in memory, all of them in the file; ids are
 * counters that go on from the file's last one after a restart, so a page's `Last-Event-ID` never goes back.
 *
 * - An append is one write of all its lines, before any is delivered; a failed write is cut off the file again
 *   and fails with `Unavailable`, so nothing of it is kept or delivered (all or nothing).
 * - At start, and whenever `maxEntries` lines were appended since, the file is rewritten with what the logs keep
 *   (to a temporary file, synced, then renamed over it), which drops a line a crash cut short and bounds its size.
 * - Appends are not synced to disk one by one: a crash or restart of the process loses nothing, a power cut may
 *   lose the last appends.
 * - `Last-Event-ID` older than what a log keeps (a counter it handed out) is `Expired`, any other unknown id
 *   `Unknown`. No age limit: the file is for a demo's restarts, not for days.
 */
export const makeFile = (
  options: FileOptions
): Effect.Effect<History.Service, History.HistoryError, Scope.Scope> =>
  Effect.gen(function*() {
    const { path } = options
    const maxEntries = Math.max(1, options.maxEntries)
    const logs = yield* Effect.try({ try: () => load(path, maxEntries), catch: unavailable })
    const claimed = new Set<string>()

    // The file as the logs keep it, replaced in one rename. It is opened for appending before the rename, so that
    // past the rename nothing can fail: either the new file is in place and written to, or the old one still is.
    const rewrite = (): OpenFile => {
      const lines: Array<string> = []
      for (const [log, state] of logs) {
        for (const entry of state.entries) lines.push(Either.getOrThrow(encodeLine(log, entry)))
      }
      const temporary = `${path}.tmp`
      const text = lines.join("")
      const descriptor = Fs.openSync(temporary, "w")
      try {
        Fs.writeFileSync(descriptor, text)
        Fs.fsyncSync(descriptor)
      } finally {
        Fs.closeSync(descriptor)
      }
      const fd = Fs.openSync(temporary, "a")
      try {
        Fs.renameSync(temporary, path)
      } catch (cause) {
        close(fd)
        throw cause
      }
      return { fd, size: Buffer.byteLength(text) }
    }

    let file: OpenFile = yield* Effect.acquireRelease(
      Effect.try({ try: rewrite, catch: unavailable }),
      () => Effect.sync(() => close(file.fd))
    )
    let appendedSinceRewrite = 0
    // A failed write that could not be cut off the file: it is rewritten before anything is appended after it.
    let damaged = false

    const replaceFile = () => {
      const rewritten = rewrite()
      close(file.fd)
      file = rewritten
      appendedSinceRewrite = 0
      damaged = false
    }

    /** Writes the lines at the end of the file, or leaves the file as it was. */
    const write = (text: string): Either.Either<void, History.HistoryError> => {
      const bytes = Buffer.from(text)
      try {
        if (damaged) replaceFile()
        let written = 0
        while (written < bytes.length) written += Fs.writeSync(file.fd, bytes, written)
        file.size += bytes.length
        return Either.void
      } catch (cause) {
        try {
          Fs.ftruncateSync(file.fd, file.size)
          damaged = false
        } catch {
          damaged = true
        }
        return Either.left(unavailable(cause))
      }
    }

    /** Replaces the file once it holds `maxEntries` lines more than the logs keep; a failure is retried later. */
    const compact = Effect.suspend(() =>
      appendedSinceRewrite < maxEntries ? Effect.void : Effect.try({ try: replaceFile, catch: unavailable }).pipe(
        Effect.catchAll((error) => Effect.logWarning(`room history: ${path} not compacted`, error))
      )
    )

    const makeLog = (namespace: string, subscriber: History.Subscriber): History.Log => {
      const state = logs.get(namespace) ?? { entries: [], counter: 0 }
      logs.set(namespace, state)

      const append = (items: ReadonlyArray<History.Item>) =>
        Effect.suspend(() => {
          const entries: Array<History.Entry> = []
          const lines: Array<string> = []
          for (const item of items) {
            const entry = toEntry(String(state.counter + entries.length + 1), item.target, item.message)
            if (Either.isLeft(entry)) return Effect.fail(entry.left)
            const line = encodeLine(namespace, entry.right)
            if (Either.isLeft(line)) {
              return Effect.fail(new History.HistoryError({ reason: "Encode", cause: line.left }))
            }
            entries.push(entry.right)
            lines.push(line.right)
          }
          const written = write(lines.join(""))
          if (Either.isLeft(written)) return Effect.fail(written.left)
          // Recorded, then delivered in the same step: the log's order is the order of delivery.
          state.counter += entries.length
          state.entries.push(...entries)
          if (state.entries.length > maxEntries) state.entries.splice(0, state.entries.length - maxEntries)
          appendedSinceRewrite += entries.length
          for (const entry of entries) subscriber.onEntry(entry)
          return Effect.as(compact, entries)
        })

      const since = (lastEventId: string, target: string) =>
        Effect.sync((): History.Replay => {
          const { entries } = state
          let at = entries.length - 1
          while (at >= 0 && entries[at]!.message.id !== lastEventId) at--
          if (at < 0) {
            return { _tag: "Gap", reason: isOurs(lastEventId, state) ? "Expired" : "Unknown" }
          }
          return {
            _tag: "Replay",
            entries: entries.slice(at + 1).filter((entry) => entry.target === undefined || entry.target === target),
            cursor: entries[entries.length - 1]!.key
          }
        })

      return {
        append,
        since,
        compare: (a, b) => Number(a) - Number(b),
        keyOf: (lastEventId) => isOurs(lastEventId, state) ? lastEventId : undefined
      }
    }

    const open = (namespace: string, subscriber: History.Subscriber) =>
      Effect.zipRight(
        Effect.acquireRelease(
          claimed.has(namespace)
            ? Effect.dieMessage(`room history: the log "${namespace}" is already open: give each server its own name`)
            : Effect.sync(() => claimed.add(namespace)),
          () => Effect.sync(() => claimed.delete(namespace))
        ),
        Effect.sync(() => makeLog(namespace, subscriber))
      )

    return { open }
  })

/** The file store as a Layer: the file is read when it is built and closed with it. */
export const layerFile = (options: FileOptions): Layer.Layer<History.History, History.HistoryError> =>
  Layer.scoped(History.History, makeFile(options))
