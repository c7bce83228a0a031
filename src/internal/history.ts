import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
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

/** Whether an entry is meant for `target`. @internal */
export const isFor = (entry: History.Entry, target: string): boolean =>
  entry.target === undefined || entry.target === target

interface Stored {
  readonly at: number
  readonly entry: History.Entry
}

/** @internal */
export const makeMemory = (options: History.MemoryOptions = {}): Effect.Effect<History.Service> =>
  Effect.sync(() => {
    const maxEntries = Math.max(1, options.maxEntries ?? 1000)
    const maxAge = Duration.toMillis(Duration.decode(options.maxAge ?? "5 minutes"))
    const assignIds = options.assignIds ?? true
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

    const append = (target: string | undefined, message: Message.Message) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const key = String(++counter)
        const entry = makeEntry(key, target, message, assignIds ? key : undefined)
        if (Either.isRight(entry)) {
          stored.push({ at: now, entry: entry.right })
          evict(now)
        }
        return entry
      })

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
        return { _tag: "Replay", entries }
      })

    return { append, since, remote: Stream.empty }
  })
