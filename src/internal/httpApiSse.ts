import type * as Headers from "@effect/platform/Headers"
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import type * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpMethod from "@effect/platform/HttpMethod"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as OpenApi from "@effect/platform/OpenApi"
import type * as UrlParams from "@effect/platform/UrlParams"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import * as Stream from "effect/Stream"
import * as Encoder from "../Encoder.js"
import type * as HttpApiSse from "../HttpApiSse.js"
import * as Message from "../Message.js"
import * as SseClient from "../SseClient.js"
import * as SseEvent from "../SseEvent.js"
import type * as SseServer from "../SseServer.js"

/** @internal */
export const TypeId: HttpApiSse.TypeId = Symbol.for("effect-sse/HttpApiSse") as HttpApiSse.TypeId

/** @internal */
export const FAILURE_EVENT = "effect-sse:failure"

/** @internal */
export const END_EVENT = "effect-sse:end"

/** @internal */
export const CONTENT_TYPE = "text/event-stream"

// What the response says, as `SseServer`'s do.
const RESPONSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"

/** The vendor extension that carries the item schema in an OpenAPI 3.1 document. @internal */
export const ITEM_SCHEMA_EXTENSION = "x-itemSchema"

// The tag of the failure event in the client's event map: never yielded (the client fails its stream with the
// payload), and no app names a tag like it.
const FAILURE_TAG = "effect-sse/HttpApiSse/Failure"

// The end event's data: a client dispatches no event without data, and "{}" reads as JSON like every other.
const END_DATA = "{}"

// A constant frame that always encodes.
const endFrame: Uint8Array = Either.getOrThrow(Encoder.encode(Message.make({ event: END_EVENT, data: END_DATA })))

// ---------------------------------------------------------------------------------------------------------------
// Declaring
// ---------------------------------------------------------------------------------------------------------------

/** One event as it travels (the OpenAPI item): the `event:` name, the JSON `data` and an optional `id`. */
const wireItem = (name: string, data: Schema.Schema.AnyNoContext) =>
  Schema.Struct({
    event: name === "message" ? Schema.optional(Schema.Literal(name)) : Schema.Literal(name),
    data,
    id: Schema.optional(Schema.String)
  })

const forbidden = (direction: string) => (value: unknown, _: AST.ParseOptions, ast: AST.AST) =>
  ParseResult.fail(new ParseResult.Forbidden(ast, value, `an event stream is not ${direction} by a Schema`))

/** @internal */
export const events = <const Events extends HttpApiSse.EventMap, E = never, EI = never>(
  events: Events,
  options?: { readonly failure?: Schema.Schema<E, EI> | undefined; readonly description?: string | undefined }
): HttpApiSse.EventStream<Events, E> => {
  const failure = options?.failure
  const items: Array<Schema.Schema.AnyNoContext> = Object.values(events).map((event) =>
    wireItem(event.name, event.dataSchema)
  )
  if (failure !== undefined) items.push(wireItem(FAILURE_EVENT, Schema.parseJson(failure)))
  items.push(wireItem(END_EVENT, Schema.Literal(END_DATA)))
  const declaration = {} as {
    -readonly [K in keyof HttpApiSse.EventStream<Events, E>]: HttpApiSse.EventStream<Events, E>[K]
  }
  const body = Schema.declare((_: unknown): _ is HttpApiSse.Body<Events, E> => false)
  const schema = Schema.transformOrFail(Schema.Union(...items), body, {
    decode: forbidden("decoded"),
    encode: forbidden("encoded")
  }).annotations({
    [TypeId]: declaration,
    [HttpApiSchema.AnnotationEncoding]: { kind: "Text", contentType: CONTENT_TYPE } satisfies HttpApiSchema.Encoding,
    description: options?.description ??
      `Server-Sent Events: one of ${Object.values(events).map((e) => JSON.stringify(e.name)).join(", ")}`
  })
  declaration[TypeId] = TypeId
  declaration.events = events
  declaration.failure = failure as Schema.Schema<E, unknown> | undefined
  declaration.schema = schema as unknown as Schema.Schema<HttpApiSse.Body<Events, E>, unknown>
  return declaration
}

/** The declaration an endpoint's success schema carries, if it is an event stream. @internal */
export const fromAST = (ast: AST.AST): HttpApiSse.EventStream<HttpApiSse.EventMap, unknown> | undefined =>
  Option.getOrUndefined(AST.getAnnotation<HttpApiSse.EventStream<HttpApiSse.EventMap, unknown>>(ast, TypeId))

type JsonObject = Record<string, unknown>

const isObject = (u: unknown): u is JsonObject => typeof u === "object" && u !== null && !Array.isArray(u)

/** The object values of an object (none when it is not one). */
const children = (u: unknown): Array<JsonObject> => isObject(u) ? Object.values(u).filter(isObject) : []

