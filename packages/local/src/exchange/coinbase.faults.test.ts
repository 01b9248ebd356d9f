/**
 * The Coinbase fault suite: the real ingest (the Coinbase venue: Advanced Trade WebSocket, Exchange
 * REST trades by id) run against the fake Coinbase while it drops, duplicates and reorders frames,
 * skips sequence numbers and trade ids, stalls, cuts connections and throttles REST; each test checks
 * against the exchange's ground truth that every trade was delivered exactly once.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Trade } from '@ticklake/core/market'
import { runIngest, type IngestOptions } from '@ticklake/core/sources/ingest'
import { coinbaseExchangeVenue } from '@ticklake/core/sources/coinbase'
import { readCheckpoint } from '@ticklake/core/sources/checkpoint'
import { listQuality } from '@ticklake/core/lake/quality'
import type { RecordStream } from '@ticklake/core/ports'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { partitionsOfKey } from '@ticklake/core/lake/layout'
import { updateSilver } from '@ticklake/core/lake/silver'
import { fileStore, memoryStore } from '../store/index'
import { startCloud } from '../cloud/index'
import { startFakeCoinbase, type CoinbaseFaults, type FakeCoinbase, type FakeCoinbaseOptions } from './coinbase'

const SYMBOL = 'BTC-USD'
let fx: FakeCoinbase | undefined
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

const exchange = (faults: Partial<CoinbaseFaults>, more: FakeCoinbaseOptions = {}) => startFakeCoinbase({ symbols: [SYMBOL], historyMs: 5 * 60_000, ratePerSec: 40, seed: 3, faults, ...more })

async function ingest(faults: Partial<CoinbaseFaults>, budgetMs: number, settings: IngestOptions['settings'] = {}, extra: { store?: ReturnType<typeof memoryStore>; stream?: RecordStream; during?: (fx: FakeCoinbase) => void; legacy?: boolean } = {}) {
  fx ??= await exchange(faults)
  const store = extra.store ?? memoryStore()
  const c = collector()
  const quotes = collector()
  const timer = extra.during && setTimeout(() => extra.during!(fx!), 600)
  const startedAt = Date.now()
  const summary = await runIngest(
    {
      exchange: 'coinbase', restUrl: fx.restUrl, wsUrl: fx.wsUrl, symbols: [SYMBOL], quotes: true, budgetMs, settings: { initialBackfillMs: 60_000, stopMarginMs: 0, ...settings },
      venue: extra.legacy ? coinbaseExchangeVenue({ restUrl: fx.restUrl, wsUrl: `${fx.wsUrl}/ws-feed`, symbols: [SYMBOL] }) : undefined,
    },
    { store, stream: extra.stream ?? c.stream, quoteStream: quotes.stream },
  )
  clearTimeout(timer)
  return { summary, store, accepted: c.accepted, quotes: quotes.accepted, fx, startedAt }
}

/** Every ground-truth trade between the first and last id accepted, each exactly once, in order. */
function expectExactlyOnce(accepted: Trade[], truth: ReadonlyArray<{ trade_id: number }>) {
  const ids = accepted.map((t) => t.trade_id)
  expect(new Set(ids).size).toBe(ids.length)
  const lo = Math.min(...ids)
  const hi = Math.max(...ids)
  expect(ids).toEqual(truth.filter((t) => t.trade_id >= lo && t.trade_id <= hi).map((t) => t.trade_id))
  return ids
}

