/**
 * Many symbols in one run (issue #15, point 5): the AWS ingest handler runs once for 50 symbols of
 * one exchange, each behind its checkpoint, against the fake Binance (1024 streams a connection, 5
 * incoming messages a second, 300 connections in 5 minutes, request weight per minute) and the fake
 * Coinbase (10 public requests a second, 15 in a burst). The run must subscribe them all on one
 * connection within those limits, backfill every symbol within the REST limits (no 429, no 418,
 * peak weight under the share Binance's client allows itself) and its budget, and deliver every
 * trade of every symbol once, as the fakes' ground truth has it. Rates are small so it takes seconds.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createIngestHandler } from '@ticklake/functions/ingest'
import { readCheckpoint, writeCheckpoint } from '@ticklake/core/sources/checkpoint'
import { budget, restBase, defaults as binanceDefaults } from '@ticklake/core/sources/binance'
import type { IngestSummary } from '@ticklake/core/sources/ingest'
import type { Exchange, Trade } from '@ticklake/core/market'
import type { ObjectStore, RecordStream } from '@ticklake/core/ports'
import { memoryStore } from '../store/index'
import { lambdaContext, scheduledEvent } from '../scheduler/index'
import { startFakeExchange, type FakeExchange } from './index'
import { startFakeCoinbase, type FakeCoinbase } from './coinbase'

const N = 50
let fx: FakeExchange | FakeCoinbase | undefined
afterEach(async () => { await fx?.close(); fx = undefined })

/** A delivery stream that takes everything, noting when the last backfilled (REST) record came. */
function collector(started: number) {
  const records: Trade[] = []
  let restDoneMs = 0
  const stream: RecordStream = {
    async putRecords(batch) {
      records.push(...(batch as Trade[]))
      if ((batch as Trade[]).some((t) => t.source === 'rest')) restDoneMs = Date.now() - started
      return { failed: [] }
    },
  }
  return { stream, records, restDoneMs: () => restDoneMs }
}

/** A fetch that notes every REST answer's status and Binance's used weight. */
function watchedFetch() {
  const refusals: number[] = []
  let requests = 0
  let peakWeight = 0
  const f: typeof fetch = async (url, init) => {
    const res = await fetch(url, init)
    requests++
    if (res.status >= 400) refusals.push(res.status)
    peakWeight = Math.max(peakWeight, Number(res.headers.get('x-mbx-used-weight-1m') ?? 0))
    return res
  }
  return { fetch: f, refusals, requests: () => requests, peakWeight: () => peakWeight }
}

/** A lake whose checkpoint of each symbol is just before `firstIds[symbol]`. */
async function behind(exchange: Exchange, firstIds: Map<string, { id: number; ts: number }>) {
  const store: ObjectStore = memoryStore()
  for (const [symbol, first] of firstIds) await writeCheckpoint(store, { exchange, symbol, last_trade_id: first.id - 1, ts: first.ts, updated_at: Date.now() })
  return store
}

/** Runs the handler once for `symbols` from the checkpoints in `store`; what it did and took. */
async function runOnce(exchange: Exchange, symbols: string[], store: ObjectStore, budgetMs: number) {
  const started = Date.now()
  const out = collector(started)
  const rest = watchedFetch()
  const handler = createIngestHandler({ exchange, restUrl: fx!.restUrl, wsUrl: fx!.wsUrl, symbols }, { store, stream: out.stream, fetch: rest.fetch })
  const summary: IngestSummary = await handler(scheduledEvent('ticklake-ingest'), lambdaContext('ticklake-ingest', budgetMs))
  return { summary, ms: Date.now() - started, started, records: out.records, restDoneMs: out.restDoneMs(), rest }
}

/** Each symbol's delivered ids equal the ground truth from its first behind trade to its checkpoint in `store`: none lost, none twice. */
async function expectEveryTrade(records: Trade[], store: ObjectStore, exchange: Exchange, truth: (symbol: string) => number[], firstIds: Map<string, { id: number }>) {
  for (const [symbol, first] of firstIds) {
    const ids = records.filter((t) => t.symbol === symbol).map((t) => t.trade_id)
    const checkpoint = (await readCheckpoint(store, exchange, symbol))!.checkpoint.last_trade_id
    expect(ids, symbol).toEqual(truth(symbol).filter((id) => id >= first.id && id <= checkpoint))
  }
}

