import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Redis } from "ioredis"
import type * as History from "../History.js"
import * as Message from "../Message.js"
import { HistoryError, isFor, makeEntry } from "./history.js"

/** @internal */
export interface ResolvedOptions {
  readonly url: string
  readonly prefix: string
  readonly maxEntries: number
  readonly maxAge: number
  readonly assignIds: boolean
  readonly commandTimeout: number
}

/** @internal */
export const tailFailures = Metric.counter("sse_history_redis_tail_failures_total", {
  description: "Failed reads of the Redis stream that fans events out between processes (retried)",
  incremental: true
})

type RawEntry = [id: string, fields: Array<string>]

const STREAM_ID = /^(\d+)-(\d+)$/

/** Orders two stream ids (`<ms>-<seq>`). */
const compareIds = (a: string, b: string): number => {
  const [, am, as] = STREAM_ID.exec(a)!
  const [, bm, bs] = STREAM_ID.exec(b)!
  return Number(am) - Number(bm) || Number(as) - Number(bs)
}

const connect = (url: string, commandTimeout: number | undefined) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const redis = new Redis(url, {
        // Fail at once while disconnected: a send is reported, not queued without bound.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        ...(commandTimeout === undefined ? {} : { commandTimeout }),
        retryStrategy: (attempt) => Math.min(50 * attempt, 1000)
      })
      // Connection errors surface on the commands; without a listener ioredis would print each one.
      redis.on("error", () => {})
      return redis
    }),
    (redis) => Effect.sync(() => redis.disconnect())
  ).pipe(Effect.tap((redis) => ready(redis, commandTimeout ?? 2000)))

// Commands fail while disconnected, so the first ones wait for the connection; if Redis is away at start, the
// history starts anyway (sends report the failure) and ioredis keeps trying to connect.
const ready = (redis: Redis, timeout: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (redis.status === "ready") return resume(Effect.void)
    const onReady = () => resume(Effect.void)
    redis.once("ready", onReady)
    return Effect.sync(() => redis.off("ready", onReady))
  }).pipe(
    Effect.timeoutTo({
      duration: timeout,
      onSuccess: () => Effect.void,
      onTimeout: () => Effect.logWarning("effect-sse: Redis is not reachable yet; the history keeps trying")
    }),
    Effect.flatten
  )

const call = <A>(command: () => Promise<A>): Effect.Effect<A, HistoryError> =>
  Effect.tryPromise({ try: command, catch: (cause) => new HistoryError({ reason: "Unavailable", cause }) })

