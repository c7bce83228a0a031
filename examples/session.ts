/**
 * Signed session cookies, as the examples use them: the server decides who a browser is and signs it (HMAC
 * SHA-256), so a client cannot claim another identity by editing a cookie, a query string or a header.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Option } from "effect"
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"

export interface Sessions {
  /** The cookie's value for a user: `user.signature`. */
  readonly sign: (user: string) => string
  /** The user of a cookie value, when its signature is ours. */
  readonly verify: (value: string) => Option.Option<string>
  /** The user of the current request's session cookie. */
  readonly current: Effect.Effect<Option.Option<string>, never, HttpServerRequest.HttpServerRequest>
  /** Sets the session cookie on a response: HttpOnly (page scripts cannot read it), SameSite=Lax. */
  readonly set: (response: HttpServerResponse.HttpServerResponse, user: string) => HttpServerResponse.HttpServerResponse
  /** Clears it. */
  readonly clear: (response: HttpServerResponse.HttpServerResponse) => HttpServerResponse.HttpServerResponse
}

/** A secret good for signing: 32 random bytes, as base64url (keep it across restarts to keep sessions valid). */
export const randomSecret = (): string => randomBytes(32).toString("base64url")

export const make = (secret: string, cookie = "session"): Sessions => {
  const signature = (user: string) => createHmac("sha256", secret).update(user).digest("base64url")
  const sign = (user: string) => `${user}.${signature(user)}`
  const verify = (value: string): Option.Option<string> => {
    const dot = value.lastIndexOf(".")
    if (dot <= 0) return Option.none()
    const user = value.slice(0, dot)
    const expected = Buffer.from(signature(user))
    const given = Buffer.from(value.slice(dot + 1))
    return given.length === expected.length && timingSafeEqual(given, expected) ? Option.some(user) : Option.none()
  }
  return {
    sign,
    verify,
    current: Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const value = request.cookies[cookie]
      return value === undefined ? Option.none() : verify(value)
    }),
    set: (response, user) =>
      HttpServerResponse.unsafeSetCookie(response, cookie, sign(user), { httpOnly: true, sameSite: "lax", path: "/" }),
    clear: (response) =>
      HttpServerResponse.unsafeSetCookie(response, cookie, "", {
        httpOnly: true,
        sameSite: "lax",
        path: "/",
        maxAge: 0
      })
  }
}
