import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import { Message, Parser, SseEvent } from "effect-sse"

const Chat = SseEvent.make("chat", Schema.Struct({ from: Schema.String, at: Schema.Date }))

describe("SseEvent", () => {
  it.effect("encodes a payload to a message named after the event, data as JSON text", () =>
    Effect.gen(function*() {
      const message = yield* Chat.encode({ from: "ada", at: new Date(0) }, { id: "5", retry: 100 })
      expect(message.event).toBe("chat")
      expect(JSON.parse(message.data)).toEqual({ from: "ada", at: "1970-01-01T00:00:00.000Z" })
      expect(message.id).toBe("5")
      assert.isTrue(Chat.is(message))
    }))

  it.effect("a payload survives encode, the wire and decode", () =>
    Effect.gen(function*() {
      const frame = yield* Chat.encodeFrame({ from: "line\nbreak", at: new Date(1000) })
      const [received] = Either.getOrThrow(Parser.parse(frame))
      assert.isDefined(received)
      const payload = yield* Chat.decode(received)
      expect(payload).toEqual({ from: "line\nbreak", at: new Date(1000) })
    }))

  it.effect("a payload the schema rejects fails with an Encode error naming the event", () =>
    Effect.gen(function*() {
      const Positive = SseEvent.make("count", Schema.Number.pipe(Schema.positive()))
      const error = yield* Effect.flip(Positive.encode(-1))
      expect(error._tag).toBe("SseEventError")
      expect(error.reason).toBe("Encode")
      expect(error.event).toBe("count")
      expect(error.message).toContain("\"count\"")
    }))

  it.effect("an event name that would inject fields fails encodeFrame with an Encode error", () =>
    Effect.gen(function*() {
      const Bad = SseEvent.make("bad\ndata: injected", Schema.Number)
      const error = yield* Effect.flip(Bad.encodeFrame(1))
      expect(error.reason).toBe("Encode")
      expect(error.cause).toMatchObject({ _tag: "SseEncodeError", reason: "LineBreakInEvent" })
    }))

  it.effect("data that is not JSON, or not of the schema, fails with a Decode error naming the event", () =>
    Effect.gen(function*() {
      const notJson = yield* Effect.flip(Chat.decode(Message.make({ event: "chat", data: "{oops" })))
      expect(notJson.reason).toBe("Decode")
      expect(notJson.event).toBe("chat")
      const wrongShape = yield* Effect.flip(Chat.decode(Message.make({ event: "chat", data: "{\"from\":1}" })))
      expect(wrongShape.reason).toBe("Decode")
    }))

  it.effect("a message of another event fails with EventMismatch", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Chat.decode(Message.make({ event: "other", data: "{}" })))
      expect(error.reason).toBe("EventMismatch")
      assert.isFalse(Chat.is(Message.make({ data: "{}" })))
    }))

  it("is recognised by its guard and exposes its schemas", () => {
    assert.isTrue(SseEvent.isSseEvent(Chat))
    assert.isFalse(SseEvent.isSseEvent({ name: "chat" }))
    expect(Chat.name).toBe("chat")
    expect(Schema.decodeSync(Chat.dataSchema)("{\"from\":\"a\",\"at\":\"1970-01-01T00:00:00.000Z\"}").from).toBe("a")
  })
})
