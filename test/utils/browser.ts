import { Effect } from "effect"
import * as Fs from "node:fs"
import { chromium } from "playwright-core"

export const executablePath = "/usr/bin/chromium"

/**
 * Whether Debian's chromium is here. Outside CI a missing browser skips the browser tests with a warning; under
 * CI=true it throws, so CI never skips them silently.
 */
export const hasBrowser = Fs.existsSync(executablePath)
if (!hasBrowser) {
  if (process.env.CI === "true") {
    throw new Error(`${executablePath} is missing: CI must install Debian's chromium (see .ci/run)`)
  }
  console.warn(`skipping the browser tests: ${executablePath} is missing (apt-get install -y chromium)`)
}

/** Headless Chromium for the current scope. */
export const launch = Effect.acquireRelease(
  Effect.promise(() =>
    chromium.launch({
      executablePath,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
  ),
  (browser) => Effect.promise(() => browser.close())
)
