/**
 * How the examples' servers start: on `PORT` (or their own default) and `HOST` (default `localhost`), printing
 * their URL once the port is bound and the app is up, and with one line instead of a stack trace when the port is
 * taken or the app fails to start with a typed error. SIGTERM and SIGINT interrupt the program
 * (`NodeRuntime.runMain`): every layer closes, and an `SseServer` tells its clients `retry:` before ending their
 * streams.
 */
import type * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import type * as Etag from "@effect/platform/Etag"
import type * as HttpPlatform from "@effect/platform/HttpPlatform"
import * as HttpServer from "@effect/platform/HttpServer"
import { Cause, Config, Console, Data, Effect, Layer } from "effect"
import { createServer } from "node:http"

/** What `NodeHttpServer.layer` provides to an example's app. */
export type NodeServer = HttpServer.HttpServer | HttpPlatform.HttpPlatform | Etag.Generator | NodeContext.NodeContext

class PortInUse extends Data.TaggedError("PortInUse")<{ readonly port: number; readonly variable: string }> {}

const isAddressInUse = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "ServeError" &&
  "cause" in error && typeof error.cause === "object" && error.cause !== null && "code" in error.cause &&
  error.cause.code === "EADDRINUSE"

/** Options read from the environment; `PORT=0` picks a free port (the printed URL says which). */
export const listenOptions = (portVariable: string, defaultPort: number) =>
  Effect.all({
    port: Config.integer(portVariable).pipe(
      Config.validate({ message: "a port number, 0 to 65535", validation: (port) => port >= 0 && port <= 65535 }),
      Config.withDefault(defaultPort)
    ),
    host: Config.string("HOST").pipe(Config.withDefault("localhost"))
  })

/** One server of an example: its app, the environment variable of its port, and what it prints once bound. */
export interface Server<E> {
  readonly app: Layer.Layer<never, E, NodeServer>
  readonly defaultPort: number
  /** Default `PORT`. */
  readonly portVariable?: string | undefined
  readonly banner: (url: string) => string
}

const launchable = <E>(server: Server<E>) =>
  Effect.gen(function*() {
    const variable = server.portVariable ?? "PORT"
    const { host, port } = yield* listenOptions(variable, server.defaultPort)
    const listening = Layer.effectDiscard(
      HttpServer.addressWith((address) =>
        Console.log(server.banner(`http://${host}:${address._tag === "TcpAddress" ? address.port : port}`))
      )
    )
    // The URL is printed once the app is up too (its history read, say), so that it is never printed in vain.
    return Layer.flatMap(server.app, () => listening).pipe(
      Layer.provide(NodeHttpServer.layer(createServer, { port, host })),
      Layer.mapError((error) => isAddressInUse(error) ? new PortInUse({ port, variable }) : error)
    )
  })

/** Runs the servers until SIGTERM or SIGINT. */
export const serve = <E>(...servers: ReadonlyArray<Server<E>>): void =>
  Effect.forEach(servers, launchable).pipe(
    Effect.flatMap((layers) => Layer.launch(Layer.mergeAll(Layer.empty, ...layers))),
    Effect.tapErrorCause((cause) => {
      const failure = Cause.failureOption(cause)
      return failure._tag === "Some" && failure.value instanceof PortInUse
        ? Console.error(
          `port ${failure.value.port} is in use: stop what holds it, or set ${failure.value.variable} to another port`
        )
        : failure._tag === "Some" && failure.value instanceof Error
        // A typed error is a condition the app names (a history file it cannot read): its message says it all.
        ? Console.error(`cannot start: ${failure.value.message}`)
        : Cause.isInterruptedOnly(cause)
        ? Effect.void
        : Effect.logError(cause)
    }),
    NodeRuntime.runMain({ disableErrorReporting: true })
  )
