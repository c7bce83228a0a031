/**
 * Parser throughput: effect-sse's push parser and its Stream wrapper, eventsource-parser 4 and a bare line
 * splitter, fed the same chunks of four generated inputs, as strings and as bytes (decoding included).
 */
import { Chunk, Effect, Stream } from "effect"
import { Parser } from "effect-sse"
import { createParser } from "eventsource-parser"
import { EventSourceParserStream } from "eventsource-parser/stream"
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { collectGarbage, fixed, median, table } from "./stats.js"

const CHUNK = 1460
const encoder = new TextEncoder()

interface Shape {
  readonly name: string
  readonly text: string
  readonly events: number
}

const repeatToSize = (unit: string, size: number): { text: string; count: number } => {
  const count = Math.max(1, Math.floor(size / unit.length))
  return { text: unit.repeat(count), count }
}

const shapes = (size: number): Array<Shape> => {
  const json = JSON.stringify({ type: "tick", symbol: "EFCT", price: 4213.57, volume: 1200, ts: 1732406400000 })
  const small = repeatToSize(`event: tick\nid: 12345\ndata: ${json}\n\n`, size)
  const line = "l".repeat(79)
  const bigEvent = `event: doc\n${`data: ${line}\n`.repeat(190)}\n` // ~16 KB in 190 lines
  const big = repeatToSize(bigEvent, size)
  const tiny = repeatToSize(": keep-alive\r\ndata: a\r\n\r\nid: 9\r\ndata: bc\r\n\r\n", size)
  const hugeLine = `data: ${"h".repeat(8 * 1024 * 1024)}\n\n`
  return [
    { name: "small JSON events", text: small.text, events: small.count },
    { name: "16 KB multi-line events", text: big.text, events: big.count },
    { name: "tiny events, comments, CRLF", text: tiny.text, events: tiny.count * 2 },
    { name: "one 8 MiB data line", text: hugeLine, events: 1 }
  ]
}

type Input = ReadonlyArray<string> | ReadonlyArray<Uint8Array>

interface Contender {
  readonly name: string
  readonly run: (chunks: Input) => number | Promise<number>
}

const decoderFor = () => {
  const decoder = new TextDecoder()
  return (chunk: string | Uint8Array) => (typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }))
}

const maxEventSize = 16 * 1024 * 1024

const contenders: ReadonlyArray<Contender> = [
  {
    name: "effect-sse Parser.make",
    run: (chunks) => {
      let events = 0
      const parser = Parser.make({ onMessage: () => events++ }, { maxEventSize })
      for (const chunk of chunks) parser.feed(chunk)
      parser.end()
      return events
    }
  },
  {
    name: "effect-sse Parser.decode (Stream)",
    run: (chunks) =>
      Effect.runPromise(
        // One stream chunk per network read, as an HTTP response body delivers them.
        Stream.fromChunks(...chunks.map((chunk: string | Uint8Array) => Chunk.of(chunk))).pipe(
          Parser.decode({ maxEventSize }),
          Stream.runCount
        )
      )
  },
  {
    // What the Stream costs by itself, so that the row above can be read as this plus parsing.
    name: "the same Stream, not parsed",
    run: (chunks) =>
      Effect.runPromise(
        Stream.fromChunks(...chunks.map((chunk: string | Uint8Array) => Chunk.of(chunk))).pipe(Stream.runCount)
      )
  },
  {
    name: "eventsource-parser 4",
    run: (chunks) => {
      let events = 0
      const decode = decoderFor()
      const parser = createParser(
        { onEvent: () => events++, maxBufferSize: maxEventSize } as Parameters<
          typeof createParser
        >[0]
      )
      for (const chunk of chunks) parser.feed(decode(chunk))
      return events
    }
  },
  {
    // Its own stream wrapper, as the Stream row is ours: with both, each library's push parser serves two
    // consumers in this process, as it would in an app, rather than one callback that the JIT can inline away.
    name: "eventsource-parser 4 stream (web streams)",
    run: async (chunks) => {
      let next = 0
      const source = new ReadableStream<string | Uint8Array>({
        pull: (controller) => next < chunks.length ? controller.enqueue(chunks[next++]!) : controller.close()
      })
      const text = typeof chunks[0] === "string"
        ? source as ReadableStream<string>
        : (source as ReadableStream<Uint8Array>).pipeThrough(
          new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>
        )
      const reader = text.pipeThrough(new EventSourceParserStream({ maxBufferSize: maxEventSize })).getReader()
      let events = 0
      while (!(await reader.read()).done) events++
      return events
    }
  },
  {
    name: "bare line splitter (baseline)",
    run: (chunks) => {
      // The least any parser must do: decode, find every line end, and hold the unfinished line's pieces.
      // Counts blank lines as events.
      let events = 0
      let pending: Array<string> = []
      const decode = decoderFor()
      for (const chunk of chunks) {
        const text = decode(chunk)
        let pos = 0
        let lf = text.indexOf("\n", pos)
        while (lf !== -1) {
          let line = text.slice(pos, lf)
          if (pending.length > 0) {
            pending.push(line)
            line = pending.join("")
            pending = []
          }
          if (line.length === 0 || line === "\r") events++
          pos = lf + 1
          lf = text.indexOf("\n", pos)
        }
        if (pos < text.length) pending.push(text.slice(pos))
      }
      return events
    }
  }
]

