import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { aggTradesFrom, restBase, resolverFor, toTrade } from '@ticklake/core/sources/binance'
import { bronzeTradesPrefix, partitionOf } from '@ticklake/core/lake/layout'
import { writeCheckpoint } from '@ticklake/core/sources/checkpoint'
import { TRADE_COLUMNS, type Trade } from '@ticklake/core/market'
import { writeParquet } from '@ticklake/core/lake/parquet'
import { createCandlesHandler } from '@ticklake/functions/candles'
import { startFakeExchange, type FakeExchange } from './exchange/index'
import { fileStore, s3Event } from './store/index'
import { main } from './cli'

/** The exchange's clock stands still at T0, so its history (90 minutes, across an hour boundary) is all there is. */
const T0 = Date.UTC(2026, 0, 5, 12, 30, 0)
const M = 60_000
const FROM = T0 - 90 * M
let dir: string
let fx: FakeExchange

/** Runs the CLI in this process; resolves with its exit code and what it printed. */
async function cli(args: string[]) {
  const out: string[] = []
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out.push(String(s)); return true })
  try { return { code: await main(args), out: out.join('') } } finally { write.mockRestore() }
}
const verify = (...extra: string[]) => cli(['verify', '--symbol', 'BTC-USDT', '--from', new Date(FROM).toISOString(), '--to', new Date(T0).toISOString(), '--data', dir, '--rest-url', fx.restUrl, ...extra])

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ticklake-verify-'))
  fx = await startFakeExchange({ symbols: ['BTC-USDT'], seed: 11, historyMs: 90 * M, ratePerSec: 3, now: () => T0 })
  // The lake path as in AWS: the exchange's trades over REST into bronze (written the way Firehose
  // writes it, OPTIONAL columns), then the candle handler on the S3 events of those objects
  const ctx = { exchange: 'binance' as const, resolve: resolverFor(['BTC-USDT']), ingestTs: T0 * 1000, source: 'rest' as const }
  const hours = new Map<string, Trade[]>()
  for await (const page of aggTradesFrom(restBase('binance', fx.restUrl), 'BTC-USDT', fx.aggTrades('BTC-USDT')[0].a, Infinity)) {
    for (const a of page) {
      const p = partitionOf(a.T)
      const key = `${bronzeTradesPrefix('binance', 'BTC-USDT', p.dt, p.hour)}ticklake-bronze-1-${p.dt}-${p.hour}.parquet`
      hours.set(key, [...(hours.get(key) ?? []), toTrade(a, 'BTCUSDT', 'BTC-USDT', ctx)])
    }
  }
  expect(hours.size).toBe(2)
  const store = fileStore(dir)
  // ingest's checkpoint after the last trade: every minute up to it is complete, so final
  const last = [...hours.values()].at(-1)!.at(-1)!
  await writeCheckpoint(store, { exchange: 'binance', symbol: 'BTC-USDT', last_trade_id: last.trade_id, ts: T0 * 1000, updated_at: T0 })
  const candles = createCandlesHandler({ store, now: () => T0 + M })
  for (const [key, trades] of hours) {
    const put = await store.put(key, writeParquet(TRADE_COLUMNS, trades, { nullable: true }))
    await candles(s3Event('ticklake-local', key, 0, put.etag))
  }
})

afterAll(async () => {
  await fx?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('ticklake verify against the fake exchange', () => {
  it('finds every candle the lake built from the exchange trades equal to the exchange klines, and exits 0', async () => {
    const { code, out } = await verify()
    const summary = out.trim().split('\n')
    expect(summary).toHaveLength(1)
    expect(summary[0]).toMatch(/^OK: binance BTC-USDT 1m 2026-01-05T11:00:00\.000Z \.\. 2026-01-05T12:30:00\.000Z: (\d+) candles compared, \1 match, 0 differ \(0 fields\), 0 missing in the lake, 0 missing at the exchange$/)
    expect(Number(/(\d+) candles compared/.exec(summary[0])![1])).toBeGreaterThanOrEqual(89)
    expect(code).toBe(0)
  })

  it('reports exactly the planted field of the planted candle, and exits 1', async () => {
    const open = T0 - 31 * M // 11:59, the last minute before the hour boundary
    const [row] = await (await fetch(`${fx.restUrl}/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=${open}&limit=1`)).json()
    const wrong = (Number(row[9]) + 0.00001).toFixed(8)
    fx.plantKline({ symbol: 'BTC-USDT', interval: '1m', openTime: open, field: 'taker_buy_volume', value: wrong })
    const { code, out } = await verify()
    const lines = out.trim().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toBe(`2026-01-05T11:59:00.000Z  taker_buy_volume  lake ${Number(row[9]).toFixed(8)}  exchange ${wrong}`)
    expect(lines[1]).toMatch(/^DIFFERENT: .*: (\d+) candles compared, \d+ match, 1 differ \(1 field\), 0 missing in the lake, 0 missing at the exchange$/)
    expect(code).toBe(1)
    const json = JSON.parse((await verify('--format', 'json')).out)
    expect(json.differing).toEqual([{ open_time: open, final: true, fields: [{ field: 'taker_buy_volume', lake: expect.closeTo(Number(row[9]), 12), exchange: wrong }] }])
  })

  it('reports klines of a range the lake does not hold as missing in the lake', async () => {
    mkdirSync(join(dir, 'empty'))
    const { code, out } = await cli(['verify', '--symbol', 'BTC-USDT', '--from', new Date(FROM).toISOString(), '--to', new Date(FROM + 3 * M).toISOString(), '--data', join(dir, 'empty'), '--rest-url', fx.restUrl])
    expect(out.trim().split('\n').slice(0, -1)).toEqual(['11:00', '11:01', '11:02'].map((t) => expect.stringMatching(new RegExp(`^2026-01-05T${t}:00.000Z  missing in the lake  \\(exchange: \\d+ trades, volume \\d+\\.\\d{8}\\)$`))))
    expect(code).toBe(1)
  })

  it('refuses missing or malformed arguments with exit code 2 and says which', async () => {
    const err: string[] = []
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err.push(String(s)); return true })
    try {
      expect((await cli(['verify', '--symbol', 'BTC-USDT', '--data', dir])).code).toBe(2)
      expect((await cli(['verify', '--symbol', 'BTC-USDT', '--from', 'yesterday', '--to', '2026-01-05T12:00:00Z', '--data', dir])).code).toBe(2)
      expect((await cli(['verify', '--exchange', 'coinbase', '--symbol', 'BTC-USD', '--from', '2026-01-05T11:00:00Z', '--to', '2026-01-05T12:00:00Z', '--data', dir])).code).toBe(2)
    } finally { spy.mockRestore() }
    expect(err.join('')).toMatch(/--from is required[\s\S]*--from is not an ISO-8601 time[\s\S]*verify knows the klines of binance/)
  })
})
