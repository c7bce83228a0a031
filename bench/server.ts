/**
 * Broadcast fan-out on loopback: each server runs in its own process, the load client in another, and this
 * process drives both over IPC. For N connected clients it measures the heap each idle connection costs the
 * server, delivered events per second under a flood of ~200-byte events, and send-to-receipt latency at a steady
 * rate. Every server gets the same pacing: bursts of events, then its event loop gets to write.
 */
import { type ChildProcess, fork, spawn as spawnProcess } from "node:child_process"
import * as Net from "node:net"
import { fileURLToPath } from "node:url"
import type { ServerName } from "./server/servers.js"
import { fixed, median, table } from "./stats.js"

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url))
const execArgv = [
  "--expose-gc",
  "--import",
  "tsx",
  ...(process.env.BENCH_PROF ? ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"] : [])
]

interface Child {
  readonly process: ChildProcess
  readonly request: <A>(message: unknown, reply: string) => Promise<A>
}

const spawn = (file: string, args: Array<string>, env: Record<string, string> = {}): Promise<Child> =>
  new Promise((resolve, reject) => {
    const child = fork(here(file), args, {
      execArgv,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, ...env }
    })
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
  /** Seconds from the first connection attempt until every connection was registered. */
  readonly acceptSeconds: number
  readonly eventsPerSecond: number
  readonly complete: boolean
  readonly p50: number
  readonly p99: number
  /** At clients of the instances that did not send (NaN with one instance). */
  readonly remoteP50: number
  readonly remoteP99: number
  readonly heapPerConnection: number
  readonly rssPerConnection: number
}

const runOnce = async (
  name: ServerName,
  clients: number,
  events: number,
  instances = 1,
  env: Record<string, string> = {}
): Promise<Run> => {
  const log = (step: string) => process.env.BENCH_DEBUG && console.error(`[${name} ${clients}] ${step}`)
  const servers: Array<Child> = []
  for (let i = 0; i < instances; i++) servers.push(await spawn("./server/server-process.ts", [name], env))
  const server = servers[0]!
  const client = await spawn("./server/client-process.ts", [])
  try {
    log("spawned")
    const before = await server.request<Memory>({ type: "memory" }, "memory")
    const ports: Array<number> = []
    for (const s of servers) ports.push((await s.request<{ port: number }>({ type: "port" }, "port")).port)
    const acceptStart = performance.now()
    await client.request({ type: "connect", ports, clients }, "connected")
    const connected = async () => {
      let count = 0
      for (const s of servers) {
        count += (await s.request<{ count: number }>({ type: "connections" }, "connections")).count
      }
      return count === clients
    }
    await waitFor(connected, "every connection to register")
    const acceptSeconds = (performance.now() - acceptStart) / 1000
    log("connected")
    const after = await server.request<Memory>({ type: "memory" }, "memory")
    const perConnection = (bytes: number) => bytes / Math.ceil(clients / instances)

    const counted = client.request<{ doneAt: number; complete: boolean; received: number }>(
      { type: "count", expected: clients * events, timeoutMs: 120_000 },
      "counted"
    )
    const flood = await server.request<{ startedAt: number }>({ type: "flood", count: events, burst: 20 }, "flooded")
    log("flooded")
    const done = await counted
    const seconds = (done.doneAt - flood.startedAt) / 1000

    // Latency is measured apart from the flood: after a pause that lets the flood's garbage be collected, and over
    // enough events that the p99 is not one event's fan-out (with 100 events, it was about one).
    await new Promise((resolve) => setTimeout(resolve, 250))
    const pacedEvents = 300
    const latencies = client.request<{ p50: number; p99: number; remoteP50: number; remoteP99: number }>(
      { type: "latency", expected: clients * pacedEvents, timeoutMs: 120_000 },
      "latencies"
    )
    await server.request({ type: "paced", count: pacedEvents, intervalMs: 10 }, "paced")
    const latency = await latencies
    return {
      acceptSeconds,
      eventsPerSecond: done.received / seconds,
      complete: done.complete,
      p50: latency.p50,
      p99: latency.p99,
      // NaN crosses IPC as null.
      remoteP50: latency.remoteP50 ?? Number.NaN,
      remoteP99: latency.remoteP99 ?? Number.NaN,
      heapPerConnection: perConnection(after.heapUsed - before.heapUsed),
      rssPerConnection: perConnection(after.rss - before.rss)
    }
  } finally {
    client.process.kill()
    for (const s of servers) s.process.kill()
  }
}

export interface ServerBenchOptions {
  readonly clients: ReadonlyArray<number>
  readonly deliveries: number
  readonly rounds: number
}

const names: ReadonlyArray<ServerName> = process.env.BENCH_SERVERS
  ? ["bare node:http", ...process.env.BENCH_SERVERS.split(",").filter((name) => name !== "bare node:http")] as Array<
    ServerName
  >
  : ["bare node:http", "platform-node floor", "effect-sse", "effect-sse portable", "better-sse"]

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
        accept: median(all.map((r) => r.acceptSeconds)),
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
        fixed(s.rss / 1024, 1),
        fixed(s.accept, 2)
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
            "RSS KiB/conn",
            "accept s"
          ],
          rows
        )
    )
  }
  return sections.join("\n\n")
}

