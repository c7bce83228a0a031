/**
 * The load client, in its own process: N connections reading real sockets. It counts events by their blank-line
 * terminator (cheap enough not to be the bottleneck) and, in latency mode, reads each event's send time.
 */
import * as Http from "node:http"

type Command =
  | { readonly type: "connect"; readonly ports: ReadonlyArray<number>; readonly clients: number }
  | { readonly type: "count"; readonly expected: number; readonly timeoutMs: number }
  | { readonly type: "latency"; readonly expected: number; readonly timeoutMs: number }
  | { readonly type: "close" }

const send = (message: unknown) => process.send!(message)
const now = () => performance.timeOrigin + performance.now()
const LF = 10

let received = 0
let target = Infinity
let latencies: Array<number> | undefined
// Latencies at clients of the servers that did not send (every port but the first): across instances.
let remoteLatencies: Array<number> = []
let onDone: (() => void) | undefined
const sockets: Array<Http.ClientRequest> = []

const onChunk = (state: { lastWasLF: boolean; readonly remote: boolean }) => (chunk: Buffer) => {
  let events = 0
  let from = 0
  if (state.lastWasLF && chunk[0] === LF) {
    events++
    from = 1
  }
  for (let i = chunk.indexOf(LF, from); i !== -1; i = chunk.indexOf(LF, i + 1)) {
    if (chunk[i + 1] === LF) {
      events++
      i++
    }
  }
  state.lastWasLF = chunk[chunk.length - 1] === LF && chunk[chunk.length - 2] !== LF
  if (latencies !== undefined) {
    const at = now()
    const text = chunk.toString("latin1")
    for (let i = text.indexOf("\"t\":"); i !== -1; i = text.indexOf("\"t\":", i + 4)) {
      const sent = parseFloat(text.slice(i + 4, i + 30))
      if (!Number.isNaN(sent)) {
        latencies.push(at - sent)
        if (state.remote) remoteLatencies.push(at - sent)
      }
    }
  }
  received += events
  if (received >= target && onDone !== undefined) onDone()
}

const open = (port: number, remote: boolean) =>
  new Promise<void>((resolve, reject) => {
    const request = Http.request({
      host: "127.0.0.1",
      port,
      path: "/events",
      agent: false,
      headers: { accept: "text/event-stream" }
    })
    request.on("response", (response) => {
      const handler = onChunk({ lastWasLF: false, remote })
      let opened = false
      response.on("data", (chunk: Buffer) => {
        // The stream's opening bytes (a comment or a retry line, written before any event) are not events.
        if (!opened && chunk.indexOf("data:") === -1) return
        opened = true
        handler(chunk)
      })
      resolve()
    })
    request.on("error", reject)
    request.end()
    sockets.push(request)
  })

const await_ = (expected: number, timeoutMs: number) =>
  new Promise<{ doneAt: number; complete: boolean }>((resolve) => {
    target = expected
    const timer = setTimeout(() => resolve({ doneAt: now(), complete: false }), timeoutMs)
    onDone = () => {
      clearTimeout(timer)
      onDone = undefined
      resolve({ doneAt: now(), complete: true })
    }
    if (received >= target) onDone()
  })

process.on("message", async (command: Command) => {
  switch (command.type) {
    case "connect": {
      for (let i = 0; i < command.clients; i += 50) {
        // Spread over the servers' ports, round robin.
        await Promise.all(
          Array.from(
            { length: Math.min(50, command.clients - i) },
            (_, j) => open(command.ports[(i + j) % command.ports.length]!, (i + j) % command.ports.length !== 0)
          )
        )
      }
      return send({ type: "connected" })
    }
    case "count": {
      received = 0
      latencies = undefined
      const result = await await_(command.expected, command.timeoutMs)
      return send({ type: "counted", ...result, received })
    }
    case "latency": {
      received = 0
      latencies = []
      remoteLatencies = []
      const result = await await_(command.expected, command.timeoutMs)
      const quantiles = (list: Array<number>) => {
        const sorted = list.sort((a, b) => a - b)
        return (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
      }
      const all = quantiles(latencies)
      const remote = quantiles(remoteLatencies)
      latencies = undefined
      return send({
        type: "latencies",
        ...result,
        received,
        p50: all(0.5),
        p99: all(0.99),
        remoteP50: remote(0.5),
        remoteP99: remote(0.99)
      })
    }
    case "close": {
      for (const socket of sockets) socket.destroy()
      process.exit(0)
    }
  }
})
send({ type: "ready" })
