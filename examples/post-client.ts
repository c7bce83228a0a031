/**
 * Streaming a response to a POST with a JSON body, the way AI completion APIs are called. To run on its own,
 * it starts a plain node:http endpoint that streams the prompt back token by token, ending with [DONE].
 *
 * Run: npm run example:post-client
 */
import { HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Console, Effect, Schema, Stream } from "effect"
import { SseClient } from "effect-sse"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

const Chunk = Schema.parseJson(Schema.Struct({ token: Schema.String }))

// A stand-in for a completion API: POST /v1/complete { prompt } → one event per word, then [DONE].
const fakeApi = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly close: () => void }>((resume) => {
    const server = createServer((req, res) => {
      let body = ""
      req.on("data", (piece) => body += piece)
      req.on("end", () => {
        const { prompt } = JSON.parse(body) as { prompt: string }
        res.writeHead(200, { "content-type": "text/event-stream" })
        const words = `You said: ${prompt}`.split(" ")
        const timer = setInterval(() => {
          const word = words.shift()
          if (word === undefined) {
            clearInterval(timer)
            return res.end("data: [DONE]\n\n")
          }
          res.write(`data: ${JSON.stringify({ token: word + " " })}\n\n`)
        }, 40)
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({ url: `http://127.0.0.1:${port}/v1/complete`, close: () => server.close() }))
    })
  }),
  (api) => Effect.sync(api.close)
)

const program = Effect.gen(function*() {
  const api = yield* fakeApi
  const request = yield* HttpClientRequest.post(api.url).pipe(
    HttpClientRequest.bodyJson({ prompt: "stream this back to me, word by word" })
  )
  yield* SseClient.stream(request, { reconnect: false }).pipe(
    Stream.takeWhile((message) => message.data !== "[DONE]"),
    Stream.mapEffect((message) => Schema.decode(Chunk)(message.data)),
    Stream.runForEach(({ token }) => Effect.sync(() => process.stdout.write(token)))
  )
  yield* Console.log("")
})

program.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layer), Effect.runPromise)
