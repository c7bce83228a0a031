import { assert, describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Stream } from "effect"
import { Message, Parser } from "effect-sse"
import { chunkings, parseChunks, type Parsed, plain, splitAt } from "./utils/parse.js"

const bytes = (...parts: Array<string | Array<number>>): Uint8Array => {
  const encoder = new TextEncoder()
  const out: Array<number> = []
  for (const part of parts) out.push(...(typeof part === "string" ? encoder.encode(part) : part))
  return Uint8Array.from(out)
}

const ev = (data: string, fields: { event?: string; id?: string; lastEventId?: string; retry?: number } = {}) => ({
  event: fields.event ?? "message",
  data,
  id: fields.id,
  lastEventId: fields.lastEventId ?? fields.id ?? "",
  ...(fields.retry === undefined ? {} : { retry: Duration.millis(fields.retry) })
})

/** Checks a stream under every chunking: whole, 1 char, 1 byte, and split in two at every position. */
const everyChunking = (input: string, check: (parsed: Parsed) => void) => {
  for (const { chunks, name } of chunkings(input)) {
    try {
      check(parseChunks(chunks))
    } catch (error) {
      throw new Error(`delivered as ${name}: ${(error as Error).message}`)
    }
  }
}

const messagesOf = (input: string, expected: Array<ReturnType<typeof ev>>) =>
  everyChunking(input, (parsed) => expect(plain(parsed.messages)).toEqual(expected))

describe("Parser: decoding", () => {
  it("an event is dispatched at a blank line", () => {
    messagesOf("data: hello\n\n", [ev("hello")])
  })

  it("a character split between chunks is decoded once complete", () => {
    messagesOf("data: é€😀\n\nevent: 🎉\ndata: x\n\n", [ev("é€😀"), ev("x", { event: "🎉" })])
  })

  it("a character split around empty chunks and chunks that end in ASCII is still decoded whole", () => {
    // Chunks ending in an ASCII byte are decoded on their own (the fast path); the others carry a split
    // character over. An empty chunk in the middle of a character must not lose it.
    const chunks = [
      bytes("data: a"),
      bytes([0xe2]),
      new Uint8Array(0),
      bytes([0x82]),
      new Uint8Array(0),
      bytes([0xac], "b"),
      bytes([0xc3]),
      bytes([0xa9], "\n\n")
    ]
    expect(plain(parseChunks(chunks).messages)).toEqual([ev("a€bé")])
  })

  it("invalid UTF-8 bytes become U+FFFD", () => {
    const input = bytes("data: a", [0xff], "b", [0xe2, 0x82], "\n\n")
    for (let i = 1; i < input.length; i++) {
      expect(plain(parseChunks(splitAt(input, [i])).messages)).toEqual([ev("a\uFFFDb\uFFFD")])
    }
    expect(plain(parseChunks(Array.from(input, (b) => Uint8Array.of(b))).messages)).toEqual([ev("a\uFFFDb\uFFFD")])
  })

  it("one leading BOM is stripped", () => {
    messagesOf("\uFEFFdata: x\n\n", [ev("x")])
  })

  it("a BOM after the first one, or later in the stream, is part of the text", () => {
    // The second BOM makes the field name "\uFEFFdata", an unknown field.
    messagesOf("\uFEFF\uFEFFdata: x\n\n", [])
    messagesOf("data: a\n\n\uFEFFdata: b\n\n", [ev("a")])
  })

  it("a BOM is only recognised at the very start, even after empty chunks", () => {
    expect(plain(parseChunks(["", new Uint8Array(0), "\uFEFFdata: x\n\n"]).messages)).toEqual([ev("x")])
    expect(plain(parseChunks([bytes([0xef]), bytes([0xbb]), bytes([0xbf], "data: x\n\n")]).messages)).toEqual([ev("x")])
  })
})

