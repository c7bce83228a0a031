import { assert, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either } from "effect"
import { Encoder, Message, Parser } from "effect-sse"
import { parseChunks, plain } from "./utils/parse.js"

const text = (input: Message.MessageInput) => Either.getOrThrow(Encoder.encodeText(Message.make(input)))
const decoder = new TextDecoder()

const roundTrip = (input: Message.MessageInput) => {
  const bytes = Either.getOrThrow(Encoder.encode(Message.make(input)))
  return plain(parseChunks([bytes]).messages)
}

describe("Encoder", () => {
  it("writes data, then the event name, the id and retry, then a blank line", () => {
    expect(text({ data: "hello", event: "greeting", id: "7", retry: "1500 millis" }))
      .toBe("data:hello\nevent:greeting\nid:7\nretry:1500\n\n")
  })

  it("leaves out the event name when it is the default, and absent fields", () => {
    expect(text({ data: "x" })).toBe("data:x\n\n")
    expect(text({ data: "x", event: "message" })).toBe("data:x\n\n")
  })

  it("splits data on LF, CRLF and CR into several data lines", () => {
    expect(text({ data: "a\nb\r\nc\rd" })).toBe("data:a\ndata:b\ndata:c\ndata:d\n\n")
    expect(roundTrip({ data: "a\nb\r\nc\rd" })[0]?.data).toBe("a\nb\nc\nd")
  })

  it("keeps empty lines inside data, and trailing line breaks", () => {
    expect(text({ data: "a\n\nb\n" })).toBe("data:a\ndata:\ndata:b\ndata:\n\n")
    expect(roundTrip({ data: "a\n\nb\n" })[0]?.data).toBe("a\n\nb\n")
    expect(roundTrip({ data: "\r\n" })[0]?.data).toBe("\n")
  })

  it("writes empty data as one data line, and it is still delivered", () => {
    expect(text({ data: "" })).toBe("data:\n\n")
    expect(roundTrip({ data: "" })).toEqual([{ event: "message", data: "", id: undefined, lastEventId: "" }])
  })

  it("keeps a leading space in a value: the parser strips exactly one", () => {
    expect(text({ data: " x\n  y", event: " e", id: " 1" })).toBe("data:  x\ndata:   y\nevent:  e\nid:  1\n\n")
    expect(roundTrip({ data: " x\n  y", event: " e", id: " 1" })).toEqual([
      { event: " e", data: " x\n  y", id: " 1", lastEventId: " 1" }
    ])
  })

  it("writes an empty id, which resets the receiver's last event id", () => {
    expect(text({ data: "x", id: "" })).toBe("data:x\nid:\n\n")
  })

  it("writes retry as whole milliseconds", () => {
    expect(text({ data: "x", retry: Duration.micros(2500n) })).toBe("data:x\nretry:2\n\n")
    expect(text({ data: "x", retry: 0 })).toBe("data:x\nretry:0\n\n")
    expect(roundTrip({ data: "x", retry: "3 seconds" })[0]?.retry).toEqual(Duration.millis(3000))
  })

  it("encode gives the UTF-8 bytes of encodeText", () => {
    const message = Message.make({ data: "héllo 😀", event: "ü" })
    const bytes = Either.getOrThrow(Encoder.encode(message))
    expect(decoder.decode(bytes)).toBe(Either.getOrThrow(Encoder.encodeText(message)))
  })

  it("encodeAll writes several messages into one buffer", () => {
    const bytes = Either.getOrThrow(Encoder.encodeAll([Message.make({ data: "1" }), Message.make({ data: "2" })]))
    expect(decoder.decode(bytes)).toBe("data:1\n\ndata:2\n\n")
  })

  it("encodeAll fails on the first invalid message", () => {
    const result = Encoder.encodeAll([Message.make({ data: "1" }), Message.make({ data: "2", id: "a\nb" })])
    expect(Either.isLeft(result) && result.left.reason).toBe("LineBreakInId")
  })

  it("one encoded frame can be written to many receivers", () => {
    const frame = Either.getOrThrow(Encoder.encode(Message.make({ data: "shared", id: "9" })))
    const first = parseChunks([frame])
    const second = parseChunks([frame])
    expect(plain(first.messages)).toEqual(plain(second.messages))
    expect(first.messages[0]?.data).toBe("shared")
  })

  it.effect("encode can be yielded in Effect.gen", () =>
    Effect.gen(function*() {
      const bytes = yield* Encoder.encode(Message.make({ data: "x" }))
      expect(decoder.decode(bytes)).toBe("data:x\n\n")
      const error = yield* Effect.flip(Encoder.encode(Message.make({ data: "x", event: "a\nb" })))
      expect(error._tag).toBe("SseEncodeError")
    }))
})

