/**
 * Candle math and the hour job of the lake path: merges the hour's new bronze files into silver
 * (every trade once), rebuilds the 1m candles of that hour from it, fills minutes without trades with flat
 * candles at the previous close as Binance does, and writes gold Parquet plus the serving window
 * for the page. Recomputing a whole hour makes repeated or late S3 events harmless.
 */
import type { Candle, Trade } from '../market/index'
import { CANDLE_COLUMNS, TIMEFRAMES } from '../market/index'
import { goldCandlesKey, partitionOf, servingKey, type ServingWindow } from '../lake/index'
import { readParquet, writeParquet } from '../parquet/index'
import { PreconditionFailed, type ObjectStore } from '../ports/index'
import { readCheckpoint } from '../checkpoint/index'
import { updateSilver } from '../silver/index'

export const defaults = {
  /**
   * How long the delivery stream may hold records: a minute is final once a later trade is in the
   * lake, or once ingest's checkpoint has passed it and this long has gone by since.
   */
  finalAfterMs: 10_000,
  /** Candles kept in `serving/<exchange>/<symbol>/1m.json`. */
  servingCandles: 720,
  /** Conditional-write retries when another run wrote the same key meanwhile. */
  writeRetries: 5,
}

const MINUTE = TIMEFRAMES['1m']

function flat(exchange: string, symbol: string, openTime: number, price: number): Candle {
  return {
    exchange, symbol, tf: '1m', open_time: openTime, close_time: openTime + MINUTE - 1,
    open: price, high: price, low: price, close: price, volume: 0, quote_volume: 0, trades: 0,
    taker_buy_volume: 0, taker_buy_quote_volume: 0, vwap: price, first_trade_id: -1, last_trade_id: -1, final: false,
  }
}

/** Adds one trade to a candle (the candle's minute must hold the trade). */
export function addTrade(c: Candle, t: Trade) {
  if (c.trades === 0) { c.open = c.high = c.low = t.price; c.first_trade_id = t.first_trade_id }
  c.high = Math.max(c.high, t.price)
  c.low = Math.min(c.low, t.price)
  c.close = t.price
  c.volume += t.qty
  c.quote_volume += t.price * t.qty
  c.trades += t.trades
  if (t.side === 'buy') { c.taker_buy_volume += t.qty; c.taker_buy_quote_volume += t.price * t.qty }
  c.vwap = c.quote_volume / c.volume
  c.last_trade_id = Math.max(c.last_trade_id, t.last_trade_id)
  c.first_trade_id = Math.min(c.first_trade_id, t.first_trade_id)
}

/** An empty candle for the minute that holds `tsMs`, ready for `addTrade`. */
export function emptyCandle(exchange: string, symbol: string, tsMs: number): Candle {
  return { ...flat(exchange, symbol, Math.floor(tsMs / MINUTE) * MINUTE, 0), first_trade_id: Infinity }
}

export interface MinuteOptions {
  exchange: string
  symbol: string
  /** First minute to emit (ms); minutes before the first trade are flat only with `prevClose`. */
  from: number
  /** End of the range (ms, exclusive): minutes after the last trade up to here are flat. */
  until: number
  prevClose?: number
}

/**
 * 1m candles over `[from, until)` from deduplicated trades in trade-id order; flat candles fill
 * minutes without trades once a price is known.
 */
export function candles1m(trades: Trade[], o: MinuteOptions): Candle[] {
  const out: Candle[] = []
  let price = o.prevClose
  let i = 0
  for (let t0 = Math.floor(o.from / MINUTE) * MINUTE; t0 < o.until; t0 += MINUTE) {
    let c: Candle | undefined
    while (i < trades.length && trades[i].ts / 1000 < t0 + MINUTE) {
      const t = trades[i++]
      if (t.ts / 1000 < t0) continue
      c ??= emptyCandle(o.exchange, o.symbol, t0)
      addTrade(c, t)
    }
    if (c) { out.push(c); price = c.close } else if (price !== undefined) out.push(flat(o.exchange, o.symbol, t0, price))
  }
  return out
}

export interface HourJob { store: ObjectStore; exchange: string; symbol: string; dt: string; hour: string; now: number; options?: Partial<typeof defaults> }
export interface HourResult { trades: number; duplicates: number; files: number; candles: Candle[]; key: string }

