/**
 * The demo: the live room on http://localhost:3000 (or PORT). Open it in two tabs; drop a connection, or stop
 * and start the server, and watch what was missed come back.
 *
 * ROOM_HISTORY_FILE=room.jsonl (or REDIS_URL) keeps the history across restarts. ROOM_SECRET signs the
 * identity cookies; the demo falls back to a fixed secret so that identities survive a restart out of the box,
 * which is fine for a demo on your machine and wrong anywhere else.
 *
 * Run: npm start
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { Effect, Layer } from "effect"
import { serve } from "../serve.js"
import * as Room from "./app.js"
import * as RoomHistory from "./history.js"

const store = Effect.runSync(RoomHistory.storeFromEnv)

serve({
  app: Room.router({ secret: process.env.ROOM_SECRET ?? "effect-sse demo: set ROOM_SECRET" }).pipe(
    HttpServer.serve(),
    Layer.provide(Layer.scoped(Room.Room, RoomHistory.makeServer(Room.serverOptions(), { store })))
  ),
  defaultPort: 3000,
  banner: (url) => `effect-sse room: open ${url} in two tabs (${RoomHistory.describeStore(store)})`
})