describe("Parser: lines", () => {
  it("LF ends a line", () => {
    messagesOf("data: a\ndata: b\n\n", [ev("a\nb")])
  })

  it("CRLF ends a line", () => {
    messagesOf("data: a\r\ndata: b\r\n\r\n", [ev("a\nb")])
  })

  it("CR alone ends a line", () => {
    messagesOf("data: a\rdata: b\r\r", [ev("a\nb")])
  })

  it("mixed line endings in one stream", () => {
    messagesOf("data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\r", [ev("a\nb\nc"), ev("d")])
  })

  it("a CR at the end of one chunk and an LF at the start of the next are one line break", () => {
    const parsed = parseChunks(["data: a\r", "\ndata: b\r", "\n\r", "\n"])
    expect(plain(parsed.messages)).toEqual([ev("a\nb")])
  })

  it("a CR at the end of a chunk is a line break at once, without waiting for the next chunk", () => {
    const seen: Array<string> = []
    const parser = Parser.make({ onMessage: (message) => seen.push(message.data) })
    parser.feed("data: a\r\r")
    expect(seen).toEqual(["a"])
  })

  it("CR CR is two line breaks, LF CR is two line breaks", () => {
    messagesOf("data: a\r\rdata: b\n\rdata: c\n\n", [ev("a"), ev("b"), ev("c")])
  })

  it("an unterminated last event is discarded at the end of the stream", () => {
    messagesOf("data: a\n\ndata: b\n", [ev("a")])
    messagesOf("data: a\n\ndata: b", [ev("a")])
  })

  it("an unterminated line does not leak into the next stream after end()", () => {
    const seen: Array<string> = []
    const parser = Parser.make({ onMessage: (message) => seen.push(message.data) })
    parser.feed("data: lost\ndata: half")
    parser.end()
    parser.feed("\uFEFFdata: fresh\n\n")
    expect(seen).toEqual(["fresh"])
  })
})

describe("Parser: fields", () => {
  it("a comment line is reported and changes nothing", () => {
    everyChunking(": hello\ndata: a\n:\n: two\ndata: b\n\n", (parsed) => {
      expect(parsed.comments).toEqual([" hello", "", " two"])
      expect(plain(parsed.messages)).toEqual([ev("a\nb")])
    })
  })

  it("a stream of only comments dispatches nothing", () => {
    messagesOf(":heartbeat\n\n:heartbeat\n\n", [])
  })

  it("a line without a colon is a field name with an empty value", () => {
    messagesOf("data\n\n", [ev("")])
    messagesOf("event\ndata: x\n\n", [ev("x")])
    messagesOf("id\ndata: x\n\n", [ev("x", { id: "" })])
  })

  it("the field name ends at the first colon; later colons belong to the value", () => {
    messagesOf("data:a:b: c\n\n", [ev("a:b: c")])
  })

  it("exactly one leading space is stripped from a value", () => {
    messagesOf("data:none\n\n", [ev("none")])
    messagesOf("data: one\n\n", [ev("one")])
    messagesOf("data:  two\n\n", [ev(" two")])
    messagesOf("data:\ttab\n\n", [ev("\ttab")])
    messagesOf("event:  spaced\ndata: x\n\n", [ev("x", { event: " spaced" })])
  })

  it("data lines are joined with LF, and only the final LF is dropped", () => {
    messagesOf("data: a\ndata: b\ndata\n\n", [ev("a\nb\n")])
    messagesOf("data\ndata\n\n", [ev("\n")])
  })

  it("empty data is still dispatched", () => {
    messagesOf("data:\n\n", [ev("")])
  })

  it("nothing is dispatched when no data line was seen", () => {
    everyChunking("event: x\nid: 3\n\n\n\n", (parsed) => {
      expect(parsed.messages).toEqual([])
      expect(parsed.lastEventId).toBe("3")
    })
  })

  it("the event type names one event and resets after dispatch", () => {
    messagesOf("event: add\ndata: 1\n\ndata: 2\n\n", [ev("1", { event: "add" }), ev("2")])
  })

  it("the event type resets even when nothing is dispatched", () => {
    messagesOf("event: add\n\ndata: 2\n\n", [ev("2")])
  })

  it("the last event type line wins", () => {
    messagesOf("event: a\nevent: b\ndata: x\n\n", [ev("x", { event: "b" })])
  })

  it("the last event id persists across events", () => {
    messagesOf("id: 1\ndata: a\n\ndata: b\n\n", [ev("a", { id: "1" }), ev("b", { lastEventId: "1" })])
  })

  it("an empty id resets the last event id", () => {
    messagesOf("id: 1\ndata: a\n\nid:\ndata: b\n\n", [ev("a", { id: "1" }), ev("b", { id: "" })])
    messagesOf("id: 1\ndata: a\n\nid\ndata: b\n\n", [ev("a", { id: "1" }), ev("b", { id: "" })])
  })

  it("an id containing NUL is ignored", () => {
    messagesOf("id: 1\ndata: a\n\nid: 2\u0000x\ndata: b\n\n", [ev("a", { id: "1" }), ev("b", { lastEventId: "1" })])
  })

  it("an id on an event with no data still sets the last event id", () => {
    messagesOf("id: 7\n\ndata: b\n\n", [ev("b", { lastEventId: "7" })])
  })

  it("an id is committed only at dispatch: an unterminated event does not change the last event id", () => {
    everyChunking("id: 1\ndata: a\n\nid: 2\ndata: b\n", (parsed) => {
      expect(parsed.lastEventId).toBe("1")
    })
  })

  it("the parser can start from a given last event id", () => {
    const parsed = parseChunks(["data: a\n\n"], { lastEventId: "41" })
    expect(plain(parsed.messages)).toEqual([ev("a", { lastEventId: "41" })])
  })

  it("retry is accepted when it is all ASCII digits", () => {
    everyChunking("retry: 1500\nretry:0\nretry: 007\n", (parsed) => expect(parsed.retries).toEqual([1500, 0, 7]))
  })

  it("retry is ignored unless it is all ASCII digits", () => {
    for (const value of ["", " ", "15x", "-1", "1.5", "+1", "  10", "1 ", "\u0661\u0662", "1e3", "０"]) {
      everyChunking(`retry:${value}\n`, (parsed) => expect(parsed.retries).toEqual([]))
    }
  })

  it("retry is reported as soon as its line ends, and travels with the event it belongs to", () => {
    const retries: Array<number> = []
    const parser = Parser.make({ onMessage: () => {}, onRetry: (ms) => retries.push(ms) })
    parser.feed("retry: 10\n")
    expect(retries).toEqual([10])
    messagesOf("retry: 10\ndata: x\n\ndata: y\n\n", [ev("x", { retry: 10 }), ev("y")])
  })

  it("unknown fields are ignored, and field names are case-sensitive", () => {
    messagesOf("foo: bar\nData: no\ndata: a\nEVENT: no\nretry : 5\n\n", [ev("a")])
  })

  it("received messages are Message values", () => {
    const [message] = parseChunks(["event: e\nid: 1\ndata: d\n\n"]).messages
    assert.isTrue(Message.isMessage(message))
    assert.isTrue(Message.isReceived(message))
    assert.deepStrictEqual(message, Message.makeReceived({ event: "e", id: "1", data: "d", lastEventId: "1" }))
  })
})

