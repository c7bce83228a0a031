import * as Metric from "effect/Metric"

/** @internal */
export const metrics = {
  connectionsOpen: Metric.gauge("sse_connections_open", { description: "Open SSE connections" }),
  connectionsRefused: Metric.counter("sse_connections_refused_total", {
    description: "SSE connections answered 503 (limits, shutdown, or pipelined behind another response)",
    incremental: true
  }),
  framesSent: Metric.counter("sse_frames_sent_total", { description: "Frames written to sockets", incremental: true }),
  framesDropped: Metric.counter("sse_frames_dropped_total", {
    description: "Frames dropped by the slow-consumer policy or discarded when a connection was aborted",
    incremental: true
  }),
  bytesWritten: Metric.counter("sse_bytes_written_total", {
    description: "Bytes written to sockets",
    incremental: true
  }),
  historyFailures: Metric.counter("sse_history_failures_total", {
    description: "Messages delivered locally that the history could not record (its store was unavailable)",
    incremental: true
  })
}
