// Thousands of failed attempts in a row, as a long outage brings them: the heap after a full collection must
// not grow with their number. Before the client kept only a small error per attempt, it grew ~20 KB a failure.
// Each scenario has a test file of its own, so that vitest runs them side by side.
// Run alone on a 2-core machine busy with other work (load ~10), each took 15-35 s; inside the whole suite up to
// 85 s. The tests allow 4 minutes.
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, expect } from "@effect/vitest"
import { Effect, Schedule, type Scope, Stream } from "effect"
import { SseClient } from "effect-sse"
import * as ChildProcess from "node:child_process"

/** 10,000 failed attempts in a row: the first WARM_UP warm the JIT and the pools, the heap is compared over the rest. */
export const WARM_UP = 1_000
export const MEASURED = 9_000
/** The growth of the heap allowed over MEASURED failed attempts: 5 MiB, under 600 bytes an attempt (it was ~20 KB). */
export const BOUND = 5 * 1024 * 1024

const gc = (globalThis as { gc?: () => void }).gc

const heapAfterGc = () => {
  assert(gc !== undefined, "the test needs --expose-gc (see vitest.config.ts)")
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/**
 * Runs the client against `url` with no wait between attempts until WARM_UP + MEASURED attempts failed, reading
 * the heap (after a collection) when the warm-up is over and at the end. `schedule` bounds the attempts.
 */
export const soak = (url: string, reconnect: Schedule.Schedule<unknown, SseClient.RetryInput>) =>
  Effect.gen(function*() {
    let attempts = 0
    let before = 0
    let after = 0
    const onState = (state: SseClient.ConnectionState) =>
      Effect.sync(() => {
        if (state._tag !== "Connecting") return
        attempts++
        // Read when an attempt starts: the one before it is over and released.
        if (attempts === WARM_UP + 1) before = heapAfterGc()
        if (attempts === WARM_UP + MEASURED + 1) after = heapAfterGc()
      })
    const started = Date.now()
    const error = yield* SseClient.get(url, {
      onState,
      retry: "0 millis",
      minDelay: "0 millis",
      reconnect: Schedule.intersect(reconnect, Schedule.recurs(WARM_UP + MEASURED))
    }).pipe(Stream.runDrain, Effect.provide(NodeHttpClient.layer), Effect.flip)
    const growth = after - before
    console.log(
      `${attempts} failed attempts against ${url} in ${Date.now() - started} ms; heap after GC ` +
        `${(before / 1048576).toFixed(1)} MiB after ${WARM_UP}, ${(after / 1048576).toFixed(1)} MiB after ` +
        `${WARM_UP + MEASURED}: ${(growth / MEASURED).toFixed(0)} bytes an attempt`
    )
    expect(attempts).toBe(WARM_UP + MEASURED + 1)
    expect(growth).toBeLessThan(BOUND)
    return error
  })

// The 503 server runs in a process of its own, so that it and the client under test use both cores.
const unavailableServer = `
const http = require("node:http")
const server = http.createServer((_, res) => res.writeHead(503, { "content-type": "text/plain" }).end("down"))
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"))
process.stdin.on("end", () => process.exit(0))
process.stdin.resume()
`

/**
 * A server that answers every request 503 and keeps nothing about it, in a child process (ended with the scope,
 * or when this process goes away and its stdin closes); its URL.
 */
export const unavailable: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.async<{ readonly child: ChildProcess.ChildProcess; readonly url: string }>((resume) => {
    const child = ChildProcess.spawn(process.execPath, ["-e", unavailableServer], {
      stdio: ["pipe", "pipe", "inherit"]
    })
    let output = ""
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (piece: string) => {
      output += piece
      if (output.endsWith("\n")) resume(Effect.succeed({ child, url: `http://127.0.0.1:${output.trim()}` }))
    })
    child.on("error", (error) => resume(Effect.die(error)))
    return Effect.sync(() => child.kill())
  }),
  ({ child }) =>
    Effect.async<void>((resume) => {
      if (child.exitCode !== null) return resume(Effect.void)
      child.once("exit", () => resume(Effect.void))
      child.stdin?.end()
    })
).pipe(Effect.map(({ url }) => url))
