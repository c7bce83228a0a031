import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import type { Buffer } from "node:buffer"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Readable } from "node:stream"

interface NodeBuiltins {
  readonly Buffer: typeof Buffer
  readonly IncomingMessage: typeof IncomingMessage
  readonly ServerResponse: typeof ServerResponse
  readonly Readable: typeof Readable
}

// Node's modules are looked up when a request arrives, not imported: the package's entry point also serves
// browsers (the client, the parser), which have no `node:` modules. Without `process.getBuiltinModule` (Node
// before 20.16) responses take the portable Stream body.
let builtins: NodeBuiltins | null | undefined = undefined

const nodeBuiltins = (): NodeBuiltins | null => {
  if (builtins !== undefined) return builtins
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule
  if (typeof get !== "function") return builtins = null
  const buffer = get("node:buffer") as { Buffer: typeof Buffer } | undefined
  const http = get("node:http") as {
    IncomingMessage: typeof IncomingMessage
    ServerResponse: typeof ServerResponse
  } | undefined
  const stream = get("node:stream") as { Readable: typeof Readable } | undefined
  return builtins = buffer && http && stream
    ? {
      Buffer: buffer.Buffer,
      IncomingMessage: http.IncomingMessage,
      ServerResponse: http.ServerResponse,
      Readable: stream.Readable
    }
    : null
}

/**
 * The body of a response served by Node (`@effect/platform-node`): a readable stream that the platform pipes into
 * Node's response. A frame pushed while it flows with nothing buffered reaches the socket within the push, so a
 * broadcast writes to every connection in one synchronous loop instead of waking a fiber per connection; once
 * the socket pushes back, frames take the connection's queue again.
 *
 * @internal
 */
export class NodeSink {
  readonly readable: Readable
  private waiting: (() => void) | undefined = undefined

  constructor(private readonly node: NodeBuiltins, private readonly response: ServerResponse | undefined) {
    this.readable = new node.Readable({
      // Node asks for more once what was pushed has gone out: whoever waits for room may go on.
      read: () => {
        const resume = this.waiting
        if (resume !== undefined) {
          this.waiting = undefined
          resume()
        }
      }
    })
  }

  /** True when a frame written now goes straight to the socket, behind nothing. */
  get canWriteNow(): boolean {
    const readable = this.readable
    if (readable.readableFlowing !== true || readable.readableLength !== 0 || readable.destroyed) return false
    const response = this.response
    // Never a write after the end: Node would report it as an error event.
    return response === undefined || (!response.writableNeedDrain && !response.writableEnded && !response.destroyed)
  }

  /**
   * Writes a frame when `canWriteNow`: into Node's response itself when the platform lets it be found (the body
   * it pipes is empty then, so nothing is overtaken), which skips the readable's own machinery.
   */
  write(frame: Uint8Array): void {
    const response = this.response
    if (response === undefined) this.readable.push(asBuffer(this.node, frame))
    else response.write(asBuffer(this.node, frame))
  }

  /** False once Node's buffer is full: wait for `ready` before pushing more. */
  push(frame: Uint8Array): boolean {
    return this.readable.push(asBuffer(this.node, frame))
  }

  /** Completes once Node has taken what was pushed and asks for more. */
  ready(): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      this.waiting = () => resume(Effect.void)
      return Effect.sync(() => {
        this.waiting = undefined
      })
    })
  }

  end(): void {
    if (!this.readable.destroyed) this.readable.push(null)
  }

  destroy(): void {
    this.readable.destroy()
  }
}

// A broadcast pushes one frame into many sinks, and Node wraps a Uint8Array that is not a Buffer in a new Buffer at
// every push: the last frame's Buffer is kept, so that a broadcast wraps its frame once.
let lastFrame: Uint8Array | undefined = undefined
let lastBuffer: Uint8Array | undefined = undefined

const asBuffer = (node: NodeBuiltins, frame: Uint8Array): Uint8Array => {
  if (node.Buffer.isBuffer(frame)) return frame
  if (frame !== lastFrame || lastBuffer === undefined) {
    lastFrame = frame
    lastBuffer = node.Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)
  }
  return lastBuffer
}

/** A sink when the request came through Node's HTTP server, which pipes readable bodies; otherwise undefined. */
export const forRequest = (request: HttpServerRequest.HttpServerRequest): NodeSink | undefined => {
  const node = nodeBuiltins()
  if (node === null || !(request.source instanceof node.IncomingMessage)) return undefined
  // @effect/platform-node's request knows its Node response; anything else just takes the readable path.
  const response = (request as { readonly resolvedResponse?: unknown }).resolvedResponse
  return new NodeSink(node, response instanceof node.ServerResponse ? response : undefined)
}