/** The media types of an operation's responses. */
const responseMedia = (operation: JsonObject): Array<JsonObject> =>
  children(operation.responses).flatMap((response) => children(response.content))

/**
 * Moves the item union that `OpenApi.fromApi` generated as the body's `schema` to the `x-itemSchema` vendor
 * extension, and describes the body itself as text.
 */
const describeOperation = (operation: JsonObject): JsonObject => {
  for (const response of children(operation.responses)) {
    const media = isObject(response.content) ? response.content[CONTENT_TYPE] : undefined
    if (!isObject(media) || media.schema === undefined || media[ITEM_SCHEMA_EXTENSION] !== undefined) continue
    media[ITEM_SCHEMA_EXTENSION] = media.schema
    media.schema = {
      type: "string",
      description: `A stream of Server-Sent Events; \`${ITEM_SCHEMA_EXTENSION}\` (\`itemSchema\` in OpenAPI 3.2) ` +
        "describes each event"
    }
  }
  return operation
}

/** @internal */
export const endpoint = <
  const Name extends string,
  Method extends HttpMethod.HttpMethod,
  Events extends HttpApiSse.EventMap,
  E
>(
  method: Method,
  name: Name,
  path: HttpApiEndpoint.PathSegment,
  declaration: HttpApiSse.EventStream<Events, E>
): HttpApiEndpoint.HttpApiEndpoint<Name, Method, never, never, never, never, HttpApiSse.Body<Events, E>> =>
  HttpApiEndpoint.make(method)(name, path)
    .addSuccess(declaration.schema)
    .annotate(OpenApi.Transform, describeOperation)

/** @internal */
export const toOpenApi32 = <A extends object>(spec: A): A => {
  const copy: JsonObject = structuredClone(spec) as JsonObject
  copy.openapi = "3.2.0"
  for (const operation of children(copy.paths).flatMap(children)) {
    for (const media of responseMedia(operation)) {
      if (media[ITEM_SCHEMA_EXTENSION] !== undefined) media.itemSchema = media[ITEM_SCHEMA_EXTENSION]
    }
  }
  return copy as A
}

// ---------------------------------------------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------------------------------------------

const failureEvent = <E>(failure: Schema.Schema<E, unknown>) => SseEvent.make(FAILURE_EVENT, failure)

/** @internal */
export const lastEventId: Effect.Effect<string, never, HttpServerRequest.HttpServerRequest> = Effect.map(
  HttpServerRequest.HttpServerRequest,
  (request) => request.headers["last-event-id"] ?? ""
)

const DEFAULT_KEEP_ALIVE = 15_000

const heartbeat = Encoder.comment()

/** The first frame: `retry:` when asked (a value it cannot write is the app's bug: a defect), else a comment. */
const opening = (retry: Duration.DurationInput | undefined): Effect.Effect<Uint8Array> =>
  retry === undefined ? Effect.succeed(heartbeat) : Effect.orDie(Encoder.retry(retry))

