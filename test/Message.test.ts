import { assert, describe, expect, it } from "@effect/vitest"
import { Duration, Equal, Hash, Schema } from "effect"
import { Message } from "effect-sse"

describe("Message", () => {
  it("make defaults the event type to message and leaves id and retry absent", () => {
    const message = Message.make({ data: "hi" })
    expect(message.event).toBe("message")
    expect(message.data).toBe("hi")
    expect(message.id).toBeUndefined()
    expect(message.retry).toBeUndefined()
    expect(message._tag).toBe("Message")
  })

  it("make takes the retry as any Duration input", () => {
    expect(Message.make({ data: "", retry: "2 seconds" }).retry).toEqual(Duration.seconds(2))
    expect(Message.make({ data: "", retry: 250 }).retry).toEqual(Duration.millis(250))
  })

  it("messages are compared by value", () => {
    const a = Message.make({ data: "x", event: "e", id: "1", retry: 5 })
    const b = Message.make({ data: "x", event: "e", id: "1", retry: "5 millis" })
    assert.isTrue(Equal.equals(a, b))
    expect(Hash.hash(a)).toBe(Hash.hash(b))
    assert.isFalse(Equal.equals(a, Message.make({ data: "x", event: "e", id: "2", retry: 5 })))
    assert.isFalse(Equal.equals(a, Message.make({ data: "x", event: "e", id: "1" })))
  })

  it("a received message carries the last event id and is still a message", () => {
    const received = Message.makeReceived({ data: "x", lastEventId: "9" })
    assert.isTrue(Message.isMessage(received))
    assert.isTrue(Message.isReceived(received))
    assert.isFalse(Message.isReceived(Message.make({ data: "x" })))
    assert.isFalse(Message.isMessage({ data: "x", event: "message" }))
    assert.isFalse(Equal.equals(received, Message.make({ data: "x" })))
    assert.isFalse(Equal.equals(received, Message.makeReceived({ data: "x", lastEventId: "8" })))
  })

  it("the schema decodes the serialised form, validating it", () => {
    const decode = Schema.decodeUnknownSync(Message.schema)
    const message = decode({ data: "hi", id: "1", retry: 1000 })
    assert.isTrue(Equal.equals(message, Message.make({ data: "hi", id: "1", retry: "1 second" })))
    expect(() => decode({ data: 1 })).toThrow()
    expect(() => decode({ event: "x" })).toThrow()
  })

  it("the schema encodes a message to plain JSON, retry in milliseconds, absent fields left out", () => {
    const encode = Schema.encodeSync(Message.schema)
    expect(encode(Message.make({ data: "hi", retry: "2 seconds" }))).toEqual({
      event: "message",
      data: "hi",
      retry: 2000
    })
    expect(JSON.parse(JSON.stringify(encode(Message.make({ data: "a", id: "7" }))))).toEqual({
      event: "message",
      data: "a",
      id: "7"
    })
  })

  it("the received schema round-trips lastEventId", () => {
    const received = Message.makeReceived({ data: "x", event: "e", lastEventId: "3" })
    const encoded = Schema.encodeSync(Message.schemaReceived)(received)
    expect(encoded).toEqual({ event: "e", data: "x", lastEventId: "3" })
    assert.isTrue(Equal.equals(Schema.decodeSync(Message.schemaReceived)(encoded), received))
  })

  it("messages print readably", () => {
    expect(String(Message.make({ data: "x", id: "1" }))).toContain("\"data\": \"x\"")
    expect(JSON.stringify(Message.makeReceived({ data: "x", lastEventId: "" }))).toContain("lastEventId")
  })
})
