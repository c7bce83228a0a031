import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { MEASURED, soak, unavailable, WARM_UP } from "./utils/soak.js"

describe("SseClient: memory over a long outage", () => {
  it.scopedLive(
    `${WARM_UP + MEASURED} answers of 503 in a row leave the heap flat (under 5 MiB of growth)`,
    () =>
      Effect.gen(function*() {
        const url = yield* unavailable
        const error = yield* soak(url, Schedule.spaced("0 millis"))
        assert(error._tag === "StatusError")
        expect(error.status).toBe(503)
        expect(error.body).toBe("down")
      }),
    240_000
  )
})
