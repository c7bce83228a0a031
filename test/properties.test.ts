import { describe, expect, it } from "@effect/vitest"
import { Duration, Either, FastCheck as fc } from "effect"
import { Encoder, Message, Parser } from "effect-sse"
import { parseChunks, type Parsed, plain, splitAt } from "./utils/parse.js"

const encoder = new TextEncoder()

// Unicode text with every kind of line break mixed in.
const dataArb = fc.array(
  fc.oneof(fc.fullUnicodeString({ maxLength: 12 }), fc.constantFrom("\n", "\r", "\r\n", " ", "")),
  {
    maxLength: 8
  }
).map((parts) => parts.join(""))

// Names and ids: any Unicode except CR and LF (and NUL for ids).
const fieldArb = (forbidden: RegExp) => fc.fullUnicodeString({ maxLength: 10 }).map((s) => s.replace(forbidden, "_"))

const messageArb = fc.record({
  data: dataArb,
  event: fc.option(fieldArb(/[\r\n]/g), { nil: undefined }),
  id: fc.option(fieldArb(/[\r\n\0]/g), { nil: undefined }),
  retry: fc.option(fc.nat({ max: 1_000_000_000 }), { nil: undefined })
})

const normaliseLineBreaks = (s: string) => s.replace(/\r\n|\r/g, "\n")

const expectedOf = (inputs: ReadonlyArray<Message.MessageInput>) => {
  let lastEventId = ""
  return inputs.map((input) => {
    if (input.id !== undefined) lastEventId = input.id
    return {
      event: input.event === undefined || input.event === "" ? "message" : input.event,
      data: normaliseLineBreaks(input.data),
      id: input.id,
      lastEventId,
      ...(input.retry === undefined ? {} : { retry: Duration.decode(input.retry) })
    }
  })
}

const summary = (parsed: Parsed) => ({
  messages: plain(parsed.messages),
  comments: parsed.comments,
  retries: parsed.retries,
  lastEventId: parsed.lastEventId,
  error: parsed.error?.reason
})

// Streams made of the tokens that matter to the grammar, so random text hits every rule.
const wireArb = fc.array(
  fc.constantFrom(
    "data",
    "event",
    "id",
    "retry",
    "foo",
    ":",
    " ",
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "x",
    "12",
    "é",
    "😀",
    "\uFEFF",
    "\0",
    "\t"
  ),
  { maxLength: 80 }
).map((tokens) => tokens.join(""))

const cutsArb = fc.array(fc.nat(), { maxLength: 12 })

describe("Parser and Encoder properties", () => {
  it.prop(
    "encode then parse gives every message back (data line breaks arrive as LF)",
    [fc.array(messageArb, { maxLength: 6 })],
    ([inputs]) => {
      const messages = inputs.map((input) => Message.make(input))
      const bytes = Either.getOrThrow(Encoder.encodeAll(messages))
      expect(plain(parseChunks([bytes]).messages)).toEqual(expectedOf(inputs))
    },
    { fastCheck: { numRuns: 400 } }
  )

  it.prop(
    "interleaved comments and retry directives change no message",
    [fc.array(fc.tuple(messageArb, fc.string({ maxLength: 8 }), fc.nat({ max: 100_000 })), { maxLength: 5 })],
    ([entries]) => {
      let wire = ""
      for (const [input, comment, retry] of entries) {
        wire += Encoder.commentText(comment) + Either.getOrThrow(Encoder.retryText(retry))
        wire += Either.getOrThrow(Encoder.encodeText(Message.make(input)))
      }
      const parsed = parseChunks([wire])
      expect(plain(parsed.messages)).toEqual(expectedOf(entries.map(([input]) => input)))
      expect(parsed.retries).toEqual(
        entries.flatMap(([input, _, retry]) => input.retry === undefined ? [retry] : [retry, input.retry])
      )
      expect(parsed.comments).toEqual(entries.flatMap(([_, comment]) => comment.split(/\r\n|\r|\n/)))
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.prop(
    "encoded bytes split anywhere (inside characters, between CR and LF) give identical results",
    [fc.array(messageArb, { minLength: 1, maxLength: 4 }), cutsArb],
    ([inputs, cuts]) => {
      const bytes = Either.getOrThrow(Encoder.encodeAll(inputs.map((input) => Message.make(input))))
      const whole = summary(parseChunks([bytes]))
      const offsets = cuts.map((cut) => cut % (bytes.length + 1))
      expect(summary(parseChunks(splitAt(bytes, offsets)))).toEqual(whole)
      expect(summary(parseChunks(Array.from(bytes, (b) => Uint8Array.of(b))))).toEqual(whole)
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "any stream of grammar tokens parses the same whole, as text split anywhere, and as bytes split anywhere",
    [wireArb, cutsArb],
    ([wire, cuts]) => {
      const whole = summary(parseChunks([wire]))
      const bytes = encoder.encode(wire)
      expect(summary(parseChunks(splitAt(wire, cuts.map((cut) => cut % (wire.length + 1)))))).toEqual(whole)
      expect(summary(parseChunks(splitAt(bytes, cuts.map((cut) => cut % (bytes.length + 1)))))).toEqual(whole)
      expect(summary(parseChunks(Array.from(wire)))).toEqual(whole)
      expect(summary(parseChunks(Array.from(bytes, (b) => Uint8Array.of(b))))).toEqual(whole)
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "arbitrary bytes never make the parser throw, and it never holds more than maxEventSize",
    [fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), wireArb.map((s) => encoder.encode(s))), { maxLength: 40 })],
    ([chunks]) => {
      const maxEventSize = 48
      const parser = Parser.make({ onMessage: () => {}, onComment: () => {}, onRetry: () => {} }, { maxEventSize })
      for (const chunk of chunks) {
        const error = parser.feed(chunk)
        expect(parser.buffered).toBeLessThanOrEqual(maxEventSize)
        if (error !== undefined) expect(error.reason).toBe("EventTooLarge")
      }
      parser.end()
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "whether an event is too large does not depend on how the stream is chunked",
    [wireArb, cutsArb, fc.integer({ min: 4, max: 40 })],
    ([wire, cuts, maxEventSize]) => {
      const whole = summary(parseChunks([wire], { maxEventSize }))
      const split = summary(parseChunks(splitAt(wire, cuts.map((cut) => cut % (wire.length + 1))), { maxEventSize }))
      // Including the messages dispatched before the failure.
      expect(split).toEqual(whole)
    },
    { fastCheck: { numRuns: 500 } }
  )
})
