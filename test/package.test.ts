import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

const sourceFiles = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

describe("package", () => {
  it("no module imports a node: built-in at load time, so the client and the parser bundle for browsers", () => {
    // SseServer finds Node's modules through process.getBuiltinModule when a request arrives; type-only imports
    // are erased.
    const root = join(import.meta.dirname, "..", "src")
    const offenders = sourceFiles(root).flatMap((file) =>
      readFileSync(file, "utf8").split("\n")
        .filter((line) => /^\s*import\s+(?!type\b)[^;]*from\s+"node:/.test(line) || /\brequire\("node:/.test(line))
        .map((line) => `${file}: ${line.trim()}`)
    )
    expect(offenders).toEqual([])
  })
})
