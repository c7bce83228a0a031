import * as Headers from "@effect/platform/Headers"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import type * as MetricLabel from "effect/MetricLabel"
import * as MutableHashMap from "effect/MutableHashMap"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Encoder from "../Encoder.js"
import type * as History from "../History.js"
import type * as SseServer from "../SseServer.js"
import { type Backplane, gapFrame } from "./backplane.js"
import { SharedJoin } from "./bytes.js"
import { type Connection, heartbeatFrame } from "./connection.js"
import { metrics } from "./serverMetrics.js"

/** The options, resolved once. @internal */
export interface Settings {
  readonly name: string
  readonly policy: SseServer.SlowConsumerPolicy
  readonly capacity: number
  readonly sendTimeout: number
  /** Milliseconds; 0: no heartbeats. */
  readonly keepAlive: number
  readonly retryMillis: number | undefined
  /** The first frame of every stream: `retry:` when the option is set, else a comment. */
  readonly prelude: Uint8Array
  readonly connectionsPerId: "replace" | "multiple"
  readonly maxConnections: number | undefined
  readonly maxConnectionsPerId: number | undefined
  readonly retryAfterSeconds: number
  readonly shutdownTimeout: number
  readonly shutdownJitter: number
}

const millis = (input: Duration.DurationInput | undefined, fallback: number): number =>
  input === undefined ? fallback : Duration.toMillis(Duration.decode(input))

/** @internal */
export const resolveSettings = (options: SseServer.Options): Settings => {
  const retryMillis = options.retry === undefined ? undefined : millis(options.retry, 0)
  return {
    name: options.name ?? "default",
    policy: options.slowConsumer ?? "close",
    capacity: Math.max(1, options.bufferCapacity ?? 256),
    sendTimeout: millis(options.sendTimeout, 5000),
    keepAlive: millis(options.keepAlive, 0),
    retryMillis,
    prelude: retryMillis === undefined
      ? Encoder.comment()
      : Either.getOrElse(Encoder.retry(retryMillis), () => Encoder.comment()),
    connectionsPerId: options.connectionsPerId ?? "replace",
    maxConnections: options.maxConnections,
    maxConnectionsPerId: options.maxConnectionsPerId,
    retryAfterSeconds: Math.max(1, Math.ceil(millis(options.retryAfter, 5000) / 1000)),
    shutdownTimeout: millis(options.shutdownTimeout, 5000),
    shutdownJitter: millis(options.shutdownJitter, 5000)
  }
}

/**
 * The platform-neutral core of a server: the registry of connections, admission and limits, fan-out, the
 * heartbeat sweep, metrics and shutdown. It knows nothing of HTTP transports: writers do (see `nodeWriter.ts` and
 * `streamWriter.ts`), and the history lives behind the `Backplane`.
 *
 * @internal
 */
export class Hub<Id> {
  /** Every registered connection, in order of arrival. */
  readonly open = new Set<Connection<Id>>()
  private readonly byId = MutableHashMap.empty<Id, Array<Connection<Id>>>()
  /** With a history: the open connections by the key of their id in the log. */
  private readonly byKey = new Map<string, Array<Connection<Id>>>()
  /** Connections not yet disposed (including those replaced or closing): what shutdown waits for. */
  private readonly live = new Set<Connection<Id>>()
  private shuttingDown = false
  private allGone: Deferred.Deferred<void> | undefined = undefined
  backplane: Backplane = undefined
  // The last batch joined, shared by every connection that batches the same frames.
  private readonly joiner = new SharedJoin()
  // Frames written within sends are counted in plain numbers and reported once per send or broadcast: a metric
  // update per connection would cost more than the write.
  private unreportedFrames = 0
  private unreportedBytes = 0

