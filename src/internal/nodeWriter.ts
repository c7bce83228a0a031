import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http"
import type { Socket } from "node:net"
import { SharedJoin } from "./bytes.js"
import type { Writer } from "./connection.js"

/**
 * What `takeOver` needs from `@effect/platform-node`: its public `NodeHttpServerRequest.toServerResponse`.
 *
 * @internal
 */
export type ToServerResponse = (request: HttpServerRequest.HttpServerRequest) => ServerResponse

/**
 * Node's response to a request that came through Node's HTTP server, found with the platform's public
 * `toServerResponse`; undefined for any other request (a web handler, HTTP/2, a test double).
 *
 * @internal
 */
export const nodeResponseOf = (
  request: HttpServerRequest.HttpServerRequest,
  toServerResponse: ToServerResponse
): ServerResponse | undefined => {
  const source = request.source as { readonly httpVersion?: unknown } | null
  if (typeof source !== "object" || source === null || typeof source.httpVersion !== "string") return undefined
  let response: unknown
  try {
    response = toServerResponse(request)
  } catch {
    return undefined
  }
  return typeof response === "object" && response !== null && "detachSocket" in response ?
    response as ServerResponse :
    undefined
}

interface Detachable {
  readonly detachSocket?: (socket: Socket) => void
}

/**
 * The Node fast path, and the one place that relies on behaviour neither Node nor `@effect/platform-node`
 * documents:
 *
 * - `ServerResponse.detachSocket(socket)` (undocumented; used by Node itself once a response finishes) unlinks the
 *   response from its socket, so the socket can be written to directly and Node never emits `close` on the
 *   response;
 * - `@effect/platform-node` writes nothing and returns at once for a response that is already `writableEnded`,
 *   which a socket-less response becomes when it is ended (its bytes stay in its own buffer, and are dropped).
 *
 * The head goes out through Node's response (`writeHead` + `flushHeaders`, documented), with chunked framing,
 * which the writer then continues on the socket. Everything is checked before anything is written: when a
 * precondition does not hold (HTTP/1.0, a response already started, ...), nothing happens and the portable path
 * serves the request.
 *
 * @internal
 */
export const takeOver = (
  request: HttpServerRequest.HttpServerRequest,
  nodeResponse: ServerResponse,
  headers: OutgoingHttpHeaders,
  contentType: string
): { readonly socket: Socket } | undefined => {
  const incoming = request.source as Partial<IncomingMessage>
  if (incoming.httpVersion !== "1.1" || incoming.method !== "GET") return undefined
  const response = nodeResponse as ServerResponse & Detachable
  const socket = response.socket as Socket | null
  if (
    socket === null || typeof response.detachSocket !== "function" || response.headersSent ||
    response.writableEnded || socket.destroyed || !socket.writable || socket.writableNeedDrain
  ) return undefined
  const previous = writers.get(socket)
  if (previous !== undefined) {
    // Another request on the socket of an event stream can never be answered before the stream ends, and the
    // stream ends with the socket: the client broke its own stream. What the stream wrote so far goes out first.
    previous.flush()
    socket.destroy()
    return undefined
  }
  response.writeHead(200, { ...headers, "content-type": contentType, "transfer-encoding": "chunked" })
  // Corked until the writer's first flush: the head and the opening frames leave in one write.
  socket.cork()
  response.flushHeaders()
  response.detachSocket(socket)
  response.end()
  return { socket }
}

// The writers of sockets taken over: a request that arrives later on one of them (pipelined after an event stream)
// must never write into the stream.
const writers = new WeakMap<Socket, NodeWriter>()

const CRLF = new Uint8Array([13, 10])
const LAST_CHUNK = new Uint8Array([48, 13, 10, 13, 10]) // "0\r\n\r\n"
const encoder = new TextEncoder()

// A broadcast writes the same frames to many sockets: their chunk (size line, frames, CRLF) is built once, in one
// copy, and written to every socket that got the same frames in a row.
const chunked = (frames: ReadonlyArray<Uint8Array>): Uint8Array => {
  let bytes = 0
  for (const frame of frames) bytes += frame.length
  const size = encoder.encode(bytes.toString(16))
  const chunk = new Uint8Array(size.length + 2 + bytes + 2)
  chunk.set(size, 0)
  chunk.set(CRLF, size.length)
  let offset = size.length + 2
  for (const frame of frames) {
    chunk.set(frame, offset)
    offset += frame.length
  }
  chunk.set(CRLF, offset)
  return chunk
}
const chunks = new SharedJoin(chunked)

