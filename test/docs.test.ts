/**
 * Every TypeScript block in README.md and docs/*.md is type-checked here, so that none can rot.
 *
 * The convention for writers:
 *
 * - A block fenced ```ts is a whole module: it compiles alone, with its own imports, under the project's
 *   compiler options (strict, exactOptionalPropertyTypes, NodeNext), `effect-sse` resolving to `src/`. Names a
 *   block assumes without showing are declared at its top (`declare const currentToken: () => string`), so the
 *   reader sees them too.
 * - A block fenced ```ts fragment continues the block before it on the same page: it is compiled appended to
 *   that block (and to the fragments between them), so a page can go on with a running example without
 *   repeating its imports. A fragment at the top of a page is an error.
 * - Anything that is not TypeScript takes another fence (```sh, ```nginx, ```ini, ```text): never ```ts.
 *
 * Unused names are allowed (a snippet often defines a value only to show it); everything else is as strict as
 * src/. Blocks are compiled in memory (virtual files under the repository root), never written to disk.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import ts from "typescript"

const root = Path.join(import.meta.dirname, "..")

interface Snippet {
  readonly page: string
  readonly fileName: string
  readonly text: string
  /** The page's line number (1-based) of each line of `text`. */
  readonly lines: ReadonlyArray<number>
}

const pages = (): Array<string> => [
  "README.md",
  ...Fs.readdirSync(Path.join(root, "docs")).filter((name) => name.endsWith(".md")).sort().map((name) => `docs/${name}`)
]

/** The ```ts blocks of a page, fragments appended to the block they continue. */
const extract = (page: string, markdown: string): Array<Snippet> => {
  const snippets: Array<Snippet> = []
  const lines = markdown.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```ts(?:\s+(\S+))?\s*$/.exec(lines[i]!)
    if (fence === null) continue
    const where = `${page}:${i + 1}`
    const body: Array<string> = []
    const numbers: Array<number> = []
    for (i++; i < lines.length && lines[i] !== "```"; i++) {
      body.push(lines[i]!)
      numbers.push(i + 1)
    }
    if (i === lines.length) throw new Error(`${where}: a \`\`\`ts block is never closed`)
    const fileName = Path.join(root, ".snippets", `${page.replace(/[/.]/g, "_")}_${numbers[0] ?? i}.ts`)
    if (fence[1] === "fragment") {
      const previous = snippets.pop()
      if (previous === undefined) throw new Error(`${where}: a fragment with no block before it`)
      snippets.push({
        page,
        fileName,
        text: `${previous.text}\n${body.join("\n")}`,
        lines: [...previous.lines, ...numbers]
      })
    } else if (fence[1] === undefined) {
      snippets.push({ page, fileName, text: body.join("\n"), lines: numbers })
    } else {
      throw new Error(`${where}: unknown fence \`\`\`ts ${fence[1]} (only \`\`\`ts and \`\`\`ts fragment)`)
    }
  }
  // Every block is a module (`export {}` makes one of a block without imports), so blocks never share globals.
  return snippets.map((snippet) => ({ ...snippet, text: `${snippet.text}\nexport {}\n` }))
}

const compilerOptions = (): ts.CompilerOptions => {
  const config = ts.readConfigFile(Path.join(root, "tsconfig.json"), ts.sys.readFile)
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root)
  return { ...parsed.options, noEmit: true, noUnusedLocals: false, noUnusedParameters: false }
}

const typeCheck = (snippets: ReadonlyArray<Snippet>): Array<string> => {
  const virtual = new Map(snippets.map((snippet) => [snippet.fileName, snippet]))
  const options = compilerOptions()
  const host = ts.createCompilerHost(options)
  const { fileExists, getSourceFile, readFile } = host
  host.fileExists = (fileName) => virtual.has(fileName) || fileExists.call(host, fileName)
  host.readFile = (fileName) => virtual.get(fileName)?.text ?? readFile.call(host, fileName)
  host.getSourceFile = (fileName, language, ...rest) => {
    const snippet = virtual.get(fileName)
    return snippet !== undefined
      ? ts.createSourceFile(fileName, snippet.text, language)
      : getSourceFile.call(host, fileName, language, ...rest)
  }
  const program = ts.createProgram([...virtual.keys()], options, host)
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")
    const file = diagnostic.file
    const snippet = file === undefined ? undefined : virtual.get(file.fileName)
    if (file === undefined || diagnostic.start === undefined) return message
    const { line } = file.getLineAndCharacterOfPosition(diagnostic.start)
    const where = snippet === undefined ? file.fileName : `${snippet.page}:${snippet.lines[line] ?? "end"}`
    return `${where}: ${message}`
  })
}

describe("docs", () => {
  it("finds ```ts blocks and joins fragments to the block before them", () => {
    const page = ["```ts", "const a = 1", "```", "text", "```ts fragment", "const b = a", "```", "```sh", "ls", "```"]
    const snippets = extract("x.md", page.join("\n"))
    expect(snippets.map((snippet) => snippet.text)).toEqual(["const a = 1\nconst b = a\nexport {}\n"])
    expect(() => extract("x.md", "```ts fragment\nconst b = 1\n```")).toThrow("no block before it")
    expect(() => extract("x.md", "```ts\nconst b = 1\n")).toThrow("never closed")
  })

  it("reports a block that does not compile, with its page and line", () => {
    const errors = typeCheck(extract("x.md", "intro\n```ts\nconst n: number = \"one\"\n```"))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/^x\.md:3: Type 'string' is not assignable to type 'number'/)
  }, 120_000)

  it("every ```ts block of README.md and docs/*.md type-checks", () => {
    const snippets = pages().flatMap((page) => extract(page, Fs.readFileSync(Path.join(root, page), "utf8")))
    expect(snippets.length).toBeGreaterThan(10)
    expect(typeCheck(snippets)).toEqual([])
  }, 120_000)

  it("every relative link of README.md and docs/*.md names a file and a heading that exist", () => {
    // GitHub's anchors: the heading in lower case, punctuation other than - and _ removed, spaces as -.
    const anchors = (markdown: string) =>
      new Set(
        markdown.split("\n").filter((line) => /^#{1,6} /.test(line)).map((line) =>
          line.replace(/^#+ /, "").toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-")
        )
      )
    const broken: Array<string> = []
    for (const page of pages()) {
      const text = Fs.readFileSync(Path.join(root, page), "utf8")
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue
        const [file, anchor] = target!.split("#")
        const path = file === "" ? Path.join(root, page) : Path.join(root, Path.dirname(page), file!)
        if (!Fs.existsSync(path)) broken.push(`${page}: ${target}`)
        else if (anchor !== undefined && !anchors(Fs.readFileSync(path, "utf8")).has(anchor)) {
          broken.push(`${page}: ${target} (no such heading)`)
        }
      }
    }
    expect(broken).toEqual([])
  })

  it("no page has a ```typescript block (it would escape the check) or a {{ }} in code", () => {
    for (const page of pages()) {
      const text = Fs.readFileSync(Path.join(root, page), "utf8")
      expect(text, page).not.toMatch(/^```(typescript|tsx|mts|cts)\b/m)
      expect(text, page).not.toMatch(/\{\{|\}\}/)
    }
  })
})
