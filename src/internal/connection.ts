import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as Encoder from "../Encoder.js"
import type * as History from "../History.js"
import type * as Message from "../Message.js"
import type * as SseEvent from "../SseEvent.js"
import type * as SseServer from "../SseServer.js"
import type { NodeSink } from "./nodeSink.js"

/** @internal */
export const SourceTypeId: SseServer.SourceTypeId = Symbol.for("effect-sse/SseServer/Source") as SseServer.SourceTypeId

/** @internal */
export const heartbeatFrame: Uint8Array = Encoder.comment()

// Ends the stream gracefully: frames queued before it are still written. Compared by identity.
const END = new Uint8Array(0)

/** What a server shares with every connection it owns. @internal */
export interface ServerContext {
  readonly policy: SseServer.SlowConsumerPolicy
  readonly capacity: number
  readonly sendTimeout: number
  readonly now: () => number
  readonly unregister: (connection: Connection<unknown>) => void
  readonly onDropped: (frames: number) => void
  readonly onWritten: (frames: number, bytes: number) => void
  /** Counts one frame written within a send; `flushWritten` reports the counts once per send or broadcast. */
  readonly countWritten: (bytes: number) => void
  readonly flushWritten: () => void
  /**
   * The first `count` frames (`bytes` long in all) as one buffer. Connections that received the same broadcasts
   * batch the same frames: the buffer is built once and shared, not copied per connection.
   */
  readonly join: (frames: ReadonlyArray<Uint8Array>, count: number, bytes: number) => Uint8Array
  /** Runs a connection's backlog fiber in the server's scope. */
  readonly fork: (effect: Effect.Effect<void>) => void
  readonly error: (reason: SseServer.SseServerError["reason"], id: unknown, cause?: unknown) => SseServer.SseServerError
  /**
   * With a history: records a message for every connection of an id, delivered through the log (so a source's
   * own sends keep the log's order too). Undefined without a history.
   */
  readonly record:
    | ((id: unknown, message: Message.Message) => Effect.Effect<void, SseServer.SseServerError>)
    | undefined
  /** Orders two keys of the history's log. */
  readonly compareKeys: (a: string, b: string) => number
}

/**
 * One open response. Its frame queue, heartbeat fiber and registry entry belong to the request's scope, so
 * however the response ends (client gone, `close`, shutdown, write error) they are released together.
 *
 * @internal
 */
