/**
 * A benchmark server in its own process, driven over IPC by bench/server.ts, so that its memory is its own and
 * it shares no event loop with the load client.
 */
import { type BenchServer, makePayload, type ServerName, servers } from "./servers.js"

type Command =
  | { readonly type: "memory" }
  | { readonly type: "port" }
  | { readonly type: "connections" }
  | { readonly type: "flood"; readonly count: number; readonly burst: number }
  | { readonly type: "paced"; readonly count: number; readonly intervalMs: number }
  | { readonly type: "close" }

const send = (message: unknown) => process.send!(message)
const tick = () => new Promise<void>((resolve) => setImmediate(resolve))
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const now = () => performance.timeOrigin + performance.now()

const main = async () => {
  const name = process.argv[2] as ServerName
  const server: BenchServer = await servers[name]()
  process.on("message", async (command: Command) => {
    switch (command.type) {
      case "memory": {
        const gc = (globalThis as { gc?: () => void }).gc!
        for (let i = 0; i < 3; i++) {
          gc()
          await sleep(20)
        }
        const usage = process.memoryUsage()
        return send({ type: "memory", heapUsed: usage.heapUsed, rss: usage.rss, external: usage.external })
      }
      case "port":
        return send({ type: "port", port: server.port })
      case "connections":
        return send({ type: "connections", count: server.connections() })
      case "flood": {
        const startedAt = now()
        for (let i = 0; i < command.count; i++) {
          server.broadcast(makePayload(i))
          // The same pacing for every server: a burst, then the event loop gets to write.
          if (i % command.burst === command.burst - 1) await tick()
        }
        return send({ type: "flooded", startedAt })
      }
      case "paced": {
        for (let i = 0; i < command.count; i++) {
          server.broadcast(makePayload(i))
          await sleep(command.intervalMs)
        }
        return send({ type: "paced" })
      }
      case "close": {
        await server.close()
        process.exit(0)
      }
    }
  })
  send({ type: "ready", port: server.port })
}

// A clean exit on SIGTERM, so that a --cpu-prof profile is written.
process.on("SIGTERM", () => process.exit(0))
main()
