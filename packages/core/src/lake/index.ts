/**
 * The lake layout (DESIGN.md section 3): every key Ticklake reads or writes is built here, so the
 * Hive partitions that Athena and DuckDB prune by are spelled in one place.
 */
import type { Timeframe } from '../market/index'

const pad = (n: number) => String(n).padStart(2, '0')

/** UTC date and hour of an epoch-ms time: `{ dt: '2026-11-24', hour: '15' }`. */
export function partitionOf(ms: number) {
  const d = new Date(ms)
  return { dt: d.toISOString().slice(0, 10), hour: pad(d.getUTCHours()) }
}

/** Folder of one hour of bronze trades: `bronze/trades/exchange=binance/symbol=BTC-USDT/dt=2026-11-24/hour=15/`. */
export const bronzeTradesPrefix = (exchange: string, symbol: string, dt: string, hour: string) =>
  `bronze/trades/exchange=${exchange}/symbol=${symbol}/dt=${dt}/hour=${hour}/`

/** Folder of one hour of bronze quotes (best bid/ask). */
export const bronzeQuotesPrefix = (exchange: string, symbol: string, dt: string, hour: string) =>
  `bronze/quotes/exchange=${exchange}/symbol=${symbol}/dt=${dt}/hour=${hour}/`

/** One hour of silver trades: deduplicated, sorted by trade id. */
export const silverTradesKey = (exchange: string, symbol: string, dt: string, hour: string) =>
  `silver/trades/exchange=${exchange}/symbol=${symbol}/dt=${dt}/hour=${hour}.parquet`

/** Which bronze files a silver hour already holds (so the next run reads only new ones). */
export const silverManifestKey = (exchange: string, symbol: string, dt: string, hour: string) =>
  `state/silver/${exchange}/${symbol}/${dt}/${hour}.json`

/** The 1m gold candles of one hour. */
export const goldCandlesKey = (exchange: string, symbol: string, tf: Timeframe, dt: string, hour: string) =>
  `gold/candles/exchange=${exchange}/symbol=${symbol}/tf=${tf}/dt=${dt}/hour=${hour}.parquet`

/** Recent window of candles for the page: `serving/binance/BTC-USDT/1m.json`. */
export const servingKey = (exchange: string, symbol: string, tf: Timeframe) => `serving/${exchange}/${symbol}/${tf}.json`

/** Last trade id accepted downstream for one (exchange, symbol). */
export const checkpointKey = (exchange: string, symbol: string) => `state/checkpoints/${exchange}/${symbol}.json`

/** Where unparseable input goes, with the reason. */
export const dlqKey = (source: string, ms: number, name: string) => `dlq/${source}/dt=${partitionOf(ms).dt}/${name}.jsonl`

/** Reads the Hive partitions out of a key: `{ exchange: 'binance', symbol: 'BTC-USDT', dt: ..., hour: ... }`. */
export function partitionsOfKey(key: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of key.split('/')) {
    const m = /^([a-z_]+)=([^/]+?)(\.parquet)?$/.exec(part)
    if (m) out[m[1]] = decodeURIComponent(m[2])
  }
  return out
}

/** The JSON document at `servingKey`: newest candles last. */
export interface ServingWindow { exchange: string; symbol: string; tf: Timeframe; updated_at: number; candles: import('../market/index').Candle[] }
