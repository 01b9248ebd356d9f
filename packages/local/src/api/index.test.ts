/**
 * The HTTP API end to end on the local adapters: real HTTP requests -> API Gateway v2 events ->
 * the middy handler of @ticklake/functions/api -> core's routes -> DuckDB over a temporary lake
 * (one day of 1m candles, recent bronze trades, a gap, a DLQ file), and POST /api/ingest through
 * the Firehose emulator into bronze Parquet.
 */
import { createServer, type Server } from 'node:http'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ROUTES, addApiKey, objectKeyStore } from '@ticklake/core/serve/api'
import { schemaProblems } from './conforms'
import { recordGap, recordStall } from '@ticklake/core/lake/quality'
import { writeParquet } from '@ticklake/core/lake/parquet'
import { firehoseStream } from '@ticklake/core/aws/firehose'
import type { Candle } from '@ticklake/core/market'
import { CANDLE_FEATURE_COLUMNS } from '@ticklake/core/lake/features'
import { goldCandleFeaturesKey } from '@ticklake/core/lake/layout'
import { fileStore } from '../store/index'
import { startFirehose, type FirehoseEmulator } from '../firehose/index'
import { localApiHandler, serveHttpEvent } from './index'
import { writeBronzeTrades, writeDayOfCandles } from '../../test/fixture'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const NOW = Date.parse('2026-11-25T00:00:30Z')
const DAY = '2026-11-24'
let dir: string
let server: Server
let base: string
let firehose: FirehoseEmulator
let api: Awaited<ReturnType<typeof localApiHandler>>
let candles: Candle[]
let key: string
const logs: string[] = []
const store = () => fileStore(dir)

async function get(path: string) {
  const res = await fetch(base + path)
  return { status: res.status, body: await res.json() as any, headers: res.headers }
}
async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })
  return { status: res.status, body: await res.json() as any, headers: res.headers }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ticklake-api-'))
  candles = await writeDayOfCandles(store(), { exchange: 'binance', symbol: 'BTC-USDT', day: DAY })
  await writeBronzeTrades(store(), { exchange: 'binance', symbol: 'BTC-USDT', endMs: NOW - 2_000, n: 30 })
  await recordGap(store(), { exchange: 'binance', symbol: 'BTC-USDT', kind: 'filled', from_id: 10, to_id: 20, detected_at: NOW - 60_000, reason: 'id jump' })
  await recordGap(store(), { exchange: 'binance', symbol: 'BTC-USDT', kind: 'unfillable', from_id: 30, to_id: 40, detected_at: NOW - 50_000, reason: 'gone' })
  await recordStall(store(), { exchange: 'binance', symbol: 'BTC-USDT', since: NOW - 40_000, detected_at: NOW - 25_000, reason: 'no trade on the stream', fetched: 3 })
  await recordStall(store(), { exchange: 'binance', symbol: 'BTC-USDT', since: NOW - 300_000, detected_at: NOW - 280_000, resumed_at: NOW - 200_000, reason: 'over', fetched: 0 })
  await store().put('dlq/binance/dt=2026-11-24/x.jsonl', '{"why":"bad frame"}\n')
  key = (await addApiKey(store(), 'test-feed', ['myfeed'])).key
  firehose = await startFirehose(store(), { bufferMs: 100_000, spoolDir: join(dir, '.firehose'), log: () => {} })
  api = await localApiHandler({ dataDir: dir, store: store(), stream: firehoseStream(firehose.streamName, firehose.endpoint), clock: { now: () => NOW }, log: (l) => logs.push(l), rate: { perSecond: 0.5, burst: 6 }, keys: objectKeyStore(store(), undefined, 100) })
  server = createServer((req, res) => { void serveHttpEvent(api.handler, req, res, api.preflight) })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise((r) => server?.close(r))
  await firehose?.close()
  api?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A valid query for each GET route. */
const VALID: Record<string, string> = {
  '/api/health': '', '/api/symbols': '', '/api/status': '', '/api/cache/stats': '', '/api/openapi.json': '',
  '/api/candles': `symbol=BTC-USDT&from=${DAY}T00:00:00Z&to=2026-11-25T00:00:00Z`,
  '/api/latest': 'exchange=binance&symbol=BTC-USDT',
  '/api/statistics': 'symbol=BTC-USDT&hours=24',
  '/api/features': 'kind=candles&symbol=BTC-USDT',
}

