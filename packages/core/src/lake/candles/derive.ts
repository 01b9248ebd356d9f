/**
 * Gold candle files and serving windows, derived from a day's hour states alone: every timeframe
 * rolled up from the exact minute sums and written over the version seen before the states were
 * read, so racing, repeated or late runs all converge on the same files.
 */
import { createHash } from 'node:crypto'
import type { Candle, Timeframe } from '../../market/index'
import { CANDLE_COLUMNS, TIMEFRAMES } from '../../market/index'
import { candleStatePrefix, goldCandleFileKey, servingKey, type ServingWindow } from '../layout/index'
import { readParquet, writeTable } from '../parquet/index'
import { PreconditionFailed, readJson, type ObjectStore } from '../../ports/index'
import { candleCache, remember, type CandleCache } from './cache'
import { defaults } from './defaults'
import { ALL_TIMEFRAMES, rollups } from './kernel'
import { candlesOf } from './finish'
import { servingJson } from './serving'
import { closeBefore, dayAggregates, dayStates, type HourState } from './state'

const MINUTE = TIMEFRAMES['1m']
const HOUR = TIMEFRAMES['1h']
const DAY = TIMEFRAMES['1d']

/** S3's ETag of a single-part object: a file whose ETag already matches the new bytes is not rewritten. */
const md5 = (b: Uint8Array) => `"${createHash('md5').update(b).digest('hex')}"`

export interface DayPlan { from: number; until: number; horizon: number }

/**
 * Candles of one day from its states, every timeframe: `until` is the end of the 1m candles (the
 * last trade's minute, or the horizon). Candles of 1m to 1h are made from `fineFrom` on (where
 * files are rewritten; the day's start by default), 4h and 1d for the whole day.
 */
export function dayCandles(exchange: string, symbol: string, dayStart: number, states: HourState[], prevClose: number | undefined, fineFrom = dayStart, cache?: CandleCache) {
  const minutes = dayAggregates(states, dayStart, cache)
  const horizon = Math.max(-Infinity, ...states.map((s) => s.complete))
  const covered = states.flatMap((s) => (s.covered ? [s.covered] : []))
  let lastMinute = -1, firstMinute = -1
  for (let i = minutes.length - 1; i >= 0; i--) if (minutes.records[i]) { lastMinute = i; break }
  for (let i = 0; i <= lastMinute; i++) if (minutes.records[i]) { firstMinute = i; break }
  const lastEnd = lastMinute >= 0 ? dayStart + (lastMinute + 1) * MINUTE : -Infinity
  const end = Math.max(horizon, ...covered.map((c) => c[1]))
  const until = Math.min(dayStart + DAY, Math.max(lastEnd, Math.floor(end / MINUTE) * MINUTE))
  // With no trade known before the day (no close of the day before), the day's first traded minute
  // opens the symbol's history in the lake: a replay's or a first run's first minute, which holds
  // only the trades from where it started. It is final only where a completeness record holds it.
  const since = prevClose === undefined && firstMinute >= 0 ? dayStart + (firstMinute + 1) * MINUTE : -Infinity
  const spans: [number, number][] = [[since, horizon], ...covered]
  const out = {} as Record<Timeframe, Candle[]>
  const byTf = rollups(minutes)
  for (const tf of ALL_TIMEFRAMES) {
    const from = tf === '4h' || tf === '1d' ? dayStart : Math.max(dayStart, fineFrom)
    out[tf] = candlesOf(byTf[tf], { exchange, symbol, prevClose, spans, from, until })
  }
  return { candles: out, until, horizon }
}

interface Target {
  key: string; etag?: string; size?: number; body?: Uint8Array | string
  /** Gold: the rows encoded in `body`, as JSON. Serving: the window `body` holds. */
  rows?: Candle[]; window?: ServingWindow
  /** Serving: the window this process wrote at the version read, when it is the one merged into. */
  previous?: ServingWindow
}

/**
 * Rewrites the gold files and serving windows of `dt` from hour `fromHour` on, from the day's
 * states. Every target's version is taken before the states are read and each write is
 * conditional on it, so a run that read older states can never overwrite a newer run's files.
 * Files still at the version this process wrote are neither encoded again when their candles
 * are unchanged nor (serving windows) read back.
 */
