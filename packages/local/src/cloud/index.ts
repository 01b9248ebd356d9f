/**
 * The local cloud: the whole Ticklake pipeline in one process. Exchanges (each live or its fake one)
 * -> the real ingest handler under the scheduler, one run per exchange (`sources`) -> one Firehose
 * emulator -> filesystem lake emitting S3 events -> the real candle and feature handlers -> WebSocket gateway emulator and HTTP API -> the built page,
 * all on one port; on a timer, the lake path (on its own thread in `ticklake start`, with its own store) compacts the bronze of closed hours (and, with `keepBronzeMs`,
 * deleted past that age). `startCloud` is what `ticklake start` and the end-to-end tests run.
 */
import { Agent as HttpAgent, createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { randomBytes } from 'node:crypto'
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, extname, join, normalize, resolve } from 'node:path'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { firehoseStream } from '@ticklake/core/aws/firehose'
import { apigwPoster } from '@ticklake/core/aws/apigw'
import { clientConfig } from '@ticklake/core/aws/config'
import { broadcast } from '@ticklake/core/serve/realtime/server'
import type { ServerMessage } from '@ticklake/core/serve/realtime'
import { isSimulated, simulatedOf, type Exchange } from '@ticklake/core/market'
import { venueFor, type CoinbaseFeed } from '@ticklake/core/sources/venues'
import { createIngestHandler } from '@ticklake/functions/ingest'
import { createRealtimeHandlers } from '@ticklake/functions/realtime'
import { createPricesHandler, type PricesConfig } from '@ticklake/functions/prices'
import { moveOldCandleFiles } from '@ticklake/core/lake/candles'
import type { ObjectStore } from '@ticklake/core/ports'
import { fileStore } from '../store/index'
import { startLake, startLakeThread } from './lake'
import { schedule } from '../scheduler/index'
import { createGateway } from '../gateway/index'
import { memoryConnectionStore } from '../connections/index'
import { localApiHandler, serveHttpEvent } from '../api/index'
import { defaults as compactDefaults } from '../compact/index'
import { defaults as layoutDefaults } from '@ticklake/core/lake/layout'

export const defaults = {
  port: 8750,
  host: '127.0.0.1',
  dataDir: '.ticklake',
  symbols: ['BTC-USDT', 'ETH-USDT'],
  /** How long one ingest invocation runs (a Lambda's timeout in AWS). */
  ingestBudgetMs: 60_000,
  /**
   * The batching window of the features queue, as in AWS (core's `defaults.featuresQueue`): the
   * events of 30 s run each hour's features once (an hour's run costs more the later in the hour,
   * and each bronze object made two of them). Tests that wait for features set a small one.
   */
  featuresWindowMs: layoutDefaults.featuresQueue.windowSeconds * 1000,
  /**
   * Run the lake path (Firehose emulator, candle, silver and features jobs) in a worker thread, so
   * its Parquet work never holds the live path's event loop (`ticklake start` does).
   */
  lakeThread: false,
  /** How far back a first run backfills from the exchange. */
  backfillMs: 3 * 3_600_000,
  /** How often the bronze of closed hours is compacted (`../compact`); 0 turns it off. */
  compactEveryMs: compactDefaults.everyMs,
  // found through the workspace's package, so the same from the sources and from the bundle
  webDist: join(dirname(createRequire(import.meta.url).resolve('@ticklake/web/package.json')), 'dist'),
}

/** Where one exchange's trades come from: `sim` when it is its fake one (the page and the terminal say SIMULATED), `replay` when it plays a capture. */
export type SourceKind = 'sim' | 'binance' | 'coinbase' | 'replay'

/** One exchange the cloud ingests, in its own ingest run. */
export interface CloudSource {
  /** The venue; with `source: 'sim'` its simulated name is used (`binance` runs as `sim-binance`). */
  exchange: Exchange
  source: SourceKind
  restUrl: string
  wsUrl: string
  symbols: string[]
  /** Coinbase's feed (default `advanced-trade`; `exchange` reads the legacy ws-feed at `wsUrl`). */
  feed?: CoinbaseFeed
}

