import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseCapture } from '../../sources/capture/index'
import { parseKlineEvent, type StreamKline } from '../../sources/binance/index'
import { candlesOfColumns, columnsOf } from './index'

const DATA = join(__dirname, '../../../../../../shared/data/binance')
const present = existsSync(DATA)
if (!present) console.warn(`skipping the kline proofs: ${DATA} (the recordings of ../shared/data) is absent`)

interface Agg { a: number; p: string; q: string; f: number; l: number; T: number; m: boolean }

/** Every recording of Binance WebSocket traffic, except COIN-M futures (their `q` is base volume). */
function recordings(): string[] {
  const out: string[] = []
  for (const dir of readdirSync(DATA, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue
    for (const f of readdirSync(join(DATA, dir.name))) if (!f.startsWith('BINANCE_DELIVERY') && !f.includes('.http.')) out.push(join(DATA, dir.name, f))
  }
  return out.sort()
}

/** Kline states and aggTrades of one recording, per symbol; the time its traffic starts (ms). */
function readRecording(file: string) {
  const messages = parseCapture(new Uint8Array(readFileSync(file)))
  let start = Infinity
  const trades = new Map<string, Map<number, Agg>>()
  const klines: StreamKline[] = []
  for (const m of messages) {
    if (m.kind !== 'ws' || !m.data.startsWith('{')) continue
    if (m.recvTs !== undefined) start = Math.min(start, m.recvTs * 1000)
    if (!m.data.includes('"aggTrade"') && !m.data.includes('"kline"')) continue
    const msg = JSON.parse(m.data)
    const d = msg.data ?? msg
    if (d.e === 'aggTrade') {
      const map = trades.get(d.s) ?? new Map<number, Agg>()
      trades.set(d.s, map.set(d.a, d))
    } else if (d.e === 'kline') {
      const k = parseKlineEvent(d)
      if ('error' in k) throw new Error(`${file}: ${k.error}`)
      klines.push(k)
    }
  }
  return { start, klines, trades: new Map([...trades].map(([s, m]) => [s, [...m.values()].sort((x, y) => x.a - y.a)])) }
}

describe('candles against the exchange, on real recordings', () => {
  it.skipIf(!present)('rebuilds every kline state whose minute began inside its recording from the aggTrades, field by field', () => {
    let checked = 0, flat = 0, files = 0
    const skipped = { beforeRecording: 0, midMatch: 0, noPrice: 0 }
    const mismatches: string[] = []
    for (const file of recordings()) {
      const { start, klines, trades } = readRecording(file)
      if (klines.length) files++
      for (const k of klines) {
        if (k.interval !== '1m') continue
        if (k.open_time < start) { skipped.beforeRecording++; continue }
        const all = trades.get(k.symbol) ?? []
        // a running kline taken while one taker order was being matched ends inside an aggTrade
        if (all.some((a) => a.f <= k.last_trade_id && k.last_trade_id < a.l)) { skipped.midMatch++; continue }
        const mine = all.filter((a) => a.T >= k.open_time && a.T <= k.close_time && a.l <= k.last_trade_id)
        const before = all.filter((a) => a.T < k.open_time).at(-1)
        if (!mine.length && !before) { skipped.noPrice++; continue }
        const cols = columnsOf(mine.map((a) => ({ ts: a.T * 1000, price: Number(a.p), qty: Number(a.q), side: a.m ? 'sell' : 'buy', trades: a.l - a.f + 1, first_trade_id: a.f, last_trade_id: a.l, trade_id: a.a })))
        const [c] = candlesOfColumns(cols, { exchange: 'binance', symbol: k.symbol, from: k.open_time, until: k.open_time + 60_000, prevClose: before && Number(before.p), timeframes: ['1m'] })['1m']
        const expected = {
          open_time: k.open_time, close_time: k.close_time, open: Number(k.open), high: Number(k.high), low: Number(k.low), close: Number(k.close),
          volume: Number(k.volume), trades: k.trades, taker_buy_volume: Number(k.taker_buy_volume),
          quote_volume: Number(k.quote_volume), taker_buy_quote_volume: Number(k.taker_buy_quote_volume),
          ...(k.trades ? { first_trade_id: k.first_trade_id, last_trade_id: k.last_trade_id } : {}),
        }
        const got = Object.fromEntries(Object.keys(expected).map((f) => [f, (c as any)?.[f]]))
        for (const [f, v] of Object.entries(expected)) if (got[f] !== v) mismatches.push(`${file} ${k.symbol} ${new Date(k.open_time).toISOString()} ${f}: kline ${v}, rebuilt ${got[f]}`)
        checked++
        if (!k.trades) flat++
      }
    }
    console.log(`kline states proven: ${checked} (${flat} without trades) from ${files} recordings; skipped ${JSON.stringify(skipped)}`)
    expect(mismatches).toEqual([])
    expect(checked).toBeGreaterThan(20) // 34 on the recordings of ../shared/data today
  })

  it.skipIf(!present)('rebuilds the change between two states of a kline that began before its recording from the aggTrades between them', () => {
    const dec = (x: string) => { const [i, f = ''] = x.split('.'); return BigInt(i + f.padEnd(8, '0')) }
    let checked = 0
    const mismatches: string[] = []
    for (const file of recordings()) {
      const { klines, trades } = readRecording(file)
      const last = new Map<string, StreamKline>()
      for (const k of klines) {
        if (k.interval !== '1m') continue
        const all = trades.get(k.symbol) ?? []
        if (all.some((a) => a.f <= k.last_trade_id && k.last_trade_id < a.l)) continue // taken mid-match
        const id = `${k.symbol}/${k.open_time}`
        const prev = last.get(id)
        last.set(id, k)
        if (!prev || prev.last_trade_id < 0 || k.last_trade_id <= prev.last_trade_id) continue
        const between = all.filter((a) => a.f > prev.last_trade_id && a.l <= k.last_trade_id)
        if (!between.length || between[0].f !== prev.last_trade_id + 1) continue // the recording holds no trades from there
        const cols = columnsOf(between.map((a) => ({ ts: a.T * 1000, price: Number(a.p), qty: Number(a.q), side: a.m ? 'sell' : 'buy', trades: a.l - a.f + 1, first_trade_id: a.f, last_trade_id: a.l, trade_id: a.a })))
        const [r] = candlesOfColumns(cols, { exchange: 'binance', symbol: k.symbol, from: k.open_time, until: k.open_time + 60_000, timeframes: ['1m'] })['1m']
        const want = {
          open: Number(prev.open), high: Math.max(Number(prev.high), r.high), low: Math.min(Number(prev.low), r.low), close: r.close,
          trades: prev.trades + r.trades, volume: dec(prev.volume) + dec(r.volume.toFixed(8)), taker_buy_volume: dec(prev.taker_buy_volume) + dec(r.taker_buy_volume.toFixed(8)), last_trade_id: r.last_trade_id,
        }
        const got = { open: Number(k.open), high: Number(k.high), low: Number(k.low), close: Number(k.close), trades: k.trades, volume: dec(k.volume), taker_buy_volume: dec(k.taker_buy_volume), last_trade_id: k.last_trade_id }
        if (JSON.stringify(got, (_, v) => (typeof v === 'bigint' ? v.toString() : v)) !== JSON.stringify(want, (_, v) => (typeof v === 'bigint' ? v.toString() : v))) mismatches.push(`${file} ${id}: ${JSON.stringify({ got, want }, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`)
        checked++
      }
    }
    console.log(`kline state changes proven: ${checked}`)
    expect(mismatches).toEqual([])
    expect(checked).toBeGreaterThan(20)
  })
})
