import { Effect, type Scope } from "effect"
import * as ChildProcess from "node:child_process"

/** A child process whose output is collected as it arrives. */
export interface Child {
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  /** The exit code (or the signal's name), once it has exited. */
  readonly exit: () => number | string | undefined
  /** Waits, in real time, for a line of stdout matching `pattern`; fails after `ms` with everything printed. */
  readonly line: (pattern: RegExp, ms?: number) => Effect.Effect<RegExpExecArray>
  /** Waits, in real time, for the process to exit; fails after `ms`. */
  readonly exited: (ms?: number) => Effect.Effect<number | string>
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
}

const poll = <A>(what: string, child: () => string, found: () => A | undefined, ms: number): Effect.Effect<A> =>
  Effect.async<A>((resume) => {
    const deadline = Date.now() + ms
    const timer = setInterval(() => {
      const value = found()
      if (value !== undefined) {
        clearInterval(timer)
        resume(Effect.succeed(value))
      } else if (Date.now() > deadline) {
        clearInterval(timer)
        resume(Effect.dieMessage(`timed out after ${ms} ms waiting for ${what}; output:\n${child()}`))
      }
    }, 20)
    return Effect.sync(() => clearInterval(timer))
  })

/**
 * Starts `command` for the current scope, in a process group of its own; closing the scope kills the group
 * (SIGKILL), so nothing it started outlives the test.
 */
export const spawn = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly env?: Record<string, string | undefined> } = {}
): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const process_ = ChildProcess.spawn(command, args, {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group, so that the release below also ends what it started (npm's shell, node).
        detached: true
      })
      let stdout = ""
      let stderr = ""
      let exit: number | string | undefined
      process_.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      process_.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      process_.on("exit", (code, signal) => (exit = code ?? signal ?? "unknown"))
      const output = () => `stdout:\n${stdout}\nstderr:\n${stderr}`
      const child: Child = {
        pid: process_.pid ?? -1,
        stdout: () => stdout,
        stderr: () => stderr,
        exit: () => exit,
        line: (pattern, ms = 30_000) =>
          poll(`a line matching ${pattern}`, output, () => {
            for (const line of stdout.split("\n")) {
              const match = pattern.exec(line)
              if (match !== null) return match
            }
            return undefined
          }, ms),
        exited: (ms = 30_000) => poll(`${command} to exit`, output, () => exit, ms),
        kill: (signal) => Effect.sync(() => void process_.kill(signal))
      }
      return { child, process_ }
    }),
    ({ process_ }) =>
      Effect.sync(() => {
        try {
          if (process_.pid !== undefined) process.kill(-process_.pid, "SIGKILL")
        } catch {
          // The group has already gone.
        }
      })
  ).pipe(Effect.map(({ child }) => child))
