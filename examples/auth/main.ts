/**
 * The auth example on http://localhost:3002 (PORT to change it). Sign in as ada / lovelace in one browser and
 * grace / hopper in another, or from a terminal:
 *
 *   curl -s -X POST localhost:3002/sign-in -d '{"user":"grace","password":"hopper"}'   # prints a token
 *   curl -N -H "Authorization: Bearer <token>" localhost:3002/events
 *
 * SESSION_SECRET signs the cookies (a random one per process when unset: sessions end with the process).
 *
 * Run: npm run example:auth
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { Layer } from "effect"
import { serve } from "../serve.js"
import * as Session from "../session.js"
import * as Auth from "./app.js"

const app = Auth.make({ secret: process.env.SESSION_SECRET ?? Session.randomSecret() }).pipe(
  HttpServer.serve(),
  Layer.provide(Auth.layer)
)

serve({ app, defaultPort: 3002, banner: (url) => `auth example: open ${url} (ada / lovelace, grace / hopper)` })
