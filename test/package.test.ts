/**
 * The package as a user gets it: `npm pack` (whose prepare script builds dist/, as for a git install), the tarball
 * installed into a fresh app with the peers at the versions the README's install line names, a server and a client
 * type-checked under NodeNext and run against each other over 127.0.0.1.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { promisify } from "node:util"
import { spawn } from "./utils/process.js"
import { tempDirectory } from "./utils/temp.js"

const root = Path.join(import.meta.dirname, "..")

const sourceFiles = (dir: string): Array<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(Path.join(dir, entry.name))
      : entry.name.endsWith(".ts")
      ? [Path.join(dir, entry.name)]
      : []
  )

const execFile = promisify(ChildProcess.execFile)
const run = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  Effect.tryPromise({
    try: () => execFile(command, args, { cwd, maxBuffer: 16 * 1024 * 1024, timeout: 240_000 }),
    catch: (error) => {
      const { stderr, stdout } = error as { stdout?: string; stderr?: string }
      return new Error(`${command} ${args.join(" ")} failed in ${cwd}:\n${stdout ?? ""}\n${stderr ?? ""}`)
    }
  }).pipe(Effect.orDie)

/** The packages and ranges of the README's install line, e.g. `effect@^3.22`. */
const documentedInstall = (): Array<string> => {
  const line = Fs.readFileSync(Path.join(root, "README.md"), "utf8").split("\n").find((line) =>
    line.startsWith("npm install effect-sse ")
  )
  if (line === undefined) throw new Error("README.md has no `npm install effect-sse ...` line")
  return line.split(/\s+/).slice(3)
}

// The app's files. events.ts is shared, imported with the .js extension NodeNext wants.
const app: Record<string, string> = {
  "tsconfig.json": JSON.stringify({
    compilerOptions: {
      target: "ES2022",
      lib: ["ES2022"], // no DOM: a Node app must not need it
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      exactOptionalPropertyTypes: true,
      types: ["node"],
      skipLibCheck: true,
      outDir: "dist"
    },
    include: ["*.ts"]
  }),
  "events.ts": `
import { Schema } from "effect"
import { SseEvent } from "effect-sse"

export const Tick = SseEvent.make("tick", Schema.Struct({ n: Schema.Number }))
`,
  "server.ts": `
import { HttpRouter, HttpServer } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Console, Context, Effect, Layer, Schedule } from "effect"
import { SseServer } from "effect-sse"
import { createServer } from "node:http"
import { Tick } from "./events.js"

class Ticks extends Context.Tag("Ticks")<Ticks, SseServer.SseServer<number>>() {}
let clients = 0
let n = 0
const tick = Effect.flatMap(Ticks, (sse) => sse.event(Tick).send({ n: ++n }))

HttpRouter.empty.pipe(
  HttpRouter.get("/events", SseServer.handler(Ticks, Effect.sync(() => clients++))),
  HttpServer.serve(),
  Layer.merge(Layer.scopedDiscard(Effect.forkScoped(Effect.repeat(tick, Schedule.spaced("50 millis"))))),
  Layer.merge(Layer.effectDiscard(HttpServer.addressFormattedWith((url) => Console.log("listening on " + url)))),
  Layer.provide(SseServer.layer(Ticks, { retry: "100 millis", keepAlive: "1 second" })),
  Layer.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
  Layer.launch,
  NodeRuntime.runMain
)
`,
  "client.ts": `
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Stream } from "effect"
import { SseClient } from "effect-sse"
import * as Parser from "effect-sse/Parser"
import { Tick } from "./events.js"

// A subpath import, used once: the parser on its own.
const parsed: Array<string> = []
Parser.make({ onMessage: (message) => parsed.push(message.data) }).feed("data: subpath\\n\\n")

SseClient.get(process.argv[2] + "/events").pipe(
  SseClient.decodeEvents({ Tick }),
  Stream.take(3),
  Stream.runForEach((event) => Console.log("tick " + event.data.n)),
  Effect.zipRight(Console.log("parsed " + parsed.join(","))),
  Effect.provide(NodeHttpClient.layer),
  NodeRuntime.runMain
)
`
}

describe("package", () => {
  it("no module imports a node: built-in at load time, so the client and the parser bundle for browsers", () => {
    // SseServer finds Node's modules through process.getBuiltinModule when a request arrives; type-only imports
    // are erased.
    const offenders = sourceFiles(Path.join(root, "src")).flatMap((file) =>
      Fs.readFileSync(file, "utf8").split("\n")
        .filter((line) => /^\s*import\s+(?!type\b)[^;]*from\s+"node:/.test(line) || /\brequire\("node:/.test(line))
        .map((line) => `${file}: ${line.trim()}`)
    )
    expect(offenders).toEqual([])
  })

  it.scopedLive(
    "the packed tarball installs at the documented versions; its server and client run",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDirectory("effect-sse-package-")
        const started = Date.now()
        const timing: Array<string> = []
        const lap = (what: string) => timing.push(`${what} ${((Date.now() - started) / 1000).toFixed(1)} s`)

        // npm pack runs prepare, which builds dist/: without it, the tarball would have no JavaScript.
        const packed = yield* run("npm", ["pack", "--json", "--pack-destination", dir], root)
        const [{ filename, files }] = JSON.parse(packed.stdout) as [
          { filename: string; files: Array<{ path: string }> }
        ]
        const paths = files.map((file) => file.path)
        expect(paths).toContain("dist/index.js")
        expect(paths).toContain("dist/index.d.ts")
        expect(paths).toContain("dist/History/Redis.js")
        expect(paths.filter((path) => path.startsWith("test/") || path.startsWith("node_modules/"))).toEqual([])
        lap("pack")

        // A fresh app: the tarball and the README's install line, nothing from this repository's node_modules.
        const peers = documentedInstall()
        expect(peers.map((spec) => spec.replace(/@[^@]*$/, ""))).toEqual([
          "effect",
          "@effect/platform",
          "@effect/platform-node"
        ])
        Fs.writeFileSync(Path.join(dir, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }))
        for (const [name, text] of Object.entries(app)) Fs.writeFileSync(Path.join(dir, name), text)
        yield* run("npm", [
          "install",
          "--prefer-offline",
          "--no-audit",
          "--no-fund",
          Path.join(dir, filename),
          ...peers,
          "@types/node@^20"
        ], dir)
        lap("install")

        // Type-checked and compiled under NodeNext, with this repository's TypeScript (the app's is the user's).
        yield* run(process.execPath, [Path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "."], dir)
        lap("tsc")

        const server = yield* spawn(process.execPath, ["dist/server.js"], { cwd: dir })
        const [, url] = yield* server.line(/^listening on (http:\/\/127\.0\.0\.1:\d+)$/)
        const client = yield* spawn(process.execPath, ["dist/client.js", url!], { cwd: dir })
        expect(yield* client.exited()).toBe(0)
        const ticks = client.stdout().split("\n").filter((line) => line.startsWith("tick ")).map((line) =>
          Number(line.slice(5))
        )
        expect(ticks).toHaveLength(3)
        expect(ticks[1]).toBe(ticks[0]! + 1)
        expect(ticks[2]).toBe(ticks[1]! + 1)
        expect(client.stdout()).toContain("parsed subpath")
        // SIGTERM: runMain interrupts, the layers close, the process exits 0.
        yield* server.kill("SIGTERM")
        expect(yield* server.exited()).toBe(0)
        lap("run")
        console.log(`package test: ${timing.join(", ")}`)
      }),
    300_000
  )
})
