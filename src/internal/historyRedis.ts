import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import type * as History from "../History.js"
import * as Message from "../Message.js"
import { checkItems, claimNamespace, HistoryError, isFor, makeEntry } from "./history.js"

/** @internal */
export interface ResolvedOptions {
  readonly url: string
  readonly prefix: string
  readonly maxEntries: number
  readonly maxAge: number
  readonly assignIds: boolean
  readonly timeout: number
}

/** @internal */
export const metrics = {
  tailFailures: Metric.counter("sse_history_redis_tail_failures_total", {
    description: "Failed reads of the Redis stream that delivers every entry in order (retried)",
    incremental: true
  }),
  appendFailures: Metric.counter("sse_history_redis_append_failures_total", {
    description: "Appends that failed (Redis down, slow past the timeout, or refused at its deadline): not delivered",
    incremental: true
  }),
  outages: Metric.counter("sse_history_redis_outages_total", {
    description: "Times Redis stopped answering (one warning is logged for each)",
    incremental: true
  }),
  available: Metric.gauge("sse_history_redis_available", {
    description: "1 while Redis answers, 0 during an outage (appends fail at once)"
  }),
  gaps: Metric.counter("sse_history_redis_gaps_total", {
    description: "Times live connections were told they may have missed entries (Redis lost data, or a trim)",
    incremental: true
  })
}

type RawEntry = [id: string, fields: Array<string>]

const STREAM_ID = /^(\d+)-(\d+)$/

/** Orders two stream ids (`<ms>-<seq>`). */
const compareIds = (a: string, b: string): number => {
  const [am = 0, as = 0] = a.split("-").map(Number)
  const [bm = 0, bs = 0] = b.split("-").map(Number)
  return am - bm || as - bs
}

// Appends a batch only if Redis runs it before the deadline (in Redis' clock): a command that waited out its
// timeout in a frozen or slow Redis is refused when it finally runs, so nothing is written that the sender was
// told had failed. ARGV: deadline, MAXLEN, then per entry its field count and fields.
const APPEND_SCRIPT = `
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[1]) then return false end
local ids = {}
local i = 3
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local args = { KEYS[1], 'MAXLEN', ARGV[2], '*' }
  for j = 1, n do args[#args + 1] = ARGV[i + j] end
  ids[#ids + 1] = redis.call('XADD', unpack(args))
  i = i + n + 1
end
return ids
`

interface Appender {
  sseAppend(key: string, ...args: Array<string>): Promise<Array<string> | null>
}

const connect = (url: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const redis = new Redis(url, {
        // Fail at once while disconnected: a send is reported, not queued without bound.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
        lazyConnect: false
      })
      // Connection errors surface on the commands; without a listener ioredis would print each one.
      redis.on("error", () => {})
      redis.defineCommand("sseAppend", { numberOfKeys: 1, lua: APPEND_SCRIPT })
      return redis
    }),
    (redis) => Effect.sync(() => redis.disconnect())
  )

// Commands fail while disconnected, so the first ones wait for the connection; if Redis is away at start, the
// history starts anyway (appends fail) and ioredis keeps trying to connect.
const ready = (redis: Redis, timeout: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    if (redis.status === "ready") return resume(Effect.succeed(true))
    const onReady = () => resume(Effect.succeed(true))
    redis.once("ready", onReady)
    return Effect.sync(() => redis.off("ready", onReady))
  }).pipe(Effect.timeoutTo({ duration: timeout, onSuccess: (ok) => ok, onTimeout: () => false }))

const fieldsOf = (raw: ReadonlyArray<unknown>): Map<string, unknown> => {
  const map = new Map<string, unknown>()
  for (let i = 0; i + 1 < raw.length; i += 2) map.set(String(raw[i]), raw[i + 1])
  return map
}

/**
 * A command that fails after `ms`, unless its reply is already waiting: when the timer fires, the I/O that
 * arrived meanwhile (a busy event loop runs timers first) is read before the timeout is believed. An append whose
 * reply is lost that way would be reported failed while Redis had written it.
 */