describe('HTTP API routes', () => {
  it('documents every route and every parameter of the route table in /api/openapi.json', async () => {
    const { status, body } = await get('/api/openapi.json')
    expect(status).toBe(200)
    expect(body.openapi).toBe('3.1.0')
    for (const r of ROUTES) {
      const op = body.paths[r.path]?.[r.method.toLowerCase()]
      expect(op, `${r.method} ${r.path}`).toBeDefined()
      expect(op.parameters.map((p: any) => p.name)).toEqual(r.params.map((p) => p.name))
      expect(op.responses['200'].content['application/json'].schema).toEqual(r.response)
    }
    expect(Object.keys(body.paths).sort()).toEqual([...new Set(ROUTES.map((r) => r.path))].sort())
    expect(body.paths['/api/ingest'].post.security).toEqual([{ apiKey: [] }])
  })

  it('answers every GET route with a body that conforms to its documented schema', async () => {
    for (const r of ROUTES.filter((x) => x.method === 'GET')) {
      const { status, body } = await get(`${r.path}?${VALID[r.path]}`)
      expect(status, r.path).toBe(200)
      expect(schemaProblems(r.response, body), r.path).toEqual([])
    }
  })

  it('answers a day of 1m candles oldest first, [from, to), the newest `limit` without from, and a lowercase symbol alike', async () => {
    const day = await get(`/api/candles?${VALID['/api/candles']}`)
    expect(day.body.count).toBe(1440)
    expect(day.body.candles[0]).toEqual({ ...candles[0], open_time: new Date(candles[0].open_time).toISOString(), close_time: new Date(candles[0].close_time).toISOString() })
    expect(day.body.candles.at(-1).open_time).toBe('2026-11-24T23:59:00.000Z')
    const some = await get('/api/candles?symbol=btc-usdt&tf=1m&from=2026-11-24T10:00:00Z&to=2026-11-24T10:03:00Z')
    expect(some.body.candles.map((c: any) => c.open_time)).toEqual(['2026-11-24T10:00:00.000Z', '2026-11-24T10:01:00.000Z', '2026-11-24T10:02:00.000Z'])
    const newest = await get('/api/candles?symbol=BTC-USDT&limit=2')
    expect(newest.body.candles.map((c: any) => c.open_time)).toEqual(['2026-11-24T23:58:00.000Z', '2026-11-24T23:59:00.000Z'])
    const epoch = await get(`/api/candles?symbol=BTC-USDT&from=${Date.parse('2026-11-24T10:00:00Z')}&limit=1`)
    expect(epoch.body.candles[0].open_time).toBe('2026-11-24T10:00:00.000Z')
  })

  it('computes statistics over the last hours from the 1m candles', async () => {
    const { body } = await get('/api/statistics?symbol=BTC-USDT&hours=24')
    const volume = candles.reduce((a, c) => a + c.volume, 0)
    const quote = candles.reduce((a, c) => a + c.quote_volume, 0)
    expect(body.count).toBe(candles.reduce((a, c) => a + c.trades, 0))
    expect(body.candles).toBe(1440)
    expect(body.min).toBe(Math.min(...candles.map((c) => c.low)))
    expect(body.max).toBe(Math.max(...candles.map((c) => c.high)))
    expect(body.first).toBe(candles[0].open)
    expect(body.last).toBe(candles[1439].close)
    expect(body.volume).toBeCloseTo(volume, 6)
    expect(body.avg).toBeCloseTo(quote / volume, 6)
    expect(body.change_pct).toBeCloseTo((candles[1439].close - candles[0].open) / candles[0].open * 100, 9)
    const hour = await get('/api/statistics?symbol=BTC-USDT&hours=1')
    expect(hour.body.candles).toBe(60)
    const none = await get('/api/statistics?symbol=ETH-USDT')
    expect(none.body).toMatchObject({ candles: 0, count: 0, volume: 0, avg: null, first: null, change_pct: null })
  })

  it('answers the newest trade with its age, and null for a symbol without trades', async () => {
    const { body } = await get('/api/latest?symbol=BTC-USDT')
    expect(body.trade).toMatchObject({ exchange: 'binance', symbol: 'BTC-USDT', trade_id: 529, price: 129, side: 'sell', ts: new Date(NOW - 2_000).toISOString() })
    expect(body.age_ms).toBe(2_000)
    expect((await get('/api/latest?symbol=ETH-USDT')).body).toEqual({ exchange: 'binance', symbol: 'ETH-USDT', trade: null, age_ms: null })
  })

  it('lists symbols and reports status per source: last trade, lag, rate, gaps, open stalls, DLQ and lake freshness', async () => {
    expect((await get('/api/symbols')).body.symbols).toEqual([{ exchange: 'binance', symbol: 'BTC-USDT', first_candle: '2026-11-24T00:00:00.000Z', last_candle: '2026-11-24T23:59:00.000Z', candles: 1440 }])
    const { body } = await get('/api/status')
    expect(body.sources).toEqual([{
      exchange: 'binance', symbol: 'BTC-USDT', source: 'ws', last_trade_time: new Date(NOW - 2_000).toISOString(), last_ingest_time: new Date(NOW - 2_000 + 20).toISOString(),
      lag_ms: 2_000, ingest_rate_per_s: 0.1, records_24h: 30, gaps: { found: 2, filled: 1, deferred: 0, unfillable: 1 }, simulated: false, stalled: true,
    }])
    // the stall in course only, not the one that resumed
    expect(body.stalls).toEqual([{ exchange: 'binance', symbol: 'BTC-USDT', since: new Date(NOW - 40_000).toISOString(), detected_at: new Date(NOW - 25_000).toISOString(), reason: 'no trade on the stream', fetched: 3 }])
    expect(body.dlq).toEqual({ files: 1, by_source: { binance: 1 }, conversion_errors: 0 })
    expect(body.lake.newest_gold_key).toMatch(/^gold\/candles\/exchange=binance\/symbol=BTC-USDT\/tf=1m\/dt=2026-11-24\/hour=\d\d\.parquet$/)
  })

  it('answers an empty feature list until feature files exist, then their rows', async () => {
    const empty = await get('/api/features?kind=trades&symbol=BTC-USDT')
    expect(empty.status).toBe(200)
    expect(empty.body).toEqual({ kind: 'trades', exchange: 'binance', symbol: 'BTC-USDT', count: 0, rows: [] })
    expect((await get('/api/features?symbol=BTC-USDT')).body.rows).toEqual([])
    // a candle-features file as the features job writes it (columns of CANDLE_FEATURE_COLUMNS)
    const rows = candles.slice(0, 3).map((c, i) => Object.fromEntries(CANDLE_FEATURE_COLUMNS.map((col) => [col.name, col.name === 'exchange' ? 'binance' : col.name === 'symbol' ? 'BTC-USDT' : col.name === 'open_time' ? c.open_time : col.name === 'final' ? true : col.name === 'rsi_14' ? 40 + i : col.type === 'DOUBLE' ? c.close : 1])))
    await store().put(goldCandleFeaturesKey('binance', 'BTC-USDT', '2026-11-24', '00'), writeParquet(CANDLE_FEATURE_COLUMNS as any, rows))
    const some = await get('/api/features?kind=candles&symbol=BTC-USDT&from=2026-11-24T00:00:00Z&to=2026-11-24T00:02:00Z')
    expect(some.body.rows.map((r: any) => [r.open_time, r.rsi_14, r.close])).toEqual([['2026-11-24T00:00:00.000Z', 40, candles[0].close], ['2026-11-24T00:01:00.000Z', 41, candles[1].close]])
    expect(Object.keys(some.body.rows[0])).toEqual(CANDLE_FEATURE_COLUMNS.map((c) => c.name))
  })

  it('answers many different queries at once on one DuckDB connection', async () => {
    const hours = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, '0'))
    const answers = await Promise.all(hours.map((h) => get(`/api/candles?symbol=BTC-USDT&from=2026-11-24T${h}:00:00Z&to=2026-11-24T${h}:30:00Z`)))
    expect(answers.map((a) => [a.status, a.body.count, a.body.candles[0].open_time])).toEqual(hours.map((h) => [200, 30, `2026-11-24T${h}:00:00.000Z`]))
  })

  it('serves repeated queries from the TTL cache and shows hits and misses per query type', async () => {
    const before = (await get('/api/cache/stats')).body.types.candles
    const q = '/api/candles?symbol=BTC-USDT&from=2026-11-24T05:00:00Z&to=2026-11-24T06:00:00Z'
    await get(q)
    await get(q)
    await get('/api/candles?to=2026-11-24T06:00:00Z&from=2026-11-24T05:00:00Z&symbol=btc-usdt&tf=1m&exchange=binance')
    const after = (await get('/api/cache/stats')).body
    expect(after.types.candles.misses - before.misses).toBe(1)
    expect(after.types.candles.hits - before.hits).toBe(2)
    expect(after.types.latest.ttl_ms).toBeLessThan(10_000)
    expect(after.types.candles.ttl_ms).toBeGreaterThanOrEqual(60_000)
    expect(after.total.hit_rate).toBeGreaterThan(0)
  })
})

