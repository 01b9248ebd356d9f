/**
 * The features hour job of the lake path, run after the candle job: recomputes one hour's
 * per-trade features from silver trades (with the previous hours' tail as lookback, the next
 * hours' head for the targets, and bronze quotes for the spread) and the hour's 1m candle
 * indicators (with the previous day of candles as warm-up), and writes both to gold with
 * conditional puts. Recomputing whole hours from the lake makes repeated, late and concurrent
 * events harmless; neighbouring hours whose inputs changed are refreshed once.
 */
import { bronzeQuotesPrefix, featuresStateKey, goldCandleFeaturesKey, goldCandlesKey, goldTradeFeaturesKey, partitionOf, silverManifestKey } from '../layout/index'
import { readJson, updateObject, type ObjectStore } from '../../ports/index'
import { readColumns, type ColumnRequest } from '../parquet/index'
import { readTradeColumns } from '../trades/index'
import { dedupeOrder, pickRows, silverHourFiles } from '../silver/index'
import { writeFeatureTable } from './table'
import { candleIndicators, type CandleSeries } from './indicators'
import { CANDLE_FEATURE_COLUMNS, FEATURE_COLUMNS, HORIZONS, LOOKBACK } from './schema'
import { tradeFeatures, type QuoteSeries, type TradeSeries } from './trades'

export const defaults = {
  /** Hours searched back for the LOOKBACK trades before an hour (missing hours are skipped), and at most forward for the targets (up to the first missing hour). */
  lookbackHours: 24,
  /** Hours of 1m candles read before an hour as indicator warm-up (a session VWAP needs up to 23). */
  warmupHours: 24,
  /** Conditional-write retries when another run wrote the same key meanwhile. */
  writeRetries: 5,
  /** Decoded silver hours kept in memory between jobs of one process (a warm function). */
  decodedHours: 4,
}

export interface HourRef { exchange: string; symbol: string; dt: string; hour: string }
export interface FeaturesJob extends HourRef { store: ObjectStore; options?: Partial<typeof defaults> }
export interface FeaturesState { inputs: Record<string, string>; rows: number; pending_targets: number }
export interface FeaturesResult extends HourRef { key: string; rows: number; trades: number; pendingTargets: number; candleKey: string; candleRows: number; inputs: Record<string, string>; warnings: string[]
  /** Wall time by phase: reading and decoding inputs, the per-trade kernel, Parquet encoding, conditional writes (and state), the candle indicators (all of it). */
  ms: { read: number; compute: number; encode: number; write: number; candles: number } }

const HOUR = 3_600_000
const hourStart = (h: HourRef) => Date.parse(`${h.dt}T${h.hour}:00:00Z`)
/** The hour `k` hours after `h` (negative: before). */
export const shiftHour = <T extends HourRef>(h: T, k: number): T => ({ ...h, ...partitionOf(hourStart(h) + k * HOUR) })

const numbers = (...names: string[]): ColumnRequest[] => names.map((name) => ({ name, as: 'number' }))
const QUOTE_READ = numbers('ts', 'bid', 'ask', 'bid_qty', 'ask_qty')
const CANDLE_READ = numbers('open_time', 'high', 'low', 'close', 'volume', 'quote_volume', 'final')

/**
 * Decoded silver hours by key and ETag: consecutive hour jobs read the same files (an hour is the
 * next one's lookback and the previous one's targets), so each is decoded once. The ETag names the
 * content, so an entry can never be stale; the oldest entries are dropped.
 */
const decoded = new Map<string, TradeSeries>()

async function readSilver(store: ObjectStore, h: HourRef): Promise<{ key: string; etag: string; series: TradeSeries } | undefined> {
  // the hour's version is its manifest's (silver holds an hour in parts); the key names the hour
  const key = silverManifestKey(h.exchange, h.symbol, h.dt, h.hour)
  const files = await silverHourFiles(store, h)
  if (!files) return undefined
  const id = `${key} ${files.version}`
  const hit = decoded.get(id)
  if (hit) return { key, etag: files.version, series: hit }
  const { columns: c } = await readTradeColumns(files.files) // core's decoder, as the candle job reads silver
  // parts in trade-id order (a late part can fill a hole of an earlier one)
  const o = pickRows(c, dedupeOrder(c))
  const series: TradeSeries = { length: o.length, tradeId: o.trade_id, ts: o.ts, price: o.price, qty: o.qty, buy: o.buy }
  decoded.set(id, series)
  for (const k of decoded.keys()) if (decoded.size > defaults.decodedHours) decoded.delete(k)
  return { key, etag: files.version, series }
}

/** Trades `[a, b)` of several series, concatenated. */
function concat(parts: { s: TradeSeries; a: number; b: number }[]): TradeSeries {
  const n = parts.reduce((t, p) => t + p.b - p.a, 0)
  const out: TradeSeries = { length: n, tradeId: new Float64Array(n), ts: new Float64Array(n), price: new Float64Array(n), qty: new Float64Array(n), buy: new Uint8Array(n) }
  let o = 0
  for (const { s, a, b } of parts) {
    for (const k of ['tradeId', 'ts', 'price', 'qty', 'buy'] as const) (out[k] as Float64Array).set((s[k] as Float64Array).subarray(a, b), o)
    o += b - a
  }
  return out
}

