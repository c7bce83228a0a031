/**
 * The Node fast path for `SseServer`, on `@effect/platform-node`: provide `layer` to a server and every
 * HTTP/1.1 event stream it serves on Node outlives its handler. The head goes out through Node's response, the
 * socket is taken over, and the handler returns at once, so a connection holds no fiber, request scope or
 * request span while it streams; frames are written to the socket within the send while it keeps up.
 *
 * It relies on two behaviours that Node and the platform do not document (kept in one function, and pinned by
 * a test): `ServerResponse.detachSocket`, and the platform leaving a response alone once it has ended. Whatever
 * does not fit (HTTP/1.0, HTTP/2, a response already started) takes the portable Stream body. A request
 * pipelined behind another response on its socket is refused (`503`), and the socket closes when the stream ends
 * instead of being reused.
 *
 * This entry imports `@effect/platform-node` (an optional peer dependency), so it is not re-exported from
 * `effect-sse`, whose entry also serves browsers.
 *
 * @since 0.2.0
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Layer from "effect/Layer"
import { NodeFastPath } from "../internal/nodeWriter.js"

/**
 * The fast path's service: servers built where it is provided take Node responses over.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SseServer } from "effect-sse"
 * import * as SseServerNode from "effect-sse/SseServer/Node"
 *
 * const program = Effect.gen(function*() {
 *   const sse = yield* SseServer.make<string>()
 *   return sse
 * }).pipe(Effect.provide(SseServerNode.layer))
 * ```
 *
 * @since 0.2.0
 * @category tags
 */
export const FastPath: typeof NodeFastPath = NodeFastPath

/**
 * Provides the fast path to the servers built with it: give it to `SseServer.layer` (or to `SseServer.make`).
 *
 * @example
 * ```ts
 * import { Context, Layer } from "effect"
 * import { SseServer } from "effect-sse"
 * import * as SseServerNode from "effect-sse/SseServer/Node"
 *
 * class Events extends Context.Tag("app/Events")<Events, SseServer.SseServer<string>>() {}
 *
 * const EventsLive = SseServer.layer(Events, { keepAlive: "15 seconds" }).pipe(Layer.provide(SseServerNode.layer))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<NodeFastPath> = Layer.succeed(NodeFastPath, {
  toServerResponse: NodeHttpServerRequest.toServerResponse
})
