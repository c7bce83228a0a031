import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Connection } from "./connection.js"

/**
 * The portable writer: the response body as a Stream, for every platform and protocol. It writes the opening at
 * once (so that clients see the stream open), then the connection's batches as they queue, and ends with the
 * connection.
 *
 * @internal
 */
export const body = <Id>(connection: Connection<Id>, opening: Uint8Array): Stream.Stream<Uint8Array> => {
  // A plain channel loop: one take and one write per batch, without the layers of a generic stream combinator.
  const next = Effect.suspend(() => connection.nextBatch())
  const loop: Channel.Channel<Chunk.Chunk<Uint8Array>, unknown, never, unknown, void, unknown> = Channel.flatMap(
    Channel.fromEffect(next),
    (chunk) => chunk === undefined ? Channel.void : Channel.zipRight(Channel.write(chunk), loop)
  )
  return Stream.fromChannel(Channel.zipRight(Channel.write(Chunk.of(opening)), loop))
}

interface Closable {
  readonly once: (event: "close", listener: () => void) => unknown
  readonly off: (event: "close", listener: () => void) => unknown
  readonly destroy: () => unknown
  readonly destroyed?: boolean
}

// One listener per socket, however many requests it carried (pipelined requests share it).
const watchers = new WeakMap<Closable, Set<() => void>>()

/**
 * When the request came over a Node socket (`IncomingMessage.socket`): calls `onClose` once the socket closes.
 * Node tells the platform that a response is gone only for the response in flight; a request queued behind it
 * on a pipelined socket would otherwise hold its connection for good. Returns the way to stop watching (undefined
 * when there is no socket, or when it was closed already: then `onClose` has run).
 *
 * @internal
 */
export const watchSocket = (
  source: unknown,
  onClose: () => void
): { readonly stop: () => void; readonly destroy: () => void } | undefined => {
  const socket = (source as { readonly socket?: Partial<Closable> | null } | null)?.socket
  if (
    socket === undefined || socket === null || typeof socket.once !== "function" || typeof socket.off !== "function" ||
    typeof socket.destroy !== "function"
  ) return undefined
  const closable = socket as Closable
  if (closable.destroyed === true) {
    onClose()
    return undefined
  }
  let set = watchers.get(closable)
  if (set === undefined) {
    const listeners = new Set<() => void>()
    set = listeners
    watchers.set(closable, listeners)
    closable.once("close", () => {
      watchers.delete(closable)
      for (const listener of listeners) listener()
    })
  }
  const listeners = set
  listeners.add(onClose)
  return { stop: () => listeners.delete(onClose), destroy: () => closable.destroy() }
}
