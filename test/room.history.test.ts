/**
 * The demo room's file-backed history (examples/room/history.ts) against the `History.Service` contract: a restart
 * on the same file loses nothing and ids go on; an id older than what the file keeps is `Expired`, any other
 * unknown id `Unknown`; a line cut short by a crash, a refused write and an entry that cannot be written lose
 * nothing that was acknowledged. The last test runs the room's server on it over real sockets.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Scope } from "effect"
import { type History, Message, SseEvent } from "effect-sse"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Room from "../examples/room/app.js"
import * as RoomHistory from "../examples/room/history.js"
import * as Session from "../examples/session.js"
import { connect, listen, serve } from "./utils/http.js"
import { tempDirectory } from "./utils/temp.js"

const root = Path.join(import.meta.dirname, "..")

const historyFile = Effect.map(tempDirectory("effect-sse-room-history-"), (dir) => Path.join(dir, "history.jsonl"))

/** A log of a file store on `path`, open for the current scope (one "process"), and what it delivered. */
const openLog = (path: string, options: { readonly maxEntries?: number; readonly name?: string } = {}) =>
  Effect.gen(function*() {
    const store = yield* RoomHistory.makeFile({ path, maxEntries: options.maxEntries ?? 100 })
    const delivered: Array<History.Entry> = []
    const log = yield* store.open(options.name ?? "room", {
      onEntry: (entry) => delivered.push(entry),
      onGap: () => {}
    })
    const append = (target: string | undefined, data: string, id?: string) =>
      Effect.map(
        log.append([{ target, message: Message.make(id === undefined ? { data } : { data, id }) }]),
        ([entry]) => entry!
      )
    /** The data of what `since` replays; fails the test on a gap. */
    const replayed = (lastEventId: string, target = "someone") =>
      Effect.map(log.since(lastEventId, target), (replay) => {
        assert(replay._tag === "Replay", `a replay after ${lastEventId}, not ${JSON.stringify(replay)}`)
        return replay.entries.map((entry) => entry.message.data)
      })
    return { store, log, delivered, append, replayed }
  })

const lines = (path: string) => Fs.readFileSync(path, "utf8").split("\n").filter((line) => line !== "")

