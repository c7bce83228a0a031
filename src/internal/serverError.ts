import * as Data from "effect/Data"

/** @internal */
export class SseServerError extends Data.TaggedError("SseServerError")<{
  readonly reason: "Encode" | "Closed" | "Dropped" | "SlowConsumer" | "History"
  readonly id: unknown
  readonly cause?: unknown
}> {
  override get message(): string {
    return this.reason === "History"
      ? `History: delivered here, but the history could not record it for ${
        this.id === undefined ? "every source" : `source ${String(this.id)}`
      }`
      : `${this.reason}: could not send to source ${String(this.id)}`
  }
}
