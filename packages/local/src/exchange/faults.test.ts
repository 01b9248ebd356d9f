/**
 * The fault suite: the real ingest run against the fake Binance and the fake Coinbase (Advanced
 * Trade WebSocket, Exchange REST trades by id) while they drop, duplicate and reorder frames, skip
 * ids (and Coinbase's sequence numbers), stall, cut connections, rotate them and throttle REST;
 * each test checks against the exchange's ground truth that every trade was delivered exactly once.
 * One body runs over both venues; what only one venue has follows in that venue's suite. The runs
 * wait on their ingest budgets, not the CPU, so the two venues' suites run concurrently (their
 * tests one after another: more at once made the runs' timing flaky on a loaded 2-core machine),
 * each test with its own exchange.
 */
import { describe, expect, it as base } from 'vitest'
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
import { startFakeExchange, type FakeExchangeOptions, type Faults } from './index'
import { startFakeCoinbase, type CoinbaseFaults, type FakeCoinbaseOptions } from './coinbase'

/** A fake exchange as the suite drives it, with its ground truth: every trade's id and time (ms), in id order. */
interface Fake {
  restUrl: string
  wsUrl: string
  setFaults(f: Partial<Faults>): void
  dropConnections(): void
  close(): Promise<void>
  truth(): { id: number; T: number }[]
}

interface Venue {
  exchange: 'binance' | 'coinbase'
  symbol: string
  native: string
  /** The frame faults the venue's stream can suffer (Coinbase numbers its frames: they can be misnumbered too). */
  frameFaults: Partial<CoinbaseFaults>
  /** The summary count that says a lost frame was noticed and filled: Binance sees trade ids jump, Coinbase a sequence number. */
  lossNoticedBy: 'gapsFilled' | 'sequenceGaps'
  /**
   * The share of REST requests a storm answers with 429, the trades the venue must still backfill
   * over REST through it, and the run's budget: Binance's minute of backfill is 4 requests, each
   * refusal costs its Retry-After (1 s), and at 40% refusals 6 s ran out in about 1 run in 10
   * (the chance of 5 or more refusals before the 4th answer); 12 s leaves about 1 in 500.
   */
  storm: { rest429: number; restTrades: number; budgetMs: number }
  start(faults?: Partial<CoinbaseFaults>): Promise<Fake>
}

const tape = { historyMs: 5 * 60_000, ratePerSec: 40, seed: 3 }

const binance = {
  exchange: 'binance', symbol: 'BTC-USDT', native: 'BTCUSDT',
  frameFaults: { drop: 0.05, duplicate: 0.05, reorder: 0.05 }, lossNoticedBy: 'gapsFilled',
  storm: { rest429: 0.4, restTrades: 100, budgetMs: 12_000 },
  async start(faults: Partial<Faults> = {}, more: FakeExchangeOptions = {}): Promise<Fake> {
    const fx = await startFakeExchange({ symbols: ['BTC-USDT'], ...tape, faults, ...more })
    return { restUrl: fx.restUrl, wsUrl: fx.wsUrl, setFaults: fx.setFaults, dropConnections: fx.dropConnections, close: fx.close, truth: () => fx.aggTrades('BTC-USDT').map((t) => ({ id: t.a, T: t.T })) }
  },
} satisfies Venue

const coinbase = {
  exchange: 'coinbase', symbol: 'BTC-USD', native: 'BTC-USD',
  frameFaults: { drop: 0.05, duplicate: 0.05, reorder: 0.05, seqGap: 0.05 }, lossNoticedBy: 'sequenceGaps',
  storm: { rest429: 0.3, restTrades: 1_000, budgetMs: 6_000 },
  async start(faults: Partial<CoinbaseFaults> = {}, more: FakeCoinbaseOptions = {}): Promise<Fake> {
    const fx = await startFakeCoinbase({ symbols: ['BTC-USD'], ...tape, faults, ...more })
    return { restUrl: fx.restUrl, wsUrl: fx.wsUrl, setFaults: fx.setFaults, dropConnections: fx.dropConnections, close: fx.close, truth: () => fx.trades('BTC-USD').map((t) => ({ id: t.trade_id, T: t.T })) }
  },
} satisfies Venue