const withTimeout = <A>(command: () => Promise<A>, ms: number): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    let settled = false
    const timer = setTimeout(() =>
      setImmediate(() => {
        if (settled) return
        settled = true
        reject(new Error(`Redis did not answer in ${ms} ms`))
      }), ms)
    command().then(
      (value) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        reject(error)
      }
    )
  })

/** @internal */
export const make = (options: ResolvedOptions): Effect.Effect<History.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const commands = yield* connect(options.url)
    const appender = commands as unknown as Appender
    const claimed = new Set<string>()

    // --- health: one outage is one warning; while it lasts, appends fail at once instead of waiting ---

    let up = true
    // Redis' clock minus ours, less how uncertain that is: an append's deadline is stated in the clock that checks
    // it, early rather than late.
    let offset = 0
    metrics.available.unsafeUpdate(1, [])

    const call = <A>(command: () => Promise<A>): Effect.Effect<A, HistoryError> =>
      Effect.tryPromise({
        try: () => withTimeout(command, options.timeout),
        catch: (cause) => new HistoryError({ reason: "Unavailable", cause })
      }).pipe(Effect.tapError((error) => markDown(error)))

    // The sample with the shortest round trip of a few: Date.now, not the Effect clock, since Redis' is real.
    const measureOffset = call(async () => {
      let best: { readonly rtt: number; readonly offset: number } | undefined
      for (let i = 0; i < 3; i++) {
        const before = Date.now()
        const [seconds, micros] = await commands.time()
        const after = Date.now()
        const sample = Number(seconds) * 1000 + Number(micros) / 1000 - (before + after) / 2
        if (best === undefined || after - before < best.rtt) best = { rtt: after - before, offset: sample }
      }
      offset = best!.offset - best!.rtt / 2 - 1
    })

    const probe: Effect.Effect<void> = Effect.suspend(() =>
      Effect.zipRight(
        Effect.sleep("200 millis"),
        Effect.matchEffect(Effect.zipRight(call(() => commands.ping()), measureOffset), {
          onFailure: () => probe,
          onSuccess: () =>
            Effect.suspend(() => {
              up = true
              metrics.available.unsafeUpdate(1, [])
              return Effect.logInfo("effect-sse: Redis answers again; the history records and delivers again")
            })
        })
      )
    )

    const markDown = (error: HistoryError): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!up) return Effect.void
        up = false
        metrics.available.unsafeUpdate(0, [])
        metrics.outages.unsafeUpdate(1, [])
        return Effect.zipRight(
          Effect.logWarning(
            "effect-sse: Redis is not answering; sends through the history fail at once until it is back",
            error.message
          ),
          Effect.asVoid(Effect.forkIn(probe, scope))
        )
      })

    const guarded = <A>(command: () => Promise<A>): Effect.Effect<A, HistoryError> =>
      Effect.suspend(() =>
        up ? call(command) : Effect.fail(
          new HistoryError({ reason: "Unavailable", cause: new Error("Redis is not answering (an outage is on)") })
        )
      )

    if (yield* ready(commands, options.timeout)) yield* Effect.ignore(measureOffset)
    else yield* markDown(new HistoryError({ reason: "Unavailable", cause: new Error("no connection to Redis yet") }))

    const open = (namespace: string, subscriber: History.Subscriber) =>
      Effect.gen(function*() {
        yield* Effect.acquireRelease(claimNamespace(claimed, namespace), () =>
          Effect.sync(() => {
            claimed.delete(namespace)
          }))
        const key = `${options.prefix}:${namespace}:events`
        const epochKey = `${options.prefix}:${namespace}:epoch`
        // XREAD BLOCK holds its connection: the tail gets one of its own.
        const reader = yield* connect(options.url)
        yield* ready(reader, options.timeout)

        const toEntry = ([id, fields]: RawEntry): History.Entry | undefined => {
          const get = (name: string) => {
            for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
            return undefined
          }
          const retry = get("r")
          const message = Message.make({
            data: get("d") ?? "",
            event: get("e"),
            id: get("i"),
            retry: retry === undefined ? undefined : Number(retry)
          })
          return Either.getOrUndefined(makeEntry(id, get("t"), message, options.assignIds ? id : undefined))
        }

        // --- the tail: every entry, this process's own included, in the stream's order ---

        let cursor = "0-0"
        // How many entries the stream had received when the cursor's entry was added (XINFO's entries-added):
        // the stream holds the last `length` of them, so entries were trimmed unread when it falls behind.
        let position: number | undefined = undefined
        // A value of the log's store, written once: a different one means Redis lost the data (a restart).
        let epoch: string | undefined = undefined
        let checkNeeded = true
        const waiters = new Set<{ readonly id: string; readonly resume: () => void }>()

        const gap = (reason: "Expired" | "Unavailable") =>
          Effect.sync(() => {
            metrics.gaps.unsafeUpdate(1, [])
            subscriber.onGap(reason)
          })

        const info = Effect.map(
          call(() =>
            commands.xinfo("STREAM", key).then(
              (raw) => fieldsOf(raw as ReadonlyArray<unknown>),
              // A stream not written yet is an empty one.
              (error: unknown) =>
                error instanceof Error && error.message.includes("no such key")
                  ? new Map<string, unknown>()
                  : Promise.reject(error)
            )
          ),
          (fields) => ({
            added: Number(fields.get("entries-added") ?? 0),
            length: Number(fields.get("length") ?? 0),
            last: String(fields.get("last-generated-id") ?? "0-0")
          })
        )

        const currentEpoch = Effect.flatMap(
          call(() => commands.set(epochKey, `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`, "NX")),
          () => call(() => commands.get(epochKey))
        )

        // After a failure, and when a read came back full (the tail may be behind): did Redis lose what the tail
        // had not read yet?
        const checkContinuity = Effect.gen(function*() {
          const current = (yield* currentEpoch) ?? undefined
          if (epoch !== undefined && current !== epoch) {
            cursor = "0-0"
            position = 0
            yield* gap("Unavailable")
          }
          epoch = current
          if (position !== undefined) {
            const stream = yield* info
            if (position < stream.added - stream.length) {
              position = stream.added - stream.length
              yield* gap("Expired")
            }
          }
          checkNeeded = false
        })

        // The tail starts after the stream's last entry. If Redis is away now, a little before this instant: no
        // connection is open yet to be given the few entries that may repeat, and later ones are not missed.
        const started = yield* Effect.either(Effect.zip(info, currentEpoch))
        if (Either.isRight(started)) {
          const [stream, current] = started.right
          cursor = stream.last
          position = stream.added
          epoch = current ?? undefined
          checkNeeded = false
        } else {
          cursor = `${Date.now() - 5000}-0`
          checkNeeded = true
        }
        reader.on("close", () => {
          checkNeeded = true
        })

        const settle = () => {
          for (const waiter of waiters) {
            if (compareIds(waiter.id, cursor) <= 0) {
              waiters.delete(waiter)
              waiter.resume()
            }
          }
        }

        // A tail so far behind that the stream was trimmed past it reads full batches: each full one is checked.
        const batch = Math.min(1000, options.maxEntries)
        // No timeout here: BLOCK bounds the wait, and a frozen Redis only delays what will come.
        const read = Effect.flatMap(
          Effect.tryPromise({
            try: () => reader.xread("COUNT", batch, "BLOCK", 1000, "STREAMS", key, cursor),
            catch: (cause) => new HistoryError({ reason: "Unavailable", cause })
          }),
          (result) =>
            Effect.sync(() => {
              let count = 0
              for (const [, items] of result ?? []) {
                for (const item of items as Array<RawEntry>) {
                  count++
                  cursor = item[0]
                  if (position !== undefined) position++
                  const entry = toEntry(item)
                  if (entry !== undefined) subscriber.onEntry(entry)
                }
              }
              if (count >= batch) checkNeeded = true
              settle()
            })
        )

        const step: Effect.Effect<void> = Effect.catchAll(
          Effect.suspend(() => checkNeeded ? Effect.zipRight(checkContinuity, read) : read),
          () =>
            Effect.suspend(() => {
              checkNeeded = true
              metrics.tailFailures.unsafeUpdate(1, [])
              return Effect.sleep("100 millis")
            })
        )
        yield* Effect.forkScoped(Effect.forever(step))

        // Resolves once the tail has delivered `id`, or after the timeout (it is recorded: it will be delivered).
        const delivered = (id: string): Effect.Effect<void> =>
          Effect.async<void>((resume) => {
            if (compareIds(id, cursor) <= 0) return resume(Effect.void)
            const waiter = { id, resume: () => resume(Effect.void) }
            waiters.add(waiter)
            return Effect.sync(() => waiters.delete(waiter))
          }).pipe(Effect.timeoutTo({ duration: options.timeout, onSuccess: () => {}, onTimeout: () => {} }))

        const append = (items: ReadonlyArray<History.Item>) =>
          Effect.flatMap(checkItems(items), () => {
            if (items.length === 0) return Effect.succeed([])
            const args: Array<string> = [String(options.maxEntries)]
            for (const { message, target } of items) {
              const fields: Array<string> = ["d", message.data, "e", message.event]
              if (target !== undefined) fields.push("t", target)
              if (message.id !== undefined) fields.push("i", message.id)
              if (message.retry !== undefined) fields.push("r", String(Math.floor(Duration.toMillis(message.retry))))
              args.push(String(fields.length), ...fields)
            }
            return Effect.suspend(() => {
              // Half the timeout: the reply has the other half to arrive before the sender gives up on it.
              const deadline = Math.floor(Date.now() + offset + options.timeout / 2)
              // withTimeout (in guarded) gives up only after its timer and the I/O waiting behind it: a reply that
              // Redis sent before the deadline is read, even when this process was too busy to read it in time.
              return guarded(() => appender.sseAppend(key, String(deadline), ...args))
            }).pipe(
              Effect.flatMap((ids) => {
                if (ids === null || ids.length !== items.length) {
                  const error = new HistoryError({
                    reason: "Unavailable",
                    cause: new Error("Redis ran the append after its deadline and refused it: nothing was written")
                  })
                  return Effect.zipRight(markDown(error), Effect.fail(error))
                }
                const entries: Array<History.Entry> = []
                for (let i = 0; i < ids.length; i++) {
                  const entry = makeEntry(
                    ids[i]!,
                    items[i]!.target,
                    items[i]!.message,
                    options.assignIds ? ids[i]! : undefined
                  )
                  if (Either.isRight(entry)) entries.push(entry.right)
                }
                return Effect.as(delivered(ids[ids.length - 1]!), entries)
              }),
              Effect.tapError(() => Effect.sync(() => metrics.appendFailures.unsafeUpdate(1, [])))
            )
          })

        // The stream id of the entry the client last saw: its own id, or found by the app's id it carried.
        const locate = (lastEventId: string): Effect.Effect<string | undefined, HistoryError> => {
          if (options.assignIds && STREAM_ID.test(lastEventId)) {
            return Effect.map(
              guarded(() => commands.xrange(key, lastEventId, lastEventId)),
              (found) => found.length === 0 ? undefined : lastEventId
            )
          }
          const scan = (end: string): Effect.Effect<string | undefined, HistoryError> =>
            Effect.flatMap(guarded(() => commands.xrevrange(key, end, "-", "COUNT", 200)), (page) => {
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
              const [first] = yield* guarded(() => commands.xrange(key, "-", "+", "COUNT", 1))
              const expired = first !== undefined && compareIds(lastEventId, first[0]) < 0
              return { _tag: "Gap", reason: expired ? "Expired" : "Unknown" } as const
            }
            const raw = yield* guarded(() => commands.xrange(key, `(${at}`, "+"))
            const entries: Array<History.Entry> = []
            for (const item of raw) {
              const entry = toEntry(item)
              if (entry !== undefined && isFor(entry, target)) entries.push(entry)
            }
            const cursor = raw.length === 0 ? at : raw[raw.length - 1]![0]
            return { _tag: "Replay", entries, cursor } as const
          })

        const keyOf = (lastEventId: string) =>
          options.assignIds && STREAM_ID.test(lastEventId) ? lastEventId : undefined

        return { append, since, compare: compareIds, keyOf } satisfies History.Log
      })

    return { open }
  })
