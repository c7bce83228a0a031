/**
 * @since 0.1.0
 */

/**
 * Messages, comments and `retry:` directives to `text/event-stream` bytes.
 *
 * @since 0.1.0
 */
export * as Encoder from "./Encoder.js"

/**
 * The event a server sends and a client receives.
 *
 * @since 0.1.0
 */
export * as Message from "./Message.js"

/**
 * A streaming `text/event-stream` parser that follows the WHATWG HTML algorithm.
 *
 * @since 0.1.0
 */
export * as Parser from "./Parser.js"

/**
 * Typed events: a name and a `Schema` whose values travel as JSON text in the `data` field.
 *
 * @since 0.1.0
 */
export * as SseEvent from "./SseEvent.js"

/**
 * The SSE server: a Layer-provided service with keyed sources, bounded queues, heartbeats and typed broadcast.
 *
 * @since 0.1.0
 */
export * as SseServer from "./SseServer.js"

/**
 * @since 0.1.0
 */
export * as SseClient from "./SseClient.js"

/**
 * Recent frames with their ids, replayed to clients that reconnect with `Last-Event-ID`; in memory or on Redis.
 *
 * @since 0.1.0
 */
export * as History from "./History.js"

/**
 * Typed SSE endpoints for `HttpApi`: the events declared once give the route, the OpenAPI description and a typed,
 * reconnecting client.
 *
 * @since 0.1.0
 */
export * as HttpApiSse from "./HttpApiSse.js"