/** Tests in sequence within their suite; `open(start)`: a fake exchange closed when the test ends (per test, as suites run concurrently). */
const it = base.extend<{ open: (fake: Promise<Fake>) => Promise<Fake> }>({
  open: async ({}, use) => {
    const opened: Fake[] = []
    await use(async (fake) => { const fx = await fake; opened.push(fx); return fx })
    await Promise.all(opened.map((fx) => fx.close()))
  },
}).sequential

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

/** One ingest run of `budgetMs` on `fx`, trades and quotes (as `ticklake start` runs it); `during` acts on the exchange 600 ms in. */
async function ingest(v: Venue, fx: Fake, budgetMs: number, settings: IngestOptions['settings'] = {}, extra: { store?: ReturnType<typeof memoryStore>; stream?: RecordStream; during?: (fx: Fake) => void; options?: Partial<IngestOptions> } = {}) {
  const store = extra.store ?? memoryStore()
  const c = collector()
  const quotes = collector()
  const timer = extra.during && setTimeout(() => extra.during!(fx), 600)
  const startedAt = Date.now()
  try {
    const summary = await runIngest(
      { exchange: v.exchange, restUrl: fx.restUrl, wsUrl: fx.wsUrl, symbols: [v.symbol], quotes: true, budgetMs, settings: { initialBackfillMs: 60_000, stopMarginMs: 0, ...settings }, ...extra.options },
      { store, stream: extra.stream ?? c.stream, quoteStream: quotes.stream },
    )
    return { summary, store, accepted: c.accepted, quotes: quotes.accepted, startedAt }
  } finally { clearTimeout(timer) }
}

/** Every ground-truth trade between the first and last id accepted, each exactly once, in order. */
function expectExactlyOnce(accepted: Trade[], truth: ReadonlyArray<{ id: number }>) {
  const ids = accepted.map((t) => t.trade_id)
  expect(new Set(ids).size).toBe(ids.length)
  const lo = Math.min(...ids)
  const hi = Math.max(...ids)
  expect(ids).toEqual(truth.filter((t) => t.id >= lo && t.id <= hi).map((t) => t.id))
  return ids
}