// Writers holding frames written during this tick. As Node's own responses do (they cork the socket until the next
// tick), frames written in one tick leave in one write: a burst of broadcasts costs one syscall per socket, not one
// per frame, and sockets that got the same frames share one buffer.
let waiting: Array<NodeWriter> = []
let flushScheduled = false

const flushWaiting = (): void => {
  flushScheduled = false
  const due = waiting
  waiting = []
  for (const writer of due) writer.flushHeld()
}

/**
 * Writes a connection's frames to a socket taken over from Node's response, as HTTP/1.1 chunks: the frames written
 * within one tick go out together, at the end of the tick, or at once when they would fill the socket's buffer.
 * The socket is closed when the stream ends (Node's parser still owns it and cannot reuse it). `onGone` runs once,
 * when the socket closes or the stream ends.
 *
 * @internal
 */
export class NodeWriter implements Writer {
  private done = false
  private readonly pending: Array<Uint8Array> = []
  private pendingBytes = 0
  /** True while in the list flushed at the end of the tick. */
  private queued = false

  /** True while the socket is corked by `takeOver`, until the first flush. */
  private corked: boolean

  constructor(private readonly socket: Socket, private readonly onGone: () => void) {
    socket.once("close", () => this.gone())
    writers.set(socket, this)
    this.corked = socket.writableCorked > 0
    if (this.corked) this.hold()
  }

  /** Flushed at the end of the tick. */
  private hold(): void {
    if (this.queued) return
    this.queued = true
    waiting.push(this)
    if (!flushScheduled) {
      flushScheduled = true
      process.nextTick(flushWaiting)
    }
  }

  private gone(): void {
    if (this.done) return
    this.done = true
    this.pending.length = 0
    this.pendingBytes = 0
    this.onGone()
  }

  get canWriteNow(): boolean {
    const socket = this.socket
    return !socket.writableNeedDrain && socket.writable
  }

  write(frame: Uint8Array): boolean {
    const socket = this.socket
    if (frame.length === 0 || this.done || !socket.writable) return true
    this.hold()
    this.pending.push(frame)
    this.pendingBytes += frame.length
    // Held frames count against the socket's buffer: past its mark they go now, and the caller learns of pushback.
    return this.pendingBytes + socket.writableLength < socket.writableHighWaterMark || this.flush()
  }

  /** At the end of the tick. Nothing may stop the writers after this one from being flushed. */
  flushHeld(): void {
    this.queued = false
    try {
      this.flush()
    } catch {
      this.abort()
    }
  }

  /** Writes the frames held since the last flush as one chunk; false when the socket pushes back. */
  flush(): boolean {
    const socket = this.socket
    let room = !socket.writableNeedDrain
    if (this.pending.length > 0) {
      if (socket.writable) room = socket.write(chunks.join(this.pending))
      this.pending.length = 0
      this.pendingBytes = 0
    }
    if (this.corked) {
      this.corked = false
      socket.uncork()
    }
    return room
  }

  ready(): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const go = () => resume(Effect.void)
      this.socket.once("drain", go)
      return Effect.sync(() => {
        this.socket.off("drain", go)
      })
    })
  }

  end(): void {
    const socket = this.socket
    this.flush()
    if (socket.writable) {
      socket.write(LAST_CHUNK)
      // Closed once written: a client that keeps its side open does not hold the socket.
      socket.end(() => socket.destroy())
    }
    this.gone()
  }

  abort(): void {
    this.socket.destroy()
    this.gone()
  }
}

/**
 * The Node fast path, when provided (by `effect-sse/SseServer/Node`): servers built with it in context take Node
 * HTTP/1.1 responses over.
 *
 * @internal
 */
export class NodeFastPath extends Context.Tag("effect-sse/SseServer/NodeFastPath")<NodeFastPath, {
  readonly toServerResponse: ToServerResponse
}>() {}
