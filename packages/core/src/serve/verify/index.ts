/**
 * Verification of the lake's candles against the exchange's own klines: `compareCandles` lines up
 * both sides by open time and names every field that differs, and every candle missing on either
 * side; `formatReport` prints that for people; `verifyCandles` fetches the klines over REST (paged,
 * through core/sources/binance's rate-limit handling) and the lake's candles through a `QueryEngine`, so
 * the CLI (`ticklake verify`) stays a thin adapter. Decimal fields are compared at the exchange's
 * 8 printed decimals: a double cannot hold more, and Binance prints no more.
 */
import type { Timeframe } from '../../market/index'
import { TIMEFRAMES } from '../../market/index'
import { ENDPOINTS, klinesBetween, restBase, type RestKline } from '../../sources/binance/index'
import { HttpError, unreachable } from '../../sources/http/index'
import { candlesQuery, QueryInputError, type QueryEngine } from '../query/index'

export const defaults = {
  /** Decimals Binance prints. */
  decimals: 8,
  /** A 429 asking to wait at most this long is waited out (up to `retries` times); longer waits fail. */
  maxWaitMs: 15_000,
  retries: 3,
  /** Most candles one run compares (the lake query's limit). */
  maxCandles: 100_000,
}

/** Compared fields, in Binance's kline order. */
export const KLINE_FIELDS = ['open', 'high', 'low', 'close', 'volume', 'quote_volume', 'trades', 'taker_buy_volume', 'taker_buy_quote_volume'] as const
export type KlineField = (typeof KLINE_FIELDS)[number]

/** The lake side of one candle: what the gold candles hold (numbers; times in ms). */
export type LakeCandle = { open_time: number; final?: boolean } & Record<KlineField, number>

export interface FieldDiff { field: KlineField; lake: number; exchange: string }
export interface CandleDiff { open_time: number; final?: boolean; fields: FieldDiff[] }

export interface VerifyReport {
  exchange: string; symbol: string; tf: string; from: number; to: number
  /** Candles present on both sides. */
  compared: number
  matched: number
  differing: CandleDiff[]
  /** Exchange klines with no lake candle. */
  missingInLake: RestKline[]
  /** Lake candles with no exchange kline. */
  missingAtExchange: LakeCandle[]
  /** True when every candle is on both sides and every field agrees. */
  ok: boolean
}

const ulp = (x: number) => (x === 0 ? Number.MIN_VALUE : 2 ** (Math.floor(Math.log2(Math.abs(x))) - 52))

/**
 * True when the lake's double shows the exchange's decimal at `decimals` places: their distance is
 * under half a unit of the last place (plus a few ulps of the double's own rounding).
 * @example sameDecimal(0.1 + 0.2, '0.30000000') === true; sameDecimal(60000.01, '60000.02000000') === false
 */
export function sameDecimal(lake: number, exchange: string, decimals = defaults.decimals): boolean {
  const ex = Number(exchange)
  if (!Number.isFinite(lake) || !Number.isFinite(ex)) return false
  return Math.abs(lake - ex) < 0.5 * 10 ** -decimals + 4 * ulp(Math.max(Math.abs(lake), Math.abs(ex)))
}

/** The fields of one candle that differ from the exchange's kline (trade counts exactly, decimals at 8 places). */
export function diffCandle(lake: LakeCandle, kline: RestKline, decimals = defaults.decimals): FieldDiff[] {
  const out: FieldDiff[] = []
  for (const f of KLINE_FIELDS) {
    const same = f === 'trades' ? lake.trades === kline.trades : sameDecimal(lake[f], kline[f], decimals)
    if (!same) out.push({ field: f, lake: lake[f], exchange: String(kline[f]) })
  }
  return out
}

export interface CompareInput { exchange: string; symbol: string; tf: string; from: number; to: number; klines: RestKline[]; lake: LakeCandle[]; decimals?: number }

/**
 * Lines up exchange klines and lake candles by open time (only those in `[from, to)`) and reports
 * every difference.
 * @example compareCandles({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from, to, klines, lake }).ok
 */
export function compareCandles(i: CompareInput): VerifyReport {
  const inRange = (t: number) => t >= i.from && t < i.to
  const lake = new Map(i.lake.filter((c) => inRange(c.open_time)).map((c) => [c.open_time, c]))
  const r: VerifyReport = { exchange: i.exchange, symbol: i.symbol, tf: i.tf, from: i.from, to: i.to, compared: 0, matched: 0, differing: [], missingInLake: [], missingAtExchange: [], ok: true }
  const seen = new Set<number>()
  for (const k of [...i.klines].sort((a, b) => a.open_time - b.open_time)) {
    if (!inRange(k.open_time) || seen.has(k.open_time)) continue
    seen.add(k.open_time)
    const c = lake.get(k.open_time)
    if (!c) { r.missingInLake.push(k); continue }
    r.compared++
    const fields = diffCandle(c, k, i.decimals)
    if (fields.length) r.differing.push({ open_time: k.open_time, final: c.final, fields })
    else r.matched++
  }
  r.missingAtExchange = [...lake.values()].filter((c) => !seen.has(c.open_time)).sort((a, b) => a.open_time - b.open_time)
  r.ok = !r.differing.length && !r.missingInLake.length && !r.missingAtExchange.length
  return r
}

