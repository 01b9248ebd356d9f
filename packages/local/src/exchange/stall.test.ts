/**
 * Stalls: the real ingest against the fake exchange while its stream stays open but brings no
 * trades (the exchange trading on), or while the whole source stops answering. Either is recorded
 * under `quality/stalls/`, and the candles' completeness horizon does not pass it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Trade } from '@ticklake/core/market'
import { runIngest } from '@ticklake/core/sources/ingest'
import { readCheckpoint } from '@ticklake/core/sources/checkpoint'
import { listQuality } from '@ticklake/core/lake/quality'
import { bronzeTradesPrefix, partitionOf } from '@ticklake/core/lake/layout'
import { recomputeHour } from '@ticklake/core/lake/candles'
import type { RecordStream } from '@ticklake/core/ports'
import { memoryStore } from '../store/index'
import { bronzeTradesFile } from '../firehose/convert'
import { startFakeExchange, type FakeExchange } from './index'

const SYMBOL = 'BTC-USDT'
let fx: FakeExchange | undefined
afterEach(async () => { await fx?.close(); fx = undefined })

function collector() {
  const accepted: Trade[] = []
  const stream: RecordStream = { async putRecords(records) { accepted.push(...(records as Trade[])); return { failed: [] } } }
  return { stream, accepted }
}

describe('stalls', () => {
  it('records a stream that stays open but brings no trades while the exchange trades on, catches up over REST, and closes the stall when trades come again', async () => {
    fx = await startFakeExchange({ symbols: [SYMBOL], historyMs: 5 * 60_000, ratePerSec: 40, seed: 4 })
    const store = memoryStore()
    const c = collector()
    const timer = setTimeout(() => fx!.setFaults({ stallUntil: Date.now() + 2_500 }), 800)
    const summary = await runIngest(
      { exchange: 'binance', restUrl: fx.restUrl, wsUrl: fx.wsUrl, symbols: [SYMBOL], budgetMs: 5_000, settings: { initialBackfillMs: 60_000, stopMarginMs: 0, stallAfterMs: 600 } },
      { store, stream: c.stream },
    )
    clearTimeout(timer)
    expect(summary.stalls).toBeGreaterThan(0)
    expect(summary.reconnects).toBe(0) // the connection stayed open: only the stall check could tell
    const { stalls } = await listQuality(store, { exchange: 'binance', symbol: SYMBOL })
    expect(stalls[0]).toMatchObject({ exchange: 'binance', symbol: SYMBOL, reason: expect.stringMatching(/traded on/) })
    expect(stalls[0].detected_at - stalls[0].since).toBeGreaterThanOrEqual(600)
    expect(stalls[0].resumed_at).toBeGreaterThan(stalls[0].detected_at)
    expect(stalls[0].fetched).toBeGreaterThan(0) // what the stream withheld came over REST meanwhile
    const ids = c.accepted.map((t) => t.trade_id)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids).toEqual(fx.aggTrades(SYMBOL).filter((t) => t.a >= ids[0] && t.a <= ids.at(-1)!).map((t) => t.a))
  })

  it('records a source that stops answering as a stall, and the candles\' horizon does not pass its start', async () => {
    fx = await startFakeExchange({ symbols: [SYMBOL], historyMs: 5 * 60_000, ratePerSec: 40, seed: 5 })
    const store = memoryStore()
    const c = collector()
    let down = false
    const timer = setTimeout(() => { down = true; fx!.setFaults({ stallUntil: Infinity }) }, 800)
    const fetchImpl = ((url: string, init?: RequestInit) => (down ? Promise.reject(new TypeError('fetch failed')) : fetch(url, init))) as typeof fetch
    await runIngest(
      { exchange: 'binance', restUrl: fx.restUrl, wsUrl: fx.wsUrl, symbols: [SYMBOL], budgetMs: 3_500, settings: { initialBackfillMs: 60_000, stopMarginMs: 0, stallAfterMs: 600 } },
      { store, stream: c.stream, fetch: fetchImpl },
    )
    clearTimeout(timer)
    const { stalls } = await listQuality(store, { exchange: 'binance', symbol: SYMBOL })
    expect(stalls).toHaveLength(1)
    expect(stalls[0].reason).toMatch(/does not answer/)
    expect(stalls[0].resumed_at).toBeUndefined()
    expect(stalls[0].ended_at).toBeGreaterThan(stalls[0].detected_at) // closed with the run, still stalled
    const cp = (await readCheckpoint(store, 'binance', SYMBOL))!.checkpoint
    expect(cp.ts / 1000).toBeLessThanOrEqual(stalls[0].since)
    // the lake path, run well after the stall: its horizon stays at the last trade before it, so no minute after is final
    const byHour = new Map<string, Trade[]>()
    for (const t of c.accepted) { const p = partitionOf(t.ts / 1000); const k = `${p.dt}/${p.hour}`; byHour.set(k, [...(byHour.get(k) ?? []), t]) }
    const later = Date.now() + 10 * 60_000
    for (const [k, trades] of byHour) {
      const [dt, hour] = k.split('/')
      await store.put(`${bronzeTradesPrefix('binance', SYMBOL, dt, hour)}stall-test.parquet`, bronzeTradesFile(trades))
      const r = await recomputeHour({ store, exchange: 'binance', symbol: SYMBOL, dt, hour, now: later })
      for (const tf of Object.keys(r.byTf) as (keyof typeof r.byTf)[]) for (const candle of r.byTf[tf]) if (candle.final) expect(candle.close_time).toBeLessThan(stalls[0].since)
    }
    const [dt, hour] = [...byHour.keys()].at(-1)!.split('/')
    const state = JSON.parse(new TextDecoder().decode((await store.get(`state/candles/binance/${SYMBOL}/${dt}/${hour}.json`))!))
    expect(state.complete).toBeLessThanOrEqual(stalls[0].since)
  })
})
