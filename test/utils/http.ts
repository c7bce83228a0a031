import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpServer from "@effect/platform/HttpServer"
import { Effect, type Scope } from "effect"
import type { Message } from "effect-sse"
import { Parser } from "effect-sse"
import * as Http from "node:http"

/** Starts a real HTTP server on 127.0.0.1, port 0, for the current scope. Returns its base URL. */
export const listen: Effect.Effect<
  { readonly server: HttpServer.HttpServer; readonly url: string },
  never,
  Scope.Scope
> = Effect.gen(function*() {
  const server = yield* Effect.orDie(NodeHttpServer.make(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
  const address = server.address
  if (address._tag !== "TcpAddress") return yield* Effect.die("expected a TCP address")
  return { server, url: `http://127.0.0.1:${address.port}` }
})

/** Serves an app on a server started by `listen`, for the current scope. */
export const serve = <E, R>(server: HttpServer.HttpServer, app: HttpApp.Default<E, R>) => server.serve(app)

/** A real client connection, read from the socket as it arrives. */
export interface Client {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  /** Everything received so far, as text. */
  readonly text: () => string
  readonly messages: () => ReadonlyArray<Message.Received>
  readonly comments: () => ReadonlyArray<string>
  readonly retries: () => ReadonlyArray<number>
  /** True once the server ended the response (or the socket closed). */
  readonly ended: () => boolean
  /** Waits, in real time, until the condition holds; fails after `ms` with what was awaited and the text so far. */
  readonly waitFor: (what: string, condition: () => boolean, ms?: number) => Effect.Effect<void>
  /** Stops reading: the kernel buffers fill and the server sees a slow consumer. */
  readonly pause: () => void
  /** Reads again. */
  readonly resume: () => void
  /** Goes away: destroys the socket. */
  readonly destroy: Effect.Effect<void>
}

export interface ClientOptions {
  readonly headers?: Record<string, string>
  readonly method?: string
}

/** Opens `url` with node:http (a fresh socket each time) and resolves once the response headers arrive. */
export const connect = (url: string, options: ClientOptions = {}): Effect.Effect<Client, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Client>((resume) => {
      const request = Http.request(url, {
        method: options.method ?? "GET",
        agent: false,
        headers: { accept: "text/event-stream", ...options.headers }
      })
      request.on("error", () => {})
      request.on("response", (response) => {
        let text = ""
        let ended = false
        const messages: Array<Message.Received> = []
        const comments: Array<string> = []
        const retries: Array<number> = []
        const waiters = new Set<() => void>()
        const notify = () => {
          for (const waiter of waiters) waiter()
        }
        const parser = Parser.make({
          onMessage: (message) => messages.push(message),
          onComment: (comment) => comments.push(comment),
          onRetry: (millis) => retries.push(millis)
        })
        response.on("data", (chunk: Buffer) => {
          text += chunk.toString("utf8")
          parser.feed(chunk)
          notify()
        })
        const end = () => {
          ended = true
          notify()
        }
        response.on("end", end)
        response.on("close", end)
        response.on("error", end)
        const socket = request.socket
        // A paused response never emits "end": the socket's own "close" tells that the server went away.
        socket?.on("close", end)
        resume(Effect.succeed({
          status: response.statusCode ?? 0,
          headers: response.headers,
          text: () => text,
          messages: () => messages,
          comments: () => comments,
          retries: () => retries,
          ended: () => ended,
          pause: () => response.pause(),
          resume: () => response.resume(),
          destroy: Effect.sync(() => {
            request.destroy()
            socket?.destroy()
          }),
          waitFor: (what, condition, ms = 15_000) =>
            Effect.async<void>((resume) => {
              if (condition()) return resume(Effect.void)
              const check = () => {
                if (condition()) {
                  cleanup()
                  resume(Effect.void)
                }
              }
              const timer = setTimeout(() => {
                cleanup()
                resume(
                  Effect.dieMessage(`timed out waiting for ${what}; received last: ${JSON.stringify(text.slice(-300))}`)
                )
              }, ms)
              const cleanup = () => {
                clearTimeout(timer)
                waiters.delete(check)
              }
              waiters.add(check)
              return Effect.sync(cleanup)
            })
        }))
      })
      request.end()
    }),
    (client) => client.destroy
  )

/** Waits in real time for a condition on the server side (registry size, metrics), polling every few ms. */
export const eventually = (what: string, condition: Effect.Effect<boolean>, ms = 15_000): Effect.Effect<void> =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (!(yield* condition)) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting for ${what}`)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
    }
  })
