import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { S3Event } from 'aws-lambda'
import { TRADE_COLUMNS, TIMEFRAMES, type Candle, type Timeframe, type Trade } from '@ticklake/core/market'
import { bronzeTradesPrefix, goldCandleFileKey, partitionOf } from '@ticklake/core/lake/layout'
import { readParquet, writeParquet } from '@ticklake/core/lake/parquet'
import { writeCheckpoint } from '@ticklake/core/sources/checkpoint'
import { ALL_TIMEFRAMES, candlesOfColumns, columnsOf } from '@ticklake/core/lake/candles'
import type { ObjectStore } from '@ticklake/core/ports'
import { memoryStore, s3Event } from '@ticklake/local/store/index'
import { createCandlesHandler, hoursOf } from './candles'

const DAY2 = Date.parse('2026-11-25T00:00:00Z')
const NOW = DAY2 + 3 * 3_600_000

let seed = 1
const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)

/** Trades from 22:50 of one day to 00:40 of the next, with gaps of several minutes. */
function makeTrades(n: number, firstId = 1): Trade[] {
  const out: Trade[] = []
  let ts = DAY2 - 70 * 60_000, price = 100
  for (let i = 0; i < n; i++) {
    ts += Math.floor(rnd() * (i % 40 === 0 ? 400_000 : 30_000))
    price = Math.max(1, Math.round((price + (rnd() - 0.5)) * 100) / 100)
    const id = firstId + i
    out.push({ exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: id, last_trade_id: id, ts: ts * 1000, price, qty: Math.round(rnd() * 1e5) / 1e5 || 0.00001, side: rnd() < 0.5 ? 'buy' : 'sell', trades: 1, ingest_ts: 0, source: 'ws' })
  }
  return out
}

/** Bronze files of `trades`, split into `chunks` per hour as Firehose would deliver them (with a duplicate record). */
function bronzeFiles(trades: Trade[], chunks: number, tag = 'f') {
  const byHour = new Map<string, Trade[]>()
  for (const t of trades) { const p = partitionOf(t.ts / 1000); const k = bronzeTradesPrefix('binance', 'BTC-USDT', p.dt, p.hour); byHour.set(k, [...(byHour.get(k) ?? []), t]) }
  const files: { key: string; body: Uint8Array }[] = []
  for (const [prefix, ts] of byHour) {
    const size = Math.ceil(ts.length / chunks)
    for (let i = 0; i * size < ts.length; i++) {
      const part = ts.slice(i * size, (i + 1) * size + 1) // one record repeats in the next file
      files.push({ key: `${prefix}${tag}-${i}.parquet`, body: writeParquet(TRADE_COLUMNS, part) })
    }
  }
  return files
}

async function put(store: ObjectStore, f: { key: string; body: Uint8Array }): Promise<S3Event> {
  const { etag } = await store.put(f.key, f.body)
  return s3Event('ticklake-local', f.key, f.body.length, etag)
}

/** Every gold object's MD5, by key. */
async function gold(store: ObjectStore) {
  const out: Record<string, string> = {}
  for (const o of await store.list('gold/candles/')) out[o.key] = createHash('md5').update((await store.get(o.key))!).digest('hex')
  return out
}

async function goldCandles(store: ObjectStore, tf: Timeframe): Promise<Candle[]> {
  const rows: Candle[] = []
  for (const o of await store.list(`gold/candles/exchange=binance/symbol=BTC-USDT/tf=${tf}/`)) rows.push(...await readParquet<Candle>((await store.get(o.key))!))
  return rows.sort((a, b) => a.open_time - b.open_time)
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); [a[i], a[j]] = [a[j], a[i]] }
  return a
}

const cp = (store: ObjectStore, last: Trade) => writeCheckpoint(store, { exchange: 'binance', symbol: 'BTC-USDT', last_trade_id: last.trade_id, ts: last.ts, updated_at: 0 })

/** The candles of all trades at once, straight from the kernel. */
function expected(trades: Trade[], tf: Timeframe) {
  const from = DAY2 - 86_400_000
  const last = trades[trades.length - 1].ts / 1000
  return candlesOfColumns(columnsOf(trades), { exchange: 'binance', symbol: 'BTC-USDT', from, until: Math.floor(last / 60_000) * 60_000 + 60_000, timeframes: [tf] })[tf]
}