/** @internal */
export const stream = <Events extends HttpApiSse.EventMap, E, R>(
  declaration: HttpApiSse.EventStream<Events, E>,
  events: Stream.Stream<HttpApiSse.Emit<Events>, E, R>,
  options: HttpApiSse.StreamOptions = {}
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  Effect.map(Effect.all([Effect.context<R>(), Effect.clock, opening(options.retry)]), ([context, clock, opening]) => {
    const keepAlive = options.keepAlive === undefined
      ? DEFAULT_KEEP_ALIVE
      : Duration.toMillis(Duration.decode(options.keepAlive))
    const failure = declaration.failure === undefined ? undefined : failureEvent(declaration.failure)
    // When the response last wrote something: heartbeats fill the silences only.
    let lastWrite = clock.unsafeCurrentTimeMillis()

    // One Effect per chunk of the app's stream: its events become one write.
    const encodeChunk = (chunk: Chunk.Chunk<HttpApiSse.Emit<Events>>) =>
      Effect.flatMap(
        Effect.forEach(chunk, (item) => {
          const event = declaration.events[item._tag]
          return event === undefined
            ? Effect.dieMessage(`HttpApiSse.stream: ${JSON.stringify(item._tag)} is not a declared event`)
            : Effect.orDie(event.encode(item.data, { id: item.id }))
        }),
        (messages) =>
          Effect.map(Effect.orDie(Encoder.encodeAll(messages)), (bytes) => {
            lastWrite = clock.unsafeCurrentTimeMillis()
            return Chunk.of(bytes)
          })
      )
    const declared = (error: E): Stream.Stream<Uint8Array> =>
      failure === undefined
        ? Stream.empty
        : Stream.orDie(Stream.fromEffect(failure.encodeFrame(error)))
    // After the headers went out a failing body breaks the writer: anything undeclared (an event that does not
    // encode, a defect) is logged and ends the response without the end event, so the client reconnects.
    const undeclared = (cause: Cause.Cause<never>): Stream.Stream<Uint8Array> =>
      Cause.isInterruptedOnly(cause)
        ? Stream.failCause(cause)
        : Stream.drain(Stream.fromEffect(Effect.logError("HttpApiSse.stream: the event stream failed", cause)))
    const frames: Stream.Stream<Uint8Array, never, R> = events.pipe(
      Stream.mapChunksEffect(encodeChunk),
      Stream.concat(Stream.succeed(endFrame)),
      Stream.catchAll(declared),
      Stream.catchAllCause(undeclared)
    )
    // Sleeps until `keepAlive` after the last write, and writes a comment if nothing was written meanwhile.
    const nextHeartbeat: Effect.Effect<Uint8Array> = Effect.suspend(() => {
      const idle = clock.unsafeCurrentTimeMillis() - lastWrite
      if (idle < keepAlive) return Effect.zipRight(Effect.sleep(Duration.millis(keepAlive - idle)), nextHeartbeat)
      lastWrite = clock.unsafeCurrentTimeMillis()
      return Effect.succeed(heartbeat)
    })
    const body = Stream.concat(
      Stream.succeed(opening),
      keepAlive > 0 ? Stream.merge(frames, Stream.repeatEffect(nextHeartbeat), { haltStrategy: "left" }) : frames
    )
    return HttpServerResponse.stream(Stream.provideContext(body, context), {
      contentType: RESPONSE_CONTENT_TYPE,
      headers: { "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" }
    })
  })

/** @internal */
export const failSource = <Events extends HttpApiSse.EventMap, E, Id>(
  declaration: HttpApiSse.EventStream<Events, E>,
  source: SseServer.Source<Id>,
  error: E
): Effect.Effect<void, SseServer.SseServerError | SseEvent.SseEventError> =>
  declaration.failure === undefined
    ? source.close
    : failureEvent(declaration.failure).encode(error).pipe(
      Effect.flatMap((message) => source.send(message)),
      Effect.ensuring(source.close)
    )

/** @internal */
export const endSource = <Id>(source: SseServer.Source<Id>): Effect.Effect<void, SseServer.SseServerError> =>
  Effect.ensuring(source.sendFrame(endFrame), source.close)

// ---------------------------------------------------------------------------------------------------------------
// Consuming
// ---------------------------------------------------------------------------------------------------------------

/**
 * Decodes a stream of messages with a declaration: the declared events become the typed union, the failure event
 * fails the stream with the decoded error, and the end event ends it.
 *
 * @internal
 */
export const decode =
  <Events extends HttpApiSse.EventMap, E>(declaration: HttpApiSse.EventStream<Events, E>) =>
  <E1, R>(
    messages: Stream.Stream<Message.Received, E1, R>
  ): Stream.Stream<HttpApiSse.Received<Events>, E1 | E | SseClient.SseClientError, R> => {
    const map: SseClient.EventMap = declaration.failure === undefined
      ? declaration.events
      : { ...declaration.events, [FAILURE_TAG]: failureEvent(declaration.failure) }
    return messages.pipe(
      Stream.takeWhile((message) => message.event !== END_EVENT),
      SseClient.decodeEvents(map),
      Stream.mapEffect((event) => event._tag === FAILURE_TAG ? Effect.fail(event.data as E) : Effect.succeed(event))
    ) as Stream.Stream<HttpApiSse.Received<Events>, E1 | E | SseClient.SseClientError, R>
  }

const paramsPattern = /:(\w+)\??/g

const fillPath = (path: string, params: Readonly<Record<string, string>>): string =>
  path.replace(paramsPattern, (_, name: string) => encodeURIComponent(params[name] ?? ""))

interface ClientRequestInput {
  readonly path?: unknown
  readonly urlParams?: unknown
  readonly headers?: unknown
  readonly payload?: unknown
}

/** The encoder of one part of a request; `HttpApi` constrains what each part encodes to. */
const encoderOf = <I>(schema: Option.Option<Schema.Schema.All>) =>
  Option.map(schema, (s) => Schema.encodeUnknown(s as Schema.Schema<unknown, I>))

/** Builds the request of an endpoint from its typed input, as `HttpApiClient` does. */
const requestBuilder = (endpoint: HttpApiEndpoint.HttpApiEndpoint.AnyWithProps) => {
  const encodePath = encoderOf<Readonly<Record<string, string>>>(endpoint.pathSchema)
  const encodeUrlParams = encoderOf<UrlParams.Input>(endpoint.urlParamsSchema)
  const encodeHeaders = encoderOf<Headers.Input>(endpoint.headersSchema)
  const encodePayload = encoderOf<unknown>(endpoint.payloadSchema)
  const hasBody = HttpMethod.hasBody(endpoint.method)
  return (input: ClientRequestInput | void) =>
    Effect.gen(function*() {
      const request = input ?? {}
      let url: string = endpoint.path
      if (encodePath._tag === "Some") url = fillPath(url, yield* encodePath.value(request.path))
      let out = HttpClientRequest.make(endpoint.method)(url)
      if (encodeUrlParams._tag === "Some") {
        out = HttpClientRequest.appendUrlParams(out, yield* encodeUrlParams.value(request.urlParams))
      }
      if (encodeHeaders._tag === "Some") {
        out = HttpClientRequest.setHeaders(out, yield* encodeHeaders.value(request.headers))
      }
      if (encodePayload._tag === "Some") {
        const payload = yield* encodePayload.value(request.payload)
        out = hasBody
          ? yield* Effect.mapError(
            HttpClientRequest.bodyJson(out, payload),
            () => ParseResult.parseError(new ParseResult.Type(AST.unknownKeyword, payload, "Could not encode as JSON"))
          )
          : HttpClientRequest.appendUrlParams(out, payload as UrlParams.Input)
      }
      return out
    })
}

/** The status and body of a refusal, from the client's error: the one place that reads `SseClient`'s errors. */
const refusal = (error: unknown): { readonly status: number; readonly body: string } | undefined =>
  SseClient.isSseClientError(error) && error._tag === "StatusError"
    ? { status: error.status, body: error.body }
    : undefined

/**
 * Fails with the endpoint's declared error when the server refused the stream with one (its status and body
 * decode), as `HttpApiClient` does for ordinary endpoints; else with the client's error as it is. Only the first
 * bytes of a refusal's body are kept, so an error whose JSON is longer stays a status error.
 */
const declaredErrors = (
  errors: ReadonlyMap<number, { readonly ast: Option.Option<AST.AST> }>
): <E>(error: E) => Effect.Effect<never, unknown> => {
  const decoders = new Map<number, (body: unknown) => Effect.Effect<unknown, ParseResult.ParseError>>()
  for (const [status, { ast }] of errors) {
    if (ast._tag === "Some") decoders.set(status, Schema.decodeUnknown(Schema.make(ast.value)))
  }
  return (error) => {
    const refused = refusal(error)
    const decoder = refused === undefined ? undefined : decoders.get(refused.status)
    if (refused === undefined || decoder === undefined) return Effect.fail(error)
    const body = refused.body === "" ? Either.right(undefined) : Either.try(() => JSON.parse(refused.body) as unknown)
    return Either.isLeft(body)
      ? Effect.fail(error)
      : Effect.flatMap(Effect.orElseFail(decoder(body.right), () => error), Effect.fail)
  }
}

/** @internal */
export const client = <ApiId extends string, Groups extends HttpApiGroup.HttpApiGroup.Any, ApiError, ApiR>(
  api: HttpApi.HttpApi<ApiId, Groups, ApiError, ApiR>,
  options: HttpApiSse.ClientOptions = {}
) =>
  Effect.gen(function*() {
    const ordinary = (yield* HttpApiClient.make(api, options)) as Record<string, unknown>
    const base = yield* HttpClient.HttpClient
    const transformed = options.transformClient === undefined ? base : options.transformClient(base)
    const httpClient = options.baseUrl === undefined
      ? transformed
      : HttpClient.mapRequest(transformed, HttpClientRequest.prependUrl(options.baseUrl.toString()))
    // A copy of the client, each group's object included, where the event-stream methods are replaced.
    const out: JsonObject = { ...ordinary }
    for (const [key, value] of Object.entries(ordinary)) {
      if (isObject(value)) out[key] = { ...value }
    }
    HttpApi.reflect(api as unknown as HttpApi.HttpApi.AnyWithProps, {
      onGroup() {},
      onEndpoint({ endpoint, errors, group, successes }) {
        let declaration: HttpApiSse.EventStream<HttpApiSse.EventMap, unknown> | undefined
        for (const { ast } of successes.values()) {
          if (ast._tag === "Some") declaration ??= fromAST(ast.value)
        }
        if (declaration === undefined) return
        const build = requestBuilder(endpoint as unknown as HttpApiEndpoint.HttpApiEndpoint.AnyWithProps)
        const decodeWith = decode(declaration)
        const declared = declaredErrors(errors)
        const method = (input: ClientRequestInput | void, sseOptions?: SseClient.Options) =>
          Stream.unwrap(Effect.map(build(input), (request) => SseClient.stream(request, sseOptions))).pipe(
            Stream.catchAll((error) => Stream.fromEffect(declared(error))),
            decodeWith,
            Stream.provideService(HttpClient.HttpClient, httpClient)
          )
        ;(group.topLevel ? out : out[group.identifier] as JsonObject)[endpoint.name] = method
      }
    })
    return out
  })
