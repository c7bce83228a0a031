import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Tracer from "effect/Tracer"
import * as Encoder from "../Encoder.js"
import type * as History from "../History.js"
import type * as Message from "../Message.js"
import type * as SseEvent from "../SseEvent.js"
import type * as SseServer from "../SseServer.js"
import type { Resumed } from "./backplane.js"
import type { Hub } from "./hub.js"
import { SseServerError } from "./serverError.js"

/** @internal */
export const SourceTypeId: SseServer.SourceTypeId = Symbol.for("effect-sse/SseServer/Source") as SseServer.SourceTypeId

/** @internal */
export const heartbeatFrame: Uint8Array = Encoder.comment()

/** A frame held while the connection opens: with a history, the log entry's key and SSE id. */
interface Held {
  readonly frame: Uint8Array
  readonly key: string | undefined
  readonly sseId: string | undefined
}

// Ends the stream gracefully: frames queued before it are still written. Compared by identity.
const END = new Uint8Array(0)

/**
 * A transport a connection writes to within the send (the Node writer). Without one, the response body is a
 * Stream that takes the connection's batches (see `streamWriter.ts`).
 *
 * @internal
 */
export interface Writer {
  /** True when a frame written now goes straight out, behind nothing. */
  readonly canWriteNow: boolean
  /** Writes a frame; false once the transport pushes back (wait for `ready`). */
  readonly write: (frame: Uint8Array) => boolean
  /** Completes once the transport takes more. */
  readonly ready: () => Effect.Effect<void>
  /** Ends the response after what was written. */
  readonly end: () => void
  /** Ends the response now. */
  readonly abort: () => void
}

/**
 * One open response, owned by the server's hub (not by the request: on Node it outlives the handler). Its state
 * is one of: opening (live frames held back while the replay is read and `onOpen` greets), open, closing (the end
 * is queued behind the last frames), gone (`dispose`: the client left, the response ended or was aborted).
 *
 * Frames take one of three lanes, and never overtake each other: straight to the writer while nothing waits; the
 * bounded queue (where the slow-consumer policy applies) while the transport pushes back; and the backlog,
 * ordered frames waiting for room in a full queue, fed by a fiber in the server's scope.
 *
 * @internal
 */
export class Connection<Id> implements SseServer.Source<Id> {
  readonly [SourceTypeId]: SseServer.SourceTypeId = SourceTypeId
  /** When a frame was last handed to the transport (clock milliseconds): the heartbeat sweep fills silences. */
  lastWrite: number
  resume: History.Resume = { _tag: "Fresh" }
  /** Frames waiting, in order, for room in a full queue (policies `"close"` and `"dropOldest"`). */
  private readonly backlog: Array<Uint8Array> = []
  private draining = false
  private writer: Writer | undefined = undefined
  private writerFiber: Fiber.RuntimeFiber<void> | undefined = undefined
  /** True while a writer fiber moves queued frames to the writer. */
  private writing = false
  private closing = false
  private ended = false
  private aborted = false
  private disposed = false
  private delivered = false
  private lastEventIdValue: string
  /**
   * While opening: the hub's live frames, held until the replay and greeting are out; with a history, the log's
   * entries (with their keys and ids).
   */
  private held: Array<Held> | undefined = []
  /** With a history: the key of the last log entry this connection was given; entries at or before it are duplicates. */
  private cursor: string | undefined = undefined
  /** The SSE id of the last log entry this connection was given: the client's Last-Event-ID. */
  lastSentId: string
  /** While opening: the source's own frames (the greeting), written right after the replay. */
  private greeting: Array<Uint8Array> | undefined = []
  /** Run once when the connection is gone: frees the transport (e.g. a socket listener). */
  onDispose: (() => void) | undefined = undefined
  /** The app's `onClose`, run in the server's scope once the connection is gone. */
  onClosed: Effect.Effect<void> | undefined = undefined
  /** How an abort ends the response when there is no writer (the Stream body). */
  onAbort: (() => void) | undefined = undefined

  /** Made when first needed: on the Node fast path, a connection whose socket keeps up never needs one. */
  private queueValue: Queue.Queue<Uint8Array> | undefined = undefined