/**
 * Accepting connections alone, in more rounds than the full fan-out: the servers above beside two routes that
 * only answer an empty 200 on @effect/platform-node (with and without its request span), the least any route
 * costs on that stack.
 */
export const runAcceptBench = async (options: { readonly clients: ReadonlyArray<number>; readonly rounds: number }) => {
  const acceptNames: ReadonlyArray<ServerName> = [
    "bare node:http",
    "better-sse",
    "platform-node empty 200",
    "platform-node empty 200, no tracer",
    "effect-sse"
  ]
  const sections: Array<string> = []
  for (const clients of options.clients) {
    const seconds = new Map<ServerName, Array<number>>(acceptNames.map((name) => [name, []]))
    for (let round = 0; round < options.rounds; round++) {
      for (const name of acceptNames) {
        const server = await spawn("./server/server-process.ts", [name])
        const client = await spawn("./server/client-process.ts", [])
        try {
          const { port } = await server.request<{ port: number }>({ type: "port" }, "port")
          const start = performance.now()
          await client.request({ type: "connect", ports: [port], clients }, "connected")
          await waitFor(
            async () =>
              (await server.request<{ count: number }>({ type: "connections" }, "connections")).count >= clients,
            "every connection to register"
          )
          seconds.get(name)!.push((performance.now() - start) / 1000)
        } finally {
          client.process.kill()
          server.process.kill()
        }
      }
    }
    const better = median(seconds.get("better-sse")!)
    const rows = acceptNames.map((name) => {
      const all = seconds.get(name)!
      return [
        name,
        fixed(median(all), 2),
        `${fixed(Math.min(...all), 2)}-${fixed(Math.max(...all), 2)}`,
        `${(median(all) / better).toFixed(2)}×`
      ]
    })
    sections.push(
      `#### Accepting ${clients} clients (${options.rounds} rounds)\n\n` +
        table(["server", "accept s (median)", "range", "vs better-sse"], rows)
    )
  }
  return sections.join("\n\n")
}

/** A redis-server of the bench's own, on a free port of 127.0.0.1, for the duration of `f`. */
const withRedis = async <A>(f: (url: string) => Promise<A>): Promise<A> => {
  const port = await new Promise<number>((resolve) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      server.close(() => resolve(port))
    })
  })
  const child = spawnProcess("redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no"
  ], {
    stdio: "ignore"
  })
  try {
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const socket = Net.connect(port, "127.0.0.1", () => {
            socket.destroy()
            resolve(true)
          })
          socket.on("error", () => resolve(false))
        }),
      "redis-server to start"
    )
    return await f(`redis://127.0.0.1:${port}`)
  } finally {
    child.kill("SIGKILL")
  }
}

/**
 * Broadcast through Redis: one process on Redis (every send recorded, then delivered through the stream's tail),
 * and three instances (clients spread over them, events sent on one, so two thirds of the clients are across
 * instances), beside the single-process server without and with an in-memory history.
 */
export const runRedisBench = async (options: ServerBenchOptions): Promise<string> =>
  withRedis(async (url) => {
    const sections: Array<string> = []
    for (const clients of options.clients) {
      const events = Math.max(10, Math.round(options.deliveries / clients))
      const setups = [
        { label: "effect-sse, 1 process", name: "effect-sse", instances: 1 },
        { label: "effect-sse + memory history, 1 process", name: "effect-sse + memory history", instances: 1 },
        { label: "effect-sse + Redis, 1 process", name: "effect-sse + Redis", instances: 1 },
        { label: "effect-sse + Redis, 3 processes", name: "effect-sse + Redis", instances: 3 }
      ] as const
      const runs = new Map<string, Array<Run>>(setups.map((setup) => [setup.label, []]))
      for (let round = 0; round < options.rounds; round++) {
        for (const setup of setups) {
          const env = { BENCH_REDIS_URL: url, BENCH_REDIS_PREFIX: `bench-${round}-${Date.now()}` }
          runs.get(setup.label)!.push(await runOnce(setup.name, clients, events, setup.instances, env))
        }
      }
      const single = median(runs.get(setups[0].label)!.map((r) => r.eventsPerSecond))
      const rows = setups.map(({ label }) => {
        const all = runs.get(label)!
        const eventsPerSecond = median(all.map((r) => r.eventsPerSecond))
        return [
          label + (all.every((r) => r.complete) ? "" : " (events lost)"),
          fixed(eventsPerSecond, 0),
          `${(eventsPerSecond / single).toFixed(2)}×`,
          fixed(median(all.map((r) => r.p50)), 2),
          fixed(median(all.map((r) => r.p99)), 2),
          Number.isNaN(all[0]!.remoteP50) ? "" : fixed(median(all.map((r) => r.remoteP50)), 2),
          Number.isNaN(all[0]!.remoteP99) ? "" : fixed(median(all.map((r) => r.remoteP99)), 2)
        ]
      })
      sections.push(
        `#### ${clients} clients, ${events} events of ~200 bytes each (${clients * events} deliveries)\n\n` +
          table(
            ["setup", "delivered events/s", "vs 1 process", "p50 ms", "p99 ms", "cross-instance p50 ms", "p99 ms"],
            rows
          )
      )
    }
    return sections.join("\n\n")
  })
