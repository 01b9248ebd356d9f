/**
 * The OpenAPI document and the answers agree: every route of the local API is called over real
 * HTTP on a small lake this test builds (candles of two exchanges, silver trades, both feature tables,
 * a gap, a stall, a DLQ file, a corrupt file), and each answer — 200s and errors alike — is validated against the
 * document with ajv (JSON Schema 2020-12, as OpenAPI 3.1 uses, with formats). Objects the document
 * lists properties of are held closed (no undocumented field) unless it opens them; the documented
 * bounds of each parameter are tried on both sides.
 */
import { createServer, type Server } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import Ajv2020 from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { ROUTES, addApiKey, openApi } from '@ticklake/core/serve/api'
import { recordGap, recordStall } from '@ticklake/core/lake/quality'
import { writeParquet } from '@ticklake/core/lake/parquet'
import { firehoseStream } from '@ticklake/core/aws/firehose'
import { CANDLE_FEATURE_COLUMNS, FEATURE_COLUMNS } from '@ticklake/core/lake/features'
import { goldCandleFeaturesKey, goldTradeFeaturesKey } from '@ticklake/core/lake/layout'
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
let key: string
const doc = openApi() as any

/** A schema with every object that lists properties closed, unless it says otherwise; `$ref`s to components resolved. */
function closed(schema: any): any {
  if (Array.isArray(schema)) return schema.map(closed)
  if (!schema || typeof schema !== 'object') return schema
  if (schema.$ref) return closed(doc.components.schemas[schema.$ref.split('/').pop()])
  const out: any = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === 'properties' ? Object.fromEntries(Object.entries(v as object).map(([p, s]) => [p, closed(s)])) : closed(v)]))
  if (schema.properties && schema.additionalProperties === undefined) out.additionalProperties = false
  return out
}

const ajv = new Ajv2020({ strict: false, allErrors: true })
addFormats(ajv)
/** Problems of an answer against the document's schema for that route and status (empty when it conforms). */
function problems(method: string, path: string, status: number, body: unknown): string[] {
  const responses = doc.paths[path]?.[method.toLowerCase()]?.responses
  const documented = responses?.[String(status)]
  if (!documented) return [`${method} ${path}: status ${status} is not documented (documented: ${Object.keys(responses ?? {}).join(', ')})`]
  const validate = ajv.compile(closed(documented.content['application/json'].schema))
  return validate(body) ? [] : (validate.errors ?? []).map((e) => `${method} ${path} ${status}: ${e.instancePath || '$'} ${e.message} ${JSON.stringify(e.params)}`)
}

async function call(method: string, path: string, query = '', body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}${query ? `?${query}` : ''}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.status, body: await res.json() as any }
}

/** A row of every column of a feature table, stamped at `ms`. */
const featureRow = (cols: readonly { name: string; type: string }[], ms: number, i: number) => Object.fromEntries(cols.map((c) => [c.name,
  c.name === 'exchange' ? 'binance' : c.name === 'symbol' ? 'BTC-USDT' : c.type === 'TIMESTAMP_MICROS' ? (ms + i * 1000) * 1000 : c.type === 'TIMESTAMP_MILLIS' ? ms + i * 60_000
    : c.type === 'STRING' ? 'buy' : c.type === 'BOOLEAN' ? true : c.type === 'DOUBLE' ? 1.5 + i : i + 1]))

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ticklake-openapi-'))
  const store = fileStore(dir)
  await writeDayOfCandles(store, { exchange: 'binance', symbol: 'BTC-USDT', day: DAY })
  await writeBronzeTrades(store, { exchange: 'binance', symbol: 'BTC-USDT', endMs: NOW - 2_000, n: 30 })
  // a second, simulated exchange: the per-exchange rows of /api/symbols and /api/status hold more than one
  await writeDayOfCandles(store, { exchange: 'sim-coinbase', symbol: 'BTC-USD', day: DAY, seed: 3 })
  await recordStall(store, { exchange: 'sim-coinbase', symbol: 'BTC-USD', since: NOW - 60_000, detected_at: NOW - 30_000, reason: 'no trade on the stream', fetched: 0 })
  await recordGap(store, { exchange: 'binance', symbol: 'BTC-USDT', kind: 'deferred', from_id: 10, to_id: 20, detected_at: NOW - 60_000, reason: 'id jump' })
  await store.put('dlq/binance/dt=2026-11-24/x.jsonl', '{"why":"bad frame"}\n')
  const at = Date.parse(`${DAY}T10:00:00Z`)
  await store.put(goldCandleFeaturesKey('binance', 'BTC-USDT', DAY, '10'), writeParquet(CANDLE_FEATURE_COLUMNS as any, [0, 1, 2].map((i) => featureRow(CANDLE_FEATURE_COLUMNS, at, i))))
  await store.put(goldTradeFeaturesKey('binance', 'BTC-USDT', DAY, '10'), writeParquet(FEATURE_COLUMNS as any, [0, 1, 2].map((i) => featureRow(FEATURE_COLUMNS, at, i))))
  await store.put(goldTradeFeaturesKey('binance', 'BTC-USDT', DAY, '11'), 'not parquet at all')
  key = (await addApiKey(store, 'openapi-test', ['myfeed'])).key
  firehose = await startFirehose(store, { bufferMs: 100_000, spoolDir: join(dir, '.firehose'), log: () => {} })
  api = await localApiHandler({ dataDir: dir, store, stream: firehoseStream(firehose.streamName, firehose.endpoint), clock: { now: () => NOW }, log: () => {} })
  server = createServer((req, res) => { void serveHttpEvent(api.handler, req, res) })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise((r) => server?.close(r))
  await firehose?.close()
  api?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** Requests that answer 200 with rows, for every GET route (several for routes with kinds of answers). */
