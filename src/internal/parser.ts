import * as Duration from "effect/Duration"
import type * as Message from "../Message.js"
import type * as Parser from "../Parser.js"
import { ReceivedImpl } from "./message.js"

const LF = 10
const SPACE = 32
const COLON = 58
const BOM = 0xfeff

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
  private error: Parser.ParseError | undefined = undefined
  private atStart = true
  private afterCR = false
  private pending = ""
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
    private readonly makeError: (maxEventSize: number) => Parser.ParseError
  ) {
    this.onMessage = callbacks.onMessage
    this.onComment = callbacks.onComment
    this.onRetry = callbacks.onRetry
    this.maxEventSize = options?.maxEventSize ?? defaultMaxEventSize
    this.idBuffer = this.lastEventId = options?.lastEventId ?? ""
  }

  get buffered(): number {
    return this.pending.length + this.data.length + this.eventType.length
  }

  feed(chunk: string | Uint8Array): Parser.ParseError | undefined {
    if (this.error !== undefined) return this.error
    let text: string
    if (typeof chunk === "string") {
      text = chunk
    } else {
      // ignoreBOM keeps a leading BOM in the text, so that the one rule below strips it for bytes and strings alike
      this.decoder ??= new TextDecoder("utf-8", { ignoreBOM: true })
      text = this.decoder.decode(chunk, { stream: true })
    }
    const length = text.length
    if (length === 0) return undefined
    let pos = 0
    if (this.atStart) {
      this.atStart = false
      if (text.charCodeAt(0) === BOM) pos = 1
    }
    if (this.afterCR) {
      this.afterCR = false
      if (text.charCodeAt(pos) === LF) pos++
    }
    let lf = -1
    let cr = -1
    while (pos < length) {
      // `lf` and `cr` are the next line feed and carriage return at or after `pos` (or `length` when none):
      // searched again only once passed, so no part of the chunk is scanned twice.
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
      let line = text.slice(pos, end)
      if (this.pending.length !== 0) {
        line = this.pending + line
        this.pending = ""
      }
      pos = end + 1
      if (end === cr) {
        if (pos === length) this.afterCR = true
        else if (text.charCodeAt(pos) === LF) pos++
      }
      if (line.length === 0) this.dispatch()
      else if (line.length + this.data.length > this.maxEventSize) return this.fail()
      else this.processLine(line)
    }
    if (pos < length) {
      this.pending += pos === 0 ? text : text.slice(pos)
      if (this.pending.length + this.data.length > this.maxEventSize) return this.fail()
    }
    return undefined
  }

  end(): void {
    // Whatever was not followed by a blank line is an incomplete event: the standard discards it.
    this.decoder = undefined
    this.atStart = true
    this.afterCR = false
    this.pending = ""
    this.resetEvent()
  }

  private fail(): Parser.ParseError {
    this.error = this.makeError(this.maxEventSize)
    this.pending = ""
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

  // The size rule, checked on whole lines and on the unfinished one alike so that chunking never changes the
  // outcome: the data buffered so far plus the line being read stay within `maxEventSize`.
  private processLine(line: string): void {
    if (line.charCodeAt(0) === COLON) {
      if (this.onComment !== undefined) this.onComment(line.slice(1))
      return
    }
    const colon = line.indexOf(":")
    let name: string
    let value: string
    if (colon === -1) {
      name = line
      value = ""
    } else {
      name = line.slice(0, colon)
      value = line.slice(line.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1)
    }
    switch (name) {
      case "data": {
        if (this.hasData) {
          this.data = this.data + "\n" + value
        } else {
          this.data = value
          this.hasData = true
        }
        break
      }
      case "event": {
        this.eventType = value
        break
      }
      case "id": {
        if (value.indexOf("\0") === -1) this.idBuffer = this.blockId = value
        break
      }
      case "retry": {
        if (isAsciiDigits(value)) {
          const millis = parseInt(value, 10)
          this.blockRetry = millis
          if (this.onRetry !== undefined) this.onRetry(millis)
        }
        break
      }
    }
  }

  private dispatch(): void {
    this.lastEventId = this.idBuffer
    if (!this.hasData) {
      this.resetEvent()
      return
    }
    const message = new ReceivedImpl(
      this.eventType === "" ? "message" : this.eventType,
      this.data,
      this.blockId,
      this.blockRetry === undefined ? undefined : Duration.millis(this.blockRetry),
      this.lastEventId
    )
    this.resetEvent()
    this.onMessage(message)
  }
}
