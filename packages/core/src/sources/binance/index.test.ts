import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseCapture } from '../capture/index'
import { nativeSymbol } from '../../market/index'
import { parseFrame, resolverFor, streamUrl, type ParseContext } from './index'

const DATA = join(__dirname, '../../../../../../shared/data/binance')
const haveData = existsSync(DATA)
if (!haveData) console.warn(`skipping recordings tests: ${DATA} is absent (it holds the shared exchange recordings)`)

const ctx = (symbols: string[], fallback = false): ParseContext => {
  const resolve = resolverFor(symbols)
  // zst captures carry no configuration line, and some name symbols in an older spelling: there a native symbol stands for itself
  return { exchange: 'binance', resolve: (n) => resolve(n) ?? (fallback ? n : undefined), ingestTs: 1, source: 'ws' }
}

/** Recording files with their configured trade symbols (from the `configuration:` line of the folder). */
function recordings() {
  const out: { file: string; symbols: string[] }[] = []
  for (const dir of readdirSync(DATA).filter((d) => !d.includes('.'))) {
    const files = readdirSync(join(DATA, dir)).filter((f) => f.endsWith('.0') || f.endsWith('.zst'))
    for (const file of files) {
      const venue = file.split(/[.-]/)[0]
      const conf = files.map((f) => join(DATA, dir, f)).filter((f) => f.split('/').pop()!.split(/[.-]/)[0] === venue)
        .flatMap((f) => parseCapture(readFileSync(f)).filter((m) => m.kind === 'config').map((m) => JSON.parse(m.data)))
      out.push({ file: join(DATA, dir, file), symbols: conf.flatMap((c) => c.trades ?? []) })
    }
  }
  return out
}

describe('binance parser', () => {
  it.skipIf(!haveData)('parses every aggTrade frame of the real recordings into the right normalized trade', () => {
    let checked = 0
    for (const { file, symbols } of recordings()) {
      for (const m of parseCapture(readFileSync(file))) {
        if (m.kind !== 'ws' || !m.data.includes('@aggTrade"')) continue
        const raw = JSON.parse(m.data).data
        const r = parseFrame(m.data, ctx(symbols, true))
        expect(r.kind, `${file}: ${m.data.slice(0, 120)}`).toBe('trade')
        if (r.kind !== 'trade') continue
        const t = r.trade
        expect([nativeSymbol(t.symbol), t.symbol]).toContain(raw.s)
        expect(t.native_symbol).toBe(raw.s)
        expect(t.trade_id).toBe(raw.a)
        expect([t.first_trade_id, t.last_trade_id]).toEqual([raw.f, raw.l])
        expect(t.trades).toBe(raw.l - raw.f + 1)
        expect(t.side).toBe(raw.m === false ? 'buy' : 'sell')
        expect(t.ts).toBe(raw.T * 1000)
        expect(t.price).toBe(parseFloat(raw.p))
        expect(t.qty).toBe(parseFloat(raw.q))
        checked++
      }
    }
    // 1240 + 574 + 188 aggTrades in the 7136ce8d0d0a captures alone (see shared/data/README.md)
    expect(checked).toBeGreaterThan(2000)
  })

  it.skipIf(!haveData)('ignores the other streams of a recording without calling them errors', () => {
    const file = join(DATA, 'be4e5c81354b/BINANCE.ws.1.0')
    const results = parseCapture(readFileSync(file)).filter((m) => m.kind === 'ws').map((m) => parseFrame(m.data, ctx(['SWRV-BUSD'])))
    expect(results.filter((r) => r.kind === 'error')).toEqual([])
    expect(results.filter((r) => r.kind === 'ignored').length).toBeGreaterThan(1000)
  })

  it('gives a reason, never a throw, for malformed frames', () => {
    const bad = ['', 'not json', 'null', '[1,2]', '{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT","a":-1}}',
      '{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT","a":1,"p":"abc","q":"1","f":1,"l":1,"T":1,"m":true}}',
      '{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT","a":1,"p":"1.0","q":"1","f":2,"l":1,"T":1,"m":true}}',
      '{"e":"aggTrade","s":"BTCUSDT","a":1,"p":"1.0","q":"1","f":1,"l":1,"T":1,"m":"no"}']
    for (const raw of bad) expect(parseFrame(raw, ctx(['BTC-USDT'])).kind, raw).toBe('error')
  })

  it('builds the combined stream URL in lowercase native symbols', () => {
    expect(streamUrl('wss://x', ['BTC-USDT', 'ETH-USDT'])).toBe('wss://x/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade')
  })
})

describe('binance trade stream', () => {
  it('parses a plain trade event as one individual trade', () => {
    const raw = '{"stream":"btcusdt@trade","data":{"e":"trade","E":1700000000001,"s":"BTCUSDT","t":42,"p":"60000.01000000","q":"0.50000000","T":1700000000000,"m":true,"M":true}}'
    const r = parseFrame(raw, ctx(['BTC-USDT']))
    expect(r).toMatchObject({ kind: 'trade', trade: { trade_id: 42, first_trade_id: 42, last_trade_id: 42, trades: 1, side: 'sell', price: 60000.01, qty: 0.5, ts: 1700000000000000 } })
  })
})

describe('binance bookTicker', () => {
  it.skipIf(!haveData)('parses every bookTicker frame of the real recordings into a quote', () => {
    let n = 0
    for (const { file, symbols } of recordings()) {
      for (const m of parseCapture(readFileSync(file))) {
        if (m.kind !== 'ws' || !m.data.includes('@bookTicker"')) continue
        const raw = JSON.parse(m.data).data
        const r = parseFrame(m.data, ctx(symbols, true))
        expect(r.kind, m.data.slice(0, 120)).toBe('quote')
        if (r.kind !== 'quote') continue
        expect(r.quote).toMatchObject({ update_id: raw.u, bid: parseFloat(raw.b), bid_qty: parseFloat(raw.B), ask: parseFloat(raw.a), ask_qty: parseFloat(raw.A) })
        expect(r.quote.ts).toBe(raw.T !== undefined ? raw.T * 1000 : 1)
        n++
      }
    }
    expect(n).toBeGreaterThan(10_000)
  })
})
