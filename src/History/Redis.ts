/**
 * A history store on Redis Streams, shared by every process that runs the same servers: each server's log is
 * one capped stream (`<prefix>:<server name>:events`, `XADD ... MAXLEN`), whose ordered ids (`<ms>-<seq>`) are
 * the SSE ids.
 *
 * - **One order**: a send is appended to the stream, and every process, the sender's included, delivers the
 *   stream's entries to its connections in the stream's order, read by its tail (`XREAD BLOCK`). So every
 *   client of a server sees one order, and the `Last-Event-ID` it holds names the prefix it has seen: a
 *   reconnect on any process replays exactly the rest (`XRANGE`).
 * - **A send fails before delivery or succeeds**: when Redis does not answer within `timeout`, the send fails
 *   with `SseServerError` reason `History` and the message is delivered nowhere. An append carries a deadline
 *   (half the timeout, in Redis' clock) that Redis checks when it runs it, so a command stuck in a frozen Redis
 *   is refused when Redis wakes up rather than written after the sender was told it failed.
 * - **Outages**: the first failure starts an outage: one warning is logged, `metrics.available` drops to 0 and
 *   sends fail at once, until a probe (every 200 ms) gets an answer. Nothing is delivered during an outage, so
 *   nothing is missed by anyone.
 * - **Live gaps**: if Redis loses entries the tail had not read (a restart without persistence, or a trim
 *   past a tail that fell behind `maxEntries`), every connection is sent `SseEvent.ReplayGap` at once.
 *
 * Needs the `ioredis` package (an optional peer dependency).
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as History from "../History.js"
import * as internal from "../internal/historyRedis.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The Redis URL. Default `redis://127.0.0.1:6379`. */
  readonly url?: string | undefined
  /** The prefix of the keys used: a server's stream is `<prefix>:<server name>:events`. Default `"effect-sse"`. */
  readonly prefix?: string | undefined
  /** How many entries each server's stream keeps (`MAXLEN`). Default 10,000. */
  readonly maxEntries?: number | undefined
  /** How long entries can be replayed. Default 5 minutes. */
  readonly maxAge?: Duration.DurationInput | undefined
  /** Messages without an id take their stream entry's id. Default `true`. */
  readonly assignIds?: boolean | undefined
  /**
   * How long a send waits for Redis before it fails (and an outage begins). Default 1 second. Redis refuses an
   * append that reaches it after half this time.
   */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * Connects to Redis for the current scope and builds the store. Each log opened in it holds a second
 * connection, for its tail.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Message } from "effect-sse"
 * import * as RedisHistory from "effect-sse/History/Redis"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* RedisHistory.make({ url: "redis://127.0.0.1:6379", prefix: "app" })
 *   const log = yield* store.open("chat", { onEntry: (entry) => console.log(entry.key), onGap: () => {} })
 *   const [entry] = yield* log.append([{ target: undefined, message: Message.make({ data: "hello" }) }])
 *   // entry.message.id is the stream id, like "1732451234567-0"
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<History.Service, never, Scope.Scope> = (options = {}) =>
  internal.make({
    url: options.url ?? "redis://127.0.0.1:6379",
    prefix: options.prefix ?? "effect-sse",
    maxEntries: Math.max(1, options.maxEntries ?? 10_000),
    maxAge: Duration.toMillis(Duration.decode(options.maxAge ?? "5 minutes")),
    assignIds: options.assignIds ?? true,
    timeout: Math.max(10, Duration.toMillis(Duration.decode(options.timeout ?? "1 second")))
  })

/**
 * The Redis store as a Layer for the servers given `history` options: every process using the same Redis and
 * prefix runs each server (by name) as one.
 *
 * @example
 * ```ts
 * import { Context, Layer } from "effect"
 * import { SseServer } from "effect-sse"
 * import * as RedisHistory from "effect-sse/History/Redis"
 *
 * class Events extends Context.Tag("app/Events")<Events, SseServer.SseServer<string>>() {}
 * const EventsLive = SseServer.layer(Events, { name: "events", history: { key: (id) => id } }).pipe(
 *   Layer.provide(RedisHistory.layerRedis({ url: "redis://127.0.0.1:6379", prefix: "app" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedis = (options?: Options): Layer.Layer<History.History> =>
  Layer.scoped(History.History, make(options))

/**
 * The Redis history with its options read from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import * as RedisHistory from "effect-sse/History/Redis"
 *
 * const HistoryLive = RedisHistory.layerRedisConfig({
 *   url: Config.string("REDIS_URL"),
 *   prefix: Config.string("SSE_PREFIX").pipe(Config.withDefault("app"))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedisConfig = (
  options: Config.Config.Wrap<Options>
): Layer.Layer<History.History, ConfigError.ConfigError> =>
  Layer.scoped(History.History, Effect.flatMap(Config.unwrap(options), make))

/**
 * The Redis store's metrics: failed appends (nothing delivered), outages (one warning each), whether Redis
 * answers now, failed reads of the tail (retried), and live gaps signalled to connections.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import * as RedisHistory from "effect-sse/History/Redis"
 *
 * const outages = Effect.map(Metric.value(RedisHistory.metrics.outages), (state) => state.count)
 * const up = Effect.map(Metric.value(RedisHistory.metrics.available), (state) => state.value === 1)
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics: typeof internal.metrics = internal.metrics