describe('HTTP API input validation', () => {
  const cases: [string, RegExp][] = [
    ['/api/candles', /symbol is required/],
    ['/api/candles?symbol=BTCUSDT', /symbol must look like BTC-USDT/],
    ["/api/candles?symbol=BTC-USDT'%20OR%20'1'='1", /symbol must look like BTC-USDT/],
    ['/api/candles?symbol=BTC-USDT&tf=2m', /tf must be one of 1m, 5m, 15m, 1h, 4h, 1d/],
    ['/api/candles?symbol=BTC-USDT&from=yesterday', /from must be an ISO-8601 time/],
    ['/api/candles?symbol=BTC-USDT&from=2026-02-31', /from must be an ISO-8601 time/],
    ['/api/candles?symbol=BTC-USDT&from=2026-11-25&to=2026-11-24', /to must not be before from/],
    ['/api/candles?symbol=BTC-USDT&limit=0', /limit must be a whole number from 1 to 100000/],
    ['/api/candles?symbol=BTC-USDT&limit=1e3', /limit must be a whole number/],
    ['/api/candles?symbol=BTC-USDT&exchange=Binance', /exchange must be lowercase/],
    ['/api/candles?symbol=BTC-USDT&symbol=ETH-USDT', /symbol is given more than once/],
    ['/api/candles?symbol=BTC-USDT&sym=1', /unknown parameter "sym": \/api\/candles takes exchange, symbol, tf, from, to, limit/],
    ['/api/statistics?symbol=BTC-USDT&hours=-1', /hours must be a number above 0/],
    ['/api/statistics?symbol=BTC-USDT&hours=NaN', /hours must be a number above 0/],
    ['/api/features?symbol=BTC-USDT&kind=orders', /kind must be one of trades, candles/],
    ['/api/latest?symbol=BTC-USDT&exchange=binance;DROP%20TABLE%20candles', /exchange must be lowercase/],
    ['/api/status?verbose=1', /unknown parameter "verbose": \/api\/status takes none/],
  ]
  it.each(cases)('answers %s with 400 and says what was wrong', async (path, message) => {
    const { status, body } = await get(path)
    expect(status).toBe(400)
    expect(body.error).toMatch(message)
  })

  it('answers through the middy handler with CORS headers', async () => {
    const res = await fetch(`${base}/api/health`, { headers: { origin: 'http://example.test' } })
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  })

  it('answers unknown routes with 404 and wrong methods with 405', async () => {
    expect((await get('/api/nothing')).status).toBe(404)
    expect((await post('/api/candles', {})).status).toBe(405)
  })

  const INJECTIONS = ["' OR '1'='1", "BTC-USDT'; DROP TABLE candles; --", '1; SELECT * FROM trades', '?', '%', '\\', '\u0000', '💥', "1' UNION SELECT 1 --", '2026-11-24T00:00:00Z OR 1=1', '-1', '1e309', '999999999999999999999', 'NULL', '[]', '{}', '/../../etc/passwd', 'constructor', '__proto__', 'toString', 'A'.repeat(500)]
  const GET_ROUTES = ROUTES.filter((r) => r.method === 'GET' && r.params.length)
  async function probe(route: (typeof ROUTES)[number], name: string, value: string) {
    const q = new URLSearchParams(VALID[route.path])
    q.set(name, value)
    const { status, body } = await get(`${route.path}?${q}`)
    expect([200, 400], `${route.path} ${name}=${JSON.stringify(value)}`).toContain(status)
    if (status === 400) expect(typeof body.error).toBe('string')
    else expect(schemaProblems(route.response, body)).toEqual([])
  }

  it('answers injection attempts in every parameter of every route with 400, never a failure', async () => {
    for (const route of GET_ROUTES) for (const p of route.params) for (const v of INJECTIONS) {
      const q = new URLSearchParams(VALID[route.path])
      q.set(p.name, v)
      const { status, body } = await get(`${route.path}?${q}`)
      if (/^[a-z_]+$/.test(v) && status === 200) continue // a plain word is a well-formed exchange name (one with no data)
      expect(status, `${route.path} ${p.name}=${v.slice(0, 30)}`).toBe(400)
      expect(body.error).toMatch(new RegExp(`^(${p.name}|to must not|query string)`))
    }
    expect((await get(`/api/candles?${VALID['/api/candles']}`)).body.count).toBe(1440) // the lake is as it was
  })

  it('never fails on random garbage in any parameter of any route (fast-check)', async () => {
    const garbage = fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom(...INJECTIONS))
    await fc.assert(fc.asyncProperty(fc.constantFrom(...GET_ROUTES), fc.nat(20), garbage, async (route, pick, value) => {
      await probe(route, route.params[pick % route.params.length].name, value)
    }), { numRuns: 120 })
  })
})

