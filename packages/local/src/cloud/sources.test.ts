/**
 * One lake, several exchanges at once: the local cloud runs one ingest per exchange beside the
 * others, the fake Binance and the fake Coinbase here, into one Firehose emulator and one lake, and
 * says in /api/health what each one is.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeExchange, type FakeExchange } from '../exchange/index'
import { startFakeCoinbase } from '../exchange/coinbase'
import { duckdbEngine } from '../duckdb/index'
import { cloudSources, startCloud, type Cloud } from './index'

let dir: string
let binance: FakeExchange
let coinbase: Awaited<ReturnType<typeof startFakeCoinbase>>
let cloud: Cloud

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ticklake-sources-'))
  binance = await startFakeExchange({ symbols: ['BTC-USDT', 'ETH-USDT'], seed: 3, historyMs: 5 * 60_000, ratePerSec: 20 })
  coinbase = await startFakeCoinbase({ symbols: ['BTC-USD'], seed: 4, historyMs: 5 * 60_000, ratePerSec: 20, restRatePerSec: 100, restBurst: 100 })
  cloud = await startCloud({
    sources: [
      { exchange: 'binance', source: 'sim', restUrl: binance.restUrl, wsUrl: binance.wsUrl, symbols: ['BTC-USDT', 'ETH-USDT'] },
      { exchange: 'coinbase', source: 'coinbase', restUrl: coinbase.restUrl, wsUrl: coinbase.wsUrl, symbols: ['BTC-USD'] },
    ],
    port: 0, dataDir: dir, backfillMs: 4 * 60_000, ingestBudgetMs: 15_000, firehoseBufferMs: 300, features: false, compactEveryMs: 0, log: () => {},
  })
}, 60_000)

afterAll(async () => {
  await cloud?.close()
  await binance?.close()
  await coinbase?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** Rows of `sql` once `ready` holds for them (the lake path runs behind ingest), within `ms`. */
async function lakeRows(sql: string, ready: (rows: Record<string, unknown>[]) => boolean, ms = 40_000) {
  const until = Date.now() + ms
  for (;;) {
    const db = await duckdbEngine(dir)
    const rows = await db.query({ sql, params: [] }).catch(() => []).finally(() => db.close())
    if (ready(rows) || Date.now() > until) return rows
    await new Promise((r) => setTimeout(r, 1_000))
  }
}

describe('the local cloud with two exchanges', () => {
  it('lands both exchanges\' trades in one lake\'s bronze, and candles for each', async () => {
    const both = (rows: Record<string, unknown>[]) => rows.length === 3
    const bronze = await lakeRows('SELECT exchange, symbol, count(*) AS n FROM bronze_trades GROUP BY ALL ORDER BY ALL', both)
    expect(bronze.map((r) => [r.exchange, r.symbol])).toEqual([['coinbase', 'BTC-USD'], ['sim-binance', 'BTC-USDT'], ['sim-binance', 'ETH-USDT']])
    for (const r of bronze) expect(Number(r.n), `${r.exchange} ${r.symbol}`).toBeGreaterThan(100)
    // the backfilled 4 minutes of each symbol, at least
    const candles = await lakeRows(`SELECT exchange, symbol, count(*) AS n FROM candles WHERE tf = '1m' GROUP BY ALL ORDER BY ALL`, (rows) => both(rows) && rows.every((r) => Number(r.n) >= 4))
    expect(candles.map((r) => [r.exchange, r.symbol])).toEqual([['coinbase', 'BTC-USD'], ['sim-binance', 'BTC-USDT'], ['sim-binance', 'ETH-USDT']])
    for (const r of candles) expect(Number(r.n), `${r.exchange} ${r.symbol}`).toBeGreaterThanOrEqual(4)
  })

  it('says in /api/health what each exchange is, the first one as the page\'s', async () => {
    const health = await fetch(`${cloud.url}api/health`).then((r) => r.json())
    expect([health.exchange, health.simulated, health.symbols]).toEqual(['sim-binance', true, ['BTC-USDT', 'ETH-USDT']])
    expect(health.sources.map((s: any) => [s.exchange, s.source, s.simulated, s.symbols])).toEqual([
      ['sim-binance', 'sim', true, ['BTC-USDT', 'ETH-USDT']],
      ['coinbase', 'coinbase', false, ['BTC-USD']],
    ])
    for (const s of health.sources) expect(s.ingest_runs, s.exchange).toBeGreaterThanOrEqual(1)
  })
})

describe('the exchanges a cloud ingests', () => {
  const one = { restUrl: 'http://127.0.0.1:1', wsUrl: 'ws://127.0.0.1:1' }
  it('are the single-source options as one source when no sources are given', () => {
    expect(cloudSources({ ...one, source: 'sim', exchange: 'coinbase', symbols: ['BTC-USD'] })).toEqual([{ ...one, exchange: 'sim-coinbase', source: 'sim', symbols: ['BTC-USD'] }])
  })

  it('refuses one exchange twice (its simulated name included) and none at all', () => {
    expect(() => cloudSources({ sources: [{ ...one, exchange: 'binance', source: 'sim', symbols: ['BTC-USDT'] }, { ...one, exchange: 'sim-binance', source: 'sim', symbols: ['ETH-USDT'] }] })).toThrow(/sim-binance is ingested twice/)
    expect(() => cloudSources({})).toThrow(/name the exchanges to ingest/)
  })
})
