/**
 * Catch-up after an outage (issue #10, point 4): the checkpoint is hours behind the fake exchange,
 * and the real ingest handler runs back to back under the local scheduler with a short budget,
 * sending through the real Firehose SDK client to the emulator held to Firehose's records-per-second
 * quota. Each run must end within its budget and move the checkpoint by what it delivered, and the
 * backlog must converge with every trade in the lake, none twice beyond one batch at a cut.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createIngestHandler } from '@ticklake/functions/ingest'
import type { IngestSummary } from '@ticklake/core/sources/ingest'
import { readCheckpoint, writeCheckpoint } from '@ticklake/core/sources/checkpoint'
import { firehoseStream } from '@ticklake/core/aws/firehose'
import { budget, restBase, defaults as binanceDefaults } from '@ticklake/core/sources/binance'
import { readParquet } from '@ticklake/core/lake/parquet'
import type { ObjectStore, RecordStream } from '@ticklake/core/ports'
import type { LiveTrade, ServerMessage } from '@ticklake/core/serve/realtime'
import { memoryStore } from '../store/index'
import { startFirehose, type FirehoseEmulator } from '../firehose/index'
import { lambdaContext, schedule, scheduledEvent } from '../scheduler/index'
import { startFakeExchange, type FakeExchange } from './index'

const SYMBOL = 'BTC-USDT'
const BATCH = 500 // ingest's batchRecords
let fx: FakeExchange | undefined
let fh: FirehoseEmulator | undefined
afterEach(async () => { await fh?.close(); await fx?.close(); fh = fx = undefined })

/** The fake exchange with `historyMs` of trades at `ratePerSec` (steady), and a checkpoint just before its oldest trade. */
async function outage(historyMs: number, ratePerSec: number, store: ObjectStore) {
  fx = await startFakeExchange({ symbols: [SYMBOL], historyMs, ratePerSec, bursts: false, seed: 11 })
  const oldest = fx.aggTrades(SYMBOL)[0]
  await writeCheckpoint(store, { exchange: 'binance', symbol: SYMBOL, last_trade_id: oldest.a - 1, ts: oldest.T * 1000, updated_at: Date.now() })
  return { fx, backlog: fx.aggTrades(SYMBOL).length, firstId: oldest.a }
}

/** Every trade id in the lake's bronze files, with how often each occurs. */
async function lakeIds(store: ObjectStore) {
  const counts = new Map<number, number>()
  const keys = (await (store as ReturnType<typeof memoryStore>).keys()).filter((k) => k.startsWith('bronze/trades/'))
  for (const key of keys) for (const r of await readParquet<{ trade_id: number }>((await store.get(key))!, ['trade_id'])) counts.set(r.trade_id, (counts.get(r.trade_id) ?? 0) + 1)
  return counts
}

const checkpointOf = async (store: ObjectStore) => (await readCheckpoint(store, 'binance', SYMBOL))!.checkpoint.last_trade_id

