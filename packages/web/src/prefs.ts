/**
 * The viewer's choices (exchange, symbol, timeframe, theme, time zone, the four candle colours,
 * indicator overlays, the compared venue: `compare=coinbase:BTC-USD`) as one plain object, read from the URL over localStorage over the defaults
 * and written back to both, so a copied URL opens exactly the same view. Parsing never throws: a
 * bad value is left out, the default kept, and the problem returned for the page to show.
 * Also the time-zone formatting the chart, legend and trade list share.
 */
import type { Timeframe } from '@ticklake/core/market'

export type Theme = 'dark' | 'light'
export type IndicatorKind = 'sma' | 'ema' | 'bb' | 'vwap' | 'rsi' | 'macd'
/** One overlay or lower-pane indicator; `period` is 0 for VWAP and MACD (12/26/9). */
export interface Indicator { kind: IndicatorKind; period: number }
export interface Prefs {
  exchange?: string
  symbol?: string
  tf: Timeframe
  theme: Theme
  /** `UTC` or an IANA zone (`Asia/Kolkata`). */
  tz: string
  /** Candle colours as `#rrggbb`: bodies and borders/wicks of rising and falling candles. */
  up: string
  down: string
  upWick: string
  downWick: string
  ind: Indicator[]
  /** Another exchange's (or symbol's) close drawn over the candles, with the spread: `compare=coinbase:BTC-USD`. */
  compare?: CompareSpec
}
/** An exchange and symbol to compare with. */
export interface CompareSpec { exchange: string; symbol: string }

export const TIMEFRAMES: Timeframe[] = ['1m', '5m', '15m', '1h', '4h', '1d']
export const INDICATOR_KINDS: IndicatorKind[] = ['sma', 'ema', 'bb', 'vwap', 'rsi', 'macd']
/** Period an indicator takes when none is given, and the range a period may take. */
export const PERIODS: Record<IndicatorKind, number> = { sma: 20, ema: 50, bb: 20, vwap: 0, rsi: 14, macd: 0 }
const MAX_PERIOD = 500

export const defaults: Prefs & { storageKey: string } = {
  tf: '1m', theme: 'dark', tz: 'UTC', up: '#26a69a', down: '#ef5350', upWick: '#26a69a', downWick: '#ef5350', ind: [],
  storageKey: 'ticklake.prefs',
}

const HEX = /^#?([0-9a-f]{6})$/i
/** `#rrggbb` (lower case) from `rrggbb` or `#rrggbb`, else undefined. */
export const hexColor = (s: string | null | undefined) => { const m = s ? HEX.exec(s.trim()) : null; return m ? `#${m[1].toLowerCase()}` : undefined }

/** Whether the browser knows `tz` as a time zone. */
export function validZone(tz: string) {
  try { new Intl.DateTimeFormat('en-US', { timeZone: tz }); return true } catch { return false }
}

/** `sma20,ema50,bb20,vwap,rsi14,macd` as indicators; unknown tokens come back in `bad`. */
export function parseIndicators(s: string): { ind: Indicator[]; bad: string[] } {
  const ind: Indicator[] = [], bad: string[] = []
  for (const tok of s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean)) {
    const m = /^(sma|ema|bb|vwap|rsi|macd)(\d*)$/.exec(tok)
    const kind = m?.[1] as IndicatorKind | undefined
    const period = m?.[2] ? Number(m[2]) : kind ? PERIODS[kind] : 0
    const fixed = kind === 'vwap' || kind === 'macd'
    if (!kind || (fixed && m![2]) || (!fixed && (period < 2 || period > MAX_PERIOD))) { bad.push(tok); continue }
    if (!ind.some((i) => i.kind === kind && i.period === period)) ind.push({ kind, period })
  }
  return { ind, bad }
}

/** Indicators as the URL writes them. */
export const formatIndicators = (ind: Indicator[]) => ind.map((i) => (i.period ? `${i.kind}${i.period}` : i.kind)).join(',')

const COMPARE = /^([a-z][a-z0-9-]{0,30}):([A-Z0-9]{1,20}-[A-Z0-9]{1,20}(-\d{6})?)$/i
/** `coinbase:BTC-USD` as a compare choice (symbol upper-cased), else undefined. */
export function parseCompare(s: string): CompareSpec | undefined {
  const m = COMPARE.exec(s.trim())
  return m && m[1] === m[1].toLowerCase() ? { exchange: m[1], symbol: m[2].toUpperCase() } : undefined
}
/** A compare choice as the URL writes it. */
export const formatCompare = (c: CompareSpec) => `${c.exchange}:${c.symbol}`