describe('one run of 50 symbols', () => {
  it('Binance: one connection of 50 streams, every symbol backfilled round the line within the weight budget, every trade delivered once', async () => {
    const symbols = Array.from({ length: N }, (_, i) => `S${i}-USDT`)
    const behindMs = 20 * 60_000
    const binance = await startFakeExchange({ symbols, historyMs: behindMs, ratePerSec: 1, bursts: false, seed: 15 })
    fx = binance
    budget.delete(restBase('binance', binance.restUrl))
    const firstIds = new Map(symbols.map((s) => { const t = binance.aggTrades(s)[0]; return [s, { id: t.a, ts: t.T * 1000 }] }))
    const backlog = symbols.reduce((n, s) => n + binance.aggTrades(s).length, 0)
    const budgetMs = 8_000
    const store = await behind('binance', firstIds)
    const run = await runOnce('binance', symbols, store, budgetMs)

    console.log(`Binance, ${N} symbols ${behindMs / 60_000} min behind (${backlog} trades): backfilled in ${run.restDoneMs} ms, run ${run.ms} ms of ${budgetMs}; ${run.rest.requests()} REST requests, peak weight ${run.rest.peakWeight()} (fake: ${binance.peakWeight()}); ${run.summary.sent} sent`)
    expect(run.ms).toBeLessThanOrEqual(budgetMs)
    expect(run.summary.behind).toEqual([])
    expect(run.rest.refusals).toEqual([]) // no 429, no 418
    expect(binance.peakWeight()).toBeLessThanOrEqual(binanceDefaults.weightLimit * binanceDefaults.weightShare)
    // one connection listening to all 50 streams, none refused, never closed for its message rate
    expect(binance.streamStats()).toEqual({ connections: 1, refusedConnections: 0, refusedStreams: 0, closedForRate: 0, mostStreams: N })
    expect(run.summary.reconnects).toBe(0)
    expect(run.summary.received).toBeGreaterThan(0) // the stream brought trades (those the backfill had already delivered are dropped as duplicates)
    await expectEveryTrade(run.records, store, 'binance', (s) => binance.aggTrades(s).map((t) => t.a), firstIds)
    // every symbol caught up to what the exchange traded before the stream closed (2 s before the budget's end)
    const closedAt = run.started + budgetMs - 2_000
    for (const s of symbols) expect(binance.aggTrades(s).filter((t) => t.T < closedAt - 300).every((t) => t.a <= run.summary.checkpoints[s]), s).toBe(true)
  }, 60_000)

  it('Coinbase: one subscribe per channel naming all 50 products, every backfill paced under 10 requests a second, every trade delivered once', async () => {
    const symbols = Array.from({ length: N }, (_, i) => `S${i}-USD`)
    const behindMs = 5 * 60_000
    const coinbase = await startFakeCoinbase({ symbols, historyMs: behindMs, ratePerSec: 1, seed: 15 })
    fx = coinbase
    const firstIds = new Map(symbols.map((s) => { const t = coinbase.trades(s)[0]; return [s, { id: t.trade_id, ts: t.T * 1000 }] }))
    const backlog = symbols.reduce((n, s) => n + coinbase.trades(s).length, 0)
    const budgetMs = 12_000 // Coinbase's pace alone is 5.5 s for 50 requests: room for a loaded machine
    const store = await behind('coinbase', firstIds)
    const run = await runOnce('coinbase', symbols, store, budgetMs)

    console.log(`Coinbase, ${N} symbols ${behindMs / 60_000} min behind (${backlog} trades): backfilled in ${run.restDoneMs} ms, run ${run.ms} ms of ${budgetMs}; ${run.rest.requests()} REST requests; ${run.summary.sent} sent`)
    expect(run.ms).toBeLessThanOrEqual(budgetMs)
    expect(run.summary.behind).toEqual([])
    expect(run.rest.refusals).toEqual([]) // the fake's token bucket (10/s, 15 in a burst) never answered 429
    expect(run.summary.reconnects).toBe(0)
    expect(run.summary.received).toBeGreaterThan(0) // the stream brought trades (those the backfill had already delivered are dropped as duplicates)
    await expectEveryTrade(run.records, store, 'coinbase', (s) => coinbase.trades(s).map((t) => t.trade_id), firstIds)
  }, 60_000)

  it('Binance: a backlog over one run\'s budget is served round-robin, each run within its budget, and later runs go on from the checkpoints to the end', async () => {
    const symbols = Array.from({ length: N }, (_, i) => `S${i}-USDT`)
    const binance = await startFakeExchange({ symbols, historyMs: 40 * 60_000, ratePerSec: 1, bursts: false, seed: 16 })
    fx = binance
    budget.delete(restBase('binance', binance.restUrl))
    const firstIds = new Map(symbols.map((s) => { const t = binance.aggTrades(s)[0]; return [s, { id: t.a, ts: t.T * 1000 }] }))
    const store = await behind('binance', firstIds)
    // a first run of 2.3 s fetches for 0.3 s (the rest is the handler's drain): far less than the
    // 120,000 trades behind, however fast the machine (at 3 s a quiet machine fetched them all)
    const runs = [await runOnce('binance', symbols, store, 2_300)]
    while (runs.at(-1)!.summary.behind.length && runs.length < 6) runs.push(await runOnce('binance', symbols, store, 8_000))
    const [first, last] = [runs[0], runs.at(-1)!]
    console.log(`Binance, ${N} symbols 40 min behind: ${runs.map((r, i) => `run ${i + 1} (${r.ms} ms) ${r.summary.sent} sent, ${r.summary.behind.length} behind`).join('; ')}; peak weight ${binance.peakWeight()}`)
    expect(first.summary.behind.length).toBeGreaterThan(0)
    for (const r of runs) expect(r.ms).toBeLessThanOrEqual(r === first ? 2_300 : 8_000)
    // round-robin: once any symbol has two pages delivered, every symbol has had its first
    const moved = symbols.map((s) => (first.summary.checkpoints[s] ?? firstIds.get(s)!.id - 1) - (firstIds.get(s)!.id - 1))
    if (Math.max(...moved) > 2_000) expect(Math.min(...moved)).toBeGreaterThan(0)
    expect(last.summary.behind).toEqual([])
    expect(runs.flatMap((r) => r.rest.refusals)).toEqual([])
    await expectEveryTrade(runs.flatMap((r) => r.records), store, 'binance', (s) => binance.aggTrades(s).map((t) => t.a), firstIds)
  }, 120_000)
})
