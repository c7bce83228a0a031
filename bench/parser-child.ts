/**
 * One shape of the parser benchmark (or the linearity table), in a process of its own, driven by
 * bench/parser.ts: it sends its tables back and exits.
 */
import { linearity, runShape } from "./parser.js"

const [what, size, rounds] = process.argv.slice(2)
const sections = what === "linearity"
  ? [await linearity(Number(rounds))]
  : await runShape(Number(what), Number(size), Number(rounds))
process.send!(sections, () => process.exit(0))
