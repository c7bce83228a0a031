/**
 * The event a server sends and a client receives.
 *
 * A `Message` is what the wire carries: an event type (`"message"` unless named), the data (a string whose lines
 * are joined with `\n`), an optional id and an optional reconnection time. A `Received` message is one the
 * parser dispatched: it also carries `lastEventId`, the id that persists across events as the WHATWG standard
 * prescribes.
 *
 * Messages are plain immutable values with structural equality (`Equal`), and `schema` / `schemaReceived`
 * validate and serialise them (`retry` as whole milliseconds).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Equal from "effect/Equal"
import type { Inspectable } from "effect/Inspectable"
import type { Pipeable } from "effect/Pipeable"
import * as Schema from "effect/Schema"
import * as internal from "./internal/message.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * One server-sent event.
 *
 * @since 0.1.0
 * @category models
 */
export interface Message extends Equal.Equal, Pipeable, Inspectable {
  readonly [TypeId]: TypeId
  /** Tells messages from the comments and `retry` directives a parser can also yield. */
  readonly _tag: "Message"
  /** The event type; `"message"` when the stream names none. */
  readonly event: string
  /** The data; several lines are joined with `\n`. */
  readonly data: string
  /** The `id` field of this event, when it has one. */
  readonly id: string | undefined
  /** The `retry` field of this event: the reconnection time the server asks for. */
  readonly retry: Duration.Duration | undefined
}

/**
 * A message as a client receives it: with the connection's last event id at the time of dispatch, which
 * persists from earlier events until an `id` field changes it (an empty `id:` resets it to `""`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Received extends Message {
  readonly lastEventId: string
}

/**
 * What `make` accepts: `event` defaults to `"message"`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MessageInput {
  readonly data: string
  readonly event?: string | undefined
  readonly id?: string | undefined
  readonly retry?: Duration.DurationInput | undefined
}

/**
 * What `makeReceived` accepts.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReceivedInput extends MessageInput {
  readonly lastEventId: string
}

/**
 * @example
 * ```ts
 * import { Message } from "effect-sse"
 *
 * Message.isMessage(Message.make({ data: "x" })) // true
 * Message.isMessage({ data: "x" }) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isMessage: (u: unknown) => u is Message = internal.isMessage

/**
 * @example
 * ```ts
 * import { Message } from "effect-sse"
 *
 * Message.isReceived(Message.makeReceived({ data: "x", lastEventId: "1" })) // true
 * Message.isReceived(Message.make({ data: "x" })) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isReceived: (u: unknown) => u is Received = internal.isReceived

/**
 * Builds a message.
 *
 * @example
 * ```ts
 * import { Message } from "effect-sse"
 *
 * const hello = Message.make({ data: "hello\nworld", event: "greeting", id: "1", retry: "5 seconds" })
 * console.log(hello.event, hello.data) // greeting hello\nworld
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: MessageInput) => Message = internal.make

/**
 * Builds a received message (what the parser yields); useful in tests.
 *
 * @example
 * ```ts
 * import { Message } from "effect-sse"
 *
 * const received = Message.makeReceived({ data: "hi", lastEventId: "41" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeReceived: (options: ReceivedInput) => Received = internal.makeReceived

const optionalFields = {
  event: Schema.optionalWith(Schema.String, { default: () => "message" }),
  data: Schema.String,
  id: Schema.optional(Schema.String),
  retry: Schema.optional(Schema.DurationFromMillis)
}

/**
 * The serialised form of a message: `retry` in milliseconds, absent fields left out.
 *
 * @since 0.1.0
 * @category schemas
 */
export interface Encoded {
  readonly event?: string | undefined
  readonly data: string
  readonly id?: string | undefined
  readonly retry?: number | undefined
}

/**
 * The serialised form of a received message.
 *
 * @since 0.1.0
 * @category schemas
 */
export interface ReceivedEncoded extends Encoded {
  readonly lastEventId: string
}

const withoutUndefined = (message: Message) => ({
  event: message.event,
  data: message.data,
  ...(message.id === undefined ? {} : { id: message.id }),
  ...(message.retry === undefined ? {} : { retry: message.retry })
})

/**
 * A Schema for `Message`: decodes the serialised form (validating it) and encodes a message back to it.
 *
 * @example
 * ```ts
 * import { Message } from "effect-sse"
 * import { Schema } from "effect"
 *
 * const message = Schema.decodeUnknownSync(Message.schema)({ data: "hi", retry: 1000 })
 * const json = Schema.encodeSync(Message.schema)(message) // { event: "message", data: "hi", retry: 1000 }
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: Schema.Schema<Message, Encoded> = Schema.transform(
  Schema.Struct(optionalFields),
  Schema.declare(isMessage, { identifier: "Message" }),
  { strict: true, decode: (fields) => make(fields), encode: withoutUndefined }
)

/**
 * A Schema for `Received`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Message } from "effect-sse"
 *
 * const received = Schema.decodeUnknownSync(Message.schemaReceived)({ data: "hi", lastEventId: "3" })
 * // received.event === "message", received.lastEventId === "3"
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const schemaReceived: Schema.Schema<Received, ReceivedEncoded> = Schema.transform(
  Schema.Struct({ ...optionalFields, lastEventId: Schema.String }),
  Schema.declare(isReceived, { identifier: "Message.Received" }),
  {
    strict: true,
    decode: (fields) => makeReceived(fields),
    encode: (message) => ({ ...withoutUndefined(message), lastEventId: message.lastEventId })
  }
)
