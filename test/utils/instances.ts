import { Effect, Layer } from "effect"
import * as RedisHistory from "effect-sse/History/Redis"
import type { Client } from "./http.js"
import { listen, serve } from "./http.js"
import type { TestRedis } from "./redis.js"
import { eventsRoute, makeServer } from "./sse.js"

/**
 * One process's worth of server: an HTTP server on its own port and an SseServer named "events" whose history is
 * a Redis store of its own (its own connections), on the shared Redis and prefix: several of them behave as the
 * instances of one server.
 */
export const instance = (redis: TestRedis, prefix: string, options: RedisHistory.Options = {}) =>
  Effect.gen(function*() {
    const { server, url } = yield* listen
    // Built in the test's scope: the Redis connections live as long as the server.
    const history = yield* Layer.build(RedisHistory.layerRedis({ url: redis.url, prefix, ...options }))
    const sse = yield* makeServer<string>({ retry: "10 millis", name: "events", history: { key: (id) => id } })
      .pipe(Effect.provide(history))
    yield* serve(server, eventsRoute(sse))
    return { sse, url }
  })

export const datas = (client: Client) => client.messages().map((m) => m.data)

/** Orders two Redis stream ids (`<ms>-<seq>`). */
export const compareStreamIds = (a: string, b: string): number => {
  const [am = 0, as = 0] = a.split("-").map(Number)
  const [bm = 0, bs = 0] = b.split("-").map(Number)
  return am - bm || as - bs
}