describe('POST /api/ingest', () => {
  const trade = (i: number) => ({ exchange: 'myfeed', symbol: 'BTC-USD', trade_id: i, ts: (NOW - 10_000) * 1000 + i, price: 91_000 + i, qty: 0.01, side: 'buy' })
  const bronzeFiles = async () => (await store().list('bronze/trades/exchange=myfeed/')).length

  it('refuses requests without a valid key with 401 and leaves no trace in the lake', async () => {
    const wrong = key.slice(0, -4) + 'AAAA'
    for (const headers of [{} as Record<string, string>, { 'x-api-key': 'nope' }, { 'x-api-key': wrong }, { 'x-api-key': `tlk_000000000000_${'A'.repeat(43)}` }]) {
      const res = await post('/api/ingest', [trade(1)], headers)
      expect(res.status).toBe(401)
      expect(res.body.error).toMatch(/missing or invalid API key/)
    }
    await firehose.flush()
    expect(firehose.stats().received).toBe(0)
    expect(await bronzeFiles()).toBe(0)
    expect(logs.join('\n')).not.toContain(wrong)
  })

  it('accepts good records, answers bad ones by index and reason, and lands the good ones in bronze through the Firehose path', async () => {
    const batch = [trade(1), { ...trade(2), side: 'up' }, trade(3), { ...trade(4), ts: NOW - 5_000 }, 'junk', { ...trade(6), extra: 1 }, { ...trade(7), price: -1 }]
    const res = await post('/api/ingest', { trades: batch }, { 'x-api-key': key })
    expect(res.status).toBe(200)
    expect(res.body.accepted).toBe(2)
    expect(res.body.rejected).toEqual([
      { index: 1, reason: 'side must be buy or sell (the taker side)' },
      { index: 3, reason: 'ts looks like milliseconds: send microseconds (ms * 1000)' },
      { index: 4, reason: 'record is not a JSON object' },
      { index: 5, reason: expect.stringMatching(/^unknown field "extra"/) },
      { index: 6, reason: 'price must be a number above 0' },
    ])
    await firehose.flush()
    const rows = await api.engine.query({ sql: "SELECT trade_id, source, native_symbol, ingest_ts FROM bronze_trades WHERE exchange = ? ORDER BY trade_id", params: ['myfeed'] })
    expect(rows.map((r) => [r.trade_id, r.source, r.native_symbol])).toEqual([[1, 'api', 'BTCUSD'], [3, 'api', 'BTCUSD']])
    expect(rows[0].ingest_ts).toBe(NOW * 1000) // bronze_trades holds Firehose's bigint µs, as in Athena
  })

  it('answers a body that is not a batch with 400, and limits each key by a token bucket', async () => {
    expect((await post('/api/ingest', '{"trades": 5}', { 'x-api-key': key })).body.error).toMatch(/JSON array of trades/)
    expect((await post('/api/ingest', 'not json', { 'x-api-key': key })).status).toBe(400)
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) statuses.push((await post('/api/ingest', [], { 'x-api-key': key })).status)
    expect(statuses).toContain(429)
    const limited = await post('/api/ingest', [], { 'x-api-key': key })
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
  })

  it('answers garbage API keys with 401 and sends nothing on', async () => {
    const received = firehose.stats().received
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom(`tlk_${'0'.repeat(12)}_${'x'.repeat(43)}`, key.toUpperCase(), key.slice(1), key + 'x')), async (k) => {
      const headers: Record<string, string> = {}
      try { new Headers({ 'x-api-key': k }); headers['x-api-key'] = k } catch { /* not a legal header value: sent without */ }
      expect((await post('/api/ingest', [trade(9)], headers)).status).toBe(401)
    }), { numRuns: 60 })
    expect(firehose.stats().received).toBe(received)
  })

  it('takes a key made by `ticklake keys add`, which prints it once and stores only its salted hash', async () => {
    const run = (args: string[]) => promisify(execFile)(process.execPath, [join(import.meta.dirname, '../../bin/ticklake.mjs'), 'keys', ...args, '--data', dir])
    await expect(run(['add', 'cli-feed'])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/name at least one \(--exchange myfeed\)/) })
    await expect(run(['add', 'cli-feed', '--exchange', 'myfeed,sim-binance'])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/sim-binance is reserved/) })
    const { stdout } = await run(['add', 'cli-feed', '--exchange', 'myfeed,other'])
    const made = stdout.trim()
    expect(made).toMatch(/^tlk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/)
    const file = readFileSync(join(dir, 'state/api-keys.json'), 'utf8')
    expect(file).toContain('"cli-feed"')
    expect(file).not.toContain(made.slice('tlk_000000000000_'.length))
    expect((await run(['list'])).stdout).toMatch(/^test-feed\t.*\tmyfeed\ncli-feed\t.*\tmyfeed,other\n$/)
    await expect(run(['add', 'cli-feed', '--exchange', 'x'])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/exists already/) })
    await new Promise((r) => setTimeout(r, 150)) // the key file is re-read every 100 ms here (5 s by default)
    const res = await post('/api/ingest', [trade(20)], { 'x-api-key': made })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ accepted: 1, rejected: [] })
  }, 30_000)

  it("refuses with 403 a batch naming an exchange the key may not write, a built-in venue's above all, and writes none of it", async () => {
    const bound = (await addApiKey(store(), 'bound-feed', ['myfeed'])).key // (a fresh token bucket)
    await new Promise((r) => setTimeout(r, 150)) // the key file is re-read every 100 ms here
    const received = firehose.stats().received
    for (const exchange of ['binance', 'coinbase', 'sim-binance', 'otherfeed']) {
      const res = await post('/api/ingest', [trade(30), { ...trade(31), exchange }], { 'x-api-key': bound })
      expect(res.status, exchange).toBe(403)
      expect(res.body.rejected).toEqual([{ index: 1, reason: exchange === 'otherfeed' ? 'key bound-feed may write exchange myfeed only' : expect.stringMatching(/is reserved for Ticklake's own sources/) }])
    }
    await firehose.flush()
    expect(firehose.stats().received).toBe(received)
    expect((await store().list('bronze/trades/exchange=binance/symbol=BTC-USD/')).length).toBe(0)
  })

  it('answers 401 before reading the body: an upload without a key is refused while it is still being sent', async () => {
    const { request } = await import('node:http')
    const u = new URL(base)
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, path: '/api/ingest', method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => { res.resume(); resolve(res.statusCode!); req.destroy() })
      req.on('error', (e: any) => { if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') reject(e) })
      req.write('[' + JSON.stringify(trade(1)) + ',') // and never ends: a server reading the body first never answers
    })
    expect(status).toBe(401)
  })

  it('answers 415 to a body that is not JSON and 413 to one over the limit in bytes, before reading it', async () => {
    const res = await fetch(base + '/api/ingest', { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'text/csv' }, body: 'exchange,symbol\n' })
    expect(res.status).toBe(415)
    const euros = `[${JSON.stringify('€'.repeat(400_000))}]` // under the limit in characters, over it in bytes
    expect((await post('/api/ingest', euros, { 'x-api-key': key })).status).toBe(413)
  })

  it('refuses a symbol that is BASE-QUOTE only once case-folded, with 400', async () => {
    expect((await get('/api/candles?symbol=%C3%9Ftc-usdt')).status).toBe(400)
    expect((await get('/api/candles?symbol=btc-usdt&limit=1')).status).toBe(200)
  })

  it('never writes a key into the log, and logs the key name instead', async () => {
    const text = logs.join('\n')
    expect(text).toContain('key=test-feed')
    expect(text).not.toContain(key)
    expect(text).not.toContain(key.slice('tlk_000000000000_'.length))
    expect(text).not.toMatch(/tlk_[0-9a-f]{12}_/)
  })
})