/** @internal */
export const make = (options: ResolvedOptions): Effect.Effect<History.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const key = `${options.prefix}:events`
    const instance = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`
    const commands = yield* connect(options.url, options.commandTimeout)
    // XREAD BLOCK holds its connection: the tail gets one of its own, without a timeout (BLOCK bounds it).
    const reader = yield* connect(options.url, undefined)

    const toEntry = ([id, fields]: RawEntry): History.Entry | undefined => {
      const get = (name: string) => {
        for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
        return undefined
      }
      const target = get("t")
      const retry = get("r")
      const message = Message.make({
        data: get("d") ?? "",
        event: get("e"),
        id: get("i"),
        retry: retry === undefined ? undefined : Number(retry)
      })
      const entry = makeEntry(id, target === "*" ? undefined : target, message, options.assignIds ? id : undefined)
      return Either.getOrUndefined(entry)
    }

    const append = (target: string | undefined, message: Message.Message) =>
      Effect.flatMap(
        // Checked before it is stored: an entry that cannot be encoded must not reach the other processes.
        makeEntry("", target, message, undefined),
        () => {
          const fields: Array<string> = ["t", target ?? "*", "o", instance, "d", message.data, "e", message.event]
          if (message.id !== undefined) fields.push("i", message.id)
          if (message.retry !== undefined) fields.push("r", String(Math.floor(Duration.toMillis(message.retry))))
          return Effect.flatMap(
            call(() => commands.xadd(key, "MAXLEN", String(options.maxEntries), "*", ...fields)),
            (id) => makeEntry(id!, target, message, options.assignIds ? id! : undefined)
          )
        }
      )

    // The stream id of the entry the client last saw: its own id, or found by the app's id it carried.
    const locate = (lastEventId: string): Effect.Effect<string | undefined, HistoryError> => {
      if (options.assignIds && STREAM_ID.test(lastEventId)) {
        return Effect.map(
          call(() => commands.xrange(key, lastEventId, lastEventId)),
          (found) => found.length === 0 ? undefined : lastEventId
        )
      }
      const scan = (end: string): Effect.Effect<string | undefined, HistoryError> =>
        Effect.flatMap(call(() => commands.xrevrange(key, end, "-", "COUNT", 200)), (page) => {
          for (const [id, fields] of page) {
            for (let i = 0; i < fields.length; i += 2) {
              if (fields[i] === "i" && fields[i + 1] === lastEventId) return Effect.succeed(id)
            }
          }
          return page.length < 200 ? Effect.succeed(undefined) : scan(`(${page[page.length - 1]![0]}`)
        })
      return scan("+")
    }

    const since = (lastEventId: string, target: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const oldest = `${Math.max(0, now - options.maxAge)}-0`
        const at = yield* locate(lastEventId)
        if (at === undefined || compareIds(at, oldest) < 0) {
          // An id of ours that is no longer there, or too old, has expired; any other is unknown.
          const ours = options.assignIds && STREAM_ID.test(lastEventId)
          if (!ours) return { _tag: "Gap", reason: "Unknown" } as const
          if (at !== undefined || compareIds(lastEventId, oldest) < 0) {
            return { _tag: "Gap", reason: "Expired" } as const
          }
          const [first] = yield* call(() => commands.xrange(key, "-", "+", "COUNT", 1))
          const expired = first !== undefined && compareIds(lastEventId, first[0]) < 0
          return { _tag: "Gap", reason: expired ? "Expired" : "Unknown" } as const
        }
        const raw = yield* call(() => commands.xrange(key, `(${at}`, "+"))
        const entries: Array<History.Entry> = []
        for (const item of raw) {
          const entry = toEntry(item)
          if (entry !== undefined && isFor(entry, target)) entries.push(entry)
        }
        return { _tag: "Replay", entries } as const
      })

    // The tail: what other processes append, read from where this process started, entry after entry; a failed
    // read (Redis away) is counted, logged and retried from the same place.
    const start = yield* Effect.orElseSucceed(
      Effect.map(call(() => commands.xrevrange(key, "+", "-", "COUNT", 1)), ([last]) => last?.[0] ?? "0-0"),
      () => `${Date.now()}-0`
    )
    let cursor = start
    // Logged once when reads start failing and once when they work again; every failure is counted.
    let failing = false
    const read: Effect.Effect<Chunk.Chunk<History.Entry>> = Effect.matchEffect(
      Effect.suspend(() => call(() => reader.xread("COUNT", 1000, "BLOCK", 1000, "STREAMS", key, cursor))),
      {
        onFailure: (error) =>
          Effect.zipRight(
            Effect.zipRight(
              Metric.increment(tailFailures),
              failing ? Effect.void : Effect.logWarning("effect-sse: reading the Redis stream failed; retrying", error)
            ),
            Effect.sync(() => {
              failing = true
            })
          ).pipe(Effect.zipRight(Effect.as(Effect.sleep("250 millis"), Chunk.empty()))),
        onSuccess: (result) => {
          const recovered = failing
          failing = false
          const entries: Array<History.Entry> = []
          for (const [, items] of result ?? []) {
            for (const item of items as Array<RawEntry>) {
              cursor = item[0]
              const fields = item[1]
              let origin: string | undefined
              for (let i = 0; i < fields.length; i += 2) if (fields[i] === "o") origin = fields[i + 1]
              if (origin === instance) continue
              const entry = toEntry(item)
              if (entry !== undefined) entries.push(entry)
            }
          }
          const chunk = Chunk.unsafeFromArray(entries)
          return recovered
            ? Effect.as(Effect.logInfo("effect-sse: reading the Redis stream works again"), chunk)
            : Effect.succeed(chunk)
        }
      }
    )

    return { append, since, remote: Stream.repeatEffectChunk(read) }
  })
