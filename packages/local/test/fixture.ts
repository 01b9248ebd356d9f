/**
 * Lake fixtures for the HTTP API's tests and benchmark: one UTC day of 1m gold candles written as
 * the candle job writes them (one Parquet file per hour under `gold/candles/...`, and the serving
 * window), from a seeded random walk, and a bronze file of recent trades.
 */
import { prng } from '../src/exchange/index'
import { updateSilver } from '@ticklake/core/lake/silver'
import { CANDLE_COLUMNS, nativeSymbol, type Candle, type Trade } from '@ticklake/core/market'
import { bronzeTradesPrefix, goldCandlesKey, partitionOf, servingKey, type ServingWindow } from '@ticklake/core/lake/layout'
import { writeParquet } from '@ticklake/core/lake/parquet'
import { bronzeTradesFile } from '../src/firehose/convert'
import type { ObjectStore } from '@ticklake/core/ports'

/** Writes 1440 1m candles of `day` (`2026-11-24`) and returns them, oldest first. */
export async function writeDayOfCandles(store: ObjectStore, o: { exchange: string; symbol: string; day: string; seed?: number }): Promise<Candle[]> {
  const rnd = prng(o.seed ?? 7)
  const start = Date.parse(`${o.day}T00:00:00Z`)
  const candles: Candle[] = []
  let price = 90_000
  let id = 1_000_000
  for (let i = 0; i < 1440; i++) {
    const open = price
    const moves = Array.from({ length: 4 }, () => (price *= 1 + (rnd() - 0.5) * 0.002))
    const close = price
    const volume = Number((rnd() * 5).toFixed(6))
    const trades = 1 + Math.floor(rnd() * 50)
    candles.push({
      exchange: o.exchange, symbol: o.symbol, tf: '1m', open_time: start + i * 60_000, close_time: start + i * 60_000 + 59_999,
      open, high: Math.max(open, close, ...moves), low: Math.min(open, close, ...moves), close, volume, quote_volume: volume * (open + close) / 2, trades,
      taker_buy_volume: volume / 2, taker_buy_quote_volume: volume * (open + close) / 4, vwap: (open + close) / 2, first_trade_id: id, last_trade_id: id + trades - 1, final: true,
    })
    id += trades
  }
  for (let h = 0; h < 24; h++) {
    const rows = candles.slice(h * 60, h * 60 + 60)
    const p = partitionOf(rows[0].open_time)
    await store.put(goldCandlesKey(o.exchange, o.symbol, '1m', p.dt, p.hour), writeParquet(CANDLE_COLUMNS, rows))
  }
  const serving: ServingWindow = { exchange: o.exchange, symbol: o.symbol, tf: '1m', updated_at: candles.at(-1)!.close_time, candles: candles.slice(-720) }
  await store.put(servingKey(o.exchange, o.symbol, '1m'), JSON.stringify(serving))
  return candles
}

/** Writes `n` trades ending at `endMs` (one a second) as one bronze file; returns them. */
export async function writeBronzeTrades(store: ObjectStore, o: { exchange: string; symbol: string; endMs: number; n: number; source?: Trade['source'] }): Promise<Trade[]> {
  const trades: Trade[] = Array.from({ length: o.n }, (_, i) => {
    const ts = (o.endMs - (o.n - 1 - i) * 1000) * 1000
    return { exchange: o.exchange as Trade['exchange'], symbol: o.symbol, native_symbol: nativeSymbol(o.symbol), trade_id: 500 + i, first_trade_id: 500 + i, last_trade_id: 500 + i, ts, price: 100 + i, qty: 0.5, side: i % 2 ? 'sell' : 'buy', trades: 1, ingest_ts: ts + 20_000, source: o.source ?? 'ws' }
  })
  const p = partitionOf(o.endMs)
  await store.put(`${bronzeTradesPrefix(o.exchange, o.symbol, p.dt, p.hour)}fixture-${o.endMs}.parquet`, bronzeTradesFile(trades))
  await updateSilver(store, o.exchange, o.symbol, p.dt, p.hour) // as the candle job would on the bronze object's event
  return trades
}
