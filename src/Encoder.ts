/**
 * Messages, comments and `retry:` directives to `text/event-stream` bytes.
 *
 * The output always parses back to what went in: multi-line data becomes several `data:` lines (CRLF and CR
 * arrive as LF, as the format requires), a value starting with a space keeps it, and an event name or id that
 * would inject fields is refused with an `SseEncodeError` rather than written. An encoded frame is a plain
 * `Uint8Array`: encode once, write the same bytes to every connection.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { decodeRetry } from "./internal/message.js"
import type * as Message from "./Message.js"

/**
 * Why a frame could not be encoded.
 *
 * - `LineBreakInEvent` / `LineBreakInId`: a CR or LF would end the field and start another one.
 * - `NulInId`: receivers ignore an id containing U+0000, so the id would silently not be set.
 * - `InvalidRetry`: the reconnection time is not a finite, non-negative duration.
 *
 * @example
 * ```ts
 * import { Encoder, Message } from "effect-sse"
 * import { Either } from "effect"
 *
 * const result = Encoder.encode(Message.make({ data: "x", event: "bad\nevent: injected" }))
 * if (Either.isLeft(result)) console.log(result.left.reason) // "LineBreakInEvent"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class SseEncodeError extends Data.TaggedError("SseEncodeError")<{
  readonly reason: "LineBreakInEvent" | "LineBreakInId" | "NulInId" | "InvalidRetry"
  readonly value: string
}> {
  override get message(): string {
    return `${this.reason}: refusing to write ${JSON.stringify(this.value)}`
  }
}

const hasLineBreak = (s: string): boolean => s.indexOf("\n") !== -1 || s.indexOf("\r") !== -1

const lineBreaks = /\r\n|\r|\n/

const textEncoder = new TextEncoder()

// The parser strips exactly one space after the colon, so a value that starts with one needs an extra one.
const field = (name: string, value: string): string =>
  value.charCodeAt(0) === 32 ? `${name}: ${value}\n` : `${name}:${value}\n`

const retryMillis = (retry: Duration.Duration): Either.Either<number, SseEncodeError> => {
  const millis = Duration.toMillis(retry)
  return Number.isFinite(millis) && millis >= 0
    ? Either.right(Math.floor(millis))
    : Either.left(new SseEncodeError({ reason: "InvalidRetry", value: Duration.format(retry) }))
}

/**
 * Encodes a message as text: `data:` lines, then `event:` (unless it is `"message"`), `id:` and `retry:`
 * when present, then the blank line that dispatches it.
 *
 * @example
 * ```ts
 * import { Encoder, Message } from "effect-sse"
 * import { Either } from "effect"
 *
 * const text = Encoder.encodeText(Message.make({ data: "a\nb", event: "update", id: "7" }))
 * console.log(Either.getOrThrow(text)) // "data:a\ndata:b\nevent:update\nid:7\n\n"
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeText = (message: Message.Message): Either.Either<string, SseEncodeError> => {
  const { data, event, id, retry } = message
  let out = ""
  if (hasLineBreak(data)) {
    for (const line of data.split(lineBreaks)) out += field("data", line)
  } else {
    out = field("data", data)
  }
  if (event !== "message") {
    if (hasLineBreak(event)) return Either.left(new SseEncodeError({ reason: "LineBreakInEvent", value: event }))
    out += field("event", event)
  }
  if (id !== undefined) {
    if (hasLineBreak(id)) return Either.left(new SseEncodeError({ reason: "LineBreakInId", value: id }))
    if (id.indexOf("\0") !== -1) return Either.left(new SseEncodeError({ reason: "NulInId", value: id }))
    out += field("id", id)
  }
  if (retry !== undefined) {
    const millis = retryMillis(retry)
    if (Either.isLeft(millis)) return Either.left(millis.left)
    out += `retry:${millis.right}\n`
  }
  return Either.right(out + "\n")
}

/**
 * Encodes a message to UTF-8 bytes. `Either` is an `Effect` too, so this can be `yield*`ed in `Effect.gen`.
 *
 * @example
 * ```ts
 * import { Encoder, Message } from "effect-sse"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const frame = yield* Encoder.encode(Message.make({ data: "hello" }))
 *   // write `frame` to as many connections as needed
 * })
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (message: Message.Message): Either.Either<Uint8Array, SseEncodeError> =>
  Either.map(encodeText(message), (text) => textEncoder.encode(text))

/**
 * Encodes several messages into one buffer, for one write.
 *
 * @example
 * ```ts
 * import { Encoder, Message } from "effect-sse"
 *
 * const frames = Encoder.encodeAll([Message.make({ data: "a" }), Message.make({ data: "b" })])
 * // Right(bytes of "data:a\n\ndata:b\n\n")
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeAll = (messages: Iterable<Message.Message>): Either.Either<Uint8Array, SseEncodeError> => {
  let out = ""
  for (const message of messages) {
    const text = encodeText(message)
    if (Either.isLeft(text)) return Either.left(text.left)
    out += text.right
  }
  return Either.right(textEncoder.encode(out))
}

/**
 * Encodes a comment as text. Comments are ignored by receivers; servers send them as heartbeats. Text with line
 * breaks becomes several comment lines, so a comment can never inject a field.
 *
 * @example
 * ```ts
 * import { Encoder } from "effect-sse"
 *
 * Encoder.commentText("keep-alive") // ":keep-alive\n"
 * Encoder.commentText("two\nlines") // ":two\n:lines\n"
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const commentText = (text = ""): string => {
  if (!hasLineBreak(text)) return `:${text}\n`
  let out = ""
  for (const line of text.split(lineBreaks)) out += `:${line}\n`
  return out
}

/**
 * Encodes a comment to bytes.
 *
 * @example
 * ```ts
 * import { Encoder } from "effect-sse"
 *
 * const heartbeat = Encoder.comment() // ":\n"
 * const note = Encoder.comment("ping") // ":ping\n"
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const comment = (text = ""): Uint8Array => textEncoder.encode(commentText(text))

/**
 * Encodes a lone `retry:` directive as text, followed by a blank line so that it stands alone as a frame.
 *
 * @example
 * ```ts
 * import { Encoder } from "effect-sse"
 *
 * Encoder.retryText("2 seconds") // Right("retry:2000\n\n")
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const retryText = (retry: Duration.DurationInput): Either.Either<string, SseEncodeError> =>
  Either.map(retryMillis(decodeRetry(retry)), (millis) => `retry:${millis}\n\n`)

/**
 * Encodes a lone `retry:` directive (whole milliseconds) to bytes.
 *
 * @example
 * ```ts
 * import { Encoder } from "effect-sse"
 *
 * const frame = Encoder.retry("3 seconds") // Either.right of the bytes of "retry:3000\n\n"
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const retry = (retry: Duration.DurationInput): Either.Either<Uint8Array, SseEncodeError> =>
  Either.map(retryText(retry), (text) => textEncoder.encode(text))
