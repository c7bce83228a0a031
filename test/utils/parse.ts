import { Parser } from "effect-sse"
import type { Message } from "effect-sse"

export interface Parsed {
  readonly messages: Array<Message.Received>
  readonly comments: Array<string>
  readonly retries: Array<number>
  readonly lastEventId: string
  readonly error: Parser.SseParseError | undefined
}

/** Feeds the chunks to one push parser and records everything it reports. */
export const parseChunks = (chunks: Iterable<string | Uint8Array>, options?: Parser.Options): Parsed => {
  const messages: Array<Message.Received> = []
  const comments: Array<string> = []
  const retries: Array<number> = []
  const parser = Parser.make({
    onMessage: (message) => messages.push(message),
    onComment: (text) => comments.push(text),
    onRetry: (millis) => retries.push(millis)
  }, options)
  let error: Parser.SseParseError | undefined
  for (const chunk of chunks) {
    error = parser.feed(chunk)
    if (error) break
  }
  parser.end()
  return { messages, comments, retries, lastEventId: parser.lastEventId, error }
}

const encoder = new TextEncoder()

/** Splits at the given offsets. */
export const splitAt = <A extends string | Uint8Array>(input: A, offsets: ReadonlyArray<number>): Array<A> => {
  const pieces: Array<A> = []
  let from = 0
  for (const offset of [...offsets].sort((a, b) => a - b)) {
    pieces.push(input.slice(from, offset) as A)
    from = offset
  }
  pieces.push(input.slice(from) as A)
  return pieces
}

/**
 * Ways to deliver the same stream: whole, one character or one byte at a time, and split in two at every text
 * position and every byte position (which cuts multi-byte characters and CRLF pairs).
 */
export const chunkings = (
  input: string
): Array<{ readonly name: string; readonly chunks: Array<string | Uint8Array> }> => {
  const bytes = encoder.encode(input)
  const out: Array<{ name: string; chunks: Array<string | Uint8Array> }> = [
    { name: "one string", chunks: [input] },
    { name: "one buffer", chunks: [bytes] },
    { name: "one character at a time", chunks: Array.from(input) },
    { name: "one byte at a time", chunks: Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)) }
  ]
  for (let i = 1; i < input.length; i++) out.push({ name: `text split at ${i}`, chunks: splitAt(input, [i]) })
  for (let i = 1; i < bytes.length; i++) out.push({ name: `bytes split at ${i}`, chunks: splitAt(bytes, [i]) })
  return out
}

/** A plain view of received messages, for readable assertions. */
export const plain = (messages: ReadonlyArray<Message.Received>) =>
  messages.map((m) => ({
    event: m.event,
    data: m.data,
    id: m.id,
    lastEventId: m.lastEventId,
    ...(m.retry === undefined ? {} : { retry: m.retry })
  }))