const fields = (c: Candle) => ({ open_time: c.open_time, open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume, quote_volume: c.quote_volume, trades: c.trades, taker_buy_volume: c.taker_buy_volume, taker_buy_quote_volume: c.taker_buy_quote_volume, first_trade_id: c.first_trade_id, last_trade_id: c.last_trade_id })

describe('the candle handler', () => {
  it('names each hour of an S3 event once, from URL-encoded keys', () => {
    const e = s3Event('b', 'bronze/trades/exchange=binance/symbol=BTC-USDT/dt=2026-11-24/hour=15/a b.parquet', 1, 'x')
    expect(hoursOf({ Records: [...e.Records, ...e.Records] })).toEqual([{ exchange: 'binance', symbol: 'BTC-USDT', dt: '2026-11-24', hour: '15' }])
  })

  it('ends at byte-identical gold files in every timeframe when S3 events come duplicated, shuffled and concurrently', async () => {
    seed = 7
    const trades = makeTrades(400)
    const files = bronzeFiles(trades, 3)
    // reference: each file once, in order, one event at a time
    const ref = memoryStore()
    await cp(ref, trades.at(-1)!)
    const once = createCandlesHandler({ store: ref, now: () => NOW })
    for (const f of files) await once(await put(ref, f))
    const want = await gold(ref)
    expect(Object.keys(want).some((k) => k.endsWith('tf=1d/dt=2026-01-01/year.parquet'))).toBe(true)
    expect(Object.keys(want).some((k) => k.endsWith('tf=4h/dt=2026-11-25/day.parquet'))).toBe(true)
    for (const tf of ALL_TIMEFRAMES) expect((await goldCandles(ref, tf)).filter((c) => c.trades > 0).map(fields), tf).toEqual(expected(trades, tf).filter((c) => c.trades > 0).map(fields))

    for (let round = 0; round < 2; round++) {
      const store = memoryStore()
      await cp(store, trades.at(-1)!)
      const handler = createCandlesHandler({ store, now: () => NOW })
      const runs: Promise<unknown>[] = []
      for (const f of shuffle(files)) { // files land in any order, each event fires up to 3 times, runs overlap
        const e = await put(store, f)
        for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) runs.push(handler(e))
      }
      await Promise.all(runs)
      expect(await gold(store)).toEqual(want)
    }
  })

  it('has no missing and no duplicate candle in any timeframe across the hour and day boundary', async () => {
    seed = 11
    const trades = makeTrades(300)
    const store = memoryStore()
    await cp(store, trades.at(-1)!)
    const handler = createCandlesHandler({ store, now: () => NOW })
    for (const f of bronzeFiles(trades, 2)) await handler(await put(store, f))
    const first = Math.floor(trades[0].ts / 60_000_000) * 60_000
    for (const tf of ALL_TIMEFRAMES) {
      const size = TIMEFRAMES[tf]
      const times = (await goldCandles(store, tf)).map((c) => c.open_time)
      const start = Math.floor(first / size) * size
      expect(times, tf).toEqual(Array.from({ length: times.length }, (_, i) => start + i * size))
      expect(times.at(-1)! + size).toBeGreaterThan(trades.at(-1)!.ts / 1000)
      // final exactly when every minute of it is: it closes before the last trade the checkpoint vouches for, and
      // opens after the minute of the first trade (the lake's first minute of the symbol holds only part of its trades)
      for (const c of await goldCandles(store, tf)) expect(c.final, `${tf} ${c.open_time}`).toBe(c.close_time < trades.at(-1)!.ts / 1000 && c.open_time > first)
      const serving = JSON.parse(new TextDecoder().decode((await store.get(`serving/binance/BTC-USDT/${tf}.json`))!))
      expect(serving).toMatchObject({ exchange: 'binance', symbol: 'BTC-USDT', tf, updated_at: NOW })
      expect(serving.candles.map((c: Candle) => c.open_time)).toEqual(times.slice(-720))
    }
    // the first day holds the first minute, the second the last trade
    expect((await goldCandles(store, '1d')).map((c) => c.final)).toEqual([false, false])
  })

  it('re-opens and corrects the candles of every timeframe when a late trade arrives for an earlier minute', async () => {
    seed = 3
    const trades = makeTrades(200)
    const store = memoryStore()
    await cp(store, trades.at(-1)!)
    const handler = createCandlesHandler({ store, now: () => NOW })
    // one trade of 23:xx is held back and comes in a later bronze file, after 00:xx was processed
    const late = trades.find((t) => t.ts / 1000 >= DAY2 - 20 * 60_000 && t.ts / 1000 < DAY2)!
    for (const f of bronzeFiles(trades.filter((t) => t !== late), 2)) await handler(await put(store, f))
    const before = await goldCandles(store, '1d')
    for (const f of bronzeFiles([late], 1, 'late')) await handler(await put(store, f))
    for (const tf of ALL_TIMEFRAMES) {
      const want = expected(trades, tf).filter((c) => c.trades > 0).map(fields)
      expect((await goldCandles(store, tf)).filter((c) => c.trades > 0).map(fields), tf).toEqual(want)
    }
    const after = await goldCandles(store, '1d')
    expect(after[0].trades).toBe(before[0].trades + 1)
  })

  it('announces each final candle once: a duplicate event announces nothing, a later file only what it made final', async () => {
    seed = 5
    const trades = makeTrades(120)
    const store = memoryStore()
    const sent: { channel: string; open_time: number }[] = []
    const publish = async (channel: string, m: any) => { sent.push({ channel, open_time: m.candle.open_time }) }
    const handler = createCandlesHandler({ store, publish, now: () => NOW, announceMs: 86_400_000 })
    const [first, second] = bronzeFiles(trades, 2).filter((f) => f.key.includes('dt=2026-11-24/hour=23'))
    expect(second).toBeDefined()
    const e1 = await put(store, first)
    await handler(e1)
    const once = sent.length
    expect(once).toBeGreaterThan(0)
    await handler(e1) // the same event again
    expect(sent.length).toBe(once)
    await handler(await put(store, second))
    const keys = sent.map((x) => `${x.channel} ${x.open_time}`)
    expect(new Set(keys).size).toBe(keys.length)
    expect(sent.length).toBeGreaterThan(once)
  })

  it('lets no run that read an older view overwrite a newer result (older state refused, stale gold write retried)', async () => {
    for (const pauseAt of ['checkpoint', 'gold'] as const) {
      seed = 5
      const trades = makeTrades(120)
      const hour23 = trades.filter((t) => t.ts / 1000 >= DAY2 - 3_600_000 && t.ts / 1000 < DAY2)
      const [a, b] = [hour23.slice(0, 60), hour23.slice(60)]
      const mem = memoryStore()
      await cp(mem, hour23.at(-1)!)
      let release!: () => void
      const gate = new Promise<void>((r) => { release = r })
      let paused!: () => void
      const reached = new Promise<void>((r) => { paused = r })
      let stale = 0, armed = true
      // run A's store: it stops at `pauseAt` until run B has finished
      const slow: ObjectStore = {
        ...mem,
        async get(key) {
          if (pauseAt === 'checkpoint' && armed && key.startsWith('state/checkpoints/')) { armed = false; paused(); await gate }
          return mem.get(key)
        },
        async put(key, body, o) {
          if (pauseAt === 'gold' && armed && key.startsWith('gold/')) { armed = false; paused(); await gate }
          try { return await mem.put(key, body, o) } catch (e) { stale++; throw e }
        },
      }
      const [fa] = bronzeFiles(a, 1, 'a')
      const eventA = await put(mem, fa)
      const runA = createCandlesHandler({ store: slow, now: () => NOW })(eventA)
      await reached
      const [fb] = bronzeFiles(b, 1, 'b')
      await createCandlesHandler({ store: mem, now: () => NOW })(await put(mem, fb))
      const newer = await gold(mem)
      release()
      const [resultA] = await runA
      expect(resultA.stateWritten, pauseAt).toBe(pauseAt === 'gold') // at the checkpoint it still held the older view
      expect(await gold(mem), pauseAt).toEqual(newer)
      for (const tf of ALL_TIMEFRAMES) expect((await goldCandles(mem, tf)).filter((c) => c.trades > 0).map(fields), `${pauseAt} ${tf}`).toEqual(expected(hour23, tf).filter((c) => c.trades > 0).map(fields))
      if (pauseAt === 'gold') expect(stale).toBeGreaterThan(0) // its conditional write failed and it re-derived
    }
  })
})
