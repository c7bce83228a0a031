import { assert, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { SseClient } from "effect-sse"
import { scripted } from "./utils/scripted.js"
import { MEASURED, soak, WARM_UP } from "./utils/soak.js"

describe("SseClient: memory over a long outage", () => {
  it.scopedLive(
    `${WARM_UP + MEASURED} refused connections in a row leave the heap flat (under 5 MiB of growth)`,
    () =>
      Effect.gen(function*() {
        // A port that was just free: nothing listens there.
        const url = (yield* Effect.scoped(scripted((res) => res.end()))).url
        const error = yield* soak(url, SseClient.defaultSchedule({ jitter: 0 }))
        assert(error._tag === "TransportError")
        expect(error.reason).toBe("Connect")
      }),
    240_000
  )
})