describe.concurrent.each([binance, coinbase] as Venue[])('$exchange ingest under faults', (v) => {
  it('delivers every trade once in id order while frames are dropped, duplicated, reordered (and misnumbered, where frames carry sequence numbers), with quotes', async ({ open }) => {
    const fx = await open(v.start(v.frameFaults))
    const { accepted, summary, quotes, startedAt } = await ingest(v, fx, 3_000)
    const truth = fx.truth()
    expectExactlyOnce(accepted, truth)
    // The first run backfilled from the first trade of the last minute (Coinbase's by id, since its trades endpoint has no time filter).
    const first = truth.findIndex((t) => t.id === accepted[0].trade_id)
    expect(accepted[0].ts / 1000).toBeGreaterThanOrEqual(startedAt - 60_000)
    expect(truth[first - 1].T).toBeLessThan(startedAt - 60_000 + 1_000)
    expect(summary[v.lossNoticedBy]).toBeGreaterThan(0)
    expect(summary.duplicates).toBeGreaterThan(0)
    expect(summary.sequenceGaps > 0).toBe(v.frameFaults.seqGap !== undefined)
    expect(accepted.every((t) => t.exchange === v.exchange && t.symbol === v.symbol && t.native_symbol === v.native)).toBe(true)
    expect(quotes.length).toBeGreaterThan(0)
    expect(quotes[0]).toMatchObject({ exchange: v.exchange, symbol: v.symbol })
  })

  it('records ids the exchange never had as unfillable gaps and still delivers the rest once', async ({ open }) => {
    const fx = await open(v.start({ idGap: 0.02 }))
    const { accepted, store } = await ingest(v, fx, 2_500)
    expectExactlyOnce(accepted, fx.truth())
    const { gaps } = await listQuality(store, { exchange: v.exchange, symbol: v.symbol })
    const holes = gaps.filter((g) => g.kind === 'unfillable')
    expect(holes.length).toBeGreaterThan(0)
    const truth = new Set(fx.truth().map((t) => t.id))
    for (const g of holes) for (let id = g.from_id; id <= g.to_id; id++) expect(truth.has(id)).toBe(false)
  })

  it('replaces a stalled stream, records the disconnect, and fills what the stall hid', async ({ open }) => {
    const fx = await open(v.start())
    const { accepted, store, summary } = await ingest(v, fx, 4_000, { staleMs: 600 }, { during: (f) => f.setFaults({ stallUntil: Date.now() + 1_500 }) })
    expectExactlyOnce(accepted, fx.truth())
    expect(summary.reconnects).toBeGreaterThan(0)
    const { disconnects } = await listQuality(store)
    expect(disconnects[0]).toMatchObject({ exchange: v.exchange, symbols: [v.symbol] })
    expect(disconnects[0].reconnected_at).toBeGreaterThan(disconnects[0].disconnected_at)
  })

  it('survives abrupt connection cuts without losing or repeating a trade', async ({ open }) => {
    const fx = await open(v.start())
    const { accepted, summary } = await ingest(v, fx, 3_500, {}, { during: (f) => { f.dropConnections(); setTimeout(() => f.dropConnections(), 800) } })
    expectExactlyOnce(accepted, fx.truth())
    expect(summary.reconnects).toBeGreaterThanOrEqual(2)
  })

  it('backs off through a storm of 429s and still backfills everything', async ({ open }) => {
    const fx = await open(v.start({ rest429: v.storm.rest429 }))
    const { accepted, startedAt } = await ingest(v, fx, v.storm.budgetMs)
    const ids = expectExactlyOnce(accepted, fx.truth())
    expect(accepted.filter((t) => t.source === 'rest').length).toBeGreaterThan(v.storm.restTrades)
    expect(accepted[0].ts / 1000).toBeLessThan(startedAt - 55_000) // the whole minute of backfill, 429s or not
    expect(ids.length).toBeGreaterThan(1_000)
  })

  it('moves the checkpoint only past records the stream accepted, and resumes from it on the next run', async ({ open }) => {
    const fx = await open(v.start())
    const store = memoryStore()
    const refusing = collector(() => { throw new Error('stream unavailable') })
    await expect(ingest(v, fx, 1_500, { sendAttempts: 2, endMarginMs: 0 }, { store, stream: refusing.stream })).rejects.toThrow(/refused/)
    expect(await readCheckpoint(store, v.exchange, v.symbol)).toBeUndefined()
    const first = await ingest(v, fx, 1_500, {}, { store })
    const cp = (await readCheckpoint(store, v.exchange, v.symbol))!.checkpoint
    expect(cp.last_trade_id).toBe(Math.max(...first.accepted.map((t) => t.trade_id)))
    await new Promise((r) => setTimeout(r, 700)) // trades happen while no run is ingesting
    const second = await ingest(v, fx, 1_500, {}, { store })
    expect(Math.min(...second.accepted.map((t) => t.trade_id))).toBe(cp.last_trade_id + 1)
    expectExactlyOnce([...first.accepted, ...second.accepted], fx.truth())
  })

  if (v === binance) binanceOnly()
  if (v === coinbase) coinbaseOnly()
})

function binanceOnly() {
  it('rotates the connection before the exchange ends it, with no disconnect and no duplicate', async ({ open }) => {
    const fx = await open(binance.start({}, { maxConnectionMs: 1_500 }))
    const { accepted, store, summary } = await ingest(binance, fx, 3_500, { rotateAfterMs: 900, rotateOverlapMs: 200 })
    expectExactlyOnce(accepted, fx.truth())
    expect(summary.reconnects).toBe(0)
    expect((await listQuality(store)).disconnects).toEqual([])
  })
}