  constructor(
    readonly id: Id,
    /** The key of the id in the server's log; undefined without a history. */
    readonly historyKey: string | undefined,
    private readonly hub: Hub<Id>,
    private readonly span: Tracer.Span | undefined,
    lastEventId: string
  ) {
    this.lastEventIdValue = lastEventId
    this.lastSentId = lastEventId
    this.lastWrite = hub.now()
  }

  /** The frames waiting while the transport pushes back (see `SlowConsumerPolicy`). */
  get queue(): Queue.Queue<Uint8Array> {
    if (this.queueValue === undefined) {
      this.queueValue = this.hub.makeQueue()
      if (this.disposed) Effect.runFork(Queue.shutdown(this.queueValue))
    }
    return this.queueValue
  }

  private queuedSize(): number {
    const queue = this.queueValue
    return queue === undefined ? 0 : Option.getOrElse(queue.unsafeSize(), () => 0)
  }

  get isOpen(): boolean {
    return !this.closing && !this.ended && !this.disposed
  }

  get isGone(): boolean {
    return this.disposed
  }

  // --- opening ---

  /**
   * Ends the opening: the frames to write first (prelude, replay, greeting) as one buffer, then the live frames
   * held meanwhile are released, but the entries the replay already carried (no gap, no duplicate).
   */
  open(first: ReadonlyArray<Uint8Array>, resumed: Resumed, writer: Writer | undefined): Uint8Array {
    const opening = this.hub.join([...first, ...(this.greeting ?? [])])
    this.greeting = undefined
    this.writer = writer
    if (writer !== undefined && !this.ended) {
      writer.write(opening)
      this.lastWrite = this.hub.now()
    }
    const held = this.held ?? []
    this.held = undefined
    this.cursor = resumed.cursor
    this.lastSentId = resumed.lastSentId
    for (const item of held) {
      if (item.key === undefined) this.unsafeOffer(item.frame)
      else this.offerLogged(item.frame, item.key, item.sseId)
    }
    this.hub.flushWritten()
    // Frames queued while opening (a close, a greeting past the queue's room) have a writer coming for them.
    if (writer !== undefined && this.queuedSize() > 0) this.ensureWriter()
    return opening
  }

  // --- writing ---

  /**
   * The next batch of frames taken from the queue, joined (undefined once the response ends). The fiber is woken by
   * the first frame of a burst and runs once the sender is done: the rest of the burst is waiting by then, and goes
   * out in the same batch.
   */
  nextBatch(): Effect.Effect<Chunk.Chunk<Uint8Array> | undefined> {
    if (this.ended) return Effect.succeed(undefined)
    const max = this.hub.settings.capacity + 1
    return this.queuedSize() > 0
      ? Effect.map(Queue.takeUpTo(this.queue, max), (frames) => this.batch(frames))
      : Effect.flatMap(
        Queue.take(this.queue),
        (first) => Effect.map(Queue.takeUpTo(this.queue, max - 1), (rest) => this.batch(Chunk.prepend(rest, first)))
      )
  }

  private ensureWriter(): void {
    if (this.writing || this.writer === undefined || this.disposed) return
    this.writing = true
    this.writerFiber = this.hub.fork(this.writeQueued(this.writer))
  }

