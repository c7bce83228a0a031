import * as Duration from "effect/Duration"
import * as Equal from "effect/Equal"
import * as Hash from "effect/Hash"
import * as Inspectable from "effect/Inspectable"
import { pipeArguments } from "effect/Pipeable"
import { hasProperty } from "effect/Predicate"
import type * as Message from "../Message.js"

/** @internal */
export const TypeId: Message.TypeId = Symbol.for("effect-sse/Message") as Message.TypeId

/** @internal */
export const ReceivedTypeId: Message.ReceivedTypeId = Symbol.for(
  "effect-sse/Message/Received"
) as Message.ReceivedTypeId

const optionalEquals = <A>(a: A | undefined, b: A | undefined): boolean =>
  a === undefined ? b === undefined : b !== undefined && Equal.equals(a, b)

// A class with a fixed field layout rather than a Schema.Class: the parser builds one per event, and a plain
// constructor costs nanoseconds where a Schema.Class instance costs microseconds.
/** @internal */
export class MessageImpl implements Message.Message {
  declare readonly [TypeId]: Message.TypeId
  declare readonly _tag: "Message"
  constructor(
    readonly event: string,
    readonly data: string,
    readonly id: string | undefined,
    readonly retry: Duration.Duration | undefined
  ) {}
  [Equal.symbol](that: Equal.Equal): boolean {
    return isMessage(that) &&
      isReceived(this) === isReceived(that) &&
      this.event === that.event &&
      this.data === that.data &&
      this.id === that.id &&
      optionalEquals(this.retry, that.retry) &&
      (!isReceived(this) || this.lastEventId === (that as Message.Received).lastEventId)
  }
  [Hash.symbol](): number {
    return Hash.cached(this, Hash.string(`${this.event}\n${this.data}\n${this.id ?? ""}`))
  }
  pipe() {
    return pipeArguments(this, arguments)
  }
  toJSON(): unknown {
    return {
      _id: "Message",
      event: this.event,
      data: this.data,
      id: this.id,
      retry: this.retry === undefined ? undefined : Duration.toMillis(this.retry)
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
export class ReceivedImpl extends MessageImpl implements Message.Received {
  declare readonly [ReceivedTypeId]: Message.ReceivedTypeId
  constructor(
    event: string,
    data: string,
    id: string | undefined,
    retry: Duration.Duration | undefined,
    readonly lastEventId: string
  ) {
    super(event, data, id, retry)
  }
  override toJSON(): unknown {
    return { ...(super.toJSON() as object), _id: "Message.Received", lastEventId: this.lastEventId }
  }
}
Object.defineProperty(ReceivedImpl.prototype, ReceivedTypeId, { value: ReceivedTypeId })

/** @internal */
export const isMessage = (u: unknown): u is Message.Message => hasProperty(u, TypeId)

/** @internal */
export const isReceived = (u: unknown): u is Message.Received => hasProperty(u, ReceivedTypeId)

/** @internal */
export const make = (options: Message.MessageInput): Message.Message =>
  new MessageImpl(
    options.event ?? "message",
    options.data,
    options.id,
    options.retry === undefined ? undefined : Duration.decode(options.retry)
  )

/** @internal */
export const makeReceived = (options: Message.ReceivedInput): Message.Received =>
  new ReceivedImpl(
    options.event ?? "message",
    options.data,
    options.id,
    options.retry === undefined ? undefined : Duration.decode(options.retry),
    options.lastEventId
  )