describe("Parser: memory bound", () => {
  const limit = 100

  it("an event larger than maxEventSize fails with EventTooLarge, however it is chunked", () => {
    everyChunking(`data: ok\n\ndata: ${"x".repeat(150)}\n\n`, () => {})
    for (const { chunks, name } of chunkings(`data: ok\n\ndata: ${"x".repeat(150)}\n\n`)) {
      const parsed = parseChunks(chunks, { maxEventSize: limit })
      expect(parsed.error?.reason, name).toBe("EventTooLarge")
      expect(plain(parsed.messages), name).toEqual([ev("ok")])
    }
  })

  it("many data lines adding up past the limit fail", () => {
    const parsed = parseChunks([`data: ${"x".repeat(40)}\n`.repeat(3) + "\n"], { maxEventSize: limit })
    expect(parsed.error?._tag).toBe("SseParseError")
    expect(parsed.messages).toEqual([])
  })

  it("a line that never ends fails instead of growing without limit", () => {
    const parser = Parser.make({ onMessage: () => {} }, { maxEventSize: limit })
    let error: Parser.SseParseError | undefined
    for (let i = 0; i < 1000 && error === undefined; i++) {
      error = parser.feed("yyyyyyyyyy")
      expect(parser.buffered).toBeLessThanOrEqual(limit)
    }
    expect(error?.maxEventSize).toBe(limit)
  })

  it("a failed parser stays failed", () => {
    const parser = Parser.make({ onMessage: () => {} }, { maxEventSize: 10 })
    const error = parser.feed("data: 0123456789abc\n\n")
    assert.isDefined(error)
    expect(parser.feed("data: a\n\n")).toBe(error)
  })

  it("events up to the limit pass, counting the data and the line being read", () => {
    // "data:" + 95 characters is a 100-character line; then 45 characters of data and a 50-character line.
    const line = "z".repeat(limit - 5)
    const half = "h".repeat(45)
    for (const { chunks, name } of chunkings(`data:${line}\n\ndata:${half}\ndata:${half}\n\n`)) {
      const parsed = parseChunks(chunks, { maxEventSize: limit })
      expect(parsed.error, name).toBeUndefined()
      expect(parsed.messages.map((m) => m.data), name).toEqual([line, `${half}\n${half}`])
    }
    for (const tooLarge of [`data:${line}z\n\n`, `data:${half}\ndata:${half}zzzzzz\n\n`]) {
      for (const { chunks, name } of chunkings(tooLarge)) {
        expect(parseChunks(chunks, { maxEventSize: limit }).error?.reason, name).toBe("EventTooLarge")
      }
    }
  })

  it("the default limit is a few MiB", () => {
    expect(Parser.defaultMaxEventSize).toBe(4 * 1024 * 1024)
    const big = "b".repeat(Parser.defaultMaxEventSize - 16)
    expect(parseChunks([`data: ${big}\n\n`]).messages[0]?.data.length).toBe(big.length)
    expect(parseChunks([`data: ${big}${"b".repeat(32)}\n\n`]).error?.reason).toBe("EventTooLarge")
  })

  // A guard on complexity, not a timing: joining pieces quadratically would take minutes here.
  it("a 2 MiB event in 1-byte chunks is parsed (buffering stays linear)", () => {
    const size = 2 * 1024 * 1024
    const parser = Parser.make({ onMessage: (message) => received.push(message.data.length) })
    const received: Array<number> = []
    parser.feed("data: ")
    const one = Uint8Array.of(0x61)
    for (let i = 0; i < size; i++) parser.feed(one)
    parser.feed("\n\n")
    expect(received).toEqual([size])
  })
})

