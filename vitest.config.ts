import { availableParallelism } from 'node:os'
import { configDefaults, defineConfig } from 'vitest/config'

const tests = ['packages/*/src/**/*.test.ts', 'stacks/*.test.ts']

/**
 * The slow part, run by `npm test` only: browser tests, `ticklake start` and other spawned
 * processes, the local cloud and the lake path end to end (real handlers, DuckDB, servers), runs
 * that wait out ingest budgets or play recordings at recorded speed, and load. Everything else is
 * `unit`, one module's logic in memory or on loopback: `npm run test:unit` runs it alone in under a
 * minute on a quiet 2-core machine. A new test that takes seconds belongs in this list.
 */
const e2e = [
  'packages/web/src/*page.test.ts', 'packages/web/src/cloud.test.ts', // Chromium
  'packages/local/src/cli/start.test.ts', 'packages/local/src/cli/lock.test.ts', // spawned processes
  'packages/local/src/cloud/*.test.ts', // the local cloud; ticklake start killed and restarted
  'packages/local/src/api/*.test.ts', // the HTTP API over DuckDB and a lake, the CLI spawned
  'packages/local/src/gateway/*.test.ts', // the WebSocket gateway with real clients, hostile, slow and many
  'packages/local/src/exchange/faults.test.ts', 'packages/local/src/exchange/catchup.test.ts', 'packages/local/src/exchange/stall.test.ts', 'packages/local/src/exchange/sim.test.ts', 'packages/local/src/exchange/many.test.ts', // ingest budgets waited out
  'packages/local/src/replay/*.test.ts', 'packages/local/src/import/*.test.ts', 'packages/local/src/compact/*.test.ts', // recordings, archives and hours through the lake path
  'packages/local/src/firehose/aws-path.test.ts', 'packages/local/src/firehose/limits.test.ts', 'packages/local/src/duckdb/engine.test.ts', // the lake path end to end; DuckDB under load
]

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // the SDK clients here talk to local stand-ins; its Node-version notice is for Lambda's runtime
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    reporters: ['default', './vitest.summary.ts'],
    // unit first, on every core (vitest leaves one free by default); then e2e, whose timing wants that free core
    projects: [
      { extends: true, test: { name: 'unit', include: tests, exclude: [...configDefaults.exclude, ...e2e], maxWorkers: availableParallelism(), sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'e2e', include: e2e, sequence: { groupOrder: 1 } } },
    ],
  },
})