export interface CloudOptions extends Partial<typeof defaults> {
  /**
   * The exchanges ingested, each in its own ingest run beside the others (one Firehose emulator,
   * one lake, one gateway, one API). Without it, the one exchange the options below name.
   */
  sources?: CloudSource[]
  /** The venue ingested (default binance). With `source: 'sim'` its simulated name is used (`binance` runs as `sim-binance`). */
  exchange?: Exchange
  restUrl?: string
  wsUrl?: string
  /** `sim` when the exchange is the fake one (the page and the terminal say SIMULATED), `replay` when it plays a capture. */
  source?: SourceKind
  firehoseBufferMs?: number
  /**
   * How frames reach subscribers (live updates and the handlers' answers): `direct` (default) posts
   * in-process through the gateway (`gateway.poster()`: the same answers as the management API,
   * `ok` or `gone`, and the same send budget), which serves a thousand subscribers at 1,000
   * trades/s; `sdk` posts each through the management API over HTTP with the real SDK client, as
   * in AWS (a few thousand posts a second at most here: every post is a signed HTTP request).
   */
  fanout?: 'sdk' | 'direct'
  /** `false` leaves the features job out (it shares this process's event loop with the live path). */
  features?: boolean
  /** CoinGecko polling into `bronze/prices/` (coins, currencies, baseUrl); none when absent. */
  prices?: PricesConfig
  /** Deletes compacted bronze of hours older than this (ms; `ticklake start --keep-bronze 7d`); gold and silver stay. Kept forever when absent. */
  keepBronzeMs?: number
  /** Ingest settings beyond the backfill (tests and replays tune them). */
  ingest?: Partial<import('@ticklake/core/sources/ingest').IngestOptions>
  log?: (line: string) => void
}