export async function deriveDay(store: ObjectStore, exchange: string, symbol: string, dt: string, fromHour: number, now: number, options: Partial<typeof defaults> = {}, hint?: HourState, cache = candleCache()) {
  const o = { ...defaults, ...options }
  const dayStart = Date.parse(`${dt}T00:00:00Z`)
  const prevClose = await closeBefore(store, exchange, symbol, dt)
  // the first plan comes from the state keys alone (and the state this run wrote); states are read once, below
  const hours = (await store.list(candleStatePrefix(exchange, symbol, dt))).map((x) => Number(/(\d\d)\.json$/.exec(x.key)?.[1])).filter((h) => h >= 0 && h < 24)
  let plan: HourState[] | undefined
  for (let attempt = 0; ; attempt++) {
    // from the hour before the job's hour that holds state (its flat tail may grow) to the last hour with candles
    // (with no earlier state, from the day's start when the day before gave a close: its flat minutes)
    const before = plan ? plan.map((x) => Number(x.hour)).filter((h) => h < fromHour).at(-1) : Math.max(-1, ...hours.filter((h) => h < fromHour))
    const start = dayStart + Math.min(fromHour, before !== undefined && before >= 0 ? before : prevClose !== undefined ? 0 : fromHour) * HOUR
    const plannedUntil = plan ? dayCandles(exchange, symbol, dayStart, plan, prevClose, dayStart + DAY, cache).until
      : Math.min(dayStart + DAY, Math.max(dayStart + (Math.max(fromHour, ...hours) + 1) * HOUR, Math.ceil(Math.max(hint?.complete ?? 0, hint?.covered?.[1] ?? 0) / HOUR) * HOUR))
    const end = Math.max(plannedUntil, start + HOUR)
    const keys = new Set<string>()
    for (let h = start; h < end; h += HOUR) for (const tf of ['1m', '5m', '15m', '1h'] as const) keys.add(goldCandleFileKey(exchange, symbol, tf, h))
    keys.add(goldCandleFileKey(exchange, symbol, '4h', dayStart)).add(goldCandleFileKey(exchange, symbol, '1d', dayStart))
    for (const tf of ALL_TIMEFRAMES) keys.add(servingKey(exchange, symbol, tf))
    const targets = new Map<string, Target>()
    await Promise.all([...keys].map(async (key) => { const h = await store.head(key); targets.set(key, { key, etag: h?.etag, size: h?.size }) }))
    // the states, read after every version above was taken
    const states = await dayStates(store, exchange, symbol, dt, cache)
    const { candles, until } = dayCandles(exchange, symbol, dayStart, states, prevClose, start, cache)
    if (until > end) { plan = states; continue } // the horizon moved past what was planned: plan again
    for (const [tf, list] of Object.entries(candles) as [Timeframe, Candle[]][]) {
      const inRange = tf === '4h' || tf === '1d' ? list : list.filter((c) => c.open_time >= start && c.open_time < end)
      const files = new Map<string, Candle[]>()
      for (const c of inRange) { const k = goldCandleFileKey(exchange, symbol, tf, c.open_time); const rows = files.get(k); if (rows) rows.push(c); else files.set(k, [c]) }
      for (const [k, rows] of files) {
        const t = targets.get(k)!
        if (tf === '1d') { t.rows = await mergeYear(store, t, rows, cache); t.body = writeTable(CANDLE_COLUMNS, t.rows, GOLD); continue }
        // rows this process wrote at this very version are not encoded (nor written) again
        t.rows = rows
        const last = cache.written.get(k)
        if (t.etag && last?.etag === t.etag && last.rows && sameCandles(last.rows, rows)) continue
        t.body = writeTable(CANDLE_COLUMNS, rows, GOLD)
      }
      const servingFrom = tf === '4h' || tf === '1d' ? dayStart : start
      const s = targets.get(servingKey(exchange, symbol, tf))!
      s.window = await mergeServing(store, s, exchange, symbol, tf, servingFrom, dayStart + DAY, inRange, now, o.servingCandles, cache)
      s.body = servingJson(s.window, s.previous, cache)
    }
    try {
      await Promise.all([...targets.values()].filter((t) => t.body !== undefined).map(async (t) => {
        const bytes = typeof t.body === 'string' ? new TextEncoder().encode(t.body) : t.body!
        // S3's ETag of a single-part object is its MD5: the same bytes are not written again (a different size cannot be the same;
        // a serving window carries the run's time, so it is not worth hashing)
        if (t.etag && !t.window && (t.size === undefined || t.size === bytes.length) && md5(bytes) === t.etag) { remember(cache, t.key, { etag: t.etag, rows: t.rows, window: t.window }); return }
        const { etag } = await store.put(t.key, bytes, t.etag ? { ifMatch: t.etag, contentType: t.key.endsWith('.json') ? 'application/json' : undefined } : { ifNoneMatch: '*' })
        remember(cache, t.key, { etag, rows: t.rows, window: t.window })
      }))
      return { candles, from: start, until, states }
    } catch (e) {
      if (!(e instanceof PreconditionFailed) || attempt >= o.writeRetries) throw e
      plan = states
      await new Promise((r) => setTimeout(r, Math.random() * 20))
    }
  }
}
/** Gold candle files: small (an hour of 1m candles is 60 rows), so not worth compressing in JavaScript. */
export const GOLD = { codec: 'UNCOMPRESSED' } as const

