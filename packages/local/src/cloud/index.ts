/**
 * The local cloud: the whole Ticklake pipeline in one process. Exchange (live or the fake one) ->
 * the real ingest handler under the scheduler -> Firehose emulator -> filesystem lake emitting S3
 * events -> the real candle handler -> WebSocket gateway emulator and HTTP API -> the built page,
 * all on one port. `startCloud` is what `ticklake start` and the end-to-end tests run.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import type { S3Event } from 'aws-lambda'
import { firehoseStream } from '@ticklake/core/aws/firehose'
import { apigwPoster } from '@ticklake/core/aws/apigw'
import { broadcast } from '@ticklake/core/realtime/server'
import { candlesQuery, QueryInputError } from '@ticklake/core/query'
import type { ServerMessage } from '@ticklake/core/realtime'
import type { Exchange, Timeframe } from '@ticklake/core/market'
import { createIngestHandler } from '@ticklake/functions/ingest'
import { createCandlesHandler, hoursOf } from '@ticklake/functions/candles'
import { createRealtimeHandlers } from '@ticklake/functions/realtime'
import { createPricesHandler, type PricesConfig } from '@ticklake/functions/prices'
import { fileStore } from '../store/index'
import { startFirehose } from '../firehose/index'
import { schedule } from '../scheduler/index'
import { createGateway } from '../gateway/index'
import { memoryConnectionStore } from '../connections/index'
import { duckdbEngine } from '../duckdb/index'

export const defaults = {
  port: 8750,
  host: '127.0.0.1',
  dataDir: '.ticklake',
  symbols: ['BTC-USDT', 'ETH-USDT'],
  /** How long one ingest invocation runs (a Lambda's timeout in AWS). */
  ingestBudgetMs: 60_000,
  /** How far back a first run backfills from the exchange. */
  backfillMs: 3 * 3_600_000,
  webDist: fileURLToPath(new URL('../../../web/dist', import.meta.url)),
}

export interface CloudOptions extends Partial<typeof defaults> {
  exchange?: Exchange
  restUrl: string
  wsUrl: string
  /** `sim` when the exchange is the fake one (the page and the terminal say SIMULATED), `replay` when it plays a capture. */
  source: 'sim' | 'binance' | 'replay'
  firehoseBufferMs?: number
  /** CoinGecko polling into `bronze/prices/` (coins, currencies, baseUrl); none when absent. */
  prices?: PricesConfig
  /** Ingest settings beyond the backfill (tests and replays tune them). */
  ingest?: Partial<import('@ticklake/core/ingest').IngestOptions>
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

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
  res.end(JSON.stringify(body))
}

/** Starts everything; resolves once the page is served. */
export async function startCloud(opts: CloudOptions): Promise<Cloud> {
  const o = { ...defaults, ...opts }
  const log = opts.log ?? ((l: string) => console.log(l))
  const exchange = opts.exchange ?? 'binance'
  const dataDir = resolve(o.dataDir)
  const store = fileStore(dataDir)
  const firehose = await startFirehose(store, { bufferMs: opts.firehoseBufferMs, log, spoolDir: join(dataDir, '.firehose') })
  const connections = memoryConnectionStore()
  const abort = new AbortController()

  const server = createServer((req, res) => { void route(req, res).catch((e) => { log(`http error: ${e.message}`); if (!res.headersSent) json(res, 500, { error: 'internal error' }) }) })
  await new Promise<void>((r, j) => { server.once('error', j); server.listen(o.port, o.host, () => r()) })
  const port = (server.address() as AddressInfo).port
  const url = `http://${o.host}:${port}/`
  const poster = apigwPoster(`http://${o.host}:${port}`)
  const publish = (channel: string, message: ServerMessage) => broadcast({ store: connections, poster, channel, message })

  const realtime = createRealtimeHandlers({ store: connections, poster, objects: store })
  const gateway = createGateway({ routes: { $connect: realtime.connect, $disconnect: realtime.disconnect, subscribe: realtime.message, unsubscribe: realtime.message, ping: realtime.message, $default: realtime.message }, log })
  server.on('upgrade', (req, socket, head) => { if (!gateway.handleUpgrade(req, socket, head)) socket.destroy() })

  // The lake path: each bronze object triggers the candle handler; events for an hour that is
  // being recomputed are folded into one rerun (the handler recomputes whole hours anyway).
  const candles = createCandlesHandler({ store, publish })
  const busy = new Map<string, S3Event | null>()
  function onBronze(event: S3Event) {
    const key = hoursOf(event).map((h) => `${h.exchange}/${h.symbol}/${h.dt}/${h.hour}`).join(',')
    if (busy.has(key)) { busy.set(key, event); return }
    busy.set(key, null)
    void (async () => {
      for (let next: S3Event | null = event; next; next = busy.get(key) ?? null) {
        busy.set(key, null)
        await candles(next).catch((e) => log(`candles handler failed: ${e.message}`))
      }
      busy.delete(key)
    })()
  }
  store.notify({ prefix: 'bronze/trades/', suffix: '.parquet', handler: onBronze })

  const ingest = createIngestHandler(
    { exchange, restUrl: o.restUrl, wsUrl: o.wsUrl, symbols: o.symbols, quotes: true, ...opts.ingest, settings: { initialBackfillMs: o.backfillMs, ...opts.ingest?.settings } },
    { store, stream: firehoseStream(firehose.streamName, firehose.endpoint), quoteStream: firehoseStream('ticklake-quotes', firehose.endpoint), publish, log, signal: abort.signal },
  )
  const scheduler = schedule('ticklake-ingest', ingest, { budgetMs: o.ingestBudgetMs, log })
  // a failed poll (bad key or ids) is retried after a minute, as the schedule would in AWS
  const prices = opts.prices && schedule('ticklake-prices', createPricesHandler(opts.prices, { store, signal: abort.signal, log }), { budgetMs: o.ingestBudgetMs, retryMs: 60_000, log })

  async function route(req: IncomingMessage, res: ServerResponse) {
    if (await gateway.handleManagement(req, res)) return
    const u = new URL(req.url ?? '/', url)
    if (u.pathname === '/api/health') {
      return json(res, 200, { ok: true, source: opts.source, simulated: opts.source === 'sim', exchange, symbols: o.symbols, ws: '/ws', connections: gateway.connections(), firehose: firehose.stats(), ingest_runs: scheduler.runs() })
    }
    if (u.pathname === '/api/candles') {
      const q = u.searchParams
      const iso = (s: string | null) => (s ? Date.parse(s) : undefined)
      try {
        const st = candlesQuery({ exchange: q.get('exchange') ?? exchange, symbol: q.get('symbol') ?? '', tf: (q.get('tf') ?? '1m') as Timeframe, from: iso(q.get('from')), to: iso(q.get('to')), limit: q.has('limit') ? Number(q.get('limit')) : undefined })
        const engine = await duckdbEngine(dataDir)
        try { return json(res, 200, await engine.query(st)) } finally { engine.close() }
      } catch (e: any) {
        if (e instanceof QueryInputError) return json(res, 400, { error: e.message })
        throw e
      }
    }
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

  const idle = async () => { while (busy.size) await new Promise((r) => setTimeout(r, 50)) }
  return {
    url, port, dataDir, idle,
    async close() {
      abort.abort()
      await scheduler.stop()
      await prices?.stop()
      await firehose.close()
      await gateway.close()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
      await idle()
    },
  }
}