// Text chunks as an application gets them: decoded from the network's byte chunks (flat strings, not slices
// of one big string, which V8 reads more slowly and no real stream produces).
const chunkText = (bytes: Uint8Array): Array<string> => {
  const decoder = new TextDecoder()
  return chunkBytes(bytes).map((chunk) => decoder.decode(chunk, { stream: true }))
}

const chunkBytes = (bytes: Uint8Array, size: number = CHUNK): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size))
  return out
}

// A socket read under load hands over up to 64 KiB at once: the byte rows are also measured at that size.
const LARGE_CHUNK = 64 * 1024

// The contenders that parse, and so must count every event.
const checked = new Set([
  "effect-sse Parser.make",
  "effect-sse Parser.decode (Stream)",
  "eventsource-parser 4",
  "eventsource-parser 4 stream (web streams)"
])

const time = async (contender: Contender, chunks: Input): Promise<{ ms: number; events: number }> => {
  // Each sample starts from a collected heap, so that no contender pays for another's garbage, and after one
  // untimed pass: the first pass after a forced full collection runs 2-3× slower for every parser (the heap and
  // its caches grow back), which measures the collection rather than the parser.
  collectGarbage()
  await contender.run(chunks)
  const start = performance.now()
  const events = await contender.run(chunks)
  return { ms: performance.now() - start, events }
}

export interface ParserBenchOptions {
  readonly size: number
  readonly rounds: number
}

/** The tables for one shape, as strings and as bytes: run in a child process of its own (see below). */
export const runShape = async (index: number, size: number, rounds: number): Promise<Array<string>> => {
  const sections: Array<string> = []
  const shape = shapes(size)[index]!
  const bytes = encoder.encode(shape.text)
  const inputs = [
    ["string", CHUNK, chunkText(bytes)],
    ["Uint8Array", CHUNK, chunkBytes(bytes)],
    ["Uint8Array", LARGE_CHUNK, chunkBytes(bytes, LARGE_CHUNK)]
  ] as const
  for (const [mode, chunkSize, chunks] of inputs) {
    const samples = new Map<string, Array<number>>(contenders.map((c) => [c.name, []]))
    for (const contender of contenders) await time(contender, chunks) // warm up
    for (let round = 0; round < rounds; round++) {
      // Interleaved, so that a noisy moment on the machine hits every contender alike, and in an order that
      // rotates each round: garbage collection is most of the time on the largest shapes, and which contender
      // pays for it would otherwise depend on which one it always follows.
      for (let i = 0; i < contenders.length; i++) {
        const contender = contenders[(round + i) % contenders.length]!
        const { events, ms } = await time(contender, chunks)
        if (checked.has(contender.name) && events !== shape.events) {
          throw new Error(`${contender.name} counted ${events} events on ${shape.name}, expected ${shape.events}`)
        }
        samples.get(contender.name)!.push(ms)
      }
    }
    const reference = median(samples.get("eventsource-parser 4")!)
    const rows = contenders.map((c) => {
      const ms = median(samples.get(c.name)!)
      return [
        c.name,
        fixed(ms, 2),
        fixed(bytes.length / 1e6 / (ms / 1000)),
        fixed(shape.events / (ms / 1000), 0),
        `${(reference / ms).toFixed(2)}×`
      ]
    })
    sections.push(
      `#### ${shape.name}, ${(bytes.length / 1e6).toFixed(1)} MB as ${mode} chunks of ${chunkSize}\n\n` +
        table(["parser", "median ms", "MB/s", "events/s", "vs eventsource-parser"], rows)
    )
  }
  return sections
}

// Each shape runs in a fresh process: measured in one process after the others, a shape inherits their JIT
// feedback and heap, which tilted the 8 MiB line by ±25% from run to run, whichever parser it favoured.
const inChild = (args: ReadonlyArray<string>): Promise<Array<string>> =>
  new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL("./parser-child.ts", import.meta.url)), [...args], {
      execArgv: ["--expose-gc", "--import", "tsx"]
    })
    child.once("message", (sections) => resolve(sections as Array<string>))
    child.once("exit", (code) => code === 0 ? undefined : reject(new Error(`parser bench child exited with ${code}`)))
  })

export const runParserBench = async (options: ParserBenchOptions): Promise<string> => {
  const sections: Array<string> = []
  for (let index = 0; index < shapes(0).length; index++) {
    sections.push(...await inChild([String(index), String(options.size), String(options.rounds)]))
  }
  sections.push(...await inChild(["linearity", "0", String(options.rounds)]))
  return sections.join("\n\n")
}

// Time per MB for one data line of growing size: flat means linear.
export const linearity = async (rounds: number): Promise<string> => {
  const rows: Array<Array<string>> = []
  const parser = contenders[0]!
  for (const mib of [1, 2, 4, 8]) {
    const bytes = encoder.encode(`data: ${"q".repeat(mib * 1024 * 1024)}\n\n`)
    const chunks = chunkBytes(bytes)
    const samples: Array<number> = []
    await time(parser, chunks)
    for (let round = 0; round < rounds; round++) samples.push((await time(parser, chunks)).ms)
    const ms = median(samples)
    rows.push([`${mib} MiB`, fixed(ms, 2), fixed(ms / (bytes.length / 1e6), 3)])
  }
  return `#### one data line of growing size, bytes in chunks of ${CHUNK} (Parser.make)\n\n` +
    table(["line", "median ms", "ms per MB"], rows)
}