/** True when two candles hold the same values in every column. */
function sameCandle(a: Candle, b: Candle) {
  for (const c of CANDLE_COLUMNS) if (!Object.is(a[c.name], b[c.name])) return false
  return true
}
const sameCandles = (a: Candle[], b: Candle[]) => a.length === b.length && a.every((c, i) => sameCandle(c, b[i]))

/** The year's daily candles: what the file held for other days (as this process wrote it, or read), plus `rows`. */
async function mergeYear(store: ObjectStore, t: Target, rows: Candle[], cache: CandleCache): Promise<Candle[]> {
  const last = t.etag ? cache.written.get(t.key) : undefined
  const bytes = t.etag && !(last?.rows && last.etag === t.etag) ? await store.get(t.key) : undefined
  const old = last?.rows && last.etag === t.etag ? last.rows : bytes ? await readParquet<Candle>(bytes) : []
  const replaced = new Set(rows.map((r) => r.open_time))
  return [...old.filter((c) => !replaced.has(c.open_time)), ...rows].sort((a, b) => a.open_time - b.open_time)
}
/**
 * A serving window with the candles opening in `[from, until)` replaced by `candles`, newest
 * `keep` kept. The stored window is read unless this process wrote that very version.
 */
async function mergeServing(store: ObjectStore, t: Target, exchange: string, symbol: string, tf: Timeframe, from: number, until: number, candles: Candle[], now: number, keep: number, cache: CandleCache): Promise<ServingWindow> {
  let old: ServingWindow | undefined
  const last = t.etag ? cache.written.get(t.key) : undefined
  if (last?.window && last.etag === t.etag) old = last.window
  else try { old = t.etag ? await readJson<ServingWindow>(store, t.key) : undefined } catch { old = undefined }
  t.previous = old
  const kept: Candle[] = [], before = new Map<number, Candle>()
  for (const c of old?.candles ?? []) if (c.open_time < from || c.open_time >= until) kept.push(c); else before.set(c.open_time, c)
  // the window's own candle where it is unchanged (its JSON is made already), else a copy: the window
  // may be kept (see `written`), the caller's candles are the caller's
  const fresh = candles.map((c) => { const b = before.get(c.open_time); return b && sameCandle(b, c) ? b : { ...c } })
  const merged = [...kept, ...fresh]
  // usually in order already (the new candles follow the kept ones)
  for (let i = 1; i < merged.length; i++) if (merged[i].open_time < merged[i - 1].open_time) { merged.sort((a, b) => a.open_time - b.open_time); break }
  if (merged.length > keep) merged.splice(0, merged.length - keep)
  return { exchange, symbol, tf, updated_at: now, candles: merged }
}
