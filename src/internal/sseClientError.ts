import * as PlatformError from "@effect/platform/Error"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import { hasProperty } from "effect/Predicate"
import type * as SseClient from "../SseClient.js"

/** @internal */
export const TypeId: SseClient.TypeId = Symbol.for("effect-sse/SseClient/SseClientError") as SseClient.TypeId

/** @internal */
export class TransportError extends PlatformError.TypeIdError(TypeId, "TransportError")<{
  readonly reason: "Connect" | "Request" | "Body" | "Timeout"
  readonly description: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.reason}: ${this.description}`
  }
}

/** @internal */
export class StatusError extends PlatformError.TypeIdError(TypeId, "StatusError")<{
  readonly status: number
  readonly contentType: string | undefined
  readonly location: string | undefined
  readonly body: string
}> {
  override get message(): string {
    if (this.status >= 300 && this.status < 400) {
      return `the server redirected (${this.status}) to ${JSON.stringify(this.location ?? "")}: ` +
        "redirects are not followed; request that URL, or give the client HttpClient.followRedirects()"
    }
    return `the server answered ${this.status}${this.body === "" ? "" : `: ${JSON.stringify(this.body)}`}`
  }
}

/** @internal */
export class ContentTypeError extends PlatformError.TypeIdError(TypeId, "ContentTypeError")<{
  readonly contentType: string
  readonly body: string
}> {
  override get message(): string {
    return `expected text/event-stream, got ${JSON.stringify(this.contentType)}`
  }
}

/** @internal */
export class ContentEncodingError extends PlatformError.TypeIdError(TypeId, "ContentEncodingError")<{
  readonly contentEncoding: string
}> {
  override get message(): string {
    return `the body is ${JSON.stringify(this.contentEncoding)}-encoded and the HttpClient did not decode it; ` +
      "the client asks for identity: configure the server (or proxy) not to compress text/event-stream"
  }
}

/** @internal */
export class EventTooLargeError extends PlatformError.TypeIdError(TypeId, "EventTooLargeError")<{
  readonly maxEventSize: number
}> {
  override get message(): string {
    return `an event exceeded the limit of ${this.maxEventSize} characters`
  }
}

/** @internal */
export class DecodeError extends PlatformError.TypeIdError(TypeId, "DecodeError")<{
  readonly event: string
  readonly cause: unknown
}> {
  override get message(): string {
    const detail = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `event ${JSON.stringify(this.event)} did not decode${detail}`
  }
}

/** @internal */
export type SseClientError =
  | TransportError
  | StatusError
  | ContentTypeError
  | ContentEncodingError
  | EventTooLargeError
  | DecodeError

/** @internal */
export const isSseClientError = (u: unknown): u is SseClientError => hasProperty(u, TypeId)

/** @internal */
export const isRetryableStatus = (status: number): boolean => status >= 500 || status === 408 || status === 429

/** @internal */
export const defaultShouldReconnect = (error: SseClientError): boolean =>
  error._tag === "TransportError" || (error._tag === "StatusError" && isRetryableStatus(error.status))

// Codes of failures that happen before a connection exists: the server cannot have seen the request.
const notConnectedCodes = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"])

const errorCode = (cause: unknown): string | undefined => {
  // Node's http client puts the code on the cause; fetch (undici) one level deeper.
  for (let level = 0; level < 3; level++) {
    if (hasProperty(cause, "code") && typeof cause.code === "string") return cause.code
    if (!hasProperty(cause, "cause")) return undefined
    cause = cause.cause
  }
  return undefined
}

const describe = (error: HttpClientError.HttpClientError): string =>
  `${error.request.method} ${error.request.url}: ${error.cause instanceof Error ? error.cause.message : error.message}`

/**
 * A request that failed, as a small `TransportError`: the platform's error holds the request (and a response),
 * which are not worth keeping; its cause (the socket's error) is kept.
 *
 * @internal
 */
export const fromHttpClientError = (error: HttpClientError.HttpClientError): TransportError => {
  if (error._tag === "ResponseError") {
    return new TransportError({ reason: "Body", description: describe(error), cause: error.cause })
  }
  const code = errorCode(error.cause)
  return new TransportError({
    reason: code !== undefined && notConnectedCodes.has(code) ? "Connect" : "Request",
    description: describe(error),
    cause: error.cause
  })
}
