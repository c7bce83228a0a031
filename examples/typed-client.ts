/**
 * A client of typed events with a custom reconnect Schedule. To run on its own, it starts a small SseServer
 * that sends a few typed events, then drops the connection: the client reconnects with Last-Event-ID and the
 * server resumes after it.
 *
 * Run: npm run example:typed-client
 */
import { HttpRouter, HttpServer } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { Console, Duration, Effect, Layer, Schedule, Schema, Stream } from "effect"
import { SseClient, SseEvent, SseServer } from "effect-sse"
import { createServer } from "node:http"

// Shared declarations: the server encodes with them, the client decodes.
const Price = SseEvent.make("price", Schema.Struct({ symbol: Schema.String, cents: Schema.Int }))
const Halt = SseEvent.make("halt", Schema.Struct({ symbol: Schema.String, reason: Schema.String }))

// The server: three events per connection, resuming after the client's Last-Event-ID, then it hangs up.
const server = Effect.gen(function*() {
  const sse = yield* SseServer.make<number>({ retry: "200 millis" })
  let connections = 0
  const feed = HttpRouter.empty.pipe(HttpRouter.get(
    "/prices",
    Effect.suspend(() =>
      sse.connect(connections++, {
        // Given the new source before any live frame reaches it: resume after its Last-Event-ID, then hang up.
        onOpen: (source) =>
          Effect.gen(function*() {
            const from = Number((yield* source.lastEventId) || "0")
            for (let n = from + 1; n <= from + 3; n++) {
              const event = n % 4 === 0 ?
                Halt.encode({ symbol: "EFCT", reason: "volatility" }, { id: String(n) }) :
                Price.encode({ symbol: "EFCT", cents: 4200 + n }, { id: String(n) })
              yield* source.send(yield* Effect.orDie(event))
            }
            yield* source.close
          })
      })
    ).pipe(Effect.orDie)
  ))
  yield* HttpServer.serveEffect(feed)
})

// The client: every 250 ms, at most 5 attempts in a row (the schedule starts over once a message arrives).
const reconnect = Schedule.intersect(Schedule.spaced("250 millis"), Schedule.recurs(5))

const client = Effect.gen(function*() {
  const address = yield* HttpServer.addressFormattedWith((url) => Effect.succeed(url))
  yield* SseClient.get(`${address}/prices`, {
    reconnect,
    onState: (state) =>
      Console.log(`  [${state._tag}${state._tag === "Retrying" ? ` in ${Duration.format(state.delay)}` : ""}]`)
  }).pipe(
    SseClient.decodeEvents({ Price, Halt }),
    Stream.take(7),
    Stream.runForEach((event) =>
      event._tag === "Price"
        ? Console.log(`#${event.message.id} ${event.data.symbol} at ${event.data.cents / 100}`)
        : Console.log(`#${event.message.id} ${event.data.symbol} halted: ${event.data.reason}`)
    )
  )
})

Effect.gen(function*() {
  yield* server
  yield* client
}).pipe(
  Effect.scoped,
  Effect.provide(Layer.merge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }), NodeHttpClient.layer)),
  Effect.runPromise
)
