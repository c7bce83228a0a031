import { Effect, type Scope } from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as Net from "node:net"

/**
 * Where the Redis tests get their server: `REDIS_URL` when set, else a `redis-server` of their own on a free
 * port of 127.0.0.1 (so that they can stop and restart it). Without either, they skip, except under CI=true,
 * where a missing Redis is a failure.
 */
const hasRedisServer = spawnSync("redis-server", ["--version"]).status === 0
export const redisAvailable = process.env.REDIS_URL !== undefined || hasRedisServer

if (!redisAvailable) {
  if (process.env.CI === "true") {
    throw new Error("redis-server is not on the PATH and REDIS_URL is not set: CI must install redis-server")
  }
  console.warn("skipping the Redis tests: no redis-server on the PATH and no REDIS_URL")
}

export interface TestRedis {
  readonly url: string
  /** Whether this server can be stopped and restarted (not one given by REDIS_URL). */
  readonly own: boolean
  readonly stop: Effect.Effect<void>
  readonly start: Effect.Effect<void>
  /** Freezes the server (SIGSTOP): connections stay open, commands wait. */
  readonly pause: Effect.Effect<void>
  /** Wakes a frozen server (SIGCONT). */
  readonly resume: Effect.Effect<void>
}

const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as Net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

const ping = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = Net.connect(port, "127.0.0.1")
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.once("data", (data) => {
      socket.destroy()
      resolve(data.toString().startsWith("+PONG"))
    })
    socket.once("error", () => resolve(false))
  })

/** A Redis server for the scope. */
export const testRedis: Effect.Effect<TestRedis, never, Scope.Scope> = Effect.gen(function*() {
  if (process.env.REDIS_URL !== undefined) {
    return {
      url: process.env.REDIS_URL,
      own: false,
      stop: Effect.void,
      start: Effect.void,
      pause: Effect.void,
      resume: Effect.void
    }
  }
  const port = yield* freePort
  let child: ChildProcess | undefined
  const start = Effect.promise(async () => {
    child = spawn("redis-server", [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no"
    ], { stdio: "ignore" })
    const deadline = Date.now() + 15_000
    while (!(await ping(port))) {
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })
  const stop = Effect.promise(() =>
    new Promise<void>((resolve) => {
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once("exit", () => resolve())
      child.kill("SIGKILL")
    })
  )
  const signal = (name: NodeJS.Signals) =>
    Effect.sync(() => {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill(name)
    })
  // A paused server is woken before it is killed, so that it exits at once.
  yield* Effect.acquireRelease(start, () => Effect.zipRight(signal("SIGCONT"), stop))
  return {
    url: `redis://127.0.0.1:${port}`,
    own: true,
    stop: Effect.zipRight(signal("SIGCONT"), stop),
    start,
    pause: signal("SIGSTOP"),
    resume: signal("SIGCONT")
  }
})

/** A key prefix of its own for each test, so that tests sharing a REDIS_URL never see each other's entries. */
export const uniquePrefix = () => `test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