describe('coinbase ingest under faults', () => {
  it('delivers every trade once in id order while frames are dropped, duplicated, reordered and misnumbered, with quotes from the ticker', async () => {
    const { accepted, fx, summary, quotes, startedAt } = await ingest({ drop: 0.05, duplicate: 0.05, reorder: 0.05, seqGap: 0.05 }, 2_500)
    const truth = fx.trades(SYMBOL)
    expectExactlyOnce(accepted, truth)
    // The first run backfilled from the first trade of the last minute: found by id, since the trades endpoint has no time filter.
    const first = truth.findIndex((t) => t.trade_id === accepted[0].trade_id)
    expect(accepted[0].ts / 1000).toBeGreaterThanOrEqual(startedAt - 60_000)
    expect(truth[first - 1].T).toBeLessThan(startedAt - 60_000 + 1_000)
    expect(summary.sequenceGaps).toBeGreaterThan(0)
    expect(summary.duplicates).toBeGreaterThan(0)
    expect(accepted.every((t) => t.exchange === 'coinbase' && t.symbol === SYMBOL && t.native_symbol === SYMBOL)).toBe(true)
    expect(quotes.length).toBeGreaterThan(0)
    expect(quotes[0]).toMatchObject({ exchange: 'coinbase', symbol: SYMBOL })
  })

  it('recovers trades lost just before a quiet spell from the sequence gap alone', async () => {
    // The fake's clock freezes after the loss: no later trade id reveals the hole, only the heartbeats' sequence_num.
    let frozen: number | undefined
    fx = await exchange({}, { now: () => frozen ?? Date.now(), restRatePerSec: 1_000, restBurst: 1_000 })
    const { accepted, summary } = await ingest({}, 3_000, {}, {
      during: (f) => { f.setFaults({ drop: 1 }); setTimeout(() => { frozen = Date.now(); f.setFaults({ drop: 0 }) }, 400) },
    })
    const truth = fx.trades(SYMBOL)
    expectExactlyOnce(accepted, truth)
    expect(accepted.at(-1)!.trade_id).toBe(truth.at(-1)!.trade_id)
    expect(summary.sequenceGaps).toBeGreaterThan(0)
  })

  it('takes trades from the legacy ws-feed matches as well, and catches up from a heartbeat last_trade_id after a quiet spell', async () => {
    let frozen: number | undefined
    fx = await exchange({ drop: 0.05, duplicate: 0.05, reorder: 0.05 }, { now: () => frozen ?? Date.now(), restRatePerSec: 1_000, restBurst: 1_000 })
    const lose = (f: FakeCoinbase) => { f.setFaults({ drop: 1 }); setTimeout(() => { frozen = Date.now(); f.setFaults({ drop: 0 }) }, 400) }
    const { accepted, summary } = await ingest({}, 3_000, {}, { legacy: true, during: (f) => setTimeout(() => lose(f), 900) })
    const truth = fx.trades(SYMBOL)
    expectExactlyOnce(accepted, truth)
    expect(accepted.at(-1)!.trade_id).toBe(truth.at(-1)!.trade_id)
    expect(summary.duplicates).toBeGreaterThan(0)
    expect(accepted.filter((t) => t.source === 'ws').length).toBeGreaterThan(10)
  })

  it('records ids the exchange never had as unfillable gaps and still delivers the rest once', async () => {
    const { accepted, fx, store } = await ingest({ idGap: 0.02 }, 2_500)
    expectExactlyOnce(accepted, fx.trades(SYMBOL))
    const holes = (await listQuality(store, { exchange: 'coinbase', symbol: SYMBOL })).gaps.filter((g) => g.kind === 'unfillable')
    expect(holes.length).toBeGreaterThan(0)
    const truth = new Set(fx.trades(SYMBOL).map((t) => t.trade_id))
    for (const g of holes) for (let id = g.from_id; id <= g.to_id; id++) expect(truth.has(id)).toBe(false)
  })

  it('replaces a stalled stream, records the disconnect, and fills what the stall hid', async () => {
    const { accepted, fx, store, summary } = await ingest({}, 3_500, { staleMs: 600 }, { during: (f) => f.setFaults({ stallUntil: Date.now() + 1_500 }) })
    expectExactlyOnce(accepted, fx.trades(SYMBOL))
    expect(summary.reconnects).toBeGreaterThan(0)
    const { disconnects } = await listQuality(store)
    expect(disconnects[0]).toMatchObject({ exchange: 'coinbase', symbols: [SYMBOL] })
    expect(disconnects[0].reconnected_at).toBeGreaterThan(disconnects[0].disconnected_at)
  })

  it('survives abrupt connection cuts without losing or repeating a trade', async () => {
    const { accepted, fx, summary } = await ingest({}, 3_000, {}, { during: (f) => { f.dropConnections(); setTimeout(() => f.dropConnections(), 800) } })
    expectExactlyOnce(accepted, fx.trades(SYMBOL))
    expect(summary.reconnects).toBeGreaterThanOrEqual(2)
  })

  it('backs off through a storm of 429s and still backfills everything', async () => {
    const { accepted, fx, startedAt } = await ingest({ rest429: 0.3 }, 4_000)
    expectExactlyOnce(accepted, fx.trades(SYMBOL))
    expect(accepted.filter((t) => t.source === 'rest').length).toBeGreaterThan(1_000)
    expect(accepted[0].ts / 1000).toBeLessThan(startedAt - 55_000) // the whole minute of backfill, 429s or not
  })

  it('moves the checkpoint only past records the stream accepted, and resumes from it on the next run', async () => {
    const store = memoryStore()
    const refusing = collector(() => { throw new Error('stream unavailable') })
    await expect(ingest({}, 1_000, { sendAttempts: 2, endMarginMs: 0 }, { store, stream: refusing.stream })).rejects.toThrow(/refused/)
    expect(await readCheckpoint(store, 'coinbase', SYMBOL)).toBeUndefined()
    const first = await ingest({}, 1_200, {}, { store })
    const cp = (await readCheckpoint(store, 'coinbase', SYMBOL))!.checkpoint
    expect(cp.last_trade_id).toBe(Math.max(...first.accepted.map((t) => t.trade_id)))
    await new Promise((r) => setTimeout(r, 700)) // trades happen while no run is ingesting
    const second = await ingest({}, 1_200, {}, { store })
    expect(Math.min(...second.accepted.map((t) => t.trade_id))).toBe(cp.last_trade_id + 1)
    expectExactlyOnce([...first.accepted, ...second.accepted], fx!.trades(SYMBOL))
  })

  it('lands every trade exactly once in silver when the local cloud ingests the faulty fake Coinbase', async () => {
    fx = await exchange({ drop: 0.05, duplicate: 0.05, reorder: 0.05, idGap: 0.01, seqGap: 0.02 })
    const dir = mkdtempSync(join(tmpdir(), 'ticklake-coinbase-'))
    try {
      const cloud = await startCloud({ exchange: 'coinbase', source: 'sim', restUrl: fx.restUrl, wsUrl: fx.wsUrl, symbols: [SYMBOL], port: 0, dataDir: dir, backfillMs: 60_000, ingestBudgetMs: 15_000, firehoseBufferMs: 300, log: () => {} })
      setTimeout(() => fx!.setFaults({ stallUntil: Date.now() + 1_000 }), 1_000)
      await new Promise((r) => setTimeout(r, 2_500))
      await cloud.close()
      const store = fileStore(dir)
      const cp = (await readCheckpoint(store, 'sim-coinbase', SYMBOL))!.checkpoint
      const hours = new Set((await store.list(`bronze/trades/exchange=sim-coinbase/symbol=${SYMBOL}/`)).map((o) => { const p = partitionsOfKey(o.key); return `${p.dt}/${p.hour}` }))
      const silver: Trade[] = []
      for (const h of [...hours].sort()) silver.push(...(await updateSilver(store, 'sim-coinbase', SYMBOL, h.split('/')[0], h.split('/')[1])).trades)
      const ids = expectExactlyOnce(silver, fx.trades(SYMBOL))
      expect(ids.at(-1)).toBe(cp.last_trade_id)
      expect(ids.length).toBeGreaterThan(1_000)
      expect(silver.every((t) => t.exchange === 'sim-coinbase' && t.symbol === SYMBOL)).toBe(true)
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})
