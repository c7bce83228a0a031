import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert, describe, expect, it } from "@effect/vitest"
import {
  Config,
  ConfigProvider,
  Context,
  Effect,
  Exit,
  Layer,
  Metric,
  MetricLabel,
  Scope,
  TestClock,
  Tracer
} from "effect"
import { Message, SseServer } from "effect-sse"
import { connect, eventually, listen, serve } from "./utils/http.js"
import { eventsRoute, makeServer, startServer } from "./utils/sse.js"

describe("SseServer: heartbeats", () => {
  it.scoped("a comment is written after keepAlive of silence, driven by the clock", () =>
    Effect.gen(function*() {
      const { url } = yield* startServer({ keepAlive: "15 seconds" }, eventsRoute)
      const client = yield* connect(`${url}/events/a`)
      yield* client.waitFor("the opening comment", () => client.comments().length === 1)
      yield* TestClock.adjust("15 seconds")
      yield* client.waitFor("a heartbeat", () => client.comments().length === 2)
      yield* TestClock.adjust("15 seconds")
      yield* client.waitFor("a second heartbeat", () => client.comments().length === 3)
      expect(client.text()).toBe(":\n:\n:\n")
    }))

  it.scoped("a heartbeat only fills silence: messages reset the idle time", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({ keepAlive: "15 seconds", retry: "1 second" }, eventsRoute)
      const client = yield* connect(`${url}/events/a`)
      yield* client.waitFor("the stream to open", () => client.retries().length === 1)
      yield* TestClock.adjust("10 seconds")
      yield* sse.broadcast(Message.make({ data: "1" }))
      yield* client.waitFor("message 1", () => client.messages().length === 1)
      // 20 s after the start but only 10 s after the message: no heartbeat yet.
      yield* TestClock.adjust("10 seconds")
      yield* sse.broadcast(Message.make({ data: "2" }))
      yield* client.waitFor("message 2", () => client.messages().length === 2)
      expect(client.comments()).toEqual([])
      yield* TestClock.adjust("15 seconds")
      yield* client.waitFor("a heartbeat", () => client.comments().length === 1)
    }))

  it.scoped("without keepAlive (or with zero) no heartbeat is ever written", () =>
    Effect.gen(function*() {
      for (const keepAlive of [undefined, 0] as const) {
        const { sse, url } = yield* startServer({ keepAlive }, eventsRoute)
        const client = yield* connect(`${url}/events/a`)
        yield* client.waitFor("the opening comment", () => client.comments().length === 1)
        yield* TestClock.adjust("1 hour")
        yield* sse.broadcast(Message.make({ data: "after an hour" }))
        yield* client.waitFor("the message", () => client.messages().length === 1)
        expect(client.text()).toBe(":\ndata:after an hour\n\n")
      }
    }))
})

describe("SseServer: limits", () => {
  it.scoped("past maxConnections a connect gets 503 with Retry-After and a clear body; the others go on", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({ maxConnections: 2, retryAfter: "7 seconds" }, eventsRoute)
      const a = yield* connect(`${url}/events/a`)
      const b = yield* connect(`${url}/events/b`)
      yield* eventually("two sources", Effect.map(sse.size, (n) => n === 2))
      const refused = yield* connect(`${url}/events/c`)
      expect(refused.status).toBe(503)
      expect(refused.headers["retry-after"]).toBe("7")
      yield* refused.waitFor("the body", () => refused.ended())
      expect(refused.text()).toContain("Too many event stream connections")
      yield* sse.broadcast(Message.make({ data: "still here" }))
      yield* a.waitFor("the message", () => a.messages().length === 1)
      yield* b.waitFor("the message", () => b.messages().length === 1)
      expect(yield* sse.size).toBe(2)
      // A replacing connection does not count against the limit.
      const a2 = yield* connect(`${url}/events/a`)
      expect(a2.status).toBe(200)
    }))

  it.scoped("past maxConnectionsPerId a further connection of that id gets 503; other ids still connect", () =>
    Effect.gen(function*() {
      const { sse, url } = yield* startServer({ connectionsPerId: "multiple", maxConnectionsPerId: 2 }, eventsRoute)
      yield* connect(`${url}/events/u`)
      yield* connect(`${url}/events/u`)
      yield* eventually("two tabs", Effect.map(sse.size, (n) => n === 2))
      const third = yield* connect(`${url}/events/u`)
      expect(third.status).toBe(503)
      expect(third.headers["retry-after"]).toBe("5")
      const other = yield* connect(`${url}/events/v`)
      expect(other.status).toBe(200)
    }))
})

