/**
 * The wire format end to end, no server needed: typed events and plain messages are encoded to bytes, cut
 * into awkward chunks, and parsed back into a Stream.
 *
 * Run: npm run example:wire
 */
import { Console, Effect, Schema, Stream } from "effect"
import { Encoder, Message, Parser, SseEvent } from "effect-sse"

const Price = SseEvent.make("price", Schema.Struct({ symbol: Schema.String, cents: Schema.Int }))

const program = Effect.gen(function*() {
  const frames = [
    yield* Encoder.encode(Message.make({ data: "hello\nworld", id: "1", retry: "2 seconds" })),
    Encoder.comment("heartbeat"),
    yield* Price.encodeFrame({ symbol: "EFCT", cents: 4200 }, { id: "2" })
  ]
  const bytes = Buffer.concat(frames)
  // Seven-byte chunks cut lines, fields and the CRLF-free framing at arbitrary places.
  const chunks = Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => bytes.subarray(i * 7, i * 7 + 7))

  yield* Stream.fromIterable(chunks).pipe(
    Parser.decode(),
    Stream.mapEffect((message) =>
      Price.is(message)
        ? Effect.map(
          Price.decode(message),
          (price) => `price ${price.symbol} ${price.cents} (id ${message.lastEventId})`
        )
        : Effect.succeed(`${message.event}: ${JSON.stringify(message.data)} (id ${message.lastEventId})`)
    ),
    Stream.runForEach(Console.log)
  )
})

Effect.runPromise(program)
