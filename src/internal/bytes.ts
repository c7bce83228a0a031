/**
 * Joins byte chunks into one array (the chunk itself when there is one): the server's batched writes and the
 * client's error snippets share it, since neither may import the other.
 *
 * @internal
 */
export const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/**
 * Joins frames and keeps the last result: the many connections that batch the same frames (compared by identity)
 * share one buffer instead of a copy each. `build` makes the buffer (by default, the frames' bytes end to end).
 *
 * @internal
 */
export class SharedJoin {
  private frames: ReadonlyArray<Uint8Array> = []
  private bytes: Uint8Array | undefined = undefined

  constructor(private readonly build: (frames: ReadonlyArray<Uint8Array>) => Uint8Array = concat) {}

  /** The first `count` frames as one buffer. */
  join(frames: ReadonlyArray<Uint8Array>, count = frames.length): Uint8Array {
    if (this.bytes !== undefined && count === this.frames.length) {
      let same = true
      for (let i = 0; i < count && same; i++) same = frames[i] === this.frames[i]
      if (same) return this.bytes
    }
    this.frames = frames.slice(0, count)
    this.bytes = this.build(this.frames)
    return this.bytes
  }
}