describe('catch-up after an outage', () => {
  it('converges on a 2-hour backlog at 25 trades/s with 10 s runs, each within its budget, every trade in the lake once', async () => {
    const store = memoryStore()
    const { backlog, firstId } = await outage(2 * 3_600_000, 25, store)
    const quota = 5_000 // Firehose's Direct PUT records/s per stream in us-east-1, us-west-2, eu-west-1 ("Amazon Data Firehose Quota")
    fh = await startFirehose(store, { recordsPerSec: quota })
    const base = restBase('binance', fx!.restUrl)
    budget.delete(base)
    const handler = createIngestHandler({ exchange: 'binance', restUrl: fx!.restUrl, wsUrl: fx!.wsUrl, symbols: [SYMBOL] }, { store, stream: firehoseStream(fh.streamName, fh.endpoint) })
    const budgetMs = 10_000
    const runs: { ms: number; from: number; to: number; started: number; summary: IngestSummary; weight: number }[] = []
    let converged = () => {}
    const done = new Promise<void>((r) => { converged = r })
    const scheduler = schedule('ticklake-ingest', async (event, context) => {
      const from = await checkpointOf(store)
      const started = Date.now()
      const summary = await handler(event, context)
      runs.push({ ms: Date.now() - started, from, to: await checkpointOf(store), started, summary, weight: budget.get(base)?.usedWeight ?? 0 })
      if (!summary.behind.length || runs.length >= 12) converged()
      return summary
    }, { budgetMs, log: (l) => console.log(l) })
    await done
    await scheduler.stop()
    await fh.close()

    const last = runs.at(-1)!
    console.log(`catch-up of ${backlog} trades (2 h at 25/s) with ${budgetMs / 1000} s runs, Firehose at ${quota} records/s: converged in ${runs.length} runs`)
    runs.forEach((r, i) => console.log(`  run ${i + 1}: ${r.ms} ms, checkpoint +${r.to - r.from} (${r.summary.backfilled} over REST, ${r.summary.sent} sent, ${r.summary.unsent} unsent), ${r.summary.behind.length ? 'still behind' : 'caught up'}, weight used this minute ${r.weight}`))
    expect(last.summary.behind).toEqual([])
    // as many runs as the backlog needs at the stream's quota: more than one, and none wasted
    expect(runs.length).toBeGreaterThanOrEqual(Math.ceil(backlog / (quota * budgetMs / 1000)))
    for (const r of runs) {
      expect(r.ms).toBeLessThanOrEqual(budgetMs) // never times out
      expect(r.to - r.from).toBe(r.summary.sent) // the checkpoint moves by exactly what was delivered
    }
    for (const r of runs.slice(0, -1)) expect(r.to - r.from).toBeGreaterThan(quota * 2) // every run gets a good part of its budget's worth through
    // REST paced within Binance's weight budget: never past the share getJson allows itself, never a 429
    expect(Math.max(...runs.map((r) => r.weight))).toBeLessThanOrEqual(binanceDefaults.weightLimit * binanceDefaults.weightShare)

    const checkpoint = await checkpointOf(store)
    const truth = fx!.aggTrades(SYMBOL)
    const counts = await lakeIds(store)
    const expected = truth.filter((t) => t.a <= checkpoint).map((t) => t.a)
    expect(expected[0]).toBe(firstId)
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual(expected) // no trade lost, none beyond the checkpoint
    const twice = [...counts.values()].filter((n) => n > 1).length
    console.log(`  lake: ${counts.size} trades, ${twice} sent twice; checkpoint ${checkpoint}`)
    expect(twice).toBeLessThanOrEqual(BATCH * (runs.length - 1))
    // the checkpoint is at the newest trade the last run could see (its stream closed 2 s before its budget ended)
    const closedAt = last.started + budgetMs - 2_000
    expect(truth.filter((t) => t.T < closedAt - 300).every((t) => t.a <= checkpoint)).toBe(true)
  }, 180_000)

  it('ends a run whose send hangs at its budget, and the next run sends again only that one batch', async () => {
    const store = memoryStore()
    const { backlog } = await outage(10 * 60_000, 25, store)
    fh = await startFirehose(store, {})
    const real = firehoseStream(fh.streamName, fh.endpoint)
    let calls = 0
    let swallowed: number[] = []
    // the 5th batch reaches Firehose, but its reply never comes back (a cut connection)
    const stream: RecordStream = {
      async putRecords(records, options) {
        if (++calls !== 5) return real.putRecords(records, options)
        await real.putRecords(records)
        swallowed = records.map((r) => (r as { trade_id: number }).trade_id)
        return new Promise((_, reject) => options?.signal?.addEventListener('abort', () => reject(options.signal!.reason)))
      },
    }
    const handler = createIngestHandler({ exchange: 'binance', restUrl: fx!.restUrl, wsUrl: fx!.wsUrl, symbols: [SYMBOL] }, { store, stream })
    const budgetMs = 4_000
    const t0 = Date.now()
    const first = await handler(scheduledEvent('ticklake-ingest'), lambdaContext('ticklake-ingest', budgetMs))
    const firstMs = Date.now() - t0
    expect(firstMs).toBeLessThanOrEqual(budgetMs)
    expect(swallowed).toHaveLength(BATCH)
    expect(first.unsent).toBeGreaterThan(0)
    expect(await checkpointOf(store)).toBe(swallowed[0] - 1) // the batch without a reply is not counted as delivered
    const second = await handler(scheduledEvent('ticklake-ingest'), lambdaContext('ticklake-ingest', budgetMs))
    expect(second.behind).toEqual([])
    await fh.close()

    const counts = await lakeIds(store)
    const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id).sort((a, b) => a - b)
    console.log(`cut at the 5th batch of a ${backlog}-trade backlog: first run ${firstMs} ms, ${twice.length} trades sent twice`)
    expect(twice).toEqual(swallowed)
    const checkpoint = await checkpointOf(store)
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual(fx!.aggTrades(SYMBOL).filter((t) => t.a <= checkpoint).map((t) => t.a))
  }, 60_000)

  it('keeps the live path on the stream while a run is still behind: subscribers get current trades, not the backlog', async () => {
    const store = memoryStore()
    await outage(30 * 60_000, 25, store)
    fh = await startFirehose(store, { recordsPerSec: 2_000 })
    const messages: ServerMessage[] = []
    const handler = createIngestHandler({ exchange: 'binance', restUrl: fx!.restUrl, wsUrl: fx!.wsUrl, symbols: [SYMBOL] }, { store, stream: firehoseStream(fh.streamName, fh.endpoint), publish: async (_channel, m) => { messages.push(m) } })
    const t0 = Date.now()
    const summary = await handler(scheduledEvent('ticklake-ingest'), lambdaContext('ticklake-ingest', 4_000))
    expect(summary.behind).toEqual([SYMBOL]) // the 45,000-trade backlog is more than one 4 s run can send
    const live = messages.flatMap((m) => (m.type === 'trade' ? m.trades : [] as LiveTrade[]))
    expect(live.length).toBeGreaterThan(10) // the stream's trades, published on receipt
    expect(Math.min(...live.map((t) => t.time))).toBeGreaterThan(t0 - 60_000) // no history from the backfill
    const ids = live.map((t) => t.id)
    expect(new Set(ids).size).toBe(ids.length)
    const ticker = messages.filter((m) => m.type === 'ticker').at(-1)
    expect(ticker && ticker.type === 'ticker' && ticker.ticker.time).toBeGreaterThan(t0 - 60_000)
  })
})

