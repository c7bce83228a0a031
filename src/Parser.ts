/**
 * A streaming `text/event-stream` parser that follows the WHATWG HTML algorithm ("parse an event stream" and
 * "interpret an event stream") to the letter.
 *
 * Two layers: `make` is a synchronous push parser with callbacks (feed it chunks of bytes or text, get events,
 * comments and `retry` values back), and `decode` / `channel` run it once per chunk of a `Stream`. Memory is
 * bounded: an event larger than `maxEventSize` fails with an `SseParseError` instead of buffering without limit.
 *
 * @since 0.1.0
 */
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import { hasProperty } from "effect/Predicate"
import * as Stream from "effect/Stream"
import * as internal from "./internal/parser.js"
import type * as Message from "./Message.js"

/**
 * The stream held an event (or an unfinished line) larger than `maxEventSize`. The parser stops there: the
 * size of what it buffers never exceeds the limit.
 *
 * @example
 * ```ts
 * import { Either } from "effect"
 * import { Parser } from "effect-sse"
 *
 * const result = Parser.parse("data: " + "x".repeat(100) + "\n\n", { maxEventSize: 64 })
 * if (Either.isLeft(result)) console.log(result.left.reason) // "EventTooLarge"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class SseParseError extends Data.TaggedError("SseParseError")<{
  readonly reason: "EventTooLarge"
  readonly maxEventSize: number
}> {
  override get message(): string {
    return `${this.reason}: an event exceeded the limit of ${this.maxEventSize} characters`
  }
}

/**
 * The default `maxEventSize`: 4 MiB of text.
 *
 * @example
 * ```ts
 * import { Parser } from "effect-sse"
 *
 * const parser = Parser.make({ onMessage: () => {} }, { maxEventSize: 4 * Parser.defaultMaxEventSize })
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxEventSize: number = internal.defaultMaxEventSize

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The most text one event may buffer: its data and event type plus the line being read, counted in UTF-16 code units (bytes,
   * for ASCII). Default: `defaultMaxEventSize` (4 MiB).
   */
  readonly maxEventSize?: number | undefined
  /** The last event id to start from, e.g. the one a previous connection ended with. Default `""`. */
  readonly lastEventId?: string | undefined
}

/**
 * What a push parser reports, synchronously, from inside `feed`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Callbacks {
  /** A dispatched event. */
  readonly onMessage: (message: Message.Received) => void
  /** A comment line (servers send them as heartbeats): the text after the colon. */
  readonly onComment?: ((text: string) => void) | undefined
  /** A valid `retry` field: the new reconnection time in milliseconds, reported as soon as its line ends. */
  readonly onRetry?: ((millis: number) => void) | undefined
}

/**
 * A synchronous push parser.
 *
 * @since 0.1.0
 * @category models
 */
export interface IncrementalParser {
  /**
   * Parses one chunk of bytes (UTF-8, decoded across chunk boundaries) or text, calling the callbacks for
   * everything it completes. Returns the error once an event grows past `maxEventSize`; the parser then stays
   * failed.
   */
  feed(chunk: string | Uint8Array): SseParseError | undefined
  /**
   * Ends the stream: an event not yet followed by a blank line is discarded, as the standard says. The parser
   * can then read a new stream (a reconnection), keeping its `lastEventId`.
   */
  end(): void
  /** The connection's last event id, as of the last dispatch. */
  readonly lastEventId: string
  /** How much text the parser holds right now (never more than `maxEventSize`). */
  readonly buffered: number
}

const isStream = (args: IArguments) => hasProperty(args[0], Stream.StreamTypeId)

const makeError = (maxEventSize: number) => new SseParseError({ reason: "EventTooLarge", maxEventSize })

/**
 * Creates a push parser.
 *
 * @example
 * ```ts
 * import { Parser } from "effect-sse"
 *
 * const parser = Parser.make({
 *   onMessage: (message) => console.log(message.event, message.data),
 *   onRetry: (millis) => console.log("reconnect after", millis)
 * })
 * parser.feed("event: greeting\ndata: hel")
 * parser.feed(new TextEncoder().encode("lo\n\n")) // logs: greeting hello
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (callbacks: Callbacks, options?: Options): IncrementalParser =>
  new internal.IncrementalParser(callbacks, options, makeError)

/**
 * Parses a complete stream held in memory.
 *
 * @example
 * ```ts
 * import { Parser } from "effect-sse"
 * import { Either } from "effect"
 *
 * const messages = Either.getOrThrow(Parser.parse("id: 1\ndata: a\ndata: b\n\n"))
 * console.log(messages[0]?.data) // "a\nb"
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (
  input: string | Uint8Array,
  options?: Options
): Either.Either<Array<Message.Received>, SseParseError> => {
  const messages: Array<Message.Received> = []
  const parser = make({ onMessage: (message) => messages.push(message) }, options)
  const error = parser.feed(input)
  parser.end()
  return error === undefined ? Either.right(messages) : Either.left(error)
}

/**
 * A comment line, as `decodeItems` yields it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Comment {
  readonly _tag: "Comment"
  readonly text: string
}

/**
 * A valid `retry` field, as `decodeItems` yields it, as soon as its line ends.
 *
 * @since 0.1.0
 * @category models
 */
export interface Retry {
  readonly _tag: "Retry"
  readonly retry: Duration.Duration
}

/**
 * Everything a stream can tell a client: messages, comments and reconnection times.
 *
 * @since 0.1.0
 * @category models
 */
export type Item = Message.Received | Comment | Retry

type Input = Chunk.Chunk<string | Uint8Array>

