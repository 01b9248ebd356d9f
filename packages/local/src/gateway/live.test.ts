import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runIngest } from '@ticklake/core/sources/ingest'
import type { ServerMessage } from '@ticklake/core/serve/realtime'
import { livePort } from '@ticklake/core/serve/realtime/live'
import type { RecordStream } from '@ticklake/core/ports'
import { startFakeExchange, type FakeExchange } from '../exchange/index'
import { memoryStore } from '../store/index'

// The live path of the real ingest against the fake exchange: what it publishes, per channel.
let fake: FakeExchange
const sent: { at: number; channel: string; m: ServerMessage }[] = []
const store = memoryStore()

beforeAll(async () => {
  fake = await startFakeExchange({ symbols: ['BTC-USDT'], seed: 3, historyMs: 0, ratePerSec: 200 })
  const stream: RecordStream = { putRecords: async () => ({ failed: [] }) }
  await runIngest({ exchange: 'binance', restUrl: fake.restUrl, wsUrl: fake.wsUrl, symbols: ['BTC-USDT'], quotes: true, budgetMs: 5_000, settings: { stopMarginMs: 500 } }, {
    store, stream, quoteStream: stream,
    live: livePort(async (channel, m) => { sent.push({ at: Date.now(), channel, m }) }, { store }),
  })
}, 30_000)
afterAll(() => fake?.close())

const on = (channel: string) => sent.filter((s) => s.channel === channel)

describe('the live path of ingest', () => {
  it('publishes partial candles of all six timeframes, each channel at most 4 times a second', () => {
    for (const tf of ['1m', '5m', '15m', '1h', '4h', '1d']) {
      const updates = on(`candles:binance:BTC-USDT:${tf}`)
      expect(updates.length, tf).toBeGreaterThan(3)
      for (let i = 1; i < updates.length; i++) expect(updates[i].at - updates[i - 1].at).toBeGreaterThanOrEqual(245)
      expect(updates.every((u) => u.m.type === 'candle' && u.m.candle.tf === tf && !u.m.final)).toBe(true)
    }
  })

  it('publishes every trade it received once and in order, with its ingest time', () => {
    const trades = on('trades:binance:BTC-USDT').flatMap((s) => (s.m.type === 'trade' ? s.m.trades : []))
    expect(trades.length).toBeGreaterThan(100)
    const truth = fake.aggTrades('BTC-USDT').filter((a) => a.a >= trades[0].id && a.a <= trades.at(-1)!.id).map((a) => a.a)
    expect(trades.map((t) => t.id)).toEqual(truth)
    for (const t of trades) expect(t.ingest_time! - t.time).toBeGreaterThanOrEqual(0)
  })

  it('publishes a ticker with the best bid and ask, and stats of the current minute', () => {
    const ticker = on('ticker:binance:BTC-USDT').at(-1)!.m
    if (ticker.type !== 'ticker') throw new Error('not a ticker')
    expect(ticker.ticker.bid).toBeLessThan(ticker.ticker.ask!)
    expect(ticker.ticker.price).toBeGreaterThan(0)
    const stats = on('stats:binance:BTC-USDT').at(-1)!.m
    if (stats.type !== 'stats') throw new Error('not stats')
    expect(stats.stats.trades_per_s).toBeGreaterThan(10)
    expect(stats.stats.minute_trades + stats.stats.hour_trades).toBeGreaterThan(0)
  })

  it('leaves live.json with recent trades, ticker and stats for the snapshots', async () => {
    const doc = JSON.parse(new TextDecoder().decode(await store.get('serving/binance/BTC-USDT/live.json')))
    expect(doc.trades.length).toBe(50)
    expect(doc.ticker.price).toBeGreaterThan(0)
    expect(doc.stats.symbol).toBe('BTC-USDT')
  })
})
