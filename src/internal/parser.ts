import * as Duration from "effect/Duration"
import type * as Message from "../Message.js"
import type * as Parser from "../Parser.js"
import { MessageImpl } from "./message.js"

const LF = 10
const SPACE = 32
const COLON = 58
const BOM = 0xfeff

const D = 100
const E = 101
const I = 105

// Field names are compared by character codes, unrolled: cheaper than slicing the name out, than
// `startsWith(name, position)`, or than a loop over the name's codes.
const isData = (s: string, i: number): boolean =>
  s.charCodeAt(i) === D && s.charCodeAt(i + 1) === 97 && s.charCodeAt(i + 2) === 116 && s.charCodeAt(i + 3) === 97

const isEvent = (s: string, i: number): boolean =>
  s.charCodeAt(i) === E && s.charCodeAt(i + 1) === 118 && s.charCodeAt(i + 2) === 101 &&
  s.charCodeAt(i + 3) === 110 && s.charCodeAt(i + 4) === 116

const isId = (s: string, i: number): boolean => s.charCodeAt(i) === I && s.charCodeAt(i + 1) === 100

const isRetry = (s: string, i: number): boolean =>
  s.charCodeAt(i) === 114 && s.charCodeAt(i + 1) === 101 && s.charCodeAt(i + 2) === 116 &&
  s.charCodeAt(i + 3) === 114 && s.charCodeAt(i + 4) === 121

// Exactly one space after the colon is not part of the value.
const valueStart = (source: string, afterColon: number): number =>
  source.charCodeAt(afterColon) === SPACE ? afterColon + 1 : afterColon

/** @internal */
export const defaultMaxEventSize = 4 * 1024 * 1024