/**
 * A channel running a push parser with callbacks of your own: `callbacks` receives `push`, which adds one value
 * to the output, and everything pushed while a chunk is parsed goes out as one output chunk. `afterChunk` sees
 * the parser after each input chunk, e.g. to read its `lastEventId`. What a chunk completed before an error is
 * still written before the channel fails.
 *
 * @example
 * ```ts
 * import { Parser } from "effect-sse"
 * import { Stream } from "effect"
 *
 * // Only the ids, and the reconnection times the server asks for.
 * const ids = Stream.make("id: 1\ndata: a\n\nretry: 10\n").pipe(
 *   Stream.pipeThroughChannel(Parser.channelWith<string | number>((push) => ({
 *     onMessage: (message) => push(message.lastEventId),
 *     onRetry: push
 *   })))
 * ) // "1", 10
 * ```
 *
 * @since 0.1.0
 * @category channels
 */
export const channelWith = <A, IE = never>(
  callbacks: (push: (a: A) => void) => Callbacks,
  options?: Options,
  afterChunk?: (parser: IncrementalParser) => void
): Channel.Channel<Chunk.Chunk<A>, Input, SseParseError | IE, IE, void, unknown> =>
  Channel.suspend(() => {
    let output: Array<A> = []
    const parser = make(callbacks((a) => output.push(a)), options)
    const take = () => {
      const chunk = Chunk.unsafeFromArray(output)
      output = []
      return chunk
    }
    const loop: Channel.Channel<Chunk.Chunk<A>, Input, SseParseError | IE, IE, void, unknown> = Channel.readWithCause({
      onInput: (input: Input) => {
        for (const piece of input) {
          const error = parser.feed(piece)
          // What the chunk completed before the error still goes out: nothing is lost.
          if (error !== undefined) return Channel.zipRight(Channel.write(take()), Channel.fail(error))
        }
        if (afterChunk !== undefined) afterChunk(parser)
        return output.length === 0 ? loop : Channel.zipRight(Channel.write(take()), loop)
      },
      onFailure: Channel.failCause,
      onDone: () => {
        parser.end()
        return Channel.void
      }
    })
    return loop
  })

/**
 * A channel from chunks of bytes or text to chunks of messages: the parser runs once per input chunk and emits
 * what it completed as one output chunk.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import { Parser } from "effect-sse"
 *
 * const messages = Stream.make("data: a\n\n").pipe(Stream.pipeThroughChannel(Parser.channel()))
 * ```
 *
 * @since 0.1.0
 * @category channels
 */
export const channel = <IE = never>(
  options?: Options
): Channel.Channel<Chunk.Chunk<Message.Received>, Input, SseParseError | IE, IE, void, unknown> =>
  channelWith((push) => ({ onMessage: push }), options)

/**
 * Like `channel`, also emitting comments and `retry` directives.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import { Parser } from "effect-sse"
 *
 * const items = Stream.make(":hi\nretry: 10\n\n").pipe(Stream.pipeThroughChannel(Parser.channelItems()))
 * // Comment "hi", Retry 10 millis
 * ```
 *
 * @since 0.1.0
 * @category channels
 */
export const channelItems = <IE = never>(
  options?: Options
): Channel.Channel<Chunk.Chunk<Item>, Input, SseParseError | IE, IE, void, unknown> =>
  channelWith((push) => ({
    onMessage: push,
    onComment: (text) => push({ _tag: "Comment", text }),
    onRetry: (millis) => push({ _tag: "Retry", retry: Duration.millis(millis) })
  }), options)

/**
 * Decodes a stream of bytes (UTF-8) or text into the messages it carries.
 *
 * @example
 * ```ts
 * import { Parser } from "effect-sse"
 * import { Effect, Stream } from "effect"
 *
 * const program = Stream.make("data: one\n\nda", "ta: two\n\n").pipe(
 *   Parser.decode(),
 *   Stream.map((message) => message.data),
 *   Stream.runCollect
 * ) // Chunk("one", "two")
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const decode: {
  (options?: Options): <E, R>(self: Stream.Stream<string | Uint8Array, E, R>) => Stream.Stream<
    Message.Received,
    E | SseParseError,
    R
  >
  <E, R>(self: Stream.Stream<string | Uint8Array, E, R>, options?: Options): Stream.Stream<
    Message.Received,
    E | SseParseError,
    R
  >
} = dual(
  isStream,
  <E, R>(self: Stream.Stream<string | Uint8Array, E, R>, options?: Options) =>
    Stream.pipeThroughChannel(self, channel<E>(options))
)

/**
 * Decodes a stream of bytes or text into messages, comments and `retry` directives, in stream order.
 *
 * @example
 * ```ts
 * import { Parser } from "effect-sse"
 * import { Stream } from "effect"
 *
 * const items = Stream.make(":heartbeat\nretry: 500\n\ndata: x\n\n").pipe(Parser.decodeItems(), Stream.runCollect)
 * // Comment "heartbeat", Retry 500 millis, Message "x"
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const decodeItems: {
  (options?: Options): <E, R>(self: Stream.Stream<string | Uint8Array, E, R>) => Stream.Stream<
    Item,
    E | SseParseError,
    R
  >
  <E, R>(self: Stream.Stream<string | Uint8Array, E, R>, options?: Options): Stream.Stream<Item, E | SseParseError, R>
} = dual(
  isStream,
  <E, R>(self: Stream.Stream<string | Uint8Array, E, R>, options?: Options) =>
    Stream.pipeThroughChannel(self, channelItems<E>(options))
)
