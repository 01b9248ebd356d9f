import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { readCheckpoint, writeCheckpoint } from '@ticklake/core/sources/checkpoint'
import { checkpointKey } from '@ticklake/core/lake/layout'
import type { LiveTrade } from '@ticklake/core/serve/realtime'
import { startCloud, type Cloud } from '../cloud/index'
import { fileStore } from '../store/index'
import { startSimulator } from './sim'
import type { FakeExchange } from './index'

const SYMBOL = 'BTC-USDT'
let dir: string
const open: { close(): Promise<void> }[] = []

afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close().catch(() => {})
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** One `ticklake start --source sim` run on `dir`: the simulator resumed from the lake, and the local cloud on it. */
async function run(): Promise<{ fake: FakeExchange; cloud: Cloud }> {
  const fake = (await startSimulator({ exchange: 'sim-binance', symbols: [SYMBOL], dataDir: dir, fake: { seed: 3, historyMs: 10 * 60_000, ratePerSec: 20 } })) as FakeExchange
  open.push(fake)
  const cloud = await startCloud({ exchange: 'binance', source: 'sim', restUrl: fake.restUrl, wsUrl: fake.wsUrl, symbols: [SYMBOL], port: 0, dataDir: dir, backfillMs: 5 * 60_000, ingestBudgetMs: 20_000, firehoseBufferMs: 300, features: false, log: () => {} })
  open.push(cloud)
  return { fake, cloud }
}

/** The first live trades on `channel` (resolves with them), within `ms`. */
function firstLiveTrades(cloud: Cloud, channel: string, ms: number): Promise<LiveTrade[]> {
  const ws = new WebSocket(`ws://127.0.0.1:${cloud.port}/ws`)
  open.push({ close: async () => ws.close() })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no live trade on ${channel} within ${ms} ms`)), ms)
    ws.once('open', () => ws.send(JSON.stringify({ action: 'subscribe', channels: [channel] })))
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString())
      if (m.type === 'trade' && m.channel === channel && m.trades.length) { clearTimeout(timer); resolve(m.trades) }
    })
    ws.once('error', reject)
  })
}

async function waitUntil(test: () => Promise<boolean>, ms: number) {
  const end = Date.now() + ms
  while (!(await test())) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('the simulator on a lake it already wrote', () => {
  it('goes on from the lake: a second start continues ids, times and price, and shows new trades at once', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ticklake-sim-'))
    const store = fileStore(dir)
    // a live source's checkpoint far below the simulator's ids: nothing simulated may move it
    await writeCheckpoint(store, { exchange: 'binance', symbol: SYMBOL, last_trade_id: 42, ts: 1_700_000_000_000_000, updated_at: 1_700_000_000_000 })
    const live = await store.get(checkpointKey('binance', SYMBOL))

    const first = await run()
    const firstTrades = await firstLiveTrades(first.cloud, `trades:sim-binance:${SYMBOL}`, 10_000)
    expect(firstTrades[0].id).toBeGreaterThan(0)
    await waitUntil(async () => ((await readCheckpoint(store, 'sim-binance', SYMBOL))?.checkpoint.last_trade_id ?? 0) >= firstTrades.at(-1)!.id, 15_000)
    await first.cloud.close()
    await first.cloud.idle()
    await first.fake.close()
    const cp = (await readCheckpoint(store, 'sim-binance', SYMBOL))!.checkpoint
    const lastPrice = first.fake.aggTrades(SYMBOL).find((t) => t.a === cp.last_trade_id)!.p

    await new Promise((r) => setTimeout(r, 1_000)) // a pause: the simulator is stopped

    const second = await run()
    const history = second.fake.aggTrades(SYMBOL)
    expect(history[0].a).toBe(cp.last_trade_id + 1) // ids go on from the checkpoint
    expect(history[0].T).toBeGreaterThan(cp.ts / 1000) // and times from its trade's time
    expect(Math.abs(Number(history[0].p) / Number(lastPrice) - 1)).toBeLessThan(0.01) // and the price from the last close
    const started = Date.now()
    const trades = await firstLiveTrades(second.cloud, `trades:sim-binance:${SYMBOL}`, 10_000)
    expect(trades.every((t) => t.id > cp.last_trade_id)).toBe(true)
    expect(Math.max(...trades.map((t) => t.time))).toBeGreaterThan(started - 5_000) // live, not the lake's past
    await waitUntil(async () => (await readCheckpoint(store, 'sim-binance', SYMBOL))!.checkpoint.last_trade_id > cp.last_trade_id, 15_000)

    // simulated trades live under sim-binance only, and the live checkpoint is as it was
    expect(await store.get(checkpointKey('binance', SYMBOL))).toEqual(live)
    expect(await store.list('bronze/trades/exchange=binance/')).toEqual([])
    expect((await store.list('bronze/trades/exchange=sim-binance/')).length).toBeGreaterThan(0)
    const health = await (await fetch(`${second.cloud.url}api/health`)).json()
    expect(health).toMatchObject({ exchange: 'sim-binance', simulated: true })
  }, 60_000)
})
