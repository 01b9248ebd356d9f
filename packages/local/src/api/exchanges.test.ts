/**
 * `/api/symbols` and `/api/status` per source, on the local adapters (real HTTP, the middy
 * handler, DuckDB) over a lake that holds several exchanges: live Binance, simulated Coinbase with
 * a stall in course, and a Coinbase symbol known only by its checkpoint. The old per-symbol fields
 * stay as they were; the per-exchange ones are checked against the documented schema and against
 * the per-symbol rows they fold.
 */
import { createServer, type Server } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROUTES } from '@ticklake/core/serve/api'
import { schemaProblems } from './conforms'
import { recordStall } from '@ticklake/core/lake/quality'
import { checkpointKey } from '@ticklake/core/lake/layout'
import { fileStore } from '../store/index'
import { localApiHandler, serveHttpEvent } from './index'
import { writeBronzeTrades, writeDayOfCandles } from '../../test/fixture'

const NOW = Date.parse('2026-11-25T00:00:30Z')
const DAY = '2026-11-24'
let dir: string
let server: Server
let base: string
let api: Awaited<ReturnType<typeof localApiHandler>>

async function get(path: string) {
  const res = await fetch(base + path)
  const body = await res.json() as any
  expect(res.status, `${path}: ${JSON.stringify(body).slice(0, 200)}`).toBe(200)
  expect(schemaProblems(ROUTES.find((r) => r.path === path)!.response, body)).toEqual([])
  return body
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ticklake-exchanges-'))
  const store = fileStore(dir)
  await writeDayOfCandles(store, { exchange: 'binance', symbol: 'BTC-USDT', day: DAY })
  await writeBronzeTrades(store, { exchange: 'binance', symbol: 'BTC-USDT', endMs: NOW - 2_000, n: 30 })
  await writeDayOfCandles(store, { exchange: 'sim-coinbase', symbol: 'BTC-USD', day: DAY, seed: 3 })
  await writeDayOfCandles(store, { exchange: 'sim-coinbase', symbol: 'ETH-USD', day: DAY, seed: 4 })
  await writeBronzeTrades(store, { exchange: 'sim-coinbase', symbol: 'BTC-USD', endMs: NOW - 20_000, n: 10 })
  await recordStall(store, { exchange: 'sim-coinbase', symbol: 'BTC-USD', since: NOW - 20_000, detected_at: NOW - 5_000, reason: 'no trade on the stream', fetched: 0 })
  await store.put(checkpointKey('coinbase', 'SOL-USD'), '{}')
  api = await localApiHandler({ dataDir: dir, store, clock: { now: () => NOW }, log: () => {} })
  server = createServer((req, res) => { void serveHttpEvent(api.handler, req, res) })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise((r) => server?.close(r))
  api?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('the API per source, on a lake of several exchanges', () => {
  it('lists the symbols as before and, per exchange, its symbols, span and whether it is simulated', async () => {
    const body = await get('/api/symbols')
    expect(body.symbols.map((s: any) => `${s.exchange}/${s.symbol}`)).toEqual(['binance/BTC-USDT', 'sim-coinbase/BTC-USD', 'sim-coinbase/ETH-USD'])
    expect(body.symbols[0]).toEqual({ exchange: 'binance', symbol: 'BTC-USDT', first_candle: '2026-11-24T00:00:00.000Z', last_candle: '2026-11-24T23:59:00.000Z', candles: 1440 })
    // a symbol known only by its checkpoint has no candles yet: not listed, nor its exchange
    expect(body.exchanges).toEqual([
      { exchange: 'binance', venue: 'binance', simulated: false, symbols: ['BTC-USDT'], first_candle: '2026-11-24T00:00:00.000Z', last_candle: '2026-11-24T23:59:00.000Z', candles: 1440 },
      { exchange: 'sim-coinbase', venue: 'coinbase', simulated: true, symbols: ['BTC-USD', 'ETH-USD'], first_candle: '2026-11-24T00:00:00.000Z', last_candle: '2026-11-24T23:59:00.000Z', candles: 2880 },
    ])
  })

  it('reports per exchange its lag, idle and stalled symbols, lake freshness and whether it is simulated, beside the per-source rows', async () => {
    const body = await get('/api/status')
    expect(body.sources.map((s: any) => [s.exchange, s.symbol, s.lag_ms, s.simulated, s.stalled])).toEqual([
      ['binance', 'BTC-USDT', 2_000, false, false],
      ['sim-coinbase', 'BTC-USD', 20_000, true, true],
    ])
    const by = Object.fromEntries(body.exchanges.map((e: any) => [e.exchange, e]))
    expect(Object.keys(by)).toEqual(['binance', 'coinbase', 'sim-coinbase'])
    expect(by.binance).toMatchObject({ simulated: false, symbols: ['BTC-USDT'], lag_ms: 2_000, max_lag_ms: 2_000, idle: [], stalled: [], records_24h: 30, last_trade_time: new Date(NOW - 2_000).toISOString() })
    expect(by.coinbase).toMatchObject({ simulated: false, symbols: ['SOL-USD'], lag_ms: null, idle: ['SOL-USD'], stalled: [], records_24h: 0, freshness_ms: null })
    expect(by['sim-coinbase']).toMatchObject({ venue: 'coinbase', simulated: true, symbols: ['BTC-USD', 'ETH-USD'], lag_ms: 20_000, idle: ['ETH-USD'], stalled: ['BTC-USD'], records_24h: 10 })
    // each exchange's freshness is its own newest gold object, never older than the lake's newest
    for (const e of [by.binance, by['sim-coinbase']]) {
      expect(e.freshness_ms).toBe(Math.max(0, NOW - Date.parse(e.newest_gold_time)))
      expect(e.freshness_ms).toBeGreaterThanOrEqual(body.lake.freshness_ms)
    }
    expect(Math.min(by.binance.freshness_ms, by['sim-coinbase'].freshness_ms)).toBe(body.lake.freshness_ms)
  })
})
