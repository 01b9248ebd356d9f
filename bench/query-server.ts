/**
 * The local API server alone, for `bench/queries.ts`: the real local HTTP API (the middy handler,
 * core's routes and cache, the DuckDB engine with its defaults) over the lake folder given as the
 * first argument, on a free loopback port that it prints as `port <n>`. Runs until killed.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileStore } from '../packages/local/src/store/index'
import { localApiHandler, serveHttpEvent } from '../packages/local/src/api/index'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
const dir = process.argv[2]
const api = await localApiHandler({ dataDir: dir, store: fileStore(dir), log: (l) => { if (l.startsWith('api error')) console.error(l) } })
const server = createServer((req, res) => { void serveHttpEvent(api.handler, req, res) })
server.listen(0, '127.0.0.1', () => console.log(`port ${(server.address() as AddressInfo).port}`))