describe("SseServer: shutdown", () => {
  it.live("closing the server's scope ends every response within the deadline, after a retry with jitter", () =>
    Effect.gen(function*() {
      const outer = yield* Scope.make()
      const inner = yield* Scope.make()
      const { server, url } = yield* Scope.extend(listen, outer)
      const sse = yield* Scope.extend(
        makeServer<string>({ retry: "1 second", shutdownJitter: "10 seconds" }),
        inner
      )
      yield* Scope.extend(serve(server, eventsRoute(sse)), inner)
      const clients = yield* Scope.extend(
        Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) => connect(`${url}/events/${i}`)),
        outer
      )
      yield* eventually("20 sources", Effect.map(sse.size, (n) => n === 20))
      yield* Scope.close(inner, Exit.void)
      for (const client of clients) {
        yield* client.waitFor("the response to end", () => client.ended(), 10_000)
        expect(client.retries().length).toBe(2)
        expect(client.retries()[1]).toBeGreaterThanOrEqual(1000)
        expect(client.retries()[1]).toBeLessThan(11_000)
      }
      // Jitter: the hints are spread out, not all the same.
      expect(new Set(clients.map((client) => client.retries()[1])).size).toBeGreaterThan(10)
      expect(yield* sse.size).toBe(0)
      yield* Scope.close(outer, Exit.void)
    }))

  it.live("connections that do not end by the deadline are aborted, and shutdown returns", () =>
    Effect.gen(function*() {
      const outer = yield* Scope.make()
      const inner = yield* Scope.make()
      const { server, url } = yield* Scope.extend(listen, outer)
      const sse = yield* Scope.extend(
        makeServer<string>({ shutdownTimeout: "300 millis", bufferCapacity: 64 }),
        inner
      )
      yield* Scope.extend(serve(server, eventsRoute(sse)), inner)
      const stuck = yield* Scope.extend(connect(`${url}/events/stuck`), outer)
      stuck.pause()
      yield* eventually("the source", Effect.map(sse.size, (n) => n === 1))
      // 16 MiB queued for a client that reads nothing: more than the kernel's buffers take, so the response
      // cannot end by itself.
      const big = Message.make({ data: "x".repeat(256 * 1024) })
      for (let i = 0; i < 64; i++) yield* sse.broadcast(big)
      const started = Date.now()
      yield* Scope.close(inner, Exit.void)
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(yield* sse.size).toBe(0)
      // The client reads again: it finds the socket closed by the server, with most frames never sent.
      stuck.resume()
      yield* stuck.waitFor("the socket to close", () => stuck.ended(), 10_000)
      expect(stuck.messages().length).toBeLessThan(64)
      yield* Scope.close(outer, Exit.void)
    }))
})

class Events extends Context.Tag("test/Events")<Events, SseServer.SseServer<string>>() {}
class Alerts extends Context.Tag("test/Alerts")<Alerts, SseServer.SseServer<number>>() {}