describe("Parser: streams", () => {
  const encoder = new TextEncoder()

  it.effect("decode turns a stream of byte chunks into messages, one output chunk per input chunk", () =>
    Effect.gen(function*() {
      const chunks = yield* Stream.make(
        encoder.encode("data: a\n\ndata: b\n\nda"),
        encoder.encode("ta: c\n"),
        encoder.encode("\n")
      ).pipe(Stream.rechunk(1), Parser.decode(), Stream.chunks, Stream.runCollect)
      expect(Chunk.toArray(chunks).map((chunk) => Chunk.toArray(chunk).map((m) => m.data))).toEqual([["a", "b"], ["c"]])
    }))

  it.effect("decode accepts text chunks", () =>
    Effect.gen(function*() {
      const messages = yield* Stream.make("id: 1\nevent: x\ndata: a", "\n\n").pipe(Parser.decode(), Stream.runCollect)
      expect(plain(Chunk.toArray(messages))).toEqual([ev("a", { event: "x", id: "1" })])
      const dataFirst = yield* Stream.runCollect(Parser.decode(Stream.make("data: b\n\n"), { lastEventId: "4" }))
      expect(plain(Chunk.toArray(dataFirst))).toEqual([ev("b", { lastEventId: "4" })])
    }))

  it.effect("decodeItems yields comments, retry directives and messages in stream order", () =>
    Effect.gen(function*() {
      const items = yield* Stream.make(":hb\nretry: 500\n\ndata: x\n\n:bye\n").pipe(
        Parser.decodeItems(),
        Stream.runCollect
      )
      expect(Chunk.toArray(items).map((item) => item._tag)).toEqual(["Comment", "Retry", "Message", "Comment"])
      const [comment, retry] = Chunk.toArray(items)
      expect(comment).toEqual({ _tag: "Comment", text: "hb" })
      expect(retry).toEqual({ _tag: "Retry", retry: Duration.millis(500) })
    }))

  it.effect("an oversized event fails the stream with SseParseError after the events before it", () =>
    Effect.gen(function*() {
      const collected: Array<string> = []
      const error = yield* Stream.make(`data: small\n\ndata: ${"x".repeat(64)}\n\n`).pipe(
        Parser.decode({ maxEventSize: 32 }),
        Stream.runForEach((message) => Effect.sync(() => collected.push(message.data))),
        Effect.flip
      )
      expect(error._tag).toBe("SseParseError")
      expect(error.reason).toBe("EventTooLarge")
      expect(collected).toEqual(["small"])
    }))

  it.effect("an upstream failure passes through unchanged", () =>
    Effect.gen(function*() {
      const result = yield* Stream.concat(Stream.make("data: a\n\n"), Stream.fail("boom" as const)).pipe(
        Parser.decode(),
        Stream.runCollect,
        Effect.either
      )
      expect(result).toEqual(Either.left("boom"))
    }))

  it.effect("the end of the stream discards an unterminated event", () =>
    Effect.gen(function*() {
      const messages = yield* Stream.make("data: a\n\ndata: b\n").pipe(Parser.decode(), Stream.runCollect)
      expect(Chunk.toArray(messages).map((m) => m.data)).toEqual(["a"])
    }))

  it("parse reads a whole stream held in memory", () => {
    const result = Parser.parse("data: 1\n\ndata: 2\n\n")
    assert.isTrue(Either.isRight(result))
    expect(Either.getOrThrow(result).map((m) => m.data)).toEqual(["1", "2"])
    expect(Either.isLeft(Parser.parse("data: 123456\n\n", { maxEventSize: 3 }))).toBe(true)
  })
})