describe("room history in a file", () => {
  it.scoped("a restart on the same file loses nothing, replays the same frames, and ids go on", () =>
    Effect.gen(function*() {
      const path = yield* historyFile
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const history = yield* openLog(path)
        yield* history.append(undefined, "a")
        yield* history.append("ada", "for ada")
        yield* history.append(undefined, "the app's id", "mine")
        yield* history.log.append([
          { target: undefined, message: Message.make({ data: "d" }) },
          { target: "bob", message: Message.make({ data: "for bob" }) }
        ])
        return history.delivered
      }))
      expect(first.map((entry) => entry.message.id)).toEqual(["1", "2", "mine", "4", "5"])

      yield* Effect.scoped(Effect.gen(function*() {
        const history = yield* openLog(path)
        expect(yield* history.replayed("1", "ada")).toEqual(["for ada", "the app's id", "d"])
        expect(yield* history.replayed("1", "bob")).toEqual(["the app's id", "d", "for bob"])
        expect(yield* history.replayed("mine", "bob")).toEqual(["d", "for bob"])
        const replay = yield* history.log.since("1", "ada")
        assert(replay._tag === "Replay")
        expect(replay.cursor).toBe("5")
        // The very bytes the first run delivered.
        expect(replay.entries.map((entry) => entry.frame)).toEqual([first[1]!.frame, first[2]!.frame, first[3]!.frame])
        expect(history.log.keyOf("5")).toBe("5")
        expect(history.log.keyOf("6")).toBeUndefined()
        const next = yield* history.append(undefined, "after the restart")
        expect(next.message.id).toBe("6")
        expect(history.delivered).toEqual([next])
        expect(history.log.compare("6", "10")).toBeLessThan(0)
      }))

      yield* Effect.scoped(Effect.gen(function*() {
        const history = yield* openLog(path)
        expect(yield* history.replayed("5")).toEqual(["after the restart"])
        expect(yield* history.replayed("6")).toEqual([])
      }))
    }))

  it.scoped("an id older than what the file keeps has expired, before and after a restart; others are unknown", () =>
    Effect.gen(function*() {
      const path = yield* historyFile
      const answers = (maxEntries: number) =>
        Effect.scoped(Effect.gen(function*() {
          const history = yield* openLog(path, { maxEntries })
          return yield* Effect.forEach(
            ["1", "2", "3", "5", "6", "99", "007", "0", "-1", "abc", ""],
            (id) => Effect.map(history.log.since(id, "someone"), (replay) => replay._tag === "Gap" ? replay.reason : id)
          )
        }))
      yield* Effect.scoped(Effect.gen(function*() {
        const history = yield* openLog(path, { maxEntries: 3 })
        for (let i = 1; i <= 5; i++) yield* history.append(undefined, String(i))
        expect(yield* history.replayed("3")).toEqual(["4", "5"])
      }))
      const unknown = Array<string>(7).fill("Unknown")
      expect(yield* answers(3)).toEqual(["Expired", "Expired", "3", "5", ...unknown])
      // Kept with less room, the file gives up its oldest at start.
      expect(yield* answers(2)).toEqual(["Expired", "Expired", "Expired", "5", ...unknown])
      expect(lines(path)).toHaveLength(2)
    }))

  it.scoped("a line cut short by a crash is dropped at start, so what is appended next survives the next restart", () =>
    Effect.gen(function*() {
      const path = yield* historyFile
      yield* Effect.scoped(Effect.flatMap(openLog(path), (history) => history.append(undefined, "whole")))
      Fs.appendFileSync(path, `{"log":"room","key":"2","message":{"data":"cut sh`)

      yield* Effect.scoped(Effect.gen(function*() {
        const history = yield* openLog(path)
        expect(yield* history.replayed("1")).toEqual([])
        // "2" was never acknowledged to anyone: the counter goes on from the last whole line.
        expect((yield* history.append(undefined, "after the crash")).message.id).toBe("2")
      }))
      yield* Effect.scoped(Effect.gen(function*() {
        const history = yield* openLog(path)
        expect(yield* history.replayed("1")).toEqual(["after the crash"])
      }))
    }))

  it.scoped("logs of different names share the file, never an entry or a counter; a name is open once at a time", () =>
    Effect.gen(function*() {
      const path = yield* historyFile
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* RoomHistory.makeFile({ path, maxEntries: 10 })
        const subscriber = { onEntry: () => {}, onGap: () => {} }
        const room = yield* store.open("room", subscriber)
        const other = yield* store.open("other", subscriber)
        yield* room.append([{ target: undefined, message: Message.make({ data: "room 1" }) }])
        const [entry] = yield* other.append([{ target: undefined, message: Message.make({ data: "other 1" }) }])
        expect(entry!.message.id).toBe("1")
        yield* room.append([{ target: undefined, message: Message.make({ data: "room 2" }) }])

        const twice = yield* Effect.exit(Effect.scoped(store.open("room", subscriber)))
        assert(Exit.isFailure(twice))
        expect(Cause.pretty(twice.cause)).toContain(`the log "room" is already open`)
        // Once the first closes, the name can be opened again, with what it holds.
        const scope = yield* Scope.make()
        const again = yield* Scope.extend(store.open("again", subscriber), scope)
        yield* again.append([{ target: undefined, message: Message.make({ data: "again 1" }) }])
        yield* Scope.close(scope, Exit.void)
        const reopened = yield* store.open("again", subscriber)
        expect(yield* reopened.since("1", "x")).toMatchObject({ _tag: "Replay", entries: [], cursor: "1" })
      }))
      yield* Effect.scoped(Effect.gen(function*() {
        expect(yield* (yield* openLog(path, { name: "room" })).replayed("1")).toEqual(["room 2"])
        expect(yield* (yield* openLog(path, { name: "other" })).replayed("1")).toEqual([])
      }))
    }))

  it.scoped("the file stays bounded: it is rewritten once maxEntries lines were appended since", () =>
    Effect.gen(function*() {
      const path = yield* historyFile
      yield* Effect.scoped(Effect.gen(function*() {
        const history = yield* openLog(path, { maxEntries: 5 })
        for (let i = 1; i <= 23; i++) {
          yield* history.append(i % 2 === 0 ? "ada" : undefined, String(i))
          expect(lines(path).length).toBeLessThanOrEqual(10)
        }
      }))
      expect(Fs.readdirSync(Path.dirname(path))).toEqual(["history.jsonl"])
      yield* Effect.scoped(Effect.gen(function*() {
        const history = yield* openLog(path, { maxEntries: 5 })
        expect(yield* history.replayed("19", "ada")).toEqual(["20", "21", "22", "23"])
        expect(yield* history.log.since("18", "ada")).toEqual({ _tag: "Gap", reason: "Expired" })
        expect((yield* history.append(undefined, "24")).message.id).toBe("24")
      }))
    }))

  it.scoped("an entry that cannot be written fails with Encode, and nothing of its batch is kept or delivered", () =>
    Effect.gen(function*() {
      const path = yield* historyFile
      const history = yield* openLog(path)
      yield* history.append(undefined, "before")
      const before = Fs.readFileSync(path, "utf8")
      const error = yield* Effect.flip(history.log.append([
        { target: undefined, message: Message.make({ data: "fine" }) },
        { target: undefined, message: Message.make({ data: "bad", id: "a\nb" }) }
      ]))
      expect(error.reason).toBe("Encode")
      expect(Fs.readFileSync(path, "utf8")).toBe(before)
      expect(history.delivered.map((entry) => entry.message.data)).toEqual(["before"])
      expect(yield* history.replayed("1")).toEqual([])
      expect((yield* history.append(undefined, "after")).message.id).toBe("2")
    }))

  it.scopedLive("a write the disk refuses fails with Unavailable, and the file is cut back to its last whole entry", () =>
    Effect.gen(function*() {
      const path = yield* historyFile
      // A process whose files may not grow past 1 KiB (`ulimit -f 1`): a write that crosses it is cut short,
      // and the one after it refused (EFBIG). It appends 40-byte messages until refused and says what it got.
      const script = `
        import { Effect } from "effect"
        import { Message } from "effect-sse"
        const RoomHistory = await import(${JSON.stringify(Path.join(root, "examples/room/history.ts"))})
        const outcome = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
          const store = yield* RoomHistory.makeFile({ path: ${JSON.stringify(path)}, maxEntries: 1000 })
          const log = yield* store.open("room", { onEntry: () => {}, onGap: () => {} })
          for (let i = 1; i <= 100; i++) {
            const result = yield* Effect.either(log.append([{ target: undefined, message: Message.make({ data: "x".repeat(40) }) }]))
            if (result._tag === "Left") return { acknowledged: i - 1, reason: result.left.reason }
          }
          return { acknowledged: 100, reason: "none" }
        })))
        console.log(JSON.stringify(outcome))
      `
      const child = ChildProcess.spawnSync(
        "bash",
        ["-c", `ulimit -f 1 && exec "$0" --import tsx --input-type=module -e "$1"`, process.execPath, script],
        { cwd: root, encoding: "utf8", timeout: 30_000 }
      )
      expect(child.status, child.stderr).toBe(0)
      const outcome = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as { acknowledged: number; reason: string }
      expect(outcome.reason).toBe("Unavailable")
      expect(outcome.acknowledged).toBeGreaterThan(5)
      // Every line in the file is whole, and they are exactly the acknowledged appends.
      expect(Fs.readFileSync(path, "utf8").endsWith("\n")).toBe(true)
      expect(lines(path)).toHaveLength(outcome.acknowledged)
      const history = yield* openLog(path, { maxEntries: 1000 })
      expect(yield* history.replayed("1")).toHaveLength(outcome.acknowledged - 1)
      expect((yield* history.append(undefined, "next")).message.id).toBe(String(outcome.acknowledged + 1))
    }))

  it.scopedLive("the room's server on it: a restart replays over HTTP, and a page too far behind is told why", () =>
    Effect.gen(function*() {
      const path = yield* historyFile
      const secret = "room history test"
      const cookie = `session=${Session.make(secret).sign("ada")}`
      const start = Effect.gen(function*() {
        const { server, url } = yield* listen
        const sse = yield* RoomHistory.makeServer(Room.serverOptions(), {
          store: { _tag: "File", path },
          maxEntries: 6
        })
        yield* serve(server, Room.router({ secret })).pipe(Effect.provideService(Room.Room, sse))
        const say = (text: string) => Room.say("bob", text).pipe(Effect.provideService(Room.Room, sse))
        return { url, say }
      })
      const events = (url: string, lastEventId: string) =>
        connect(`${url}/events`, { headers: { cookie, "last-event-id": lastEventId } })

      // Each post is a chat to all and a notice to bob: "2" is bob's, "3" the second chat.
      yield* Effect.scoped(Effect.flatMap(start, (room) => Effect.zipRight(room.say("one"), room.say("two"))))
      const room = yield* start
      yield* room.say("three")

      const replayed = yield* events(room.url, "1")
      yield* replayed.waitFor("the replay", () => replayed.messages().some((message) => message.id === "5"))
      const chats = replayed.messages().filter((message) => message.event === "chat")
      expect(chats.map((message) => [message.id, JSON.parse(message.data).text])).toEqual([["3", "two"], [
        "5",
        "three"
      ]])

      // Four entries more push out what "1" to "4" named, the history keeping six.
      yield* room.say("four")
      yield* room.say("five")
      for (const [lastEventId, reason] of [["1", "Expired"], ["4", "Expired"], ["99", "Unknown"]] as const) {
        const client = yield* events(room.url, lastEventId)
        const gap = SseEvent.ReplayGap.name
        yield* client.waitFor("the gap", () => client.messages().some((message) => message.event === gap))
        const first = client.messages()[0]!
        expect(first.event).toBe(gap)
        expect(JSON.parse(first.data)).toEqual({ lastEventId, reason })
      }
    }))
})
