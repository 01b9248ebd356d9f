/**
 * Completeness records: what tells the candle job that a span of a symbol's trades is whole in the
 * lake, beyond what ingest's checkpoint vouches for. A writer that knows a span is complete (the
 * archive import: a daily archive holds its whole UTC day, a monthly one its whole month) writes
 * one record per UTC day it touches, `state/complete/<exchange>/<symbol>/<dt>.json`, after the
 * span's bronze is written; the candle job reads the record of its hour's day and makes the
 * candles inside the span final (see `recomputeHour`). Nothing else writes them: a replay's or a
 * live run's first and last minutes stay as partial as they are.
 */
import { completeKey, partitionOf } from '../layout/index'
import { readJson, type ObjectStore } from '../../ports/index'

const DAY = 86_400_000

/** What a completeness record holds: every trade of `[from, until)` (epoch ms, within one UTC day) is in the lake. */
export interface CompleteSpan {
  exchange: string; symbol: string
  from: number; until: number
  /** Who vouches for it (`archive`) and what (the file name). */
  source: string; origin?: string
  written_at: number
}

/**
 * Records `[from, until)` as complete for an exchange and symbol: one record per UTC day the span
 * touches, each clipped to its day. A day's record that the new span overlaps or touches grows to
 * cover both; otherwise the new span replaces it.
 * @example await writeCompleteSpan(store, { exchange: 'binance', symbol: 'BTC-USDT', from: day, until: day + 86_400_000, source: 'archive', written_at: Date.now() })
 */
export async function writeCompleteSpan(store: ObjectStore, span: CompleteSpan): Promise<string[]> {
  if (!(span.until > span.from)) throw new RangeError(`empty span [${span.from}, ${span.until})`)
  const keys: string[] = []
  for (let day = Math.floor(span.from / DAY) * DAY; day < span.until; day += DAY) {
    const { dt } = partitionOf(day)
    const key = completeKey(span.exchange, span.symbol, dt)
    let next = { ...span, from: Math.max(span.from, day), until: Math.min(span.until, day + DAY) }
    const old = await readCompleteSpan(store, span.exchange, span.symbol, dt)
    if (old && old.from <= next.until && next.from <= old.until) next = { ...next, from: Math.min(old.from, next.from), until: Math.max(old.until, next.until) }
    await store.put(key, JSON.stringify(next), { contentType: 'application/json' })
    keys.push(key)
  }
  return keys
}

/** The completeness record of one day, or undefined when there is none (or it is unreadable: then nothing is vouched for). */
export async function readCompleteSpan(store: ObjectStore, exchange: string, symbol: string, dt: string): Promise<CompleteSpan | undefined> {
  try {
    const r = await readJson<CompleteSpan>(store, completeKey(exchange, symbol, dt))
    return r && Number.isFinite(r.from) && Number.isFinite(r.until) && r.until > r.from ? r : undefined
  } catch { return undefined }
}
