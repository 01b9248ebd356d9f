/**
 * The lake's answers per source (exchange): which exchanges it holds and their symbols
 * (`/api/symbols`), and each exchange's freshness, lag, stalls and whether it is simulated
 * (`/api/status`), folded from the per-symbol rows those routes already gather. Pure functions,
 * so that one lake holding several venues (`binance`, `coinbase`, `sim-binance`, ...) reads the
 * same from Athena and DuckDB, and from whatever route layer calls them.
 */
import { byText, isSimulated, venueOf } from '../../market/index'
import { partitionsOfKey } from '../../lake/layout/index'

/** One row of `/api/symbols`: a symbol with 1m candles and their span. */
export interface SymbolSpan { exchange: string; symbol: string; first_candle: string; last_candle: string; candles: number }

/** An exchange of `/api/symbols`: its symbols and the span of their 1m candles. */
export interface ExchangeSymbols {
  exchange: string
  /** The market venue it is or stands in for (`coinbase` for `sim-coinbase`). */
  venue: string
  /** True for a simulated venue (`sim-…`): fake trades, never market data. */
  simulated: boolean
  symbols: string[]
  first_candle: string
  last_candle: string
  /** 1m candles held, all symbols together. */
  candles: number
}

/** Groups `/api/symbols` rows by exchange, exchanges and their symbols in name order. */
export function exchangesOf(rows: SymbolSpan[]): ExchangeSymbols[] {
  const by = new Map<string, ExchangeSymbols>()
  for (const r of rows) {
    const e = by.get(r.exchange)
    if (!e) { by.set(r.exchange, { exchange: r.exchange, venue: venueOf(r.exchange), simulated: isSimulated(r.exchange), symbols: [r.symbol], first_candle: r.first_candle, last_candle: r.last_candle, candles: r.candles }); continue }
    e.symbols.push(r.symbol)
    if (Date.parse(r.first_candle) < Date.parse(e.first_candle)) e.first_candle = r.first_candle
    if (Date.parse(r.last_candle) > Date.parse(e.last_candle)) e.last_candle = r.last_candle
    e.candles += r.candles
  }
  for (const e of by.values()) e.symbols.sort()
  return [...by.values()].sort((a, b) => byText(a.exchange, b.exchange))
}

/** What `exchangeStatusOf` reads of one `/api/status` source row. */
export interface SourceFigures { exchange: string; symbol: string; last_trade_time: string; lag_ms: number; ingest_rate_per_s: number; records_24h: number }

/** An exchange of `/api/status`. */
export interface ExchangeStatus {
  exchange: string
  venue: string
  simulated: boolean
  /** Every symbol of it the lake lists (serving windows, checkpoints), with trades or not. */
  symbols: string[]
  /** Its newest trade of the last 24 h (any symbol, any source); null without one. */
  last_trade_time: string | null
  /** now - `last_trade_time`: how far behind its freshest symbol is. */
  lag_ms: number | null
  /** The lag of its stalest symbol with a trade in 24 h. */
  max_lag_ms: number | null
  /** Symbols listed without a trade in the last 24 h. */
  idle: string[]
  ingest_rate_per_s: number
  records_24h: number
  /** Symbols with a stall in course. */
  stalled: string[]
  /** When its newest gold candle object was written, and now - that: the lake's freshness for it. */
  newest_gold_time: string | null
  freshness_ms: number | null
}

/**
 * Folds the per-symbol status into one row per exchange: every exchange that the lake lists a
 * symbol of, that has a source row, or that has a stall in course.
 * @example exchangeStatusOf({ now, symbols: [{ exchange: 'sim-coinbase', symbol: 'BTC-USD' }], sources: [], stalls: [], gold: [] })[0].idle // ['BTC-USD']
 */
export function exchangeStatusOf(o: {
  now: number
  symbols: { exchange: string; symbol: string }[]
  sources: SourceFigures[]
  stalls: { exchange: string; symbol: string }[]
  /** The `gold/candles/` listing: the newest object per exchange is its freshness. */
  gold: { key: string; lastModified: number }[]
}): ExchangeStatus[] {
  const by = new Map<string, { symbols: Set<string>; sources: SourceFigures[]; stalled: Set<string>; gold: number | undefined }>()
  const of = (exchange: string) => by.get(exchange) ?? by.set(exchange, { symbols: new Set(), sources: [], stalled: new Set(), gold: undefined }).get(exchange)!
  for (const s of o.symbols) of(s.exchange).symbols.add(s.symbol)
  for (const s of o.sources) { const e = of(s.exchange); e.symbols.add(s.symbol); e.sources.push(s) }
  for (const s of o.stalls) { const e = of(s.exchange); e.symbols.add(s.symbol); e.stalled.add(s.symbol) }
  for (const g of o.gold) {
    const e = by.get(partitionsOfKey(g.key).exchange ?? '')
    if (e && (e.gold === undefined || g.lastModified > e.gold)) e.gold = g.lastModified
  }
  return [...by.entries()].sort(([a], [b]) => byText(a, b)).map(([exchange, e]) => {
    // a symbol's lag is that of its freshest source; the exchange's that of its freshest symbol
    const lagBy = new Map<string, number>()
    for (const s of e.sources) lagBy.set(s.symbol, Math.min(lagBy.get(s.symbol) ?? Infinity, s.lag_ms))
    const newest = e.sources.reduce<SourceFigures | undefined>((a, s) => (!a || Date.parse(s.last_trade_time) > Date.parse(a.last_trade_time) ? s : a), undefined)
    const lags = [...lagBy.values()]
    return {
      exchange, venue: venueOf(exchange), simulated: isSimulated(exchange),
      symbols: [...e.symbols].sort(),
      last_trade_time: newest?.last_trade_time ?? null,
      lag_ms: lags.length ? Math.min(...lags) : null,
      max_lag_ms: lags.length ? Math.max(...lags) : null,
      idle: [...e.symbols].filter((s) => !lagBy.has(s)).sort(),
      ingest_rate_per_s: Number(e.sources.reduce((a, s) => a + s.ingest_rate_per_s, 0).toFixed(3)),
      records_24h: e.sources.reduce((a, s) => a + s.records_24h, 0),
      stalled: [...e.stalled].sort(),
      newest_gold_time: e.gold === undefined ? null : new Date(e.gold).toISOString(),
      freshness_ms: e.gold === undefined ? null : Math.max(0, o.now - e.gold),
    }
  })
}
