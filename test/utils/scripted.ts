import { Effect, type Scope } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

/** One request as the scripted server received it. */
export interface Received {
  readonly method: string
  readonly path: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
  /** Set once the client went away (or the response ended). */
  closed: boolean
}

export interface Scripted {
  readonly url: string
  readonly requests: ReadonlyArray<Received>
  /** Waits in real time until `n` requests arrived (or the condition holds); fails after `ms`. */
  readonly waitFor: (what: string, condition: () => boolean, ms?: number) => Effect.Effect<void>
}

/**
 * A plain node:http server on 127.0.0.1, port 0, scripted to behave (or misbehave) per request: `handler`
 * gets the response, the request's record and its index (0 for the first request).
 */
export const scripted = (
  handler: (res: Http.ServerResponse, request: Received, index: number) => void
): Effect.Effect<Scripted, never, Scope.Scope> =>
  Effect.gen(function*() {
    const requests: Array<Received> = []
    const waiters = new Set<() => void>()
    const notify = () => {
      for (const waiter of waiters) waiter()
    }
    const server = Http.createServer((req, res) => {
      let body = ""
      req.setEncoding("utf8")
      req.on("data", (piece: string) => body += piece)
      req.on("end", () => {
        const record: Received = {
          method: req.method ?? "",
          path: req.url ?? "",
          headers: req.headers,
          body,
          closed: false
        }
        res.on("close", () => {
          record.closed = true
          notify()
        })
        requests.push(record)
        notify()
        handler(res, record, requests.length - 1)
      })
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
      }),
      () =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    return {
      url: `http://127.0.0.1:${port}`,
      requests,
      waitFor: (what, condition, ms = 15_000) =>
        Effect.async<void>((resume) => {
          const check = () => {
            if (!condition()) return
            cleanup()
            resume(Effect.void)
          }
          const timer = setTimeout(() => {
            cleanup()
            resume(Effect.dieMessage(`timed out waiting for ${what} (${requests.length} requests so far)`))
          }, ms)
          const cleanup = () => {
            clearTimeout(timer)
            waiters.delete(check)
          }
          waiters.add(check)
          check()
          return Effect.sync(cleanup)
        })
    }
  })

/** Starts an event-stream response. */
export const eventStream = (res: Http.ServerResponse, headers: Http.OutgoingHttpHeaders = {}) => {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", ...headers })
  res.flushHeaders()
}