describe("SseServer: layers and routes", () => {
  const appRoutes = HttpRouter.empty.pipe(
    HttpRouter.get("/events/:id", SseServer.handler(Events, Effect.map(HttpRouter.params, (p) => p.id ?? ""))),
    HttpRouter.get("/alerts/:n", SseServer.handler(Alerts, Effect.map(HttpRouter.params, (p) => Number(p.n)))),
    HttpRouter.get(
      "/private",
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const user = request.headers["x-user"]
        if (user === undefined) return HttpServerResponse.text("who are you?", { status: 401 })
        return yield* SseServer.connect(Events, user)
      })
    )
  )

  const withApp = <E>(layer: Layer.Layer<Events | Alerts, E>) =>
    Effect.gen(function*() {
      const { server, url } = yield* listen
      const context = yield* Layer.build(layer)
      yield* serve(server, Effect.provide(appRoutes, context))
      return { url, events: Context.get(context, Events), alerts: Context.get(context, Alerts) }
    })

  it.scoped("two servers under their own tags run side by side, one line per route", () =>
    Effect.gen(function*() {
      const { alerts, events, url } = yield* withApp(
        Layer.merge(SseServer.layer(Events, { retry: "1 second" }), SseServer.layer(Alerts, { name: "alerts" }))
      )
      const e = yield* connect(`${url}/events/ada`)
      const a = yield* connect(`${url}/alerts/7`)
      yield* eventually(
        "one source each",
        Effect.map(Effect.zip(events.size, alerts.size), ([x, y]) => x === 1 && y === 1)
      )
      yield* alerts.send(7, Message.make({ data: "alert" }))
      yield* events.send("ada", Message.make({ data: "event" }))
      yield* a.waitFor("the alert", () => a.messages().length === 1)
      yield* e.waitFor("the event", () => e.messages().length === 1)
      expect(a.messages()[0]?.data).toBe("alert")
      expect(e.text()).toBe("retry:1000\n\ndata:event\n\n")
    }))

  it.scoped("a handler can authenticate first and use the lower-level connect", () =>
    Effect.gen(function*() {
      const { events, url } = yield* withApp(Layer.merge(SseServer.layer(Events), SseServer.layer(Alerts)))
      const anonymous = yield* connect(`${url}/private`)
      expect(anonymous.status).toBe(401)
      const user = yield* connect(`${url}/private`, { headers: { "x-user": "grace" } })
      expect(user.status).toBe(200)
      yield* eventually("grace", Effect.map(events.get("grace"), (o) => o._tag === "Some"))
    }))

  it.scoped("layerConfig reads the options from Config", () =>
    Effect.gen(function*() {
      const provider = ConfigProvider.fromMap(new Map([["SSE_RETRY", "250 millis"], ["SSE_KEEP_ALIVE", "5 seconds"]]))
      const layer = Layer.merge(
        SseServer.layerConfig(Events, {
          retry: Config.duration("SSE_RETRY"),
          keepAlive: Config.duration("SSE_KEEP_ALIVE")
        }),
        SseServer.layer(Alerts)
      ).pipe(Layer.provide(Layer.setConfigProvider(provider)))
      const { url } = yield* withApp(layer)
      const client = yield* connect(`${url}/events/x`)
      yield* client.waitFor("the retry line", () => client.retries().length === 1)
      expect(client.retries()).toEqual([250])
      yield* TestClock.adjust("5 seconds")
      yield* client.waitFor("a heartbeat", () => client.comments().length === 1)
    }))

  it.scoped("a missing config value fails the layer with a ConfigError", () =>
    Effect.gen(function*() {
      const layer = SseServer.layerConfig(Events, { retry: Config.duration("NOT_SET_ANYWHERE") }).pipe(
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map())))
      )
      const exit = yield* Effect.exit(Layer.build(layer))
      assert.isTrue(Exit.isFailure(exit))
    }))
})

describe("SseServer: observability", () => {
  it.scoped("metrics count open connections, frames and bytes written, labelled with the server's name", () =>
    Effect.gen(function*() {
      const name = `metrics-${Math.random()}`
      const labels = [MetricLabel.make("sse_server", name)]
      const tagged = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>) => Metric.taggedWithLabels(metric, labels)
      const { sse, url } = yield* startServer({ name }, eventsRoute)
      const client = yield* connect(`${url}/events/a`)
      yield* eventually("the source", Effect.map(sse.size, (n) => n === 1))
      expect((yield* Metric.value(tagged(SseServer.metrics.connectionsOpen))).value).toBe(1)
      yield* sse.broadcast(Message.make({ data: "12345" }))
      yield* client.waitFor("the message", () => client.messages().length === 1)
      yield* eventually(
        "the counters",
        Effect.map(Metric.value(tagged(SseServer.metrics.framesSent)), (state) => state.count === 1)
      )
      expect((yield* Metric.value(tagged(SseServer.metrics.bytesWritten))).count).toBe("data:12345\n\n".length)
      yield* client.destroy
      yield* eventually(
        "the gauge to drop",
        Effect.map(Metric.value(tagged(SseServer.metrics.connectionsOpen)), (state) => state.value === 0)
      )
    }))

  it.scoped("each connection runs inside a span", () =>
    Effect.gen(function*() {
      const spans: Array<string> = []
      const native = yield* Effect.tracer
      const tracer = Tracer.make({
        span: (name, parent, context, links, startTime, kind, options) => {
          spans.push(name)
          return native.span(name, parent, context, links, startTime, kind, options)
        },
        context: native.context
      })
      const { url } = yield* Effect.withTracer(startServer({}, eventsRoute), tracer)
      const client = yield* connect(`${url}/events/a`)
      yield* client.waitFor("the stream to open", () => client.text().length > 0)
      expect(spans).toContain("SseServer.connection")
    }))
})
