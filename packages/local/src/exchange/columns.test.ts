import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { aggTradesOfCapture, coinbaseTradesOfCapture, parseCapture, type CapturedCoinbaseTrade } from '@ticklake/core/sources/capture'
import { encodeDecimal, formatDecimal } from './columns'
import { generator, type AggTrade } from './generator'
import { noFaults } from './faults'
import { aggAt, aggColumns, binanceBooks, pushAgg } from './binance/book'
import { coinbaseBooks } from './coinbase/book'
import { isoToMicros } from '@ticklake/core/sources/coinbase'
import { startFakeExchange, type FakeExchange } from './index'
import { startFakeCoinbase } from './coinbase'
import { simDefaults, startSimulator } from './sim'

const T0 = Date.UTC(2026, 7, 9, 12, 0, 0)
const HOUR = 3_600_000
const DATA = join(__dirname, '../../../../../shared/data')
const BINANCE_CAPTURE = join(DATA, 'binance/7136ce8d0d0a/BINANCE-b38f7c.0')
const COINBASE_CAPTURE = join(DATA, 'coinbase/57d5f18d6098/COINBASE.jsonl.zst')

/** A replay's books with the clock started and every trade played at once. */
function playedBinance(trades: Map<string, AggTrade[]>, symbols: string[]) {
  const b = binanceBooks({ symbols, seed: 1, historyMs: 0, ratePerSec: 1, bursts: false, maxTrades: Infinity, retainMs: Infinity, start: T0, replay: { trades, symbols, speed: 'max' }, faults: { ...noFaults }, chance: Math.random })
  b.startReplay(T0)
  for (const book of b.books.values()) b.advance(book, T0 + 1)
  return b.books
}
function playedCoinbase(trades: Map<string, CapturedCoinbaseTrade[]>) {
  const b = coinbaseBooks({ symbols: [...trades.keys()], seed: 1, historyMs: 0, ratePerSec: 1, maxTrades: Infinity, retainMs: Infinity, start: T0, replay: { trades, speed: 'max' }, faults: { ...noFaults }, chance: Math.random })
  b.startReplay(T0)
  b.advanceAll(() => T0 + 1)
  return b.books
}
const asHeld = (r: CapturedCoinbaseTrade) => ({ trade_id: r.trade_id, price: r.price, size: r.size, time: r.time, side: r.side, T: Math.floor(r.us / 1000) })