/** The hour's trades with up to LOOKBACK trades before them and the longest horizon after. */
async function tradeInputs(store: ObjectStore, h: HourRef, o: typeof defaults) {
  const cur = await readSilver(store, h)
  if (!cur) return undefined
  const inputs: Record<string, string> = { [cur.key]: cur.etag }
  const before: { s: TradeSeries; a: number; b: number }[] = []
  let need = LOOKBACK
  for (let k = 1; k <= o.lookbackHours && need > 0; k++) {
    const prev = await readSilver(store, shiftHour(h, -k))
    if (!prev) continue
    inputs[prev.key] = prev.etag
    const take = Math.min(need, prev.series.length)
    before.unshift({ s: prev.series, a: prev.series.length - take, b: prev.series.length })
    need -= take
  }
  const after: { s: TradeSeries; a: number; b: number }[] = []
  let want = Math.max(...HORIZONS)
  for (let k = 1; want > 0 && k <= o.lookbackHours; k++) {
    const next = await readSilver(store, shiftHour(h, k))
    if (!next) break
    inputs[next.key] = next.etag
    const take = Math.min(want, next.series.length)
    after.push({ s: next.series, a: 0, b: take })
    want -= take
  }
  const from = LOOKBACK - need
  const series = concat([...before, { s: cur.series, a: 0, b: cur.series.length }, ...after])
  return { series, from, to: from + cur.series.length, inputs }
}

/** One bronze quote file's columns; an unreadable file is skipped with its reason in `warnings`. */
async function readQuoteFile(store: ObjectStore, key: string, warnings: string[]) {
  const bytes = await store.get(key)
  try {
    if (!bytes) return undefined
    const d = await readColumns(bytes, QUOTE_READ) // a row with a null is left out
    return { rows: d.length, ...(d.values as Record<'ts' | 'bid' | 'ask' | 'bid_qty' | 'ask_qty', Float64Array>) }
  } catch (e) {
    warnings.push(`${key}: unreadable quote file skipped: ${(e as Error).message}`)
    return undefined
  }
}

/** The hour's bronze quotes and the last file of the hour before (for its first trades), sorted by ts. */
async function quoteInputs(store: ObjectStore, h: HourRef, warnings: string[]): Promise<QuoteSeries | undefined> {
  const p = shiftHour(h, -1)
  const [prev, cur] = await Promise.all([p, h].map((x) => store.list(bronzeQuotesPrefix(x.exchange, x.symbol, x.dt, x.hour))))
  const keys = [...prev.slice(-1), ...cur].map((x) => x.key).filter((k) => k.endsWith('.parquet'))
  const files = (await Promise.all(keys.map((k) => readQuoteFile(store, k, warnings)))).filter((f) => f !== undefined)
  let n = files.reduce((t, f) => t + f.rows, 0)
  if (n === 0) return undefined
  const cols = { ts: new Float64Array(n), bid: new Float64Array(n), ask: new Float64Array(n), bid_qty: new Float64Array(n), ask_qty: new Float64Array(n) }
  let o = 0 // rows with a null (NaN) anywhere are left out
  for (const f of files) for (let i = 0; i < f.rows; i++) {
    if (Number.isNaN(f.ts[i] + f.bid[i] + f.ask[i] + f.bid_qty[i] + f.ask_qty[i])) continue
    cols.ts[o] = f.ts[i]; cols.bid[o] = f.bid[i]; cols.ask[o] = f.ask[i]; cols.bid_qty[o] = f.bid_qty[i]; cols.ask_qty[o] = f.ask_qty[i]; o++
  }
  n = o
  if (n === 0) return undefined
  let sorted = true
  for (let i = 1; i < n && sorted; i++) sorted = cols.ts[i - 1] <= cols.ts[i]
  if (!sorted) {
    const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => cols.ts[a] - cols.ts[b] || a - b)
    for (const k of Object.keys(cols) as (keyof typeof cols)[]) { const c = cols[k].slice(); for (let i = 0; i < n; i++) cols[k][i] = c[idx[i]] }
  }
  return { length: n, ts: cols.ts.subarray(0, n), bid: cols.bid.subarray(0, n), ask: cols.ask.subarray(0, n), bidQty: cols.bid_qty.subarray(0, n), askQty: cols.ask_qty.subarray(0, n) }
}

