import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import { Buffer } from "node:buffer"
import { IncomingMessage } from "node:http"
import { Readable } from "node:stream"

// A broadcast pushes one frame into many sinks, and Node wraps a Uint8Array that is not a Buffer in a new Buffer at
// every push: the last frame's Buffer is kept, so that a broadcast wraps its frame once.
let lastFrame: Uint8Array | undefined = undefined
let lastBuffer: Buffer = Buffer.alloc(0)

const asBuffer = (frame: Uint8Array): Buffer => {
  if (Buffer.isBuffer(frame)) return frame
  if (frame !== lastFrame) {
    lastFrame = frame
    lastBuffer = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)
  }
  return lastBuffer
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

  constructor() {
    this.readable = new Readable({
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

  /** True when a frame pushed now goes straight to the socket, behind nothing. */
  get canWriteNow(): boolean {
    return this.readable.readableFlowing === true && this.readable.readableLength === 0 && !this.readable.destroyed
  }

  /** False once Node's buffer is full: wait for `ready` before pushing more. */
  push(frame: Uint8Array): boolean {
    return this.readable.push(asBuffer(frame))
  }

  /** Completes once Node has taken what was pushed and asks for more. */
  readonly ready: Effect.Effect<void> = Effect.async<void>((resume) => {
    this.waiting = () => resume(Effect.void)
    return Effect.sync(() => {
      this.waiting = undefined
    })
  })

  end(): void {
    if (!this.readable.destroyed) this.readable.push(null)
  }

  destroy(): void {
    this.readable.destroy()
  }
}

/** A sink when the request came through Node's HTTP server, which pipes readable bodies; otherwise undefined. */
export const forRequest = (request: HttpServerRequest.HttpServerRequest): NodeSink | undefined =>
  request.source instanceof IncomingMessage ? new NodeSink() : undefined
