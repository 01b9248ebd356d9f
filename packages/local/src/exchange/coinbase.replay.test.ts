import { describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import type { CapturedCoinbaseTrade } from '@ticklake/core/sources/capture'
import { parseAdvancedFrame, subscribeMessages, tradesFrom } from '@ticklake/core/sources/coinbase'
import { startFakeCoinbase } from './coinbase'

/** `n` recorded trades from id `first`, 10 ms apart, with integer sizes Coinbase prints without a fraction. */
function recorded(first: number, n: number, t0 = Date.UTC(2026, 7, 9, 21, 5, 0) * 1000): CapturedCoinbaseTrade[] {
  return Array.from({ length: n }, (_, i) => {
    const us = t0 + i * 10_000 + 7
    return { trade_id: first + i, price: (65000 + (i % 50)).toString(), size: i % 2 ? '70' : '0.00123', time: `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 23)}${String(us % 1000).padStart(3, '0')}Z`, side: i % 3 ? 'buy' : 'sell', us }
  })
}

describe('fake coinbase replay', () => {
  it('plays recorded trades from the first subscription, in frames of at most 500, and pages them over REST by id', async () => {
    const trades = recorded(1_000_000, 2_500)
    const cb = await startFakeCoinbase({ replay: { trades: new Map([['BTC-USD', trades]]), speed: 'max' } })
    try {
      expect(cb.symbols).toEqual(['BTC-USD'])
      await new Promise((r) => setTimeout(r, 250))
      expect(cb.trades('BTC-USD').length).toBe(0) // the clock waits for a subscriber
      const ws = new WebSocket(cb.wsUrl)
      const frames: string[] = []
      ws.on('message', (d) => frames.push(d.toString()))
      await new Promise((r) => ws.once('open', r))
      for (const m of subscribeMessages(['BTC-USD'], ['market_trades', 'ticker'])) ws.send(m)
      for (const end = Date.now() + 3_000; !cb.replayDone() && Date.now() < end;) await new Promise((r) => setTimeout(r, 20))
      await new Promise((r) => setTimeout(r, 200))
      ws.close()
      expect(cb.replayDone()).toBe(true)
      const parsed = frames.map((f) => JSON.parse(f))
      expect(parsed.some((f) => f.channel === 'ticker')).toBe(false) // none recorded, none made up
      const updates = parsed.filter((f) => f.channel === 'market_trades' && f.events[0].type === 'update')
      expect(Math.max(...updates.map((f) => f.events[0].trades.length))).toBe(500)
      expect(updates.flatMap((f) => f.events[0].trades).find((t: any) => t.trade_id === '1000001')).toMatchObject({ size: '70', price: '65001', side: 'BUY' })
      const streamed = updates.flatMap((f) => { const r = parseAdvancedFrame(JSON.stringify(f), { ingestTs: 0, source: 'replay' }); return r.kind === 'trades' ? r.trades : [] })
      expect(streamed.map((t) => t.trade_id)).toEqual(trades.map((t) => t.trade_id))
      expect(streamed.map((t) => t.ts)).toEqual(trades.map((t) => t.us))
      const paged = []
      for await (const page of tradesFrom(cb.restUrl, 'BTC-USD', 1_000_100, Infinity, fetch, { pageDelayMs: 0 })) paged.push(...page)
      expect(paged.map((t) => t.trade_id)).toEqual(trades.slice(100).map((t) => t.trade_id))
      expect(paged.map((t) => [t.price, t.qty, t.side])).toEqual(trades.slice(100).map((t) => [Number(t.price), Number(t.size), t.side === 'buy' ? 'sell' : 'buy']))
    } finally { await cb.close() }
  })
})
