import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: {
    alias: [
      { find: /^effect-sse$/, replacement: fileURLToPath(new URL("./src/index.ts", import.meta.url)) },
      { find: /^effect-sse\/(.*)$/, replacement: fileURLToPath(new URL("./src/$1.ts", import.meta.url)) }
    ]
  },
  test: {
    testTimeout: 60_000,
    // The leak tests read the heap after a forced collection.
    poolOptions: { forks: { execArgv: ["--expose-gc"] } },
    hookTimeout: 30_000,
    projects: [
      // Every test, with the server on the Node fast path (test/utils/sse.ts).
      { extends: true, test: { name: "node", include: ["test/**/*.test.ts"] } },
      // The server's tests again on the portable writer: the Stream body every other platform takes.
      {
        extends: true,
        test: {
          name: "portable",
          include: ["test/SseServer*.test.ts", "test/History.test.ts"],
          env: { SSE_WRITER: "portable" }
        }
      }
    ]
  }
})