/** The choices a query string (or stored object of the same keys) makes over `base`, and what it got wrong. */
export function readParams(params: URLSearchParams, base: Prefs): { prefs: Prefs; problems: string[] } {
  const p: Prefs = { ...base, ind: [...base.ind] }
  const problems: string[] = []
  const get = (k: string) => { const v = params.get(k); return v == null || v === '' ? undefined : v }
  const ex = get('exchange')
  if (ex) { if (/^[a-z][a-z0-9-]{0,30}$/.test(ex)) p.exchange = ex; else problems.push(`exchange "${ex}"`) }
  const sym = get('symbol')
  if (sym) { if (/^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}(-\d{6})?$/i.test(sym)) p.symbol = sym.toUpperCase(); else problems.push(`symbol "${sym}"`) }
  const tf = get('tf')
  if (tf) { if ((TIMEFRAMES as string[]).includes(tf)) p.tf = tf as Timeframe; else problems.push(`tf "${tf}" (one of ${TIMEFRAMES.join(' ')})`) }
  const theme = get('theme')
  if (theme) { if (theme === 'dark' || theme === 'light') p.theme = theme; else problems.push(`theme "${theme}" (light or dark)`) }
  const tz = get('tz')
  if (tz) { if (validZone(tz)) p.tz = tz; else problems.push(`tz "${tz}" (an IANA zone such as Asia/Kolkata)`) }
  for (const k of ['up', 'down', 'upWick', 'downWick'] as const) {
    const v = get(k)
    if (v) { const c = hexColor(v); if (c) p[k] = c; else problems.push(`${k} "${v}" (a hex colour: 26a69a)`) }
  }
  const ind = params.get('ind')
  if (ind != null) { const r = parseIndicators(ind); p.ind = r.ind; if (r.bad.length) problems.push(`ind ${r.bad.map((b) => `"${b}"`).join(', ')} (sma20, ema50, bb20, vwap, rsi14, macd)`) }
  // as for ind, `compare=` (empty) clears a stored choice
  const cmp = params.get('compare')
  if (cmp === '') delete p.compare
  else if (cmp != null) { const c = parseCompare(cmp); if (c) p.compare = c; else problems.push(`compare "${cmp}" (exchange:SYMBOL, e.g. coinbase:BTC-USD)`) }
  return { prefs: p, problems }
}

/** The query string of `p`: every choice that differs from the defaults (exchange and symbol always). */
export function writeParams(p: Prefs): URLSearchParams {
  const q = new URLSearchParams()
  if (p.exchange) q.set('exchange', p.exchange)
  if (p.symbol) q.set('symbol', p.symbol)
  if (p.tf !== defaults.tf) q.set('tf', p.tf)
  if (p.theme !== defaults.theme) q.set('theme', p.theme)
  if (p.tz !== defaults.tz) q.set('tz', p.tz)
  for (const k of ['up', 'down', 'upWick', 'downWick'] as const) if (p[k] !== defaults[k]) q.set(k, p[k].slice(1))
  if (p.ind.length) q.set('ind', formatIndicators(p.ind))
  if (p.compare) q.set('compare', formatCompare(p.compare))
  return q
}

/** The stored choices (localStorage), then the URL's over them. */
export function loadPrefs(storage: Pick<Storage, 'getItem'> | undefined, search: string): { prefs: Prefs; problems: string[] } {
  const { storageKey: _k, ...base } = defaults
  let stored: Prefs = base
  try {
    const raw = storage?.getItem(defaults.storageKey)
    if (raw) stored = readParams(new URLSearchParams(raw), base).prefs
  } catch { /* storage refused (private mode) or garbled: the defaults */ }
  return readParams(new URLSearchParams(search), stored)
}

/** Keeps `p` in localStorage and in the URL (without a history entry). */
export function savePrefs(p: Prefs, storage: Pick<Storage, 'setItem'> | undefined, loc: { href: string }, history?: Pick<History, 'replaceState'>) {
  const q = writeParams(p)
  try { storage?.setItem(defaults.storageKey, q.toString()) } catch { /* storage full or refused: the URL still has it */ }
  const u = new URL(loc.href)
  u.search = q.toString()
  history?.replaceState(null, '', u)
  return u
}

const formatters = new Map<string, Intl.DateTimeFormat>()
/** `{y, mo, d, h, mi, s}` of `ms` on the wall clock of `tz`. */
export function wallClock(ms: number, tz: string) {
  let f = formatters.get(tz)
  if (!f) formatters.set(tz, (f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })))
  const o: Record<string, string> = {}
  for (const part of f.formatToParts(new Date(ms))) o[part.type] = part.value
  return { y: +o.year, mo: +o.month, d: +o.day, h: +o.hour % 24, mi: +o.minute, s: +o.second }
}
const two = (n: number) => String(n).padStart(2, '0')
/** `14:05:09` in `tz`. */
export const clockTime = (ms: number, tz: string) => { const w = wallClock(ms, tz); return `${two(w.h)}:${two(w.mi)}:${two(w.s)}` }
/** `2026-11-24 14:05` in `tz`. */
export const minuteTime = (ms: number, tz: string) => { const w = wallClock(ms, tz); return `${w.y}-${two(w.mo)}-${two(w.d)} ${two(w.h)}:${two(w.mi)}` }
/** A short name of the zone for labels: `UTC`, `Asia/Kolkata`. */
export const zoneLabel = (tz: string) => (tz === 'UTC' || tz === 'Etc/UTC' ? 'UTC' : tz)
