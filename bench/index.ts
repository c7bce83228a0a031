/**
 * npm run bench: every benchmark, printed as markdown tables (medians of several rounds, ratios to the peers).
 * BENCH_QUICK=1 runs smaller inputs and fewer rounds, for a smoke run. BENCH_ONLY=parser|server|accept|redis runs
 * one part; BENCH_CLIENTS=1000,5000 and BENCH_ROUNDS=3 override the server bench's client counts and rounds.
 */
import * as os from "node:os"
import { runParserBench } from "./parser.js"
import { runAcceptBench, runRedisBench, runServerBench } from "./server.js"

const quick = process.env.BENCH_QUICK === "1"
/** BENCH_ONLY=parser|server|accept|redis runs one of the benchmarks. */
const only = process.env.BENCH_ONLY
const runs = (name: string) => only === undefined || only === name
const clients = process.env.BENCH_CLIENTS?.split(",").map(Number)
const rounds = process.env.BENCH_ROUNDS === undefined ? undefined : Number(process.env.BENCH_ROUNDS)

const main = async () => {
  console.log(`## effect-sse benchmarks`)
  console.log(
    `\nNode ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${new Date().toISOString()}\n`
  )
  if (runs("parser")) {
    console.log(`### Parser\n`)
    console.log(await runParserBench({ size: quick ? 1_000_000 : 8_000_000, rounds: quick ? 3 : 21 }))
  }
  if (runs("server")) {
    console.log(`\n### Broadcast fan-out\n`)
    console.log(
      await runServerBench({
        clients: clients ?? (quick ? [100] : [1000, 5000, 10_000]),
        deliveries: quick ? 100_000 : 1_000_000,
        rounds: rounds ?? (quick ? 1 : 3)
      })
    )
  }
  if (runs("accept")) {
    console.log(`\n### Accepting connections\n`)
    console.log(await runAcceptBench({ clients: clients ?? (quick ? [1000] : [10_000]), rounds: quick ? 1 : 5 }))
  }
  if (runs("redis")) {
    console.log(`\n### Broadcast through Redis\n`)
    console.log(
      await runRedisBench({
        clients: quick ? [100] : [300],
        deliveries: quick ? 50_000 : 300_000,
        rounds: quick ? 1 : 3
      })
    )
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
