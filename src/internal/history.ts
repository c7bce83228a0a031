import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoder from "../Encoder.js"
import type * as History from "../History.js"
import * as Message from "../Message.js"

/** @internal */
export class HistoryError extends Data.TaggedError("HistoryError")<{
  readonly reason: "Unavailable" | "Encode"
  readonly cause?: unknown
}> {
  override get message(): string {
    const detail = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return this.reason === "Unavailable"
      ? `Unavailable: the history store cannot be reached${detail}`
      : `Encode: the entry cannot be written${detail}`
  }
}

/**
 * The entry for a message recorded under `key`: the message keeps the app's id, or takes `assigned` when it has
 * none; the frame is encoded once, here, for every connection. Shared by every history implementation.
 *
 * @internal
 */
export const makeEntry = (
  key: string,
  target: string | undefined,
  message: Message.Message,
  assigned: string | undefined
): Either.Either<History.Entry, HistoryError> => {
  const stamped = message.id !== undefined || assigned === undefined ? message : Message.make({
    data: message.data,
    event: message.event,
    id: assigned,
    retry: message.retry
  })
  return Either.mapBoth(Encoder.encode(stamped), {
    onLeft: (cause) => new HistoryError({ reason: "Encode", cause }),
    onRight: (frame) => ({ key, target, message: stamped, frame })
  })
}

/**
 * Checks that every item can be encoded, before anything is stored: an entry that cannot be written must not
 * reach any connection, nor be half of a batch.
 *
 * @internal
 */
export const checkItems = (items: ReadonlyArray<History.Item>): Either.Either<void, HistoryError> => {
  for (const item of items) {
    const checked = makeEntry("", item.target, item.message, undefined)
    if (Either.isLeft(checked)) return Either.left(checked.left)
  }
  return Either.void
}

/** Whether an entry is meant for `target`. @internal */
export const isFor = (entry: History.Entry, target: string): boolean =>
  entry.target === undefined || entry.target === target

/**
 * Claims a namespace in a store for a scope: two servers of one process with one name would read each other's
 * entries, so the second is a defect named after the cause.
 *
 * @internal
 */
export const claimNamespace = (claimed: Set<string>, namespace: string): Effect.Effect<void, never, never> =>
  claimed.has(namespace)
    ? Effect.dieMessage(
      `effect-sse: the history log "${namespace}" is already open in this store: give each server its own name`
    )
    : Effect.sync(() => {
      claimed.add(namespace)
    })

interface Stored {
  readonly at: number
  readonly entry: History.Entry
}

const compareCounters = (a: string, b: string): number => Number(a) - Number(b)

/** @internal */
export const makeMemory = (options: History.MemoryOptions = {}): Effect.Effect<History.Service> =>
  Effect.sync(() => {
    const maxEntries = Math.max(1, options.maxEntries ?? 1000)
    const maxAge = Duration.toMillis(Duration.decode(options.maxAge ?? "5 minutes"))
    const assignIds = options.assignIds ?? true
    const claimed = new Set<string>()

    const open = (namespace: string, subscriber: History.Subscriber) =>
      Effect.zipRight(
        Effect.acquireRelease(claimNamespace(claimed, namespace), () =>
          Effect.sync(() => {
            claimed.delete(namespace)
          })),
        Effect.sync(() => makeLog(subscriber))
      )

    const makeLog = (subscriber: History.Subscriber): History.Log => {
      // Oldest first; `head` skips evicted entries, compacted once they are half the array.
      let stored: Array<Stored> = []
      let head = 0
      let counter = 0

      const evict = (now: number) => {
        while (head < stored.length && (stored.length - head > maxEntries || now - stored[head]!.at > maxAge)) head++
        if (head > 64 && head * 2 > stored.length) {
          stored = stored.slice(head)
          head = 0
        }
      }

      // Recorded and delivered in one synchronous step: the order of the log is the order of delivery.
      const append = (items: ReadonlyArray<History.Item>) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Either.map(checkItems(items), () => {
            const entries: Array<History.Entry> = []
            for (const item of items) {
              const key = String(++counter)
              const entry = Either.getOrThrow(makeEntry(key, item.target, item.message, assignIds ? key : undefined))
              stored.push({ at: now, entry })
              entries.push(entry)
            }
            evict(now)
            for (const entry of entries) subscriber.onEntry(entry)
            return entries
          }))

      const since = (lastEventId: string, target: string) =>
        Effect.map(Clock.currentTimeMillis, (now): History.Replay => {
          evict(now)
          let at = stored.length - 1
          while (at >= head && stored[at]!.entry.message.id !== lastEventId) at--
          if (at < head) {
            // Our own ids are counters: one we handed out that is no longer here has expired.
            const ours = assignIds && /^\d+$/.test(lastEventId) && Number(lastEventId) <= counter
            return { _tag: "Gap", reason: ours ? "Expired" : "Unknown" }
          }
          const entries: Array<History.Entry> = []
          for (let i = at + 1; i < stored.length; i++) {
            const entry = stored[i]!.entry
            if (isFor(entry, target)) entries.push(entry)
          }
          return { _tag: "Replay", entries, cursor: stored[stored.length - 1]!.entry.key }
        })

      const keyOf = (lastEventId: string) =>
        assignIds && /^\d+$/.test(lastEventId) && Number(lastEventId) <= counter ? lastEventId : undefined

      return { append, since, compare: compareCounters, keyOf }
    }

    return { open }
  })

const canonical = (value: unknown, seen: Set<unknown>): string => {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value)
    case "number":
      return Number.isFinite(value) ? String(value) : `{"$number":"${value}"}`
    case "bigint":
      return `{"$bigint":"${value}"}`
    case "boolean":
      return String(value)
    case "undefined":
      return `{"$undefined":true}`
    case "object": {
      if (value === null) return "null"
      if (value instanceof Date) return `{"$date":${JSON.stringify(value.toISOString())}}`
      // A cycle cannot be written as JSON; it is cut (ids are values, so one is a mistake of the app's).
      if (seen.has(value)) return `{"$cycle":true}`
      seen.add(value)
      const out = Array.isArray(value)
        ? `[${value.map((item) => canonical(item, seen)).join(",")}]`
        : `{${
          Object.keys(value).sort().map((name) =>
            `${JSON.stringify(name)}:${canonical((value as Record<string, unknown>)[name], seen)}`
          ).join(",")
        }}`
      seen.delete(value)
      return out
    }
    default:
      return `{"$${typeof value}":${JSON.stringify(String(value))}}`
  }
}

/** @internal */
export const jsonKey = (id: unknown): string => canonical(id, new Set())