describe('a run change on the live path', () => {
  it('keeps the stream live through the run\'s last seconds, and the next run sends none of those trades again: every id once and in order', async () => {
    const store = memoryStore()
    fx = await startFakeExchange({ symbols: [SYMBOL], historyMs: 1_000, ratePerSec: 200, bursts: false, seed: 5 })
    fh = await startFirehose(store)
    const messages: ServerMessage[] = []
    const handler = createIngestHandler({ exchange: 'binance', restUrl: fx.restUrl, wsUrl: fx.wsUrl, symbols: [SYMBOL] }, { store, stream: firehoseStream(fh.streamName, fh.endpoint), publish: async (_channel, m) => { messages.push(m) } })
    const liveIds = () => messages.flatMap((m) => (m.type === 'trade' ? m.trades.map((t) => t.id) : []))
    // a 4 s budget: fetching stops at 2 s (stopMarginMs), the tail runs to 3.5 s (endMarginMs)
    await handler(scheduledEvent('ticklake-ingest'), lambdaContext('ticklake-ingest', 4_000))
    const firstCheckpoint = await checkpointOf(store)
    const firstRun = liveIds()
    expect(firstRun.at(-1)! - firstCheckpoint).toBeGreaterThan(100) // about 1.5 s of the tail at 200 trades/s went live past what the run sent
    await handler(scheduledEvent('ticklake-ingest'), lambdaContext('ticklake-ingest', 4_000))
    const ids = liveIds()
    expect(ids.length).toBeGreaterThan(firstRun.length + 100)
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => ids[0] + i)) // once each, in order, no hole at the change
    await fh.flush()
    const lake = await lakeIds(store)
    const checkpoint = await checkpointOf(store)
    expect(checkpoint).toBeGreaterThan(firstRun.at(-1)!) // the tail's trades reach the lake with the next run
    for (let id = ids[0]; id <= checkpoint; id++) expect(lake.get(id)).toBe(1)
  }, 30_000)
})