/** The hour's 1m candles after up to `warmupHours` of earlier ones; `from` is the hour's first. */
async function candleInputs(store: ObjectStore, h: HourRef, o: typeof defaults): Promise<{ series: CandleSeries; from: number } | undefined> {
  const hours = Array.from({ length: o.warmupHours + 1 }, (_, i) => shiftHour(h, i - o.warmupHours))
  const files = await Promise.all(hours.map(async (x) => {
    const bytes = await store.get(goldCandlesKey(x.exchange, x.symbol, '1m', x.dt, x.hour))
    if (!bytes) return undefined
    const d = await readColumns(bytes, CANDLE_READ)
    return { rows: d.length, ...(d.values as Record<'open_time' | 'high' | 'low' | 'close' | 'volume' | 'quote_volume' | 'final', Float64Array>) }
  }))
  if (!files.at(-1)?.rows) return undefined
  const rows: number[][] = []
  for (const f of files) if (f) for (let i = 0; i < f.rows; i++) rows.push([f.open_time[i], f.high[i], f.low[i], f.close[i], f.volume[i], f.quote_volume[i], f.final[i]])
  rows.sort((a, b) => a[0] - b[0])
  const uniq = rows.filter((r, i) => i === 0 || r[0] !== rows[i - 1][0])
  const col = (j: number) => Float64Array.from(uniq, (r) => r[j])
  const series: CandleSeries = { length: uniq.length, openTime: col(0), high: col(1), low: col(2), close: col(3), volume: col(4), quoteVolume: col(5), final: col(6) }
  const start = hourStart(h), from = uniq.findIndex((r) => r[0] >= start)
  return from < 0 ? undefined : { series, from }
}

/**
 * Recomputes the features of one hour (trades and candle indicators) and writes them to gold.
 * Nothing is written for a side whose input (silver trades, 1m candles) is not in the lake.
 * @example await featuresHour({ store, exchange: 'binance', symbol: 'BTC-USDT', dt: '2026-11-24', hour: '15' })
 */
export async function featuresHour(job: FeaturesJob): Promise<FeaturesResult> {
  const o = { ...defaults, ...job.options }
  const { store } = job
  const key = goldTradeFeaturesKey(job.exchange, job.symbol, job.dt, job.hour)
  const candleKey = goldCandleFeaturesKey(job.exchange, job.symbol, job.dt, job.hour)
  const ref: HourRef = { exchange: job.exchange, symbol: job.symbol, dt: job.dt, hour: job.hour }
  const result: FeaturesResult = { ...ref, key, rows: 0, trades: 0, pendingTargets: 0, candleKey, candleRows: 0, inputs: {}, warnings: [], ms: { read: 0, compute: 0, encode: 0, write: 0, candles: 0 } }
  const clock = () => performance.now()
  let mark = clock()
  const lap = (phase: keyof FeaturesResult['ms']) => { const now = clock(); result.ms[phase] += now - mark; mark = now }
  // each side is written only over the version seen before its inputs were read (recomputed when another run wrote meanwhile)
  await updateObject(store, key, async () => {
    result.warnings = []
    lap('write')
    const [t, quotes] = await Promise.all([tradeInputs(store, ref, o), quoteInputs(store, ref, result.warnings)])
    lap('read')
    if (!t) return { result: false }
    const { rows, table } = tradeFeatures(t.series, t.from, t.to, { exchange: job.exchange, symbol: job.symbol, quotes })
    const target = table[`target_return_${Math.max(...HORIZONS)}`] as Float64Array
    let pending = 0
    for (let i = rows - 1; i >= 0 && Number.isNaN(target[i]); i--) pending++
    Object.assign(result, { rows, trades: t.to - t.from, pendingTargets: pending, inputs: t.inputs })
    lap('compute')
    const bytes = writeFeatureTable(FEATURE_COLUMNS, table, rows)
    lap('encode')
    return { body: bytes, result: true }
  }, { retries: o.writeRetries })
  lap('write')
  if (Object.keys(result.inputs).length) {
    const state: FeaturesState = { inputs: result.inputs, rows: result.rows, pending_targets: result.pendingTargets }
    await store.put(featuresStateKey(job.exchange, job.symbol, job.dt, job.hour), JSON.stringify(state), { contentType: 'application/json' })
  }
  await updateObject(store, candleKey, async () => {
    const c = await candleInputs(store, ref, o)
    if (!c) return { result: false }
    const { rows, table } = candleIndicators(c.series, c.from, ref)
    result.candleRows = rows
    return { body: writeFeatureTable(CANDLE_FEATURE_COLUMNS, table, rows), result: true }
  }, { retries: o.writeRetries })
  lap('candles')
  return result
}

const readState = (store: ObjectStore, h: HourRef) => readJson<FeaturesState>(store, featuresStateKey(h.exchange, h.symbol, h.dt, h.hour))

/**
 * The S3-triggered entry: recomputes the hour, then once each neighbour whose features were
 * computed from another version of this hour's silver trades (the next hour's lookback) or that
 * still waits for targets this hour can now give (the previous hour's last rows).
 */
export async function runFeatures(job: FeaturesJob): Promise<FeaturesResult & { refreshed: string[] }> {
  const r = await featuresHour(job)
  const mine = silverManifestKey(job.exchange, job.symbol, job.dt, job.hour)
  const refreshed: string[] = []
  for (const k of [-1, 1]) {
    const n = shiftHour(job, k)
    const st = await readState(job.store, n)
    if (!st || st.inputs[mine] === r.inputs[mine]) continue
    if (mine in st.inputs || (k === -1 && st.pending_targets > 0)) {
      await featuresHour(n)
      refreshed.push(`${n.dt}/${n.hour}`)
    }
  }
  return { ...r, refreshed }
}