  // Every frame in the queue has a writer coming for it, and no frame is written straight while one runs: that is
  // what keeps the order. The writer never waits on an empty queue: it ends there, in the same step as it looks.
  private writeQueued(writer: Writer): Effect.Effect<void> {
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      if (this.ended || this.queuedSize() === 0) {
        this.writing = false
        return Effect.void
      }
      // The queue is not empty: this takes what waits, without suspending.
      return Effect.flatMap(this.nextBatch(), (chunk) => {
        let room = true
        if (chunk !== undefined) { for (const piece of chunk) room = writer.write(piece) }
        if (this.ended) {
          this.writing = false
          writer.end()
          return Effect.void
        }
        return room ? loop : Effect.zipRight(writer.ready(), loop)
      })
    })
    return Effect.onInterrupt(loop, () =>
      Effect.sync(() => {
        this.writing = false
      }))
  }

  /** A frame straight to the writer: only when nothing waits in the queue, so that order holds. */
  private writeNow(frame: Uint8Array, writer: Writer): void {
    if (frame !== heartbeatFrame) this.markDelivered()
    this.lastWrite = this.hub.now()
    this.hub.countWritten(frame.length)
    writer.write(frame)
  }

  /**
   * Without waiting: straight to the writer when nothing waits before the frame, otherwise into the queue when
   * it has room and no backlog is ahead. False when neither.
   */
  private offerNow(frame: Uint8Array): boolean {
    const writer = this.writer
    if (this.backlog.length > 0) return false
    if (writer !== undefined && !this.writing && writer.canWriteNow) {
      this.writeNow(frame, writer)
      return true
    }
    return this.enqueue(frame)
  }

  /** Into the queue without waiting; with a writer, a fiber comes to take it. */
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
    this.lastWrite = this.hub.now()
    this.hub.onWritten(count, bytes)
    return Chunk.of(count === 1 ? array[0]! : this.hub.join(array, count))
  }

  // --- sending ---

  /**
   * Offers a frame from the hub (a broadcast, a send to the id) without waiting. True when it is written, queued,
   * or (policies `"close"` and `"dropOldest"`) placed in the backlog behind which a background fiber feeds the
   * queue in order; false when the connection is closed or the policy dropped the frame. A `"close"` backlog
   * never grows past the queue's capacity: past that, the consumer is too slow and the connection is aborted.
   */
  unsafeOffer(frame: Uint8Array): boolean {
    if (!this.isOpen) return false
    if (this.held !== undefined) {
      this.held.push({ frame, key: undefined, sseId: undefined })
      return true
    }
    return this.offerOrQueue(frame)
  }

  /** An entry of the server's log, in the log's order: skipped when the connection already has it. */
  offerEntry(entry: History.Entry): void {
    if (!this.isOpen) return
    if (this.held !== undefined) {
      this.held.push({ frame: entry.frame, key: entry.key, sseId: entry.message.id })
      return
    }
    this.offerLogged(entry.frame, entry.key, entry.message.id)
  }

  private offerLogged(frame: Uint8Array, key: string, sseId: string | undefined): void {
    const backplane = this.hub.backplane
    if (this.cursor !== undefined && backplane !== undefined && backplane.compare(key, this.cursor) <= 0) return
    this.cursor = key
    if (sseId !== undefined) this.lastSentId = sseId
    this.offerOrQueue(frame)
  }

  private offerOrQueue(frame: Uint8Array): boolean {
    if (this.offerNow(frame)) return true
    const policy = this.hub.settings.policy
    if (policy === "dropNewest") {
      this.hub.onDropped(1)
      return false
    }
    if (policy === "close" && this.backlog.length >= this.hub.settings.capacity) {
      this.abort()
      return false
    }
    // A sliding queue takes every frame in the end, displacing the oldest one.
    if (policy === "dropOldest") this.hub.onDropped(1)
    this.backlog.push(frame)
    this.startDraining()
    return true
  }

  /** Heartbeats and retry hints: skipped when frames are waiting, since a write is coming anyway. */
  offerControl(frame: Uint8Array): void {
    if (!this.isOpen || this.held !== undefined || this.backlog.length > 0) return
    this.offerNow(frame)
  }

  /** Ends the response after the frames already queued. */
  unsafeClose(): void {
    if (!this.isOpen) return
    this.closing = true
    if (this.held !== undefined) return this.queueEnd()
    if (this.backlog.length === 0 && this.writer !== undefined && !this.writing && this.writer.canWriteNow) {
      // Nothing waits: the response ends now.
      this.ended = true
      this.writer.end()
      return
    }
    this.queueEnd()
  }

  private queueEnd(): void {
    if (this.backlog.length === 0 && this.enqueue(END)) return
    this.backlog.push(END)
    this.startDraining()
  }

  /** Ends the response now, discarding what is queued: for slow consumers and the shutdown deadline. */
  abort(): void {
    if (this.aborted || this.disposed) return
    this.aborted = true
    this.ended = true
    this.hub.onDropped(this.backlog.length + this.queuedSize())
    this.backlog.length = 0
    if (this.writer !== undefined) this.writer.abort()
    else this.onAbort?.()
    this.dispose()
  }

  /**
   * The connection is gone: the client left, the response ended, or it was aborted. Synchronous, so that its state
   * is true at once: it leaves the registry, sends fail `Closed`, its fibers stop and its queue shuts down.
   */
  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    this.ended = true
    this.held = undefined
    this.greeting = undefined
    this.backlog.length = 0
    this.hub.unregister(this)
    this.writerFiber?.unsafeInterruptAsFork(FiberId.none)
    this.writerFiber = undefined
    this.span?.end(this.hub.nanos(), Exit.void)
    this.onDispose?.()
    this.onDispose = undefined
    this.onAbort = undefined
    if (this.onClosed !== undefined) this.hub.fork(this.onClosed)
    this.onClosed = undefined
    // Wakes a Stream body waiting for frames (it ends) and senders waiting for room (they fail `Closed`).
    if (this.queueValue !== undefined) Effect.runFork(Queue.shutdown(this.queueValue))
  }

  /** Waits for room for one frame, at most `sendTimeout` under the `"close"` policy. */
  private offerWaiting(frame: Uint8Array): Effect.Effect<"queued" | "closed" | "timeout"> {
    const offer = Effect.tap(Queue.offer(this.queue, frame), (queued) => {
      if (queued) this.ensureWriter()
    })
    const bounded = this.hub.settings.policy === "close"
      ? Effect.timeoutTo(offer, {
        duration: this.hub.settings.sendTimeout,
        onTimeout: () => false,
        onSuccess: () => true
      })
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
    this.hub.fork(drain)
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
    return Effect.sync(() => {
      this.unsafeClose()
      this.hub.flushWritten()
    })
  }

  sendFrame(frame: Uint8Array): Effect.Effect<void, SseServer.SseServerError> {
    return this.sendOne(frame, true)
  }

  /**
   * Sends one frame, waiting for room under the `"close"` policy. While the connection opens, the source's own
   * frames (`own`: a greeting, a snapshot) go out right after the replay, and the server's are held back with the
   * live frames.
   */
  sendOne(frame: Uint8Array, own: boolean): Effect.Effect<void, SseServer.SseServerError> {
    return Effect.suspend(() => {
      if (!this.isOpen) return Effect.fail(new SseServerError({ reason: "Closed", id: this.id }))
      if (own && this.greeting !== undefined) {
        this.markDelivered()
        this.greeting.push(frame)
        return Effect.void
      }
      if (this.held !== undefined) {
        this.held.push({ frame, key: undefined, sseId: undefined })
        return Effect.void
      }
      if (this.offerNow(frame)) {
        this.hub.flushWritten()
        return Effect.void
      }
      if (this.hub.settings.policy !== "close" || this.backlog.length > 0) {
        return this.offerOrQueue(frame)
          ? Effect.void
          : Effect.fail(new SseServerError({ reason: this.isOpen ? "Dropped" : "Closed", id: this.id }))
      }
      // The seed's blocking send: the sender waits for room, at most `sendTimeout`.
      return Effect.flatMap(this.offerWaiting(frame), (result) => {
        if (result === "queued") return Effect.void
        if (result === "timeout") this.abort()
        return Effect.fail(
          new SseServerError({ reason: result === "timeout" ? "SlowConsumer" : "Closed", id: this.id })
        )
      })
    })
  }

  /**
   * Without a history, to this connection. With one, the message is recorded for the source's id and reaches it
   * through the log (every connection of the id, on every process), so that the log's order holds.
   */
  send(message: Message.Message): Effect.Effect<void, SseServer.SseServerError> {
    const backplane = this.hub.backplane
    if (backplane !== undefined && this.historyKey !== undefined) {
      return backplane.append(this.id, [{ target: this.historyKey, message }])
    }
    return Either.match(Encoder.encode(message), {
      onLeft: (cause) => Effect.fail(new SseServerError({ reason: "Encode", id: this.id, cause })),
      onRight: (frame) => this.sendOne(frame, true)
    })
  }

  event<A, I, R>(event: SseEvent.SseEvent<A, I, R>): SseServer.SourceEvent<A, R> {
    return {
      send: (payload, options) =>
        Effect.flatMap(
          Effect.mapError(
            event.encode(payload, options),
            (cause) => new SseServerError({ reason: "Encode", id: this.id, cause })
          ),
          (message) => this.send(message)
        )
    }
  }
}
