import * as Duration from "effect/Duration"
import * as Equal from "effect/Equal"
import * as Hash from "effect/Hash"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import { hasProperty } from "effect/Predicate"
import type * as Message from "../Message.js"

/** @internal */
export const TypeId: Message.TypeId = Symbol.for("effect-sse/Message") as Message.TypeId

const optionalEquals = <A>(a: A | undefined, b: A | undefined): boolean =>
  a === undefined ? b === undefined : b !== undefined && Equal.equals(a, b)

// One class with a fixed field layout for sent and received messages alike: the parser builds one per event,
// and a flat constructor costs about what an object literal does, where a subclass costs about three times as much and a
// Schema.Class instance a thousand times. `lastEventId` is a string exactly on received messages.
/** @internal */
export class MessageImpl implements Message.Message {
  declare readonly [TypeId]: Message.TypeId
  declare readonly _tag: "Message"
  // Declared, not class fields: a field definition runs for each new instance before the constructor assigns
  // it again, which made a parsed event cost about a third more.
  declare readonly event: string
  declare readonly data: string
  declare readonly id: string | undefined
  declare readonly retry: Duration.Duration | undefined
  declare readonly lastEventId: string | undefined
  constructor(
    event: string,
    data: string,
    id: string | undefined,
    retry: Duration.Duration | undefined,
    lastEventId: string | undefined
  ) {
    this.event = event
    this.data = data
    this.id = id
    this.retry = retry
    this.lastEventId = lastEventId
  }
  [Equal.symbol](that: Equal.Equal): boolean {
    return isMessage(that) &&
      this.event === that.event &&
      this.data === that.data &&
      this.id === that.id &&
      this.lastEventId === (that as MessageImpl).lastEventId &&
      optionalEquals(this.retry, that.retry)
  }
  [Hash.symbol](): number {
    return Hash.cached(this, Hash.string(`${this.event}\n${this.data}\n${this.id ?? ""}`))
  }
  pipe() {
    return pipeArguments(this, arguments)
  }
  toJSON(): unknown {
    return {
      _id: isReceived(this) ? "Message.Received" : "Message",
      event: this.event,
      data: this.data,
      id: this.id,
      retry: this.retry === undefined ? undefined : Duration.toMillis(this.retry),
      ...(isReceived(this) ? { lastEventId: this.lastEventId } : {})
    }
  }
  toString(): string {
    return Inspectable.format(this.toJSON())
  }
  [Inspectable.NodeInspectSymbol](): unknown {
    return this.toJSON()
  }
}
Object.defineProperty(MessageImpl.prototype, TypeId, { value: TypeId })
// On the prototype, so that the tag costs nothing per message.
Object.defineProperty(MessageImpl.prototype, "_tag", { value: "Message", enumerable: true })

/** @internal */
export const isMessage = (u: unknown): u is Message.Message => hasProperty(u, TypeId)

/** @internal */
export const isReceived = (u: unknown): u is Message.Received =>
  isMessage(u) && typeof (u as Message.Received).lastEventId === "string"

// Duration.decode throws on inputs its type rules out; one that arrives by a cast becomes an infinite duration,
// which the encoder refuses with a typed error.
/** @internal */
export const decodeRetry = (retry: Duration.DurationInput): Duration.Duration =>
  Option.getOrElse(Duration.decodeUnknown(retry), () => Duration.infinity)

// A string `lastEventId` is what makes a message a received one.
const fromInput = (options: Message.MessageInput, lastEventId: string | undefined): MessageImpl =>
  new MessageImpl(
    options.event ?? "message",
    options.data,
    options.id,
    options.retry === undefined ? undefined : decodeRetry(options.retry),
    lastEventId
  )

/** @internal */
export const make = (options: Message.MessageInput): Message.Message => fromInput(options, undefined)

/** @internal */
export const makeReceived = (options: Message.ReceivedInput): Message.Received =>
  fromInput(options, options.lastEventId) as Message.Received
