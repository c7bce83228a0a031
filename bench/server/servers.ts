/**
 * The servers under test, each answering `GET /events` with an event stream and broadcasting one ~200-byte event
 * to every client on demand: a bare node:http server writing a pre-encoded frame per event (the usual way), the same
 * on @effect/platform-node without effect-sse (what a handler that streams its body costs on this stack),
 * better-sse's channel broadcast, and effect-sse's SseServer, on the Node fast path and on the portable path.
 * Every library server has heartbeats on (15 s), as in production; bare node:http and the floor have none.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { createChannel, createSession } from "better-sse"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { History, Message, SseServer } from "effect-sse"
import * as RedisHistory from "effect-sse/History/Redis"
import * as SseServerNode from "effect-sse/SseServer/Node"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { Readable } from "node:stream"

export interface BenchServer {
  readonly port: number
  readonly connections: () => number
  readonly broadcast: (payload: Payload) => void
  readonly close: () => Promise<void>
}

export interface Payload {
  readonly t: number
  readonly i: number
  readonly pad: string
}

export const makePayload = (i: number): Payload => ({ t: performance.timeOrigin + performance.now(), i, pad: PAD })

// Pads a frame to about 200 bytes.
const PAD = "p".repeat(130)

const listen = (server: Http.Server) =>
  new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)))

const closeServer = (server: Http.Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })

const bare = async (): Promise<BenchServer> => {
  const clients = new Set<Http.ServerResponse>()
  const server = Http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" })
    res.write(":\n")
    clients.add(res)
    req.on("close", () => clients.delete(res))
  })
  const port = await listen(server)
  return {
    port,
    connections: () => clients.size,
    broadcast: (payload) => {
      const frame = Buffer.from(`event:tick\ndata:${JSON.stringify(payload)}\n\n`)
      for (const res of clients) res.write(frame)
    },
    close: () => closeServer(server)
  }
}

const KEEP_ALIVE_MS = 15_000

const betterSse = async (): Promise<BenchServer> => {
  const channel = createChannel()
  const server = Http.createServer(async (req, res) => {
    const session = await createSession(req, res, { keepAlive: KEEP_ALIVE_MS, retry: null })
    channel.register(session)
  })
  const port = await listen(server)
  return {
    port,
    connections: () => channel.sessionCount,
    broadcast: (payload) => {
      channel.broadcast(payload, "tick")
    },
    close: () => closeServer(server)
  }
}

const effectSse = (history?: Layer.Layer<History.History>, fastPath = true) => async (): Promise<BenchServer> => {
  const scope = Effect.runSync(Scope.make())
  const { port, sse } = await Effect.runPromise(Scope.extend(
    Effect.gen(function*() {
      const server = yield* NodeHttpServer.make(() => Http.createServer(), { port: 0, host: "127.0.0.1" })
      const historyContext = history === undefined ? Context.empty() : yield* Layer.build(history)
      const context = fastPath ? Context.merge(historyContext, yield* Layer.build(SseServerNode.layer)) : historyContext
      // Big enough that the flood never meets the slow-consumer policy: every event must arrive.
      const options: SseServer.Options = {
        bufferCapacity: 4096,
        sendTimeout: "60 seconds",
        keepAlive: KEEP_ALIVE_MS,
        name: "bench"
      }
      const sse = history === undefined
        ? yield* SseServer.make<number>(options).pipe(Effect.provide(context as Context.Context<never>))
        : yield* SseServer.make<number>({ ...options, history: { key: String } }).pipe(
          Effect.provide(context as Context.Context<History.History>)
        )
      let next = 0
      yield* server.serve(HttpRouter.empty.pipe(HttpRouter.get("/events", Effect.suspend(() => sse.connect(next++)))))
      const address = server.address
      return { port: address._tag === "TcpAddress" ? address.port : 0, sse }
    }),
    scope
  ))
  return {
    port,
    connections: () => Effect.runSync(sse.size),
    broadcast: (payload) => {
      Effect.runFork(sse.broadcast(Message.make({ event: "tick", data: JSON.stringify(payload) })))
    },
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

// The Redis bench passes the server's URL and a key prefix shared by its instances.
const redisHistory = () =>
  RedisHistory.layerRedis({
    url: process.env.BENCH_REDIS_URL!,
    prefix: process.env.BENCH_REDIS_PREFIX!,
    maxEntries: 1000,
    // The flood sends every event at once: the last of them wait behind the others for longer than a send would
    // be allowed to wait for a Redis that answers.
    timeout: "10 seconds"
  })

// What @effect/platform-node costs by itself: its handler and request scope, a readable body that the broadcast
// pushes a pre-encoded frame into, and nothing of effect-sse. No library on this stack can do better.
const platformFloor = async (): Promise<BenchServer> => {
  const bodies = new Set<Readable>()
  const scope = Effect.runSync(Scope.make())
  const port = await Effect.runPromise(Scope.extend(
    Effect.gen(function*() {
      const server = yield* NodeHttpServer.make(() => Http.createServer(), { port: 0, host: "127.0.0.1" })
      const route = Effect.sync(() => {
        const body = new Readable({ read() {} })
        body.push(":\n")
        bodies.add(body)
        body.on("close", () => bodies.delete(body))
        return HttpServerResponse.raw(body, { contentType: "text/event-stream" })
      })
      yield* server.serve(HttpRouter.empty.pipe(HttpRouter.get("/events", route)))
      const address = server.address
      return address._tag === "TcpAddress" ? address.port : 0
    }),
    scope
  ))
  return {
    port,
    connections: () => bodies.size,
    broadcast: (payload) => {
      const frame = Buffer.from(`event:tick\ndata:${JSON.stringify(payload)}\n\n`)
      for (const body of bodies) body.push(frame)
    },
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

// The least a route can cost on @effect/platform-node: it counts the request and answers an empty 200, streaming
// nothing (the load client sends `Connection: close`, so the socket then closes). For the accept bench only, where
// `connections` counts requests answered; `tracer: false` also turns the platform's request span off.
const platformEmpty = (tracer: boolean) => async (): Promise<BenchServer> => {
  let requests = 0
  const scope = Effect.runSync(Scope.make())
  const port = await Effect.runPromise(Scope.extend(
    Effect.gen(function*() {
      const server = yield* NodeHttpServer.make(() => Http.createServer(), { port: 0, host: "127.0.0.1" })
      const route = Effect.sync(() => {
        requests++
        return HttpServerResponse.empty({ status: 200 })
      })
      const serve = server.serve(HttpRouter.empty.pipe(HttpRouter.get("/events", route)))
      yield* tracer ? serve : serve.pipe(HttpMiddleware.withTracerDisabledWhenEffect(() => true))
      const address = server.address
      return address._tag === "TcpAddress" ? address.port : 0
    }),
    scope
  ))
  return {
    port,
    connections: () => requests,
    broadcast: () => {},
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

export const servers = {
  "platform-node empty 200": platformEmpty(true),
  "platform-node empty 200, no tracer": platformEmpty(false),
  "platform-node floor": platformFloor,
  "bare node:http": bare,
  "better-sse": betterSse,
  "effect-sse": effectSse(),
  "effect-sse portable": effectSse(undefined, false),
  "effect-sse + memory history": effectSse(Layer.suspend(() => History.layerMemory())),
  "effect-sse + Redis": effectSse(Layer.suspend(redisHistory))
} as const

export type ServerName = keyof typeof servers