  constructor(
    readonly settings: Settings,
    private readonly clock: Clock.Clock,
    private readonly tags: ReadonlyArray<MetricLabel.MetricLabel>,
    /** Runs a fiber in the server's scope. */
    readonly fork: (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>
  ) {}

  now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  nanos(): bigint {
    return this.clock.unsafeCurrentTimeNanos()
  }

  /** A connection's queue: sliding under `"dropOldest"`, bounded otherwise. */
  makeQueue(): Queue.Queue<Uint8Array> {
    const { capacity, policy } = this.settings
    return Effect.runSync(policy === "dropOldest" ? Queue.sliding(capacity) : Queue.bounded(capacity))
  }

  // --- metrics ---

  onWritten(frames: number, bytes: number): void {
    metrics.framesSent.unsafeUpdate(frames, this.tags)
    metrics.bytesWritten.unsafeUpdate(bytes, this.tags)
  }

  countWritten(bytes: number): void {
    this.unreportedFrames++
    this.unreportedBytes += bytes
  }

  flushWritten(): void {
    if (this.unreportedFrames === 0) return
    this.onWritten(this.unreportedFrames, this.unreportedBytes)
    this.unreportedFrames = 0
    this.unreportedBytes = 0
  }

  onDropped(frames: number): void {
    if (frames > 0) metrics.framesDropped.unsafeUpdate(frames, this.tags)
  }

  onHistoryFailure(): void {
    metrics.historyFailures.unsafeUpdate(1, this.tags)
  }

  private updateOpenGauge(): void {
    metrics.connectionsOpen.unsafeUpdate(this.open.size, this.tags)
  }

  /**
   * Frames as one buffer (the first `count`). Connections that received the same broadcasts
   * batch the same frames: the buffer is built once and shared, not copied per connection.
   */
  join(frames: ReadonlyArray<Uint8Array>, count = frames.length): Uint8Array {
    return count === 1 ? frames[0]! : this.joiner.join(frames, count)
  }

  // --- registry and admission ---

  connectionsOf(id: Id): ReadonlyArray<Connection<Id>> {
    return Option.getOrElse(MutableHashMap.get(this.byId, id), () => [])
  }

  /** Why a connection of `id` is refused now (shutdown, limits), or undefined when it may open. */
  admit(id: Id): string | undefined {
    if (this.shuttingDown) return "The event stream server is shutting down"
    const { connectionsPerId, maxConnections, maxConnectionsPerId } = this.settings
    const siblings = this.connectionsOf(id)
    const replacing = connectionsPerId !== "multiple" ? siblings.length : 0
    if (maxConnections !== undefined && this.open.size - replacing >= maxConnections) {
      return "Too many event stream connections"
    }
    if (
      connectionsPerId === "multiple" && maxConnectionsPerId !== undefined && siblings.length >= maxConnectionsPerId
    ) {
      return "Too many event stream connections for this id"
    }
    return undefined
  }

  /** A `503` with `Retry-After`, counted. */
  refuse(reason: string): HttpServerResponse.HttpServerResponse {
    metrics.connectionsRefused.unsafeUpdate(1, this.tags)
    const seconds = this.settings.retryAfterSeconds
    return HttpServerResponse.text(`${reason}: try again in ${seconds} seconds\n`, {
      status: 503,
      headers: Headers.fromInput({ "retry-after": String(seconds), "cache-control": "no-store" })
    })
  }

  /** Registers a connection admitted in the same synchronous step, so that concurrent connects cannot overshoot. */
  register(connection: Connection<Id>): void {
    if (this.settings.connectionsPerId !== "multiple") {
      // As in the seed: the newest connection of an id replaces the previous one, which ends cleanly.
      for (const previous of this.connectionsOf(connection.id)) {
        this.remove(previous)
        previous.unsafeClose()
      }
    }
    this.open.add(connection)
    this.live.add(connection)
    MutableHashMap.set(this.byId, connection.id, [...this.connectionsOf(connection.id), connection])
    if (connection.historyKey !== undefined) {
      this.byKey.set(connection.historyKey, [...(this.byKey.get(connection.historyKey) ?? []), connection])
    }
    this.updateOpenGauge()
  }

  private remove(connection: Connection<Id>): void {
    if (!this.open.delete(connection)) return
    const siblings = MutableHashMap.get(this.byId, connection.id)
    if (Option.isSome(siblings)) {
      const rest = siblings.value.filter((c) => c !== connection)
      if (rest.length === 0) MutableHashMap.remove(this.byId, connection.id)
      else MutableHashMap.set(this.byId, connection.id, rest)
    }
    const key = connection.historyKey
    if (key !== undefined) {
      const rest = (this.byKey.get(key) ?? []).filter((c) => c !== connection)
      if (rest.length === 0) this.byKey.delete(key)
      else this.byKey.set(key, rest)
    }
    this.updateOpenGauge()
  }

  /** Called by a connection once it is gone. */
  unregister(connection: Connection<Id>): void {
    this.remove(connection)
    this.live.delete(connection)
    if (this.allGone !== undefined && this.live.size === 0) Deferred.unsafeDone(this.allGone, Effect.void)
  }

  // --- fan-out ---

  /** One synchronous loop over the connections. */
  deliverAll(frame: Uint8Array): void {
    for (const connection of this.open) connection.unsafeOffer(frame)
    this.flushWritten()
  }

  /**
   * An entry of the server's log, from whichever process recorded it, in the log's order: for every connection,
   * or for those of the id whose key it names.
   */
  deliverEntry(entry: History.Entry): void {
    const targets = entry.target === undefined ? this.open : this.byKey.get(entry.target)
    if (targets === undefined) return
    for (const connection of targets) connection.offerEntry(entry)
    this.flushWritten()
  }

  /** Entries were lost before they could be delivered: every connection is told at once. */
  signalGap(reason: "Expired" | "Unavailable"): void {
    for (const connection of this.open) connection.unsafeOffer(gapFrame(connection.lastSentId, reason))
    this.flushWritten()
  }

  // --- heartbeats ---

  /**
   * One fiber per server fills silences: it sleeps until the earliest connection falls due (`keepAlive` after its
   * last write), writes a comment to every connection that is due, and sleeps again. A connection opened meanwhile
   * falls due after the current wake-up, so nothing is missed; a sweep costs nothing per connection while asleep.
   */
  sweep(): Effect.Effect<never> {
    const keepAlive = this.settings.keepAlive
    // Connections falling due at nearly the same time share a wake-up.
    const slack = Math.max(1, Math.floor(keepAlive / 64))
    const loop: Effect.Effect<never> = Effect.suspend(() => {
      const now = this.now()
      let next = now + keepAlive
      for (const connection of this.open) {
        const due = connection.lastWrite + keepAlive
        if (due <= now + slack) {
          connection.offerControl(heartbeatFrame)
        } else if (due < next) next = due
      }
      this.flushWritten()
      return Effect.zipRight(Effect.sleep(Math.max(slack, next - now)), loop)
    })
    return loop
  }

  // --- shutdown ---

  /**
   * Refuses new connections, tells every client to reconnect after `retry` plus a random jitter, ends every
   * response after what was queued, and waits for them for `shutdownTimeout`; aborts the rest.
   */
  shutdown(): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      this.shuttingDown = true
      const { retryMillis, shutdownJitter, shutdownTimeout } = this.settings
      const closing = Array.from(this.live)
      if (closing.length === 0) return
      const allGone = yield* Deferred.make<void>()
      this.allGone = allGone
      for (const connection of closing) {
        const jitter = yield* Random.nextIntBetween(0, Math.max(1, shutdownJitter))
        const hint = Encoder.retry((retryMillis ?? 0) + jitter)
        if (Either.isRight(hint)) connection.offerControl(hint.right)
        connection.unsafeClose()
      }
      this.flushWritten()
      if (this.live.size === 0) return
      // Finalizers run uninterruptibly: without `interruptible`, the timeouts below could not stop the wait.
      const finished = yield* Effect.timeoutTo(Effect.interruptible(Deferred.await(allGone)), {
        duration: shutdownTimeout,
        onSuccess: () => true,
        onTimeout: () => false
      })
      if (!finished) {
        for (const connection of Array.from(this.live)) connection.abort()
      }
    })
  }
}