export interface Cloud {
  url: string
  port: number
  dataDir: string
  /** Resolves once no candle job is running or waiting. */
  idle(): Promise<void>
  close(): Promise<void>
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon' }

/** True when every `%` of a URL starts a sequence that decodes (UTF-8 included). */
function wellEncoded(url: string) {
  try { decodeURIComponent(url); return true } catch { return false }
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
  res.end(JSON.stringify(body))
}

/**
 * Brings a lake written by an older ticklake to today's layout (`moveOldCandleFiles`: the 4h and 1d
 * gold files of before issue 10) and says what it did in one line, only when it did something.
 * Run before anything reads or writes candles: `ticklake start` and the commands that read the lake.
 */
export async function upgradeLake(store: ObjectStore, log: (line: string) => void) {
  const r = await moveOldCandleFiles(store)
  if (r.moved.length + r.merged.length) log(`moved ${r.moved.length + r.merged.length} gold candle file(s) of the old layout to gold/candles/.../tf=T/dt=D/ (${r.merged.length} merged into newer files)`)
  for (const f of r.failed) log(`left ${f.key} where it is, unreadable as candles: ${f.error}`)
  return r
}

/**
 * The exchanges a cloud ingests (`sources`, or the one exchange of the single-source options),
 * each under the name it writes: simulated trades never take a market venue's name, so its
 * partitions, checkpoints and channels stay market data.
 */
export function cloudSources(opts: CloudOptions): CloudSource[] {
  const list = opts.sources ?? (opts.restUrl && opts.wsUrl && opts.source ? [{ exchange: opts.exchange ?? 'binance', source: opts.source, restUrl: opts.restUrl, wsUrl: opts.wsUrl, symbols: opts.symbols ?? defaults.symbols }] : [])
  if (!list.length) throw new Error('startCloud: name the exchanges to ingest (sources), or one with source, restUrl and wsUrl')
  const named = list.map((s) => ({ ...s, exchange: s.source === 'sim' ? simulatedOf(s.exchange) : s.exchange }))
  const twice = named.find((s, i) => named.findIndex((x) => x.exchange === s.exchange) !== i)
  if (twice) throw new Error(`startCloud: ${twice.exchange} is ingested twice (two runs would race for its checkpoints)`)
  return named
}

/** Starts everything; resolves once the page is served. */
export async function startCloud(opts: CloudOptions): Promise<Cloud> {
  const o = { ...defaults, ...opts }
  const log = opts.log ?? ((l: string) => console.log(l))
  const sources = cloudSources(opts)
  // the first source is the one the page opens on (health's exchange, symbols and source)
  const { exchange, symbols: firstSymbols } = sources[0]
  const simulated = isSimulated(exchange)
  const dataDir = resolve(o.dataDir)
  const store = fileStore(dataDir)
  await upgradeLake(store, log)
  const connections = memoryConnectionStore()
  const abort = new AbortController()
  // How long this thread's event loop keeps timers waiting (the live path's own delay), over the last 10 s, for /api/health.
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  let loopShown = { p50: 0, p99: 0, max: 0 }
  const loopTimer = setInterval(() => { loopShown = { p50: Math.round(loop.percentile(50) / 1e6), p99: Math.round(loop.percentile(99) / 1e6), max: Math.round(loop.max / 1e6) }; loop.reset() }, 10_000)
  loopTimer.unref()
  const loopDelay = () => loopShown

  const server = createServer((req, res) => { void route(req, res).catch((e) => { log(`http error: ${e.message}`); if (!res.headersSent) json(res, 500, { error: 'internal error' }) }) })
  // a port in use ends the start here: nothing opened so far may keep the process alive
  await new Promise<void>((r, j) => { server.once('error', j); server.listen(o.port, o.host, () => r()) })
  const port = (server.address() as AddressInfo).port
  const url = `http://${o.host}:${port}/`
  // The management API answers only this run's own credentials (checked by SigV4 signature).
  const credentials = { accessKeyId: `TICKLAKE${randomBytes(6).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(24).toString('base64') }
  const endpoint = `http://${o.host}:${port}`
  // keep-alive sockets enough for a broadcast's posts in flight (the SDK's default pool holds 50)
  const poster = apigwPoster(endpoint, new ApiGatewayManagementApiClient({ ...clientConfig(endpoint), credentials, maxAttempts: 1, requestHandler: { httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 256 }) } }))
  const fanout = () => (opts.fanout === 'sdk' ? poster : direct)
  const publish = (channel: string, message: ServerMessage) => broadcast({ store: connections, poster: fanout(), channel, message })

  const realtime = createRealtimeHandlers({ store: connections, poster: { post: (id, data) => fanout().post(id, data), deleteConnection: (id) => poster.deleteConnection(id) }, objects: store })
  const gateway = createGateway({ routes: { $connect: realtime.connect, $disconnect: realtime.disconnect, subscribe: realtime.message, unsubscribe: realtime.message, ping: realtime.message, $default: realtime.message }, credentials, log })
  const direct = gateway.poster()
  server.on('upgrade', (req, socket, head) => { if (!gateway.handleUpgrade(req, socket, head)) socket.destroy() })

  // The lake path (Firehose emulator, candle, silver and features jobs), here or in its own thread.
  const lake = await (o.lakeThread ? startLakeThread : startLake)({ dataDir, firehoseBufferMs: opts.firehoseBufferMs, features: opts.features, featuresWindowMs: o.featuresWindowMs, compactEveryMs: o.compactEveryMs, keepBronzeMs: opts.keepBronzeMs }, publish, log)
    .catch(async (e: unknown) => { await gateway.close(); server.closeAllConnections(); await new Promise((r) => server.close(r)); throw e })