export class Connection<Id> implements SseServer.Source<Id> {
  readonly [SourceTypeId]: SseServer.SourceTypeId = SourceTypeId
  /** When a batch was last handed to the socket (clock milliseconds): heartbeats only fill silences. */
  lastWrite: number
  /** Frames waiting, in order, for room in a full queue (policies `"close"` and `"dropOldest"`). */
  private readonly backlog: Array<Uint8Array> = []
  private draining = false
  /** On Node, the response body that frames are written to; undefined when the body is a Stream. */
  private sink: NodeSink | undefined = undefined
  private forkWriter: ((effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>) | undefined = undefined
  private writer: Fiber.RuntimeFiber<void> | undefined = undefined
  /** True while a writer fiber moves queued frames to the sink. */
  private writing = false
  private closing = false
  private ended = false
  private aborted = false
  private delivered = false
  private lastEventIdValue: string
  /** While a replay is read from the history: log entries wait here. */
  private pending: Array<History.Entry> | undefined = undefined
  /** The key of the last log entry this connection was given: entries at or before it are duplicates. */
  private cursor: string | undefined = undefined
  /** The SSE id of the last log entry this connection was given: what its client would resume from. */
  lastSentId: string
  resume: History.Resume = { _tag: "Fresh" }

  constructor(
    readonly id: Id,
    /** The key of the id in the server's history (undefined without one). */
    readonly historyKey: string | undefined,
    readonly queue: Queue.Queue<Uint8Array>,
    private readonly fiber: Fiber.RuntimeFiber<unknown, unknown>,
    private readonly destroySocket: () => void,
    private readonly server: ServerContext,
    lastEventId: string
  ) {
    this.lastEventIdValue = lastEventId
    this.lastSentId = lastEventId
    this.lastWrite = server.now()
  }

  get isOpen(): boolean {
    return !this.closing && !this.ended
  }

  // --- writing: the response body ---

  /**
   * The next batch of frames taken from the queue, joined (undefined once the response ends). The fiber is woken by
   * the first frame of a burst and runs once the sender is done: the rest of the burst is waiting by then, and goes
   * out in the same batch.
   */
  private nextBatch(): Effect.Effect<Chunk.Chunk<Uint8Array> | undefined> {
    if (this.ended) return Effect.succeed(undefined)
    const max = this.server.capacity + 1
    return Option.getOrElse(this.queue.unsafeSize(), () => 0) > 0
      ? Effect.map(Queue.takeUpTo(this.queue, max), (frames) => this.batch(frames))
      : Effect.flatMap(
        Queue.take(this.queue),
        (first) => Effect.map(Queue.takeUpTo(this.queue, max - 1), (rest) => this.batch(Chunk.prepend(rest, first)))
      )
  }

  /** The response body as a Stream, for any platform: the prelude at once (so that clients see the stream open), then batches. */
  body(prelude: Uint8Array): Stream.Stream<Uint8Array> {
    // A plain channel loop: one take and one write per batch, without the layers of a generic stream combinator.
    const next = Effect.suspend(() => this.nextBatch())
    const loop: Channel.Channel<Chunk.Chunk<Uint8Array>, unknown, never, unknown, void, unknown> = Channel.flatMap(
      Channel.fromEffect(next),
      (chunk) => chunk === undefined ? Channel.void : Channel.zipRight(Channel.write(chunk), loop)
    )
    return Stream.fromChannel(Channel.zipRight(Channel.write(Chunk.of(prelude)), loop))
  }

  /**
   * On Node: the prelude goes into the sink now, and from then on frames are written within the send while the
   * socket keeps up. What has to queue meanwhile is moved by a writer fiber, started with `fork` (the request's
   * runtime) when the first frame queues and ended once the queue is empty, or by `release` when the request's
   * scope closes: an idle connection holds no fiber.
   */
  writeTo(sink: NodeSink, prelude: Uint8Array, fork: (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>): void {
    this.sink = sink
    this.forkWriter = fork
    sink.push(prelude)
    if (Option.getOrElse(this.queue.unsafeSize(), () => 0) > 0) this.ensureWriter()
  }

  private ensureWriter(): void {
    if (this.writing || this.sink === undefined || this.forkWriter === undefined) return
    this.writing = true
    this.writer = this.forkWriter(this.writeQueued(this.sink))
  }

  // Every frame in the queue has a writer coming for it, and no frame is written straight while one runs: that is
  // what keeps the order. The writer never waits on an empty queue: it ends there, in the same step as it looks.
  private writeQueued(sink: NodeSink): Effect.Effect<void> {
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      if (this.ended || Option.getOrElse(this.queue.unsafeSize(), () => 0) === 0) {
        this.writing = false
        return Effect.void
      }
      // The queue is not empty: this takes what waits, without suspending.
      return Effect.flatMap(this.nextBatch(), (chunk) => {
        let room = true
        if (chunk !== undefined) { for (const piece of chunk) room = sink.push(piece) }
        if (this.ended) {
          sink.end()
          this.writing = false
          return Effect.void
        }
        return room ? loop : Effect.zipRight(sink.ready(), loop)
      })
    })
    return Effect.onInterrupt(loop, () =>
      Effect.sync(() => {
        this.writing = false
      }))
  }

  /** Stops the writer, if one runs: the request's scope is closing. */
  release(): void {
    this.writer?.unsafeInterruptAsFork(FiberId.none)
  }

  /** A frame straight to the socket: only when nothing waits in the queue, so that order holds. */
  private writeNow(frame: Uint8Array, sink: NodeSink): void {
    if (frame !== heartbeatFrame) this.markDelivered()
    this.lastWrite = this.server.now()
    this.server.countWritten(frame.length)
    sink.write(frame)
  }