describe('trade columns', () => {
  it('print a decimal back exactly as it was set, and refuse spellings units cannot give back', () => {
    for (const s of ['60000.12000000', '0.00012000', '1.5', '70', '0', '0.0', '123456789012.3456', '9007199254740991']) {
      const e = encodeDecimal(s)
      expect(e, s).toBeDefined()
      expect(formatDecimal(...e!)).toBe(s)
    }
    for (const s of ['.5', '5.', '007', '1e-8', '-1', '+1', '', '1,5', '90071992547409930', '1.2.3', ' 1']) expect(encodeDecimal(s), s).toBeUndefined()
  })

  it('give back every generated aggTrade identical to what the generator made, strings included', () => {
    for (const symbol of ['BTC-USDT', 'XRP-USDT', 'DOGE-USDT', 'ETH-BTC', 'ZZZ-USDT']) {
      const made: AggTrade[] = []
      generator(symbol, 3, T0 - HOUR, 5)(T0, made)
      const c = aggColumns()
      for (const t of made) pushAgg(c, t)
      expect(made.length).toBeGreaterThan(10_000)
      expect(Array.from({ length: c.length }, (_, i) => aggAt(c, i))).toEqual(made)
    }
  })

  it('grow by doubling while small and by a quarter past bigRows, keeping every row', () => {
    const c = aggColumns()
    const caps: number[] = []
    for (let i = 0; i < 120_000; i++) {
      pushAgg(c, { a: i, p: '1.5', q: '2', f: i, l: i, T: T0 + i, m: false, M: true })
      if (caps.at(-1) !== c.num.a.length) caps.push(c.num.a.length)
    }
    expect(caps.filter((n) => n <= 65_536)).toEqual([256, 512, 1024, 2048, 4096, 8192, 16_384, 32_768, 65_536])
    expect(caps.filter((n) => n > 65_536)).toEqual([81_920, 102_400, 128_000])
    expect(aggAt(c, 0)).toEqual({ a: 0, p: '1.5', q: '2', f: 0, l: 0, T: T0, m: false, M: true })
    expect(aggAt(c, 119_999).a).toBe(119_999)
  })

  it('keep the odd strings of a replay as they were, and its trade counts of any size', () => {
    const odd: AggTrade[] = [
      { a: 1, p: '65000.1', q: '.5', f: 10, l: 10, T: T0, m: true, M: true },
      { a: 2, p: '1e-8', q: '0.00000001', f: 11, l: 5_011, T: T0 + 1, m: false, M: false },
      { a: 3, p: '123456789012345678.9', q: '007', f: 5_012, l: 5_012, T: T0 + 2, m: false, M: true },
    ]
    const books = playedBinance(new Map([['BTCUSDT', odd]]), ['BTC-USDT'])
    expect([...books.get('BTCUSDT')!.trades]).toEqual(odd)
    const recorded: CapturedCoinbaseTrade[] = [
      { trade_id: 7, price: '65000.1', size: '70', time: '2026-08-09T12:00:00.123456Z', side: 'buy', us: T0 * 1000 + 123_456 },
      { trade_id: 8, price: '65000.10', size: '0.001', time: '2026-08-09T12:00:00.1234567Z', side: 'sell', us: T0 * 1000 + 123_456 },
      { trade_id: 9, price: '65,000', size: '1', time: '2026-08-09T12:00:01Z', side: 'buy', us: T0 * 1000 + 1_000_000 },
    ]
    expect([...playedCoinbase(new Map([['BTC-USD', recorded]])).get('BTC-USD')!.trades]).toEqual(recorded.map(asHeld))
  })

  it.skipIf(!existsSync(BINANCE_CAPTURE) || !existsSync(COINBASE_CAPTURE))('give back a recorded capture\'s trades with the strings as recorded', () => {
    const { trades } = aggTradesOfCapture(parseCapture(readFileSync(BINANCE_CAPTURE)))
    const natives = [...trades.keys()]
    const books = playedBinance(trades, natives.map((n) => `${n.slice(0, -4)}-${n.slice(-4)}`))
    for (const n of natives) expect([...books.get(n)!.trades]).toEqual(trades.get(n))
    const cb = coinbaseTradesOfCapture(parseCapture(readFileSync(COINBASE_CAPTURE))).trades
    const cbBooks = playedCoinbase(cb)
    for (const [p, list] of cb) expect([...cbBooks.get(p)!.trades]).toEqual(list.map(asHeld))
  })
})

describe('retention', () => {
  it('drops the trades older than retainMs behind the newest, keeping the rest as the unbounded fake has them', async () => {
    const options = { seed: 4, now: () => T0, historyMs: HOUR, symbols: ['BTC-USDT'] }
    const full = await startFakeExchange(options)
    const kept = await startFakeExchange({ ...options, retainMs: 20 * 60_000 })
    const all = [...full.aggTrades('BTC-USDT')]
    const held = [...kept.aggTrades('BTC-USDT')]
    await Promise.all([full.close(), kept.close()])
    expect(held.length).toBeLessThan(all.length / 2)
    expect(held).toEqual(all.filter((t) => t.T >= all.at(-1)!.T - 20 * 60_000))
  })

  it('drops the fake Coinbase\'s trades older than retainMs behind the newest', async () => {
    const options = { seed: 4, now: () => T0, historyMs: HOUR, symbols: ['BTC-USD'] }
    const full = await startFakeCoinbase(options)
    const kept = await startFakeCoinbase({ ...options, retainMs: 20 * 60_000 })
    const all = [...full.trades('BTC-USD')]
    const held = [...kept.trades('BTC-USD')]
    await Promise.all([full.close(), kept.close()])
    expect(held.length).toBeLessThan(all.length / 2)
    const newest = isoToMicros(all.at(-1)!.time)!
    expect(held).toEqual(all.filter((t) => isoToMicros(t.time)! >= newest - 20 * 60_000_000))
  })

  it('the simulator keeps simDefaults.retainMs of history however much it is asked to generate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ticklake-sim-retain-'))
    try {
      const fake = (await startSimulator({ exchange: 'sim-binance', symbols: ['BTC-USDT'], dataDir: dir, fake: { now: () => T0, historyMs: 8 * HOUR, ratePerSec: 1 } })) as FakeExchange
      const trades = [...fake.aggTrades('BTC-USDT')]
      await fake.close()
      // trims come in steps of a sixteenth of the book: at most that share is older than retainMs
      const cutoff = trades.at(-1)!.T - simDefaults.retainMs
      expect(trades[0].T).toBeGreaterThan(T0 - 7 * HOUR)
      expect(trades.filter((t) => t.T < cutoff).length).toBeLessThanOrEqual(trades.length / 16)
      expect(trades.length).toBeLessThanOrEqual(simDefaults.maxTrades)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
