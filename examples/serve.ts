/**
 * How the examples' servers start: on `PORT` (or their own default) and `HOST` (default `localhost`), printing
 * their URL once the port is bound, and with one line instead of a stack trace when the port is taken. SIGTERM
 * and SIGINT interrupt the program (`NodeRuntime.runMain`): every layer closes, and an `SseServer` tells its
 * clients `retry:` before ending their streams.
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

class PortInUse extends Data.TaggedError("PortInUse")<{ readonly port: number }> {}

const isAddressInUse = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "ServeError" &&
  "cause" in error && typeof error.cause === "object" && error.cause !== null && "code" in error.cause &&
  error.cause.code === "EADDRINUSE"

/** Options read from the environment; `PORT=0` picks a free port (the printed URL says which). */
export const listenOptions = (defaultPort: number) =>
  Effect.all({
    port: Config.integer("PORT").pipe(
      Config.validate({ message: "a port number, 0 to 65535", validation: (port) => port >= 0 && port <= 65535 }),
      Config.withDefault(defaultPort)
    ),
    host: Config.string("HOST").pipe(Config.withDefault("localhost"))
  })

/**
 * Runs `app` until SIGTERM or SIGINT. `banner` makes the line printed once the port is bound.
 */
export const serve = <E>(
  app: Layer.Layer<never, E, NodeServer>,
  options: { readonly defaultPort: number; readonly banner: (url: string) => string }
): void => {
  const program = Effect.gen(function*() {
    const { host, port } = yield* listenOptions(options.defaultPort)
    const listening = Layer.effectDiscard(
      HttpServer.addressWith((address) =>
        Console.log(options.banner(`http://${host}:${address._tag === "TcpAddress" ? address.port : port}`))
      )
    )
    return yield* Layer.launch(
      Layer.merge(app, listening).pipe(Layer.provide(NodeHttpServer.layer(createServer, { port, host })))
    ).pipe(Effect.catchIf(isAddressInUse, () => Effect.fail(new PortInUse({ port }))))
  })
  program.pipe(
    Effect.tapErrorCause((cause) => {
      const portInUse = Cause.failureOption(cause).pipe((failure) =>
        failure._tag === "Some" && failure.value instanceof PortInUse ? failure.value : undefined
      )
      return portInUse !== undefined
        ? Console.error(`port ${portInUse.port} is in use: stop what holds it, or set PORT to another port`)
        : Cause.isInterruptedOnly(cause)
        ? Effect.void
        : Effect.logError(cause)
    }),
    NodeRuntime.runMain({ disableErrorReporting: true })
  )
}
