/**
 * Typed events: a name and a `Schema` whose values travel as JSON text in the `data` field.
 *
 * The same declaration serves both sides: the server encodes a value into a message (or straight into frame
 * bytes, once for many connections), the client decodes a received message back into the value. Failures are
 * `SseEventError`s that name the event.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import { hasProperty } from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as Encoder from "./Encoder.js"
import * as Message from "./Message.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("effect-sse/SseEvent")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A typed event could not be encoded or decoded.
 *
 * - `Encode`: the value did not encode with the schema, or the frame would be invalid (the cause says which).
 * - `Decode`: the data is not JSON, or does not decode with the schema.
 * - `EventMismatch`: the message is an event of another name.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Message, SseEvent } from "effect-sse"
 *
 * const Count = SseEvent.make("count", Schema.Number)
 * const program = Count.decode(Message.make({ event: "count", data: "not json" })).pipe(
 *   Effect.catchTag("SseEventError", (error) => Effect.log(error.reason, error.event)) // "Decode" "count"
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class SseEventError extends Data.TaggedError("SseEventError")<{
  readonly event: string
  readonly reason: "Encode" | "Decode" | "EventMismatch"
  readonly cause?: unknown
}> {
  override get message(): string {
    const detail = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `${this.reason} error for event ${JSON.stringify(this.event)}${detail}`
  }
}

/**
 * What a typed message may carry besides its payload.
 *
 * @since 0.1.0
 * @category models
 */
export interface EncodeOptions {
  readonly id?: string | undefined
  readonly retry?: Message.MessageInput["retry"]
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SseEvent<A, I = A, R = never> extends Pipeable {
  readonly [TypeId]: TypeId
  /** The event type on the wire (`event:`); `"message"` is the unnamed default event. */
  readonly name: string
  /** The payload's schema. */
  readonly schema: Schema.Schema<A, I, R>
  /** The payload's schema from the JSON text of the `data` field. */
  readonly dataSchema: Schema.Schema<A, string, R>
  /** Encodes a payload into a message of this event. */
  readonly encode: (payload: A, options?: EncodeOptions) => Effect.Effect<Message.Message, SseEventError, R>
  /** Encodes a payload straight to frame bytes, to write to as many connections as needed. */
  readonly encodeFrame: (payload: A, options?: EncodeOptions) => Effect.Effect<Uint8Array, SseEventError, R>
  /** Decodes the payload of a message of this event. */
  readonly decode: (message: Message.Message) => Effect.Effect<A, SseEventError, R>
  /** Whether a message is an event of this name. */
  readonly is: (message: Message.Message) => boolean
}

/**
 * Any typed event, whatever its payload: for collections of events, like `SseClient.decodeEvents`'s.
 *
 * @since 0.1.0
 * @category models
 */
// `any` is sound here: an event's payload type is both input (encode) and output (decode), so no other type
// admits every event; users of `Any` recover the precise types by inference (`infer A`), as Effect's own
// `Schema.Any` and `Stream.Any`-style helpers do.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Any = SseEvent<any, any, any>

/**
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { SseEvent } from "effect-sse"
 *
 * SseEvent.isSseEvent(SseEvent.make("count", Schema.Number)) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isSseEvent = (u: unknown): u is SseEvent<unknown, unknown, unknown> => hasProperty(u, TypeId)

/**
 * Declares a typed event.
 *
 * @example
 * ```ts
 * import { SseEvent } from "effect-sse"
 * import { Effect, Schema } from "effect"
 *
 * const Chat = SseEvent.make("chat", Schema.Struct({ from: Schema.String, text: Schema.String }))
 *
 * const program = Effect.gen(function*() {
 *   const message = yield* Chat.encode({ from: "ada", text: "hi" }, { id: "42" })
 *   // message.event === "chat", message.data === '{"from":"ada","text":"hi"}'
 *   const payload = yield* Chat.decode(message) // { from: "ada", text: "hi" }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I, R>(name: string, schema: Schema.Schema<A, I, R>): SseEvent<A, I, R> => {
  const dataSchema = Schema.parseJson(schema)
  const encodeData = Schema.encode(dataSchema)
  const decodeData = Schema.decode(dataSchema)
  const fail = (reason: SseEventError["reason"]) => (cause: unknown) =>
    new SseEventError({ event: name, reason, cause })
  const encode = (payload: A, options?: EncodeOptions) =>
    Effect.map(
      Effect.mapError(encodeData(payload), fail("Encode")),
      (data) => Message.make({ event: name, data, id: options?.id, retry: options?.retry })
    )
  return {
    [TypeId]: TypeId,
    name,
    schema,
    dataSchema,
    encode,
    encodeFrame: (payload, options) =>
      Effect.flatMap(encode(payload, options), (message) => Either.mapLeft(Encoder.encode(message), fail("Encode"))),
    decode: (message) =>
      message.event === name
        ? Effect.mapError(decodeData(message.data), fail("Decode"))
        : Effect.fail(new SseEventError({ event: name, reason: "EventMismatch" })),
    is: (message) => message.event === name,
    pipe() {
      return pipeArguments(this, arguments)
    }
  }
}

/**
 * The event a server with a history sends first on a reconnection it cannot replay: the client's
 * `Last-Event-ID` is unknown, has expired, or the history store is unavailable. Events were missed; the client
 * should fetch a fresh snapshot. Decode it like any typed event, e.g.
 * `SseClient.decodeEvents({ ReplayGap: SseEvent.ReplayGap, ... })`.
 *
 * @example
 * ```ts
 * import { SseClient, SseEvent } from "effect-sse"
 * import { Effect, Stream } from "effect"
 *
 * const program = SseClient.get("http://127.0.0.1:3000/events").pipe(
 *   SseClient.decodeEvents({ ReplayGap: SseEvent.ReplayGap }, { unknown: "surface" }),
 *   Stream.runForEach((event) =>
 *     event._tag === "ReplayGap" ? Effect.log(`missed events after ${event.data.lastEventId}: reload`) : Effect.void
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export const ReplayGap: SseEvent<
  { readonly lastEventId: string; readonly reason: "Unknown" | "Expired" | "Unavailable" }
> = make(
  "effect-sse:replay-gap",
  Schema.Struct({ lastEventId: Schema.String, reason: Schema.Literal("Unknown", "Expired", "Unavailable") })
)