/** @internal */
export const isAsciiDigits = (value: string): boolean => {
  if (value.length === 0) return false
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

// V8 gives optimized code of the parser's methods a dependency on the parser object itself while only one has
// ever been alive, and throws the code away when that object is collected. A program with one parser at a time
// (one connection after another; the benchmark, which makes a parser per run) then lost every method's
// optimized code at each full collection after a stream ended. One more parser, made once and kept, prevents
// it. It never reads anything.
let sentinel: IncrementalParser | null | undefined = undefined

// Non-streaming decodes keep no state between calls: one decoder serves every parser. It never decodes with
// `stream: true`, which would turn Node 20's fast path off for it for good.
const wholeDecoder = new TextDecoder("utf-8", { ignoreBOM: true })

/**
 * The WHATWG "parse an event stream" / "interpret an event stream" algorithm as a push parser. Lines are found
 * with `indexOf` (each position searched once per chunk, so a chunk costs time linear in its length), the piece
 * of a line that a chunk leaves unfinished is kept and joined once the line ends, and every callback runs
 * synchronously inside `feed`.
 *
 * @internal
 */
export class IncrementalParser implements Parser.IncrementalParser {
  private readonly onMessage: (message: Message.Received) => void
  private readonly onComment: ((text: string) => void) | undefined
  private readonly onRetry: ((millis: number) => void) | undefined
  private readonly maxEventSize: number
  private decoder: TextDecoder | undefined = undefined
  // Whether the last chunk decoded may have ended inside a character.
  private splitCharacter = false
  private error: Parser.SseParseError | undefined = undefined
  private atStart = true
  private afterCR = false
  // The pieces of a line that chunks left unfinished, joined once the line ends: linear however small the chunks.
  private pending: Array<string> = []
  private pendingLength = 0
  private data = ""
  private hasData = false
  private eventType = ""
  private blockId: string | undefined = undefined
  private blockRetry: number | undefined = undefined
  private idBuffer: string
  lastEventId: string

  constructor(
    callbacks: Parser.Callbacks,
    options: Parser.Options | undefined,
    private readonly makeError: (maxEventSize: number) => Parser.SseParseError
  ) {
    this.onMessage = callbacks.onMessage
    this.onComment = callbacks.onComment
    this.onRetry = callbacks.onRetry
    this.maxEventSize = options?.maxEventSize ?? defaultMaxEventSize
    this.idBuffer = this.lastEventId = options?.lastEventId ?? ""
    if (sentinel === undefined) {
      sentinel = null
      sentinel = new IncrementalParser({ onMessage: () => {} }, undefined, makeError)
    }
  }

  get buffered(): number {
    return this.pendingLength + this.data.length + this.eventType.length
  }

  feed(chunk: string | Uint8Array): Parser.SseParseError | undefined {
    if (this.error !== undefined) return this.error
    let text: string
    if (typeof chunk === "string") {
      text = chunk
    } else {
      text = this.decode(chunk)
    }
    const length = text.length
    if (length === 0) return undefined
    if (this.pendingLength !== 0 && text.indexOf("\n") === -1 && text.indexOf("\r") === -1) {
      // A long line goes on through the whole chunk (a pending line means neither a BOM nor a CR can come first).
      return this.keepPending(text)
    }
    let pos = 0
    if (this.atStart) {
      this.atStart = false
      if (text.charCodeAt(0) === BOM) pos = 1
    }
    if (this.afterCR) {
      this.afterCR = false
      if (text.charCodeAt(pos) === LF) pos++
    }
    // `lf` and `cr` are the next line feed and carriage return at or after `pos` (or `length` when none),
    // searched again only once passed, so no part of the chunk is scanned twice.
    let lf = text.indexOf("\n", pos)
    if (lf === -1) lf = length
    let cr = text.indexOf("\r", pos)
    if (cr === -1) cr = length
    if (this.pendingLength !== 0) {
      // The line an earlier chunk left unfinished: joined once, now that it ends (or kept whole if it does not).
      const end = lf < cr ? lf : cr
      if (end === length) {
        return this.keepPending(pos === 0 ? text : text.slice(pos))
      }
      this.pending.push(text.slice(pos, end))
      const line = this.pending.join("")
      this.clearPending()
      if (line.length + this.held() > this.maxEventSize) return this.fail()
      this.processLine(line, 0, line.length)
      pos = end + 1
      if (end === cr) {
        if (pos === length) this.afterCR = true
        else if (text.charCodeAt(pos) === LF) pos++
      }
    }
    while (pos < length) {
      if (lf < pos) {
        lf = text.indexOf("\n", pos)
        if (lf === -1) lf = length
      }
      if (cr < pos) {
        cr = text.indexOf("\r", pos)
        if (cr === -1) cr = length
      }
      const end = lf < cr ? lf : cr
      if (end === length) break
      // Lines are read in place, without slicing them out of the chunk.
      if (end === pos) this.dispatch()
      else if (end - pos + this.held() > this.maxEventSize) return this.fail()
      else this.processLine(text, pos, end)
      pos = end + 1
      if (end === cr) {
        if (pos === length) this.afterCR = true
        else if (text.charCodeAt(pos) === LF) pos++
      } else if (text.charCodeAt(pos) === LF) {
        // A blank line right after: the event ends here, without another turn of the loop.
        this.dispatch()
        pos++
      }
    }
    if (pos < length) {
      return this.keepPending(pos === 0 ? text : text.slice(pos))
    }
    return undefined
  }

  // A chunk whose last byte is ASCII cannot end inside a character, so when the chunk before it did not either, it
  // decodes alone: without `stream`, which costs several times less per call. Otherwise the streaming decoder
  // carries a character split between chunks over to the next one. The two are separate decoders: Node 20 turns
  // its UTF-8 fast path off for good on a decoder that has once decoded with `stream: true`.
  private decode(chunk: Uint8Array): string {
    if (chunk.length === 0) return ""
    const last = chunk[chunk.length - 1]!
    if (!this.splitCharacter && last < 0x80) return wholeDecoder.decode(chunk)
    this.splitCharacter = last >= 0x80
    // ignoreBOM keeps a leading BOM in the text, so that the one rule in `feed` strips it for bytes and strings alike
    this.decoder ??= new TextDecoder("utf-8", { ignoreBOM: true })
    return this.decoder.decode(chunk, { stream: true })
  }

  end(): void {
    // Whatever was not followed by a blank line is an incomplete event: the standard discards it.
    this.decoder = undefined
    this.splitCharacter = false
    this.atStart = true
    // Written only when set: a stream that never ends a chunk on CR leaves the field untouched, and V8 then
    // optimizes `feed` on it as a constant; writing it here would throw that code away at every end of stream.
    if (this.afterCR) this.afterCR = false
    this.clearPending()
    this.resetEvent()
  }

  private keepPending(piece: string): Parser.SseParseError | undefined {
    this.pending.push(piece)
    this.pendingLength += piece.length
    return this.pendingLength + this.held() > this.maxEventSize ? this.fail() : undefined
  }

  // The size rule, applied to whole lines and to the unfinished one alike, so that chunking never changes the
  // outcome: the event's data and type plus the line being read stay within `maxEventSize`.
  private held(): number {
    return this.data.length + this.eventType.length
  }

  private clearPending(): void {
    this.pending = []
    this.pendingLength = 0
  }

  private fail(): Parser.SseParseError {
    this.error = this.makeError(this.maxEventSize)
    this.clearPending()
    this.resetEvent()
    return this.error
  }

  private resetEvent(): void {
    this.data = ""
    this.hasData = false
    this.eventType = ""
    this.blockId = undefined
    this.blockRetry = undefined
  }

  // `processLine` reads the non-empty line `source[start, end)` in place. `data`, `event` and `id` followed by a
  // colon are recognised by their characters and only their value is sliced out; every other line takes the
  // general path. A character read at `end` is the line break (or past the string), never a colon or a space,
  // so the prefix checks need no bounds test.
  private processLine(source: string, start: number, end: number): void {
    const first = source.charCodeAt(start)
    if (first === COLON) {
      if (this.onComment !== undefined) this.onComment(source.slice(start + 1, end))
      return
    }
    if (first === D) {
      if (source.charCodeAt(start + 4) === COLON && isData(source, start)) {
        return this.appendData(source, valueStart(source, start + 5), end)
      }
    } else if (first === E) {
      if (source.charCodeAt(start + 5) === COLON && isEvent(source, start)) {
        const from = valueStart(source, start + 6)
        this.eventType = from < end ? source.slice(from, end) : ""
        return
      }
    } else if (first === I) {
      if (source.charCodeAt(start + 2) === COLON && isId(source, start)) {
        return this.setId(source, valueStart(source, start + 3), end)
      }
    }
    this.processOtherLine(source, start, end)
  }

  // A line without a colon (the whole line is the name, the value empty), `retry`, or an unknown field.
  private processOtherLine(source: string, start: number, end: number): void {
    let colon = start + 1
    while (colon < end && source.charCodeAt(colon) !== COLON) colon++
    const from = colon < end ? valueStart(source, colon + 1) : end
    switch (colon - start) {
      case 2: {
        if (isId(source, start)) this.setId(source, from, end)
        break
      }
      case 4: {
        if (isData(source, start)) this.appendData(source, from, end)
        break
      }
      case 5: {
        if (isEvent(source, start)) {
          this.eventType = from < end ? source.slice(from, end) : ""
        } else if (isRetry(source, start)) {
          const value = from < end ? source.slice(from, end) : ""
          if (isAsciiDigits(value)) {
            const millis = parseInt(value, 10)
            this.blockRetry = millis
            if (this.onRetry !== undefined) this.onRetry(millis)
          }
        }
        break
      }
    }
  }

  private appendData(source: string, from: number, end: number): void {
    const value = from < end ? source.slice(from, end) : ""
    if (this.hasData) {
      this.data = this.data + "\n" + value
    } else {
      this.data = value
      this.hasData = true
    }
  }

  private setId(source: string, from: number, end: number): void {
    // An id containing NUL is ignored. A loop, not `indexOf`, because ids are short and the call costs more.
    let i = from
    while (i < end && source.charCodeAt(i) !== 0) i++
    if (i === end) this.idBuffer = this.blockId = from < end ? source.slice(from, end) : ""
  }

  private dispatch(): void {
    this.lastEventId = this.idBuffer
    if (!this.hasData) {
      this.resetEvent()
      return
    }
    const message = new MessageImpl(
      this.eventType === "" ? "message" : this.eventType,
      this.data,
      this.blockId,
      this.blockRetry === undefined ? undefined : Duration.millis(this.blockRetry),
      this.lastEventId
    ) as Message.Received
    this.resetEvent()
    this.onMessage(message)
  }
}