function coinbaseOnly() {
  it('recovers trades lost just before a quiet spell from the sequence gap alone', async ({ open }) => {
    // The fake's clock freezes after the loss: no later trade id reveals the hole, only the heartbeats' sequence_num.
    let frozen: number | undefined
    const fx = await open(coinbase.start({}, { now: () => frozen ?? Date.now(), restRatePerSec: 1_000, restBurst: 1_000 }))
    const { accepted, summary } = await ingest(coinbase, fx, 3_000, {}, {
      during: (f) => { f.setFaults({ drop: 1 }); setTimeout(() => { frozen = Date.now(); f.setFaults({ drop: 0 }) }, 400) },
    })
    const truth = fx.truth()
    expectExactlyOnce(accepted, truth)
    expect(accepted.at(-1)!.trade_id).toBe(truth.at(-1)!.id)
    expect(summary.sequenceGaps).toBeGreaterThan(0)
  })

  it('takes trades from the legacy ws-feed matches as well, and catches up from a heartbeat last_trade_id after a quiet spell', async ({ open }) => {
    let frozen: number | undefined
    const fx = await open(coinbase.start({ drop: 0.05, duplicate: 0.05, reorder: 0.05 }, { now: () => frozen ?? Date.now(), restRatePerSec: 1_000, restBurst: 1_000 }))
    const lose = (f: Fake) => { f.setFaults({ drop: 1 }); setTimeout(() => { frozen = Date.now(); f.setFaults({ drop: 0 }) }, 400) }
    const venue = coinbaseExchangeVenue({ restUrl: fx.restUrl, wsUrl: `${fx.wsUrl}/ws-feed`, symbols: [coinbase.symbol] })
    const { accepted, summary } = await ingest(coinbase, fx, 3_000, {}, { options: { venue }, during: (f) => setTimeout(() => lose(f), 900) })
    const truth = fx.truth()
    expectExactlyOnce(accepted, truth)
    expect(accepted.at(-1)!.trade_id).toBe(truth.at(-1)!.id)
    expect(summary.duplicates).toBeGreaterThan(0)
    expect(accepted.filter((t) => t.source === 'ws').length).toBeGreaterThan(10)
  })

  it('lands every trade exactly once in silver when the local cloud ingests the faulty fake Coinbase', async ({ open }) => {
    const SYMBOL = coinbase.symbol
    const fx = await open(coinbase.start({ drop: 0.05, duplicate: 0.05, reorder: 0.05, idGap: 0.01, seqGap: 0.02 }))
    const dir = mkdtempSync(join(tmpdir(), 'ticklake-coinbase-'))
    try {
      const cloud = await startCloud({ exchange: 'coinbase', source: 'sim', restUrl: fx.restUrl, wsUrl: fx.wsUrl, symbols: [SYMBOL], port: 0, dataDir: dir, backfillMs: 60_000, ingestBudgetMs: 15_000, firehoseBufferMs: 300, log: () => {} })
      setTimeout(() => fx.setFaults({ stallUntil: Date.now() + 1_000 }), 1_000)
      await new Promise((r) => setTimeout(r, 2_500))
      await cloud.close()
      const store = fileStore(dir)
      const cp = (await readCheckpoint(store, 'sim-coinbase', SYMBOL))!.checkpoint
      const hours = new Set((await store.list(`bronze/trades/exchange=sim-coinbase/symbol=${SYMBOL}/`)).map((o) => { const p = partitionsOfKey(o.key); return `${p.dt}/${p.hour}` }))
      const silver: Trade[] = []
      for (const h of [...hours].sort()) silver.push(...(await updateSilver(store, 'sim-coinbase', SYMBOL, h.split('/')[0], h.split('/')[1])).trades)
      const ids = expectExactlyOnce(silver, fx.truth())
      expect(ids.at(-1)).toBe(cp.last_trade_id)
      expect(ids.length).toBeGreaterThan(1_000)
      expect(silver.every((t) => t.exchange === 'sim-coinbase' && t.symbol === SYMBOL)).toBe(true)
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
}
