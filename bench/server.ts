/**
 * Broadcast fan-out on loopback: each server runs in its own process, the load client in another, and this
 * process drives both over IPC. For N connected clients it measures the heap each idle connection costs the
 * server, delivered events per second under a flood of ~200-byte events, and send-to-receipt latency at a steady
 * rate. Every server gets the same pacing: bursts of events, then its event loop gets to write.
 */
import { type ChildProcess, fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { ServerName } from "./server/servers.js"
import { fixed, median, table } from "./stats.js"

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url))
const execArgv = ["--expose-gc", "--import", "tsx"]

interface Child {
  readonly process: ChildProcess
  readonly request: <A>(message: unknown, reply: string) => Promise<A>
}

const spawn = (file: string, args: Array<string>): Promise<Child> =>
  new Promise((resolve, reject) => {
    const child = fork(here(file), args, { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] })
    const request = <A>(message: unknown, reply: string) =>
      new Promise<A>((resolveReply) => {
        const listener = (answer: { type: string }) => {
          if (answer.type !== reply) return
          child.off("message", listener)
          resolveReply(answer as A)
        }
        child.on("message", listener)
        child.send(message as never)
      })
    child.once("message", () => resolve({ process: child, request }))
    child.once("error", reject)
  })

const waitFor = async (condition: () => Promise<boolean>, what: string) => {
  const deadline = Date.now() + 60_000
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

interface Memory {
  readonly heapUsed: number
  readonly rss: number
}

interface Run {
  readonly eventsPerSecond: number
  readonly complete: boolean
  readonly p50: number
  readonly p99: number
  readonly heapPerConnection: number
  readonly rssPerConnection: number
}

const runOnce = async (name: ServerName, clients: number, events: number): Promise<Run> => {
  const log = (step: string) => process.env.BENCH_DEBUG && console.error(`[${name} ${clients}] ${step}`)
  const server = await spawn("./server/server-process.ts", [name])
  const client = await spawn("./server/client-process.ts", [])
  try {
    log("spawned")
    const before = await server.request<Memory>({ type: "memory" }, "memory")
    const serverPort = await server.request<{ port: number }>({ type: "port" }, "port")
    await client.request({ type: "connect", port: serverPort.port, clients }, "connected")
    await waitFor(
      async () => (await server.request<{ count: number }>({ type: "connections" }, "connections")).count === clients,
      "every connection to register"
    )
    log("connected")
    const after = await server.request<Memory>({ type: "memory" }, "memory")

    const counted = client.request<{ doneAt: number; complete: boolean; received: number }>(
      { type: "count", expected: clients * events, timeoutMs: 120_000 },
      "counted"
    )
    const flood = await server.request<{ startedAt: number }>({ type: "flood", count: events, burst: 20 }, "flooded")
    log("flooded")
    const done = await counted
    const seconds = (done.doneAt - flood.startedAt) / 1000

    const pacedEvents = 100
    const latencies = client.request<{ p50: number; p99: number }>(
      { type: "latency", expected: clients * pacedEvents, timeoutMs: 120_000 },
      "latencies"
    )
    await server.request({ type: "paced", count: pacedEvents, intervalMs: 10 }, "paced")
    const latency = await latencies
    return {
      eventsPerSecond: done.received / seconds,
      complete: done.complete,
      p50: latency.p50,
      p99: latency.p99,
      heapPerConnection: (after.heapUsed - before.heapUsed) / clients,
      rssPerConnection: (after.rss - before.rss) / clients
    }
  } finally {
    client.process.kill()
    server.process.kill()
  }
}

export interface ServerBenchOptions {
  readonly clients: ReadonlyArray<number>
  readonly deliveries: number
  readonly rounds: number
}

const names: ReadonlyArray<ServerName> = ["bare node:http", "effect-sse", "better-sse"]

export const runServerBench = async (options: ServerBenchOptions): Promise<string> => {
  const sections: Array<string> = []
  for (const clients of options.clients) {
    const events = Math.max(10, Math.round(options.deliveries / clients))
    const runs = new Map<ServerName, Array<Run>>(names.map((name) => [name, []]))
    for (let round = 0; round < options.rounds; round++) {
      for (const name of names) runs.get(name)!.push(await runOnce(name, clients, events))
    }
    const summary = (name: ServerName) => {
      const all = runs.get(name)!
      return {
        eventsPerSecond: median(all.map((r) => r.eventsPerSecond)),
        p50: median(all.map((r) => r.p50)),
        p99: median(all.map((r) => r.p99)),
        heap: median(all.map((r) => r.heapPerConnection)),
        rss: median(all.map((r) => r.rssPerConnection)),
        complete: all.every((r) => r.complete)
      }
    }
    const bare = summary("bare node:http")
    const rows = names.map((name) => {
      const s = summary(name)
      return [
        name + (s.complete ? "" : " (events lost)"),
        fixed(s.eventsPerSecond, 0),
        `${(s.eventsPerSecond / bare.eventsPerSecond).toFixed(2)}×`,
        fixed(s.p50, 2),
        fixed(s.p99, 2),
        `${(s.p99 / bare.p99).toFixed(2)}×`,
        fixed(s.heap / 1024, 1),
        `${(s.heap / bare.heap).toFixed(2)}×`,
        fixed(s.rss / 1024, 1)
      ]
    })
    sections.push(
      `#### ${clients} clients, ${events} events of ~200 bytes each (${clients * events} deliveries)\n\n` +
        table(
          [
            "server",
            "delivered events/s",
            "vs bare",
            "p50 ms",
            "p99 ms",
            "p99 vs bare",
            "heap KiB/conn",
            "heap vs bare",
            "RSS KiB/conn"
          ],
          rows
        )
    )
  }
  return sections.join("\n\n")
}