describe("Encoder: injection is refused with a typed error", () => {
  const cases: Array<[string, Message.MessageInput, Encoder.SseEncodeError["reason"]]> = [
    ["an LF in the event name", { data: "x", event: "a\ndata: injected" }, "LineBreakInEvent"],
    ["a CR in the event name", { data: "x", event: "a\rdata: injected" }, "LineBreakInEvent"],
    ["a CRLF in the event name", { data: "x", event: "a\r\ndata: injected" }, "LineBreakInEvent"],
    ["an LF in the id", { data: "x", id: "1\nevent: injected" }, "LineBreakInId"],
    ["a CR in the id", { data: "x", id: "1\revent: injected" }, "LineBreakInId"],
    ["a CRLF in the id", { data: "x", id: "1\r\nevent: injected" }, "LineBreakInId"],
    ["a NUL in the id", { data: "x", id: "1\u0000" }, "NulInId"]
  ]
  for (const [name, input, reason] of cases) {
    it(`${name} is refused (${reason})`, () => {
      const result = Encoder.encode(Message.make(input))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        expect(result.left).toBeInstanceOf(Encoder.SseEncodeError)
        expect(result.left._tag).toBe("SseEncodeError")
        expect(result.left.reason).toBe(reason)
        expect(result.left.message).toContain(reason)
      }
    })
  }

  it("a NUL in data or in an event name cannot break framing and is written", () => {
    expect(roundTrip({ data: "a\u0000b", event: "e\u0000" })[0]).toMatchObject({ data: "a\u0000b", event: "e\u0000" })
  })

  it("an infinite retry is refused (Duration clamps negative inputs to zero)", () => {
    expect(Duration.millis(-1)).toEqual(Duration.zero)
    for (const retry of [Duration.infinity, Infinity]) {
      const result = Encoder.encode(Message.make({ data: "x", retry }))
      expect(Either.isLeft(result) && result.left.reason).toBe("InvalidRetry")
      expect(Either.isLeft(Encoder.retry(retry))).toBe(true)
    }
  })
})

describe("Encoder: comments and retry directives", () => {
  it("a comment is a colon line, ignored by receivers", () => {
    expect(decoder.decode(Encoder.comment())).toBe(":\n")
    expect(decoder.decode(Encoder.comment("ping"))).toBe(":ping\n")
    const parsed = parseChunks([Encoder.comment("ping"), "data: x\n\n"])
    expect(parsed.comments).toEqual(["ping"])
    expect(parsed.messages.map((m) => m.data)).toEqual(["x"])
  })

  it("a comment with line breaks becomes several comment lines and injects nothing", () => {
    const bytes = Encoder.comment("a\ndata: injected\r\rb")
    expect(decoder.decode(bytes)).toBe(":a\n:data: injected\n:\n:b\n")
    const parsed = parseChunks([bytes, "\n"])
    expect(parsed.messages).toEqual([])
    expect(parsed.comments).toEqual(["a", "data: injected", "", "b"])
  })

  it("a lone retry directive stands alone as a frame and dispatches nothing", () => {
    const bytes = Either.getOrThrow(Encoder.retry("2 seconds"))
    expect(decoder.decode(bytes)).toBe("retry:2000\n\n")
    const parsed = parseChunks([bytes, "data: x\n\n"])
    expect(parsed.retries).toEqual([2000])
    expect(plain(parsed.messages)).toEqual([{ event: "message", data: "x", id: undefined, lastEventId: "" }])
  })

  it("encoded output is accepted by the parser with the default limits", () => {
    const frame = Either.getOrThrow(Encoder.encode(Message.make({ data: "y".repeat(1000) })))
    expect(Either.isRight(Parser.parse(frame))).toBe(true)
  })
})