  /**
   * Without waiting: straight to the socket when nothing waits before the frame, otherwise into the queue when
   * it has room and no backlog is ahead. False when neither.
   */
  private offerNow(frame: Uint8Array): boolean {
    const sink = this.sink
    if (this.backlog.length > 0) return false
    if (sink !== undefined && !this.writing && sink.canWriteNow) {
      this.writeNow(frame, sink)
      return true
    }
    return this.enqueue(frame)
  }

  /** Into the queue without waiting; on Node, with a writer to take it. */
  private enqueue(frame: Uint8Array): boolean {
    if (!this.queue.unsafeOffer(frame)) return false
    this.ensureWriter()
    return true
  }

  private markDelivered(): void {
    if (!this.delivered) {
      // As the seed documents: Last-Event-ID tells of a reconnection until new content has been delivered.
      this.delivered = true
      this.lastEventIdValue = ""
    }
  }

  /** Everything waiting in the queue goes out as one buffer: one write for many frames under load. */
  private batch(frames: Chunk.Chunk<Uint8Array>): Chunk.Chunk<Uint8Array> {
    const array = Chunk.toReadonlyArray(frames)
    let count = 0
    let bytes = 0
    let message = false
    for (const frame of array) {
      if (frame === END) {
        this.ended = true
        break
      }
      count++
      bytes += frame.length
      if (frame !== heartbeatFrame) message = true
    }
    if (message) this.markDelivered()
    if (count === 0) return Chunk.empty()
    this.lastWrite = this.server.now()
    this.server.onWritten(count, bytes)
    return Chunk.of(count === 1 ? array[0]! : this.server.join(array, count, bytes))
  }

  // --- sending ---

  /**
   * Offers a frame without waiting. True when it is queued, or (policies `"close"` and `"dropOldest"`) placed in
   * the backlog behind which a background fiber feeds the queue in order; false when the connection is closed or
   * the policy dropped the frame. A `"close"` backlog never grows past the queue's capacity: past that, the
   * consumer is too slow and the connection is aborted.
   */
  unsafeOffer(frame: Uint8Array): boolean {
    if (!this.isOpen) return false
    if (this.offerNow(frame)) return true
    if (this.server.policy === "dropNewest") {
      this.server.onDropped(1)
      return false
    }
    if (this.server.policy === "close" && this.backlog.length >= this.server.capacity) {
      this.abort()
      return false
    }
    // A sliding queue takes every frame in the end, displacing the oldest one.
    if (this.server.policy === "dropOldest") this.server.onDropped(1)
    this.backlog.push(frame)
    this.startDraining()
    return true
  }

  /** Heartbeats and retry hints: skipped when frames are waiting, since a write is coming anyway. */
  offerControl(frame: Uint8Array): void {
    if (!this.isOpen || this.backlog.length > 0) return
    this.offerNow(frame)
    this.server.flushWritten()
  }

  /** Ends the response after the frames already queued. */
  unsafeClose(): void {
    if (!this.isOpen) return
    this.closing = true
    if (this.backlog.length === 0 && this.enqueue(END)) return
    this.backlog.push(END)
    this.startDraining()
  }

  /** Ends the response now, discarding what is queued: for slow consumers and the shutdown deadline. */
  abort(): void {
    // Not skipped once the end was taken from the queue: the writer may still wait for the socket with it.
    if (this.aborted) return
    this.aborted = true
    this.ended = true
    this.server.onDropped(this.backlog.length + Option.getOrElse(this.queue.unsafeSize(), () => 0))
    this.backlog.length = 0
    // The Node writer may be waiting for a full socket to drain: interrupting the response fiber releases what
    // the connection holds, and destroying the socket frees what Node holds.
    this.fiber.unsafeInterruptAsFork(FiberId.none)
    this.sink?.destroy()
    this.destroySocket()
  }