async function previousClose(store: ObjectStore, exchange: string, symbol: string, hourStart: number) {
  const p = partitionOf(hourStart - 1)
  const bytes = await store.get(goldCandlesKey(exchange, symbol, '1m', p.dt, p.hour))
  if (!bytes) return undefined
  const rows = await readParquet<Candle>(bytes, ['open_time', 'close'])
  return rows.sort((a, b) => a.open_time - b.open_time).at(-1)?.close
}

/**
 * Writes what `make` returns at `key`, only over the version it saw (or where there was none), and
 * calls `make` again when another run wrote meanwhile. `make` may read the current body.
 */
export async function putFresh(store: ObjectStore, key: string, make: (current: () => Promise<Uint8Array | undefined>) => Promise<Uint8Array | string>, retries = defaults.writeRetries) {
  for (let attempt = 0; ; attempt++) {
    const head = await store.head(key)
    const body = await make(async () => (head ? store.get(key) : undefined))
    try {
      return await store.put(key, body, head ? { ifMatch: head.etag } : { ifNoneMatch: '*' })
    } catch (e) {
      if (!(e instanceof PreconditionFailed) || attempt >= retries) throw e
    }
  }
}

/**
 * Recomputes the 1m candles of one hour from bronze and writes them to gold and the serving window.
 * @example await recomputeHour({ store, exchange: 'binance', symbol: 'BTC-USDT', dt: '2026-11-24', hour: '15', now: Date.now() })
 */
export async function recomputeHour(job: HourJob): Promise<HourResult> {
  const o = { ...defaults, ...job.options }
  const hourStart = Date.parse(`${job.dt}T${job.hour}:00:00Z`)
  const hourEnd = hourStart + 3_600_000
  const silver = await updateSilver(job.store, job.exchange, job.symbol, job.dt, job.hour)
  const trades = silver.trades.filter((t) => t.ts / 1000 >= hourStart && t.ts / 1000 < hourEnd)
  const prevClose = await previousClose(job.store, job.exchange, job.symbol, hourStart)
  const lastTs = trades.length ? trades[trades.length - 1].ts / 1000 : -Infinity
  // Ingest has accepted every trade up to its checkpoint; allowing the delivery stream's buffer,
  // the lake holds them all up to `complete`. Minutes before it are final, and flat if empty.
  const cp = await readCheckpoint(job.store, job.exchange, job.symbol)
  const complete = Math.max(lastTs, Math.min(cp ? cp.checkpoint.ts / 1000 : -Infinity, job.now - o.finalAfterMs))
  const from = prevClose !== undefined ? hourStart : trades.length ? trades[0].ts / 1000 : hourEnd
  const until = Math.min(hourEnd, Math.max(Math.floor(lastTs / MINUTE) * MINUTE + MINUTE, Math.floor(complete / MINUTE) * MINUTE))
  const candles = candles1m(trades, { exchange: job.exchange, symbol: job.symbol, from, until, prevClose })
  for (const c of candles) c.final = c.close_time < complete
  const key = goldCandlesKey(job.exchange, job.symbol, '1m', job.dt, job.hour)
  if (candles.length) {
    await putFresh(job.store, key, async () => writeParquet(CANDLE_COLUMNS, candles))
    await updateServing(job.store, job.exchange, job.symbol, hourStart, hourEnd, candles, job.now, o.servingCandles)
  }
  return { trades: trades.length, duplicates: silver.duplicates, files: silver.bronzeFiles, candles, key }
}

/** Replaces one hour of the serving window with `candles`, keeping the newest `keep` candles. */
export async function updateServing(store: ObjectStore, exchange: string, symbol: string, from: number, until: number, candles: Candle[], now: number, keep = defaults.servingCandles) {
  await putFresh(store, servingKey(exchange, symbol, '1m'), async (read) => {
    const current = await read()
    const old: ServingWindow | undefined = current ? JSON.parse(new TextDecoder().decode(current)) : undefined
    const kept = (old?.candles ?? []).filter((c) => c.open_time < from || c.open_time >= until)
    const merged = [...kept, ...candles].sort((a, b) => a.open_time - b.open_time).slice(-keep)
    const doc: ServingWindow = { exchange, symbol, tf: '1m', updated_at: now, candles: merged }
    return JSON.stringify(doc)
  })
}
