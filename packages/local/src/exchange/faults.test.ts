/**
 * The fault suite: the real ingest run against the fake exchange while it drops, duplicates and
 * reorders frames, skips ids, stalls, cuts connections, rotates them and throttles REST; each test
 * checks against the exchange's ground truth that every trade was delivered exactly once.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Trade } from '@ticklake/core/market'
import { runIngest, type IngestOptions } from '@ticklake/core/sources/ingest'
import { readCheckpoint } from '@ticklake/core/sources/checkpoint'
import { listQuality } from '@ticklake/core/lake/quality'
import type { RecordStream } from '@ticklake/core/ports'
import { memoryStore } from '../store/index'
import { startFakeExchange, type Faults, type FakeExchange } from './index'

const SYMBOL = 'BTC-USDT'
let fx: FakeExchange | undefined
afterEach(async () => { await fx?.close(); fx = undefined })

/** A RecordStream keeping what it accepted; `refuse` decides per call which records fail. */
function collector(refuse: (call: number, n: number) => number[] = () => []) {
  const accepted: Trade[] = []
  let calls = 0
  const stream: RecordStream = {
    async putRecords(records) {
      const failed = refuse(calls++, records.length)
      records.forEach((r, i) => { if (!failed.includes(i)) accepted.push(r as Trade) })
      return { failed }
    },
  }
  return { stream, accepted }
}

async function ingest(faults: Partial<Faults>, budgetMs: number, settings: IngestOptions['settings'] = {}, extra: { store?: ReturnType<typeof memoryStore>; stream?: RecordStream; during?: (fx: FakeExchange) => void } = {}) {
  fx ??= await startFakeExchange({ symbols: [SYMBOL], historyMs: 5 * 60_000, ratePerSec: 40, seed: 3, faults })
  const store = extra.store ?? memoryStore()
  const c = collector()
  const timer = extra.during && setTimeout(() => extra.during!(fx!), 600)
  const summary = await runIngest(
    { exchange: 'binance', restUrl: fx.restUrl, wsUrl: fx.wsUrl, symbols: [SYMBOL], budgetMs, settings: { initialBackfillMs: 60_000, stopMarginMs: 0, ...settings } },
    { store, stream: extra.stream ?? c.stream },
  )
  clearTimeout(timer)
  return { summary, store, accepted: c.accepted, fx }
}

/** Every ground-truth trade between the first and last id accepted, each exactly once. */
function expectExactlyOnce(accepted: Trade[], truth: ReadonlyArray<{ a: number }>) {
  const ids = accepted.map((t) => t.trade_id)
  expect(new Set(ids).size).toBe(ids.length)
  const lo = Math.min(...ids)
  const hi = Math.max(...ids)
  expect(ids).toEqual(truth.filter((t) => t.a >= lo && t.a <= hi).map((t) => t.a))
  return ids
}

describe('ingest under faults', () => {
  it('delivers every trade once in id order while frames are dropped, duplicated and reordered', async () => {
    const { accepted, fx, summary } = await ingest({ drop: 0.05, duplicate: 0.05, reorder: 0.05 }, 3_000)
    expectExactlyOnce(accepted, fx.aggTrades(SYMBOL))
    expect(summary.gapsFilled).toBeGreaterThan(0)
    expect(summary.duplicates).toBeGreaterThan(0)
  })

  it('records ids the exchange never had as unfillable gaps and still delivers the rest once', async () => {
    const { accepted, fx, store } = await ingest({ idGap: 0.02 }, 2_500)
    expectExactlyOnce(accepted, fx.aggTrades(SYMBOL))
    const { gaps } = await listQuality(store, { exchange: 'binance', symbol: SYMBOL })
    const holes = gaps.filter((g) => g.kind === 'unfillable')
    expect(holes.length).toBeGreaterThan(0)
    const truth = new Set(fx.aggTrades(SYMBOL).map((t) => t.a))
    for (const g of holes) for (let id = g.from_id; id <= g.to_id; id++) expect(truth.has(id)).toBe(false)
  })

  it('replaces a stalled stream, records the disconnect, and fills what the stall hid', async () => {
    const { accepted, fx, store, summary } = await ingest({}, 4_000, { staleMs: 600 }, { during: (f) => f.setFaults({ stallUntil: Date.now() + 1_500 }) })
    expectExactlyOnce(accepted, fx.aggTrades(SYMBOL))
    expect(summary.reconnects).toBeGreaterThan(0)
    const { disconnects } = await listQuality(store)
    expect(disconnects[0]).toMatchObject({ exchange: 'binance', symbols: [SYMBOL] })
    expect(disconnects[0].reconnected_at).toBeGreaterThan(disconnects[0].disconnected_at)
  })

  it('survives abrupt connection cuts without losing or repeating a trade', async () => {
    const { accepted, fx, summary } = await ingest({}, 3_500, {}, { during: (f) => { f.dropConnections(); setTimeout(() => f.dropConnections(), 800) } })
    expectExactlyOnce(accepted, fx.aggTrades(SYMBOL))
    expect(summary.reconnects).toBeGreaterThanOrEqual(2)
  })

  it('rotates the connection before the exchange ends it, with no disconnect and no duplicate', async () => {
    fx = await startFakeExchange({ symbols: [SYMBOL], historyMs: 5 * 60_000, ratePerSec: 40, seed: 3, maxConnectionMs: 1_500 })
    const { accepted, store, summary } = await ingest({}, 3_500, { rotateAfterMs: 900, rotateOverlapMs: 200 })
    expectExactlyOnce(accepted, fx.aggTrades(SYMBOL))
    expect(summary.reconnects).toBe(0)
    expect((await listQuality(store)).disconnects).toEqual([])
  })

  it('backs off through a storm of 429s and still backfills everything', async () => {
    const { accepted, fx } = await ingest({ rest429: 0.4 }, 6_000)
    const ids = expectExactlyOnce(accepted, fx.aggTrades(SYMBOL))
    expect(accepted.filter((t) => t.source === 'rest').length).toBeGreaterThan(100)
    expect(ids.length).toBeGreaterThan(1_000)
  })

  it('moves the checkpoint only past records the stream accepted, and resumes from it on the next run', async () => {
    const store = memoryStore()
    const refusing = collector(() => { throw new Error('stream unavailable') })
    await expect(ingest({}, 1_500, { sendAttempts: 2 }, { store, stream: refusing.stream })).rejects.toThrow(/refused/)
    expect(await readCheckpoint(store, 'binance', SYMBOL)).toBeUndefined()
    const first = await ingest({}, 1_500, {}, { store })
    const cp = (await readCheckpoint(store, 'binance', SYMBOL))!.checkpoint
    expect(cp.last_trade_id).toBe(Math.max(...first.accepted.map((t) => t.trade_id)))
    await new Promise((r) => setTimeout(r, 700)) // trades happen while no run is ingesting
    const second = await ingest({}, 1_500, {}, { store })
    expect(Math.min(...second.accepted.map((t) => t.trade_id))).toBe(cp.last_trade_id + 1)
    expectExactlyOnce([...first.accepted, ...second.accepted], fx!.aggTrades(SYMBOL))
  })
})