  /** Waits for room for one frame, at most `sendTimeout` under the `"close"` policy. */
  private offerWaiting(frame: Uint8Array): Effect.Effect<"queued" | "closed" | "timeout"> {
    const offer = Effect.tap(Queue.offer(this.queue, frame), (queued) => {
      if (queued) this.ensureWriter()
    })
    const bounded = this.server.policy === "close"
      ? Effect.timeoutTo(offer, { duration: this.server.sendTimeout, onTimeout: () => false, onSuccess: () => true })
      : offer
    // An offer to a queue shut down meanwhile is an interruption of the offerer: read it as "closed".
    return Effect.map(
      Effect.exit(bounded),
      (exit) => Exit.isSuccess(exit) ? (exit.value ? "queued" : "timeout") : "closed"
    )
  }

  private startDraining(): void {
    if (this.draining) return
    this.draining = true
    const drain: Effect.Effect<void> = Effect.suspend(() => {
      const frame = this.backlog[0]
      if (frame === undefined || this.ended) {
        this.draining = false
        return Effect.void
      }
      return Effect.flatMap(this.offerWaiting(frame), (result) => {
        if (result === "timeout") this.abort()
        if (result !== "queued") {
          this.draining = false
          return Effect.void
        }
        this.backlog.shift()
        return drain
      })
    })
    this.server.fork(drain)
  }

  // --- the log: entries in its order, each once ---

  /** An entry of the server's log, in the log's order: skipped when the connection already had it. */
  offerEntry(entry: History.Entry): void {
    if (!this.isOpen) return
    if (this.pending !== undefined) {
      this.pending.push(entry)
      return
    }
    if (this.cursor !== undefined && this.server.compareKeys(entry.key, this.cursor) <= 0) return
    this.cursor = entry.key
    if (entry.message.id !== undefined) this.lastSentId = entry.message.id
    this.unsafeOffer(entry.frame)
  }

  /** From now until `endReplay`, entries are held back, so that the replay goes out first. */
  startReplay(): void {
    this.pending = []
  }

  /**
   * The replay went out up to `cursor` (undefined after a gap): the entries held back follow, but those the
   * replay already carried, and so will every later one. No gap, no duplicate.
   */
  endReplay(cursor: string | undefined, lastSentId: string): void {
    const pending = this.pending ?? []
    this.pending = undefined
    this.cursor = cursor
    this.lastSentId = lastSentId
    for (const entry of pending) this.offerEntry(entry)
  }

  // --- Source ---

  // Getters, not fields: an Effect held by every connection would cost memory for what is rarely asked.
  get lastEventId(): Effect.Effect<string> {
    return Effect.sync(() => this.lastEventIdValue)
  }

  get isConnected(): Effect.Effect<boolean> {
    return Effect.sync(() => this.isOpen)
  }

  get close(): Effect.Effect<void> {
    return Effect.sync(() => this.unsafeClose())
  }

  sendFrame(frame: Uint8Array): Effect.Effect<void, SseServer.SseServerError> {
    return Effect.suspend(() => {
      if (!this.isOpen) return Effect.fail(this.server.error("Closed", this.id))
      if (this.offerNow(frame)) {
        this.server.flushWritten()
        return Effect.void
      }
      if (this.server.policy !== "close" || this.backlog.length > 0) {
        return this.unsafeOffer(frame) ? Effect.void : Effect.fail(this.server.error("Dropped", this.id))
      }
      // The seed's blocking send: the sender waits for room, at most `sendTimeout`.
      return Effect.flatMap(this.offerWaiting(frame), (result) => {
        if (result === "queued") return Effect.void
        if (result === "timeout") this.abort()
        return Effect.fail(this.server.error(result === "timeout" ? "SlowConsumer" : "Closed", this.id))
      })
    })
  }

  send(message: Message.Message): Effect.Effect<void, SseServer.SseServerError> {
    if (this.server.record !== undefined) return this.server.record(this.id, message)
    return Either.match(Encoder.encode(message), {
      onLeft: (cause) => Effect.fail(this.server.error("Encode", this.id, cause)),
      onRight: (frame) => this.sendFrame(frame)
    })
  }

  event<A, I, R>(event: SseEvent.SseEvent<A, I, R>): SseServer.SourceEvent<A, R> {
    return {
      send: (payload, options) =>
        Effect.flatMap(
          Effect.mapError(event.encode(payload, options), (cause) => this.server.error("Encode", this.id, cause)),
          (message) => this.send(message)
        )
    }
  }
}