  // one delivery-stream client for the trades, shared by ingest and POST /api/ingest
  const trades = firehoseStream(lake.streamName, lake.endpoint)
  const quotes = firehoseStream('ticklake-quotes', lake.endpoint)
  // one ingest run per exchange, as one scheduled function per exchange in AWS; a single source keeps its old name
  const schedulers = sources.map((s) => {
    const venue = s.feed === 'exchange' ? venueFor({ exchange: s.exchange, restUrl: s.restUrl, wsUrl: s.wsUrl, symbols: s.symbols, quotes: true }, s.feed) : undefined
    const ingest = createIngestHandler(
      { exchange: s.exchange, restUrl: s.restUrl, wsUrl: s.wsUrl, symbols: s.symbols, quotes: true, ...(venue && { venue }), ...opts.ingest, settings: { initialBackfillMs: o.backfillMs, ...opts.ingest?.settings } },
      { store, stream: trades, quoteStream: quotes, publish, log: sources.length > 1 ? (l) => log(`${s.exchange}: ${l}`) : log, signal: abort.signal },
    )
    return schedule(sources.length > 1 ? `ticklake-ingest-${s.exchange}` : 'ticklake-ingest', ingest, { budgetMs: o.ingestBudgetMs, log })
  })
  // a failed poll (bad key or ids) is retried after a minute, as the schedule would in AWS
  const prices = opts.prices && schedule('ticklake-prices', createPricesHandler(opts.prices, { store, signal: abort.signal, log }), { budgetMs: o.ingestBudgetMs, retryMs: 60_000, log })

  const api = await localApiHandler({
    dataDir, store, stream: trades, exchange, log,
    health: async () => ({
      source: sources[0].source, simulated, exchange, symbols: firstSymbols, ws: '/ws', connections: gateway.connections(), firehose: await lake.stats(),
      ingest_runs: schedulers.reduce((n, x) => n + x.runs(), 0), event_loop_ms: loopDelay(),
      // every exchange ingested, each live or simulated on its own
      sources: sources.map((s, i) => ({ exchange: s.exchange, source: s.source, simulated: isSimulated(s.exchange), symbols: s.symbols, ...(s.feed && { feed: s.feed }), ingest_runs: schedulers[i].runs() })),
    }),
  })

  async function route(req: IncomingMessage, res: ServerResponse) {
    if (await gateway.handleManagement(req, res)) return
    const u = new URL(req.url ?? '/', url)
    // A path or query of malformed percent-encoding is the client's error, wherever it is sent
    if (!wellEncoded(req.url ?? '/')) { req.resume(); return json(res, 400, { error: 'the request URL is not valid percent-encoding' }) }
    // The HTTP API: the real handler of @ticklake/functions/api, given API Gateway HTTP API events
    if (u.pathname.startsWith('/api/')) return serveHttpEvent(api.handler, req, res, api.preflight)
    if (u.pathname.startsWith('/serving/')) {
      const body = await store.get(decodeURIComponent(u.pathname.slice(1))).catch(() => undefined)
      if (!body) return json(res, 404, { error: 'not found' })
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      return res.end(body)
    }
    return serveStatic(u.pathname, res)
  }

  async function serveStatic(pathname: string, res: ServerResponse) {
    if (!existsSync(join(o.webDist, 'index.html'))) {
      res.writeHead(503, { 'content-type': 'text/plain' })
      return res.end('The page is not built: run `npm run build:web` (npm start does it for you).\n')
    }
    const file = normalize(join(o.webDist, decodeURIComponent(pathname)))
    const inside = file.startsWith(o.webDist) && extname(file) !== ''
    const path = inside && existsSync(file) ? file : join(o.webDist, 'index.html')
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'cache-control': path.endsWith('index.html') ? 'no-store' : 'public, max-age=3600' })
    res.end(await readFile(path))
  }

  return {
    url, port, dataDir, idle: () => lake.idle(),
    async close() {
      abort.abort()
      await Promise.all([...schedulers.map((x) => x.stop()), prices?.stop()])
      await lake.close()
      await gateway.close()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
      loop.disable()
      clearInterval(loopTimer)
      api.close()
    },
  }
}
