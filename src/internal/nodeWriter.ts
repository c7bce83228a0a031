import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http"
import type { Socket } from "node:net"
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
  headers: OutgoingHttpHeaders
): { readonly socket: Socket } | undefined => {
  const incoming = request.source as Partial<IncomingMessage>
  if (incoming.httpVersion !== "1.1" || incoming.method !== "GET") return undefined
  const response = nodeResponse as ServerResponse & Detachable
  const socket = response.socket as Socket | null
  if (
    socket === null || typeof response.detachSocket !== "function" || response.headersSent ||
    response.writableEnded || socket.destroyed || !socket.writable || socket.writableNeedDrain
  ) return undefined
  if (taken.has(socket)) {
    // Another request on the socket of an event stream can never be answered before the stream ends, and the
    // stream ends with the socket: the client broke its own stream.
    socket.destroy()
    return undefined
  }
  response.writeHead(200, { ...headers, "transfer-encoding": "chunked" })
  response.flushHeaders()
  response.detachSocket(socket)
  response.end()
  taken.add(socket)
  return { socket }
}

// Sockets taken over: a request that arrives later on one of them (pipelined after an event stream) must never
// write into the stream.
const taken = new WeakSet<Socket>()

const CRLF = new Uint8Array([13, 10])
const LAST_CHUNK = new Uint8Array([48, 13, 10, 13, 10]) // "0\r\n\r\n"

// A broadcast writes one frame to many sockets: its chunk (size line, frame, CRLF) is built once and kept while
// the same frame is written.
let lastFrame: Uint8Array | undefined = undefined
let lastChunk: Uint8Array | undefined = undefined

const encoder = new TextEncoder()

const asChunk = (frame: Uint8Array): Uint8Array => {
  if (frame === lastFrame && lastChunk !== undefined) return lastChunk
  const size = encoder.encode(frame.length.toString(16))
  const chunk = new Uint8Array(size.length + 2 + frame.length + 2)
  chunk.set(size, 0)
  chunk.set(CRLF, size.length)
  chunk.set(frame, size.length + 2)
  chunk.set(CRLF, size.length + 2 + frame.length)
  lastFrame = frame
  lastChunk = chunk
  return chunk
}

/**
 * Writes a connection's frames to a socket taken over from Node's response, as HTTP/1.1 chunks. The socket is
 * closed when the stream ends (Node's parser still owns it and cannot reuse it). `onGone` runs once, when the
 * socket closes or the stream ends.
 *
 * @internal
 */
export class NodeWriter implements Writer {
  private done = false

  constructor(private readonly socket: Socket, private readonly onGone: () => void) {
    socket.once("close", () => this.gone())
  }

  private gone(): void {
    if (this.done) return
    this.done = true
    this.onGone()
  }

  get canWriteNow(): boolean {
    const socket = this.socket
    return !socket.writableNeedDrain && socket.writable
  }

  write(frame: Uint8Array): boolean {
    if (frame.length === 0 || !this.socket.writable) return true
    return this.socket.write(asChunk(frame))
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