const iso = (ms: number) => new Date(ms).toISOString()
const show = (f: KlineField, v: number) => (f === 'trades' ? String(v) : Math.abs(v) < 1e21 ? v.toFixed(defaults.decimals) : String(v))

/**
 * The report as lines: one per differing field, one per missing candle, then the summary line.
 * @example 2026-01-05T11:07:00.000Z  high  lake 60012.34000000  exchange 60012.35000000
 */
export function formatReport(r: VerifyReport): string[] {
  const lines: string[] = []
  const rows: { t: number; line: string }[] = []
  for (const d of r.differing) for (const f of d.fields) rows.push({ t: d.open_time, line: `${iso(d.open_time)}  ${f.field}  lake ${show(f.field, f.lake)}  exchange ${f.exchange}${d.final === false ? '  (lake candle not final yet)' : ''}` })
  for (const k of r.missingInLake) rows.push({ t: k.open_time, line: `${iso(k.open_time)}  missing in the lake  (exchange: ${k.trades} trades, volume ${k.volume})` })
  for (const c of r.missingAtExchange) rows.push({ t: c.open_time, line: `${iso(c.open_time)}  missing at the exchange  (lake: ${c.trades} trades, volume ${show('volume', c.volume)})` })
  rows.sort((a, b) => a.t - b.t)
  for (const x of rows) lines.push(x.line)
  const fields = r.differing.reduce((n, d) => n + d.fields.length, 0)
  lines.push(`${r.ok ? 'OK' : 'DIFFERENT'}: ${r.exchange} ${r.symbol} ${r.tf} ${iso(r.from)} .. ${iso(r.to)}: ${r.compared} candles compared, ${r.matched} match, ${r.differing.length} differ (${fields} field${fields === 1 ? '' : 's'}), ${r.missingInLake.length} missing in the lake, ${r.missingAtExchange.length} missing at the exchange`)
  return lines
}

/** A lake row as a query engine returns it (ISO or epoch times, numbers or numeric strings) as a LakeCandle. */
export function lakeCandleOf(row: Record<string, unknown>): LakeCandle {
  const t = row.open_time
  const c: any = { open_time: typeof t === 'number' ? t : Date.parse(String(t).replace(' ', 'T') + (/Z|[+-]\d\d:?\d\d$/.test(String(t)) ? '' : 'Z')) }
  for (const f of KLINE_FIELDS) c[f] = Number(row[f])
  if (row.final !== undefined) c.final = row.final === true || row.final === 'true'
  return c
}

export interface VerifyOptions {
  exchange: string; symbol: string; tf: Timeframe
  /** Open times in `[from, to)` (ms). */
  from: number; to: number
  /** The venue's REST host (default: Binance's public one for `exchange`). */
  restUrl?: string
  engine: QueryEngine
  fetchImpl?: typeof fetch
  sleep?: (ms: number) => Promise<void>
}

/** Every kline in `[from, to)`, waiting out short 429s. */
export async function fetchKlines(base: string, symbol: string, tf: string, from: number, to: number, fetchImpl: typeof fetch = fetch, sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))): Promise<RestKline[]> {
  const out: RestKline[] = []
  for (let attempt = 0; ; attempt++) {
    try {
      const start = out.length ? out[out.length - 1].open_time + 1 : from
      for await (const page of klinesBetween(base, symbol, tf, start, to - 1, fetchImpl)) out.push(...page)
      return out
    } catch (e: any) {
      const why = unreachable(e)
      if (why) throw new Error(`cannot reach ${base} for klines: ${why}`)
      if (!(e instanceof HttpError) || e.status !== 429 || attempt >= defaults.retries || !(e.retryAfterMs! <= defaults.maxWaitMs)) throw e
      await sleep(e.retryAfterMs! + 50)
    }
  }
}

/**
 * Compares the lake's candles of one symbol and timeframe with the exchange's klines over `[from, to)`.
 * @example const r = await verifyCandles({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from, to, engine }); console.log(formatReport(r).join('\n'))
 */
export async function verifyCandles(o: VerifyOptions): Promise<VerifyReport> {
  const venue = ENDPOINTS[o.exchange]
  if (!venue) throw new QueryInputError(`verify knows the klines of ${Object.keys(ENDPOINTS).join(', ')} (got ${JSON.stringify(o.exchange)})`)
  if (!(o.tf in TIMEFRAMES)) throw new QueryInputError(`tf must be one of ${Object.keys(TIMEFRAMES).join(', ')}`)
  if (!Number.isFinite(o.from) || !Number.isFinite(o.to) || o.to <= o.from) throw new QueryInputError('--from and --to are ISO-8601 times with from before to')
  if ((o.to - o.from) / TIMEFRAMES[o.tf] > defaults.maxCandles) throw new QueryInputError(`at most ${defaults.maxCandles} candles per run: shorten the range or use a larger --tf`)
  const st = candlesQuery({ exchange: o.exchange, symbol: o.symbol, tf: o.tf, from: o.from, to: o.to, limit: defaults.maxCandles })
  const lake = (await o.engine.query(st)).map(lakeCandleOf)
  const klines = await fetchKlines(restBase(o.exchange, o.restUrl ?? venue.rest), o.symbol, o.tf, o.from, o.to, o.fetchImpl, o.sleep)
  return compareCandles({ exchange: o.exchange, symbol: o.symbol, tf: o.tf, from: o.from, to: o.to, klines, lake })
}
