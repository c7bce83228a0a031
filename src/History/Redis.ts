/**
 * A history on Redis Streams, shared by every process that runs the same `SseServer`: each message is an entry
 * of one capped stream (`XADD ... MAXLEN`), whose ordered ids (`<ms>-<seq>`) are the SSE ids; a reconnecting
 * client is replayed with `XRANGE` after its `Last-Event-ID`, whichever process it lands on; and every process
 * tails the stream (`XREAD BLOCK`) to deliver what the others sent to the clients connected to it.
 *
 * When Redis is unreachable, sends are still delivered to this process's clients and fail with
 * `SseServerError` reason `History` (nothing is lost silently); ioredis reconnects by itself and the tail
 * resumes after the last entry it read.
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
  /** The prefix of the keys used: the stream is `<prefix>:events`. Default `"effect-sse"`. */
  readonly prefix?: string | undefined
  /** How many entries the stream keeps (`MAXLEN`). Default 10,000. */
  readonly maxEntries?: number | undefined
  /** How long entries can be replayed. Default 5 minutes. */
  readonly maxAge?: Duration.DurationInput | undefined
  /** Messages without an id take their stream entry's id. Default `true`. */
  readonly assignIds?: boolean | undefined
  /** How long a command may wait for Redis before the send is reported as failed. Default 2 seconds. */
  readonly commandTimeout?: Duration.DurationInput | undefined
}

/**
 * Connects to Redis for the current scope and builds the history.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Message } from "effect-sse"
 * import * as RedisHistory from "effect-sse/History/Redis"
 *
 * const program = Effect.gen(function*() {
 *   const history = yield* RedisHistory.make({ url: "redis://127.0.0.1:6379", prefix: "chat" })
 *   const entry = yield* history.append(undefined, Message.make({ data: "hello" })) // id like "1732451234567-0"
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
    commandTimeout: Duration.toMillis(Duration.decode(options.commandTimeout ?? "2 seconds"))
  })

/**
 * The Redis history as a Layer for `SseServer`: provide it, and every process using the same Redis and prefix
 * behaves as one server.
 *
 * @example
 * ```ts
 * import { Context, Layer } from "effect"
 * import { SseServer } from "effect-sse"
 * import * as RedisHistory from "effect-sse/History/Redis"
 *
 * class Events extends Context.Tag("app/Events")<Events, SseServer.SseServer<string>>() {}
 * const EventsLive = SseServer.layer(Events, { keepAlive: "15 seconds" }).pipe(
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
 * The Redis history's own metric: failed reads of the stream that fans events out between processes (each is
 * logged and retried). Failed writes are counted by `SseServer.metrics.historyFailures`.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import * as RedisHistory from "effect-sse/History/Redis"
 *
 * const failures = Effect.map(Metric.value(RedisHistory.metrics.tailFailures), (state) => state.count)
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = { tailFailures: internal.tailFailures }