const OK: [string, string][] = [
  ['/api/health', ''], ['/api/symbols', ''], ['/api/openapi.json', ''],
  ['/api/candles', `symbol=BTC-USDT&from=${DAY}T00:00:00Z&to=2026-11-25T00:00:00Z`], ['/api/candles', 'symbol=BTC-USDT&tf=1h&limit=3'], ['/api/candles', 'symbol=ETH-USDT'],
  ['/api/latest', 'symbol=BTC-USDT'], ['/api/latest', 'symbol=ETH-USDT'],
  ['/api/statistics', 'symbol=BTC-USDT&hours=48'], ['/api/statistics', 'symbol=ETH-USDT&hours=0.5'],
  ['/api/features', `kind=candles&symbol=BTC-USDT&from=${DAY}T10:00:00Z&to=${DAY}T11:00:00Z`],
  ['/api/features', `kind=trades&symbol=BTC-USDT&from=${DAY}T10:00:00Z&to=${DAY}T12:00:00Z`],
  ['/api/features', 'kind=trades&symbol=BTC-USDT'],
  ['/api/status', ''], ['/api/cache/stats', ''],
]

describe('the OpenAPI document and the answers', () => {
  it('answers every GET route with a body its document describes, no undocumented field, integers where it says integer', async () => {
    const seen = new Set<string>()
    for (const [path, query] of OK) {
      const { status, body } = await call('GET', path, query)
      expect(status, `${path}?${query}: ${JSON.stringify(body).slice(0, 200)}`).toBe(200)
      expect(problems('GET', path, status, body)).toEqual([])
      seen.add(path)
    }
    expect([...seen].sort()).toEqual(ROUTES.filter((r) => r.method === 'GET').map((r) => r.path).sort())
    // the lake really answered: rows, not empty lists
    expect((await call('GET', '/api/features', OK[10][1])).body.count).toBe(3)
    expect((await call('GET', '/api/features', OK[11][1])).body.count).toBe(3)
    expect((await call('GET', '/api/status')).body.lake.corrupt_files).toBe(1)
    expect((await call('GET', '/api/status')).body.exchanges.map((e: any) => [e.exchange, e.simulated, e.stalled])).toEqual([['binance', false, []], ['sim-coinbase', true, ['BTC-USD']]])
    expect((await call('GET', '/api/symbols')).body.exchanges.map((e: any) => e.exchange)).toEqual(['binance', 'sim-coinbase'])
  })

  it('answers POST /api/ingest, accepted, refused by record and unauthorized, as documented', async () => {
    const trade = { exchange: 'myfeed', symbol: 'BTC-USD', trade_id: 1, ts: NOW * 1000, price: 1, qty: 1, side: 'buy' }
    const ok = await call('POST', '/api/ingest', '', [trade, { ...trade, trade_id: 2, extra: 1 }], { 'x-api-key': key })
    expect(ok.status).toBe(200)
    expect(problems('POST', '/api/ingest', ok.status, ok.body)).toEqual([])
    // additionalProperties: false in the body's schema is honoured: the record with an undocumented field is refused
    expect(ok.body).toMatchObject({ accepted: 1, rejected: [{ index: 1, reason: expect.stringMatching(/unknown field "extra"/) }] })
    for (const [body, headers, status] of [[[trade], {}, 401], ['"x"', { 'x-api-key': key }, 400]] as const) {
      const res = await call('POST', '/api/ingest', '', body, headers)
      expect(res.status).toBe(status)
      expect(problems('POST', '/api/ingest', res.status, res.body)).toEqual([])
    }
  })

  it('answers bad input with a documented error, and takes the documented bounds of every parameter', async () => {
    for (const r of ROUTES.filter((x) => x.method === 'GET')) {
      const valid = new URLSearchParams(OK.find(([p]) => p === r.path)![1])
      for (const p of r.params) {
        const s = p.schema as any
        const tries: [string, number][] = []
        if (s.minimum !== undefined) tries.push([String(s.minimum), 200], [String(s.minimum - 1), 400])
        if (s.exclusiveMinimum !== undefined) tries.push([String(s.exclusiveMinimum), 400], [String(s.exclusiveMinimum + 0.5), 200])
        if (s.maximum !== undefined) tries.push([String(s.maximum), 200], [String(s.maximum + 1), 400])
        if (s.enum) tries.push(...s.enum.map((v: string) => [v, 200] as [string, number]), ['nope', 400])
        if (s.pattern) tries.push(['', new RegExp(s.pattern).test('') ? 200 : 400], ['%%', 400])
        for (const [value, want] of tries) {
          const q = new URLSearchParams(valid)
          q.set(p.name, value)
          if (r.path === '/api/features' && p.name === 'kind') q.delete('from'), q.delete('to')
          const res = await call('GET', r.path, q.toString())
          expect(res.status, `${r.path}?${q}: ${JSON.stringify(res.body).slice(0, 300)}`).toBe(want)
          expect(problems('GET', r.path, res.status, res.body)).toEqual([])
        }
      }
    }
  })

  it('answers a range beyond its documented bound with 400 and a reason, and unknown routes with a documented error shape', async () => {
    const wide = await call('GET', '/api/features', 'kind=trades&symbol=BTC-USDT&from=0&to=2100-01-01&limit=100000')
    expect(wide.status).toBe(400)
    expect(wide.body.error).toMatch(/kind=trades takes at most/)
    expect(problems('GET', '/api/features', 400, wide.body)).toEqual([])
    const none = await call('GET', '/api/nothing')
    expect(none.status).toBe(404)
    expect(ajv.compile(closed(doc.components.schemas.Error))(none.body)).toBe(true)
  })
})
