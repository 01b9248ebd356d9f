/**
 * The HTTP API's logic, independent of where it runs: one route table (path, parameters with
 * their parsers and JSON schemas, response schema, cache type, handler) from which requests are
 * validated and answered and `/api/openapi.json` is generated. Queries go through the
 * `QueryEngine` port (Athena or DuckDB) with bound parameters, behind a TTL cache per query type;
 * `POST /api/ingest` takes trades from API-key holders into the delivery stream. The Lambda
 * handler (`@ticklake/functions/api`) and the local cloud both call `createApi(...).handle`.
 */
import { TIMEFRAMES, isSimulated, isSymbol, symbolFromInput, type Timeframe } from '../../market/index'
import {
  QueryInputError, QueryLimitError, candlesQuery, checkExchange, checkSymbol, defaults as queryDefaults, exchangesOf, exchangeStatusOf, featuresQuery, lastTradesQuery, latestQuery,
  maxSpanMs, statisticsOf, statisticsQuery, symbolSpanQuery, FEATURE_TABLES, type FeatureKind, type QueryEngine, type Row,
} from '../query/index'
import { listQuality, stallOpen } from '../../lake/quality/index'
import type { Clock, ObjectStore, RecordStream } from '../../ports/index'
import { ttlCache, type TtlCache } from './cache'
import { tokenBuckets, verifyApiKey, writableExchanges, type ApiKeyRecord, type ApiKeyStore } from './keys'
import { batchOf, ingestTrades, refusedExchanges, defaults as ingestDefaults, utf8Length } from './ingest'
import { EXCHANGE_SCHEMAS, openApiDocument, s, type DocRoute, type Schema } from './openapi'

export { ttlCache } from './cache'
export { addApiKey, listApiKeys, jsonKeyStore, objectKeyStore, newApiKey, verifyApiKey, tokenBuckets, exchangesProblem, writableExchanges, type ApiKeyStore, type ApiKeyRecord } from './keys'
export { schemaProblems, openApiDocument } from './openapi'

export const defaults = {
  exchange: 'binance',
  /** Window of the ingest rate in `/api/status`. */
  rateWindowMs: 5 * 60_000,
  /** How far back `/api/status` looks for a source's last trade. */
  statusLookbackMs: 24 * 3_600_000,
  maxParamChars: 200,
  maxQueryChars: 2_000,
  /** Bytes of a JSON answer (more: 413; about 20,000 1m candles); the Lambda handler sets its 6 MB response limit. */
  maxAnswerBytes: 8 * 1024 * 1024,
}

/** True when every `%` of a URL part starts a sequence that decodes (UTF-8 included). */
const wellEncoded = (part: string) => { try { decodeURIComponent(part); return true } catch { return false } }

/** A request as both API Gateway and the local server can give it. */
export interface ApiRequest { method: string; path: string; rawQuery?: string; headers?: Record<string, string | undefined>; body?: string }
export interface ApiResponse { status: number; headers: Record<string, string>; body: string }

export interface ApiDeps {
  engine: QueryEngine
  /** The lake: quality records, DLQ and gold freshness for `/api/status`. */
  store: ObjectStore
  /** The trades delivery stream for `POST /api/ingest` (absent: ingest answers 503). */
  stream?: RecordStream
  keys?: ApiKeyStore
  clock?: Clock
  cache?: TtlCache
  /** Requests per second and burst per API key. */
  rate?: { perSecond: number; burst: number }
  /** Extra fields of `/api/health` (the local cloud adds its source, symbols, connections...). */
  health?: () => Record<string, unknown> | Promise<Record<string, unknown>>
  exchange?: string
  /** One line per request: method, path, status, time, key name. Never a key. */
  log?: (line: string) => void
  /** Bytes of a JSON answer (default `defaults.maxAnswerBytes`): a larger one is answered 413. */
  maxAnswerBytes?: number
}

interface Ctx { deps: ApiDeps; now: number; cache: TtlCache; req: ApiRequest; keyName?: string; key?: ApiKeyRecord }

/** A query parameter: its documentation and its parser (throws QueryInputError). */
interface Param { name: string; required?: boolean; description: string; schema: Schema; parse(raw: string, ctx: Ctx): unknown; fallback?: (ctx: Ctx) => unknown }

export interface Route extends Omit<DocRoute, 'params'> {
  params: Param[]
  /** Answers with a body, or a full response. */
  run(ctx: Ctx, input: Record<string, any>): Promise<unknown>
}

const bad = (m: string) => new QueryInputError(m)
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/

/** A time parameter: ISO-8601 (`2026-11-24T15:00:00Z`, `2026-11-24`) or epoch milliseconds. */
export function parseTime(name: string, raw: string): number {
  let ms: number
  if (/^\d{1,15}$/.test(raw)) ms = Number(raw)
  else if (ISO.test(raw)) {
    ms = Date.parse(raw.length === 10 ? `${raw}T00:00:00Z` : /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(raw) ? `${raw}Z` : raw)
    const [y, m, d] = raw.slice(0, 10).split('-').map(Number)
    if (m < 1 || m > 12 || d < 1 || d > new Date(Date.UTC(y, m, 0)).getUTCDate()) ms = Number.NaN
  } else ms = Number.NaN
  if (!Number.isFinite(ms) || ms < 0 || ms > Date.parse('2100-01-01T00:00:00Z')) throw bad(`${name} must be an ISO-8601 time like 2026-11-24T15:00:00Z, or epoch milliseconds (got ${JSON.stringify(raw)})`)
  return ms
}

const P = {
  exchange: { name: 'exchange', description: 'Exchange, e.g. binance, binance-us, binance-futures, coinbase', schema: s.str(undefined, { pattern: '^[a-z][a-z0-9-]{0,30}$', default: defaults.exchange }), parse: (raw: string) => checkExchange(raw), fallback: (c: Ctx) => c.deps.exchange ?? defaults.exchange } as Param,
  symbol: { name: 'symbol', required: true, description: 'Normalized symbol BASE-QUOTE, e.g. BTC-USDT (case-insensitive)', schema: s.str(undefined, { pattern: '^[A-Za-z0-9]{1,20}-[A-Za-z0-9]{1,20}$' }), parse: (raw: string) => checkSymbol(symbolFromInput(raw) ?? raw) } as Param,
  tf: { name: 'tf', description: `Timeframe: ${Object.keys(TIMEFRAMES).join(', ')}`, schema: { type: 'string', enum: Object.keys(TIMEFRAMES), default: '1m' }, parse: (raw: string) => { if (!Object.hasOwn(TIMEFRAMES, raw)) throw bad(`tf must be one of ${Object.keys(TIMEFRAMES).join(', ')} (got ${JSON.stringify(raw)})`); return raw as Timeframe }, fallback: () => '1m' } as Param,
  from: { name: 'from', description: 'Start time, inclusive: ISO-8601 or epoch ms', schema: s.str(undefined, { example: '2026-11-24T00:00:00Z' }), parse: (raw: string) => parseTime('from', raw) } as Param,
  to: { name: 'to', description: 'End time, exclusive: ISO-8601 or epoch ms', schema: s.str(undefined, { example: '2026-11-25T00:00:00Z' }), parse: (raw: string) => parseTime('to', raw) } as Param,
  limit: (dflt: number): Param => ({ name: 'limit', description: `At most this many rows (1 to ${queryDefaults.maxLimit}); without from, the newest ones`, schema: { type: 'integer', minimum: 1, maximum: queryDefaults.maxLimit, default: dflt }, parse: (raw) => { const n = /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN; if (!(n >= 1 && n <= queryDefaults.maxLimit)) throw bad(`limit must be a whole number from 1 to ${queryDefaults.maxLimit} (got ${JSON.stringify(raw)})`); return n } }),
  hours: { name: 'hours', description: `Window in hours back from now (up to ${queryDefaults.maxHours})`, schema: { type: 'number', exclusiveMinimum: 0, maximum: queryDefaults.maxHours, default: 24 }, parse: (raw: string) => { const h = /^\d{1,5}(\.\d{1,3})?$/.test(raw) ? Number(raw) : Number.NaN; if (!(h > 0 && h <= queryDefaults.maxHours)) throw bad(`hours must be a number above 0 and at most ${queryDefaults.maxHours} (got ${JSON.stringify(raw)})`); return h }, fallback: () => 24 } as Param,
  kind: { name: 'kind', description: 'Feature family: trades (per-trade features) or candles (per-1m-candle indicators)', schema: { type: 'string', enum: Object.keys(FEATURE_TABLES), default: 'candles' }, parse: (raw: string) => { if (!Object.hasOwn(FEATURE_TABLES, raw)) throw bad(`kind must be one of ${Object.keys(FEATURE_TABLES).join(', ')} (got ${JSON.stringify(raw)})`); return raw }, fallback: () => 'candles' } as Param,
}

const CANDLE = s.obj({
  exchange: s.str(), symbol: s.str(), tf: s.str(), open_time: s.time('open time, the stamp'), close_time: s.time(), open: s.num(), high: s.num(), low: s.num(), close: s.num(),
  volume: s.num('base volume'), quote_volume: s.num(), trades: s.int('individual trades'), taker_buy_volume: s.num(), taker_buy_quote_volume: s.num(), vwap: s.num(),
  first_trade_id: s.int(), last_trade_id: s.int(), final: s.bool('false while the candle may still change'),
})
const TRADE = s.obj({ exchange: s.str(), symbol: s.str(), trade_id: s.int(), ts: s.time('exchange trade time'), price: s.num(), qty: s.num(), side: { type: 'string', enum: ['buy', 'sell'], description: 'taker side' }, ingest_ts: s.time('when Ticklake received it'), source: s.str('ws, rest, archive, replay or api') })
const BRONZE_IN: Schema = {
  type: 'object', description: 'A trade in the bronze schema; ingest_ts and source are set by Ticklake (receive time, "api")',
  properties: {
    exchange: s.str("one of the names the key may write (never a built-in venue's)"), symbol: s.str('BASE-QUOTE, e.g. BTC-USDT'), native_symbol: s.str("the venue's spelling (default: symbol without '-')"),
    trade_id: s.int('>= 0'), first_trade_id: s.int('default trade_id'), last_trade_id: s.int('default trade_id'), ts: s.int('trade time, epoch MICROseconds'),
    price: s.num('1e-8 to 1e12, taken at 8 decimals'), qty: s.num('1e-8 to 1e15, taken at 8 decimals; price x qty at most 1e18'), side: { type: 'string', enum: ['buy', 'sell'], description: 'taker side' }, trades: s.int('individual trades: last_trade_id - first_trade_id + 1 (refused when it differs)'), ingest_ts: s.int('ignored: set to the receive time'), source: s.str("ignored: set to api"),
  },
  required: ['exchange', 'symbol', 'trade_id', 'ts', 'price', 'qty', 'side'],
  additionalProperties: false,
}

const TYPE_STATS = s.obj({ hits: s.int(), misses: s.int(), hit_rate: s.num('hits / (hits + misses)'), entries: s.int(), ttl_ms: s.int() })

/** The cache TTL type of a history query: minutes once its range is over, seconds while open. */
const historyTtl = (input: { to?: number }, now: number) => (input.to !== undefined && input.to <= now ? undefined : 'recent')

const stripRn = (rows: Row[]) => rows.map(({ rn, ...r }) => r)

/** The route table: the API is what this says, and so is its OpenAPI document. */
export const ROUTES: Route[] = [
  {
    method: 'GET', path: '/api/health', summary: 'Liveness and what runs', params: [], errors: [],
    response: { ...s.obj({ ok: s.bool(), time: s.time() }), additionalProperties: true },
    async run(c) { return { ok: true, time: new Date(c.now).toISOString(), ...(await c.deps.health?.()) } },
  },
  {
    method: 'GET', path: '/api/symbols', summary: 'Every exchange and symbol with 1m candles in the lake (found by its serving windows and checkpoints), per symbol and per exchange', params: [], errors: [500, 503],
    response: s.obj({ symbols: s.arr(s.obj({ exchange: s.str(), symbol: s.str(), first_candle: s.time(), last_candle: s.time(), candles: s.int('1m candles held') })), exchanges: EXCHANGE_SCHEMAS.symbols }),
    run: (c) => c.cache.get('symbols', {}, async () => {
      // one query per symbol (Athena's tables need the symbol named), all in flight at once
      const spans = await Promise.all((await lakeSymbols(c.deps.store)).map(async (s) => ({ s, span: (await c.deps.engine.query(symbolSpanQuery(s)))[0] })))
      const symbols = spans.filter(({ span }) => span && Number(span.candles) > 0)
        .map(({ s, span }) => ({ ...s, first_candle: String(span.first_candle), last_candle: String(span.last_candle), candles: Number(span.candles) }))
      return { symbols, exchanges: exchangesOf(symbols) }
    }),
  },
  {
    method: 'GET', path: '/api/candles', summary: 'Candles of one symbol and timeframe, oldest first', errors: [400, 413, 500, 503],
    description: `Open time in [from, to). With from: the first \`limit\` candles from it; without: the newest \`limit\` candles. [from, to) spans at most ${queryDefaults.maxLimit} candles of tf (1m: ${Math.round(maxSpanMs({ tf: '1m' }) / 86_400_000)} days); wider is 400. An answer over the byte cap is 413; a busy engine or a query over its time limit is 503 (Retry-After).`,
    params: [P.exchange, P.symbol, P.tf, P.from, P.to, P.limit(queryDefaults.maxLimit)],
    response: s.obj({ exchange: s.str(), symbol: s.str(), tf: s.str(), from: s.nullable(s.time()), to: s.nullable(s.time()), count: s.int(), candles: s.arr(CANDLE) }),
    async run(c, q) {
      const st = candlesQuery({ exchange: q.exchange, symbol: q.symbol, tf: q.tf, from: q.from, to: q.to, limit: q.limit, maxBytes: answerCap(c) })
      // the cache keeps the serialized answer: a warm request costs no query and no JSON.stringify
      return c.cache.get('candles', q, async () => {
        const candles = await c.deps.engine.query(st)
        return raw(c, { exchange: q.exchange, symbol: q.symbol, tf: q.tf, from: iso(q.from), to: iso(q.to), count: candles.length, candles })
      }, historyTtl(q, c.now))
    },
  },
  {
    method: 'GET', path: '/api/latest', summary: 'The newest trade of a symbol (silver, within a day)', params: [P.exchange, P.symbol], errors: [400, 500, 503],
    response: s.obj({ exchange: s.str(), symbol: s.str(), trade: s.nullable({ ...TRADE, type: 'object' }), age_ms: s.nullable(s.int('now - trade time')) }),
    async run(c, q) {
      const rows = await c.cache.get('latest', q, () => c.deps.engine.query(latestQuery({ exchange: q.exchange, symbol: q.symbol, now: c.now })))
      const trade = rows[0] ?? null
      return { exchange: q.exchange, symbol: q.symbol, trade, age_ms: trade ? Math.max(0, c.now - Date.parse(String(trade.ts))) : null }
    },
  },
  {
    method: 'GET', path: '/api/statistics', summary: "A symbol's statistics over the last `hours`, from its 1m candles", params: [P.exchange, P.symbol, P.hours], errors: [400, 500, 503],
    response: s.obj({
      exchange: s.str(), symbol: s.str(), hours: s.num(), from: s.time(), to: s.time(), avg: s.nullable(s.num('volume-weighted average price')),
      min: s.nullable(s.num()), max: s.nullable(s.num()), first: s.nullable(s.num('first open')), last: s.nullable(s.num('last close')), change_pct: s.nullable(s.num('(last - first) / first * 100')),
      volume: s.num(), quote_volume: s.num(), count: s.int('individual trades'), candles: s.int(),
    }),
    async run(c, q) {
      // the window starts at a minute (whole 1m candles) so that one cache entry serves that minute
      const from = Math.floor(c.now / 60_000) * 60_000 - Math.round(q.hours * 3_600_000)
      const rows = await c.cache.get('statistics', { ...q, from }, () => c.deps.engine.query(statisticsQuery({ exchange: q.exchange, symbol: q.symbol, from })))
      return statisticsOf(rows[0], { exchange: q.exchange, symbol: q.symbol, hours: q.hours, from, now: c.now })
    },
  },
  {
    method: 'GET', path: '/api/features', summary: 'Gold features of a symbol: per trade or per 1m candle', errors: [400, 413, 500, 503],
    description: `Rows of gold/features/trades (stamped by ts) or gold/features/candles (1m candles, stamped by open_time), oldest first; without from, the newest \`limit\`; an empty list while none are computed. Columns are those of docs/features.md. kind=trades reads at most a day: [from, to) spans at most ${maxSpanMs({ kind: 'trades' }) / 3_600_000} hours (without to: the day from from; without from: the newest \`limit\` of the last day); kind=candles at most ${queryDefaults.maxLimit} minutes. Wider is 400, an answer over the byte cap 413, a busy engine or a query over its time limit 503.`,
    params: [P.kind, P.exchange, P.symbol, P.from, P.to, P.limit(1000)],
    response: s.obj({ kind: s.str(), exchange: s.str(), symbol: s.str(), count: s.int(), rows: s.arr({ type: 'object', additionalProperties: true, description: 'one feature row' }) }),
    async run(c, q) {
      // per-trade features are read a day at most: without to, the day from from; without from, the last day
      const span = maxSpanMs({ kind: q.kind })
      const trades = q.kind === 'trades'
      const to = trades && q.from !== undefined && q.to === undefined ? q.from + span : q.to
      const since = trades && q.from === undefined ? Math.floor((c.now - span) / 60_000) * 60_000 : undefined // a minute's requests share an entry
      const st = featuresQuery({ kind: q.kind as FeatureKind, exchange: q.exchange, symbol: q.symbol, from: q.from, to, limit: q.limit, since, maxBytes: answerCap(c) })
      return c.cache.get('features', { ...q, to, since }, async () => {
        const rows = stripRn(await c.deps.engine.query(st))
        return raw(c, { kind: q.kind, exchange: q.exchange, symbol: q.symbol, count: rows.length, rows })
      }, historyTtl(q, c.now))
    },
  },
  {
    method: 'GET', path: '/api/status', summary: 'Pipeline status per source and per exchange: last trade, lag, ingest rate, gaps, stalls, DLQ, lake freshness', params: [], errors: [500, 503],
    response: s.obj({
      time: s.time(),
      sources: s.arr(s.obj({
        exchange: s.str(), symbol: s.str(), source: s.str('ws, rest, archive, replay or api'), last_trade_time: s.time(), last_ingest_time: s.time(),
        lag_ms: s.int('now - last trade time'), ingest_rate_per_s: s.num('records per second over the last 5 minutes'), records_24h: s.int(),
        gaps: s.obj({ found: s.int(), filled: s.int(), deferred: s.int(), unfillable: s.int() }, 'trade-id gaps of this exchange and symbol'),
        simulated: s.bool('true for a simulated venue (sim-binance, ...): fake trades, not market data'),
        stalled: s.bool('true while a stall of this exchange and symbol is open (see stalls)'),
      })),
      stalls: s.arr(s.obj({
        exchange: s.str(), symbol: s.str(), since: s.time('the last trade heard before the stall'), detected_at: s.time(), reason: s.str(), fetched: s.int('trades caught up over REST meanwhile'),
      }), 'stalls in course: a source that stopped bringing trades while its exchange traded on, or stopped answering'),
      dlq: s.obj({ files: s.int('files under dlq/'), by_source: s.map(s.int()), conversion_errors: s.int('files under errors/ (Firehose format conversion)') }),
      lake: s.obj({ newest_gold_key: s.nullable(s.str()), newest_gold_time: s.nullable(s.time()), freshness_ms: s.nullable(s.int('now - newest gold candle object')), corrupt_files: s.int('files readers found unreadable and skip: quality/corrupt/') }),
      exchanges: EXCHANGE_SCHEMAS.status,
    }),
    run: (c) => c.cache.get('status', {}, () => status(c)),
  },
  {
    method: 'GET', path: '/api/cache/stats', summary: 'Hits, misses and hit rate of the query cache per query type', params: [], errors: [],
    response: s.obj({ types: s.map(TYPE_STATS), total: s.obj({ hits: s.int(), misses: s.int(), hit_rate: s.num(), bytes: s.int('bytes of the answers kept (their JSON)'), max_bytes: s.int('the bound of bytes kept: the least recently used go first') }) }),
    async run(c) { return c.cache.stats() },
  },
  {
    method: 'GET', path: '/api/openapi.json', summary: 'This document', params: [], errors: [],
    response: { ...s.obj({ openapi: s.str(), info: s.any(), paths: s.any() }), additionalProperties: true },
    async run() { return openApi() },
  },
  {
    method: 'POST', path: '/api/ingest', summary: 'Trades from a producer outside Ticklake, into the lake through the delivery stream', auth: 'apiKey', params: [], errors: [400, 401, 403, 413, 415, 429, 503],
    description: 'Body: a JSON array of trades (or {"trades": [...]}), at most 5000. A key is bound to the exchange names it may write (never a built-in venue\'s, such as binance or coinbase, nor a simulated source\'s): a batch with any record of another exchange is refused whole, 403 {error, rejected: [{index, reason}]}, and nothing of it is written. Otherwise each record is checked on its own: good ones are accepted (ingest_ts set on receipt, source "api"; price and qty taken at 8 decimals, price 1e-8..1e12, qty 1e-8..1e15, price x qty at most 1e18), bad ones are answered by index and reason.',
    body: { type: 'array', items: BRONZE_IN },
    response: s.obj({ accepted: s.int(), rejected: s.arr(s.obj({ index: s.int(), reason: s.str() })) }),
    async run(c) {
      if (!c.deps.stream) return reply(503, { error: 'ingest is not configured here (no delivery stream)' })
      const batch = batchOf(c.req.body)
      if ('error' in batch) return reply(batch.error.startsWith('body is over') ? 413 : 400, { error: batch.error })
      // the key writes its own exchange names only: a batch naming any other is refused whole
      const refused = c.key ? refusedExchanges(batch.records, writableExchanges(c.key), c.key.name) : []
      if (refused.length) return reply(403, { error: `this key may not write ${refused.length} record(s) of this batch (their exchange is not one of the key's): nothing was written`, rejected: refused })
      return ingestTrades(c.deps.stream, batch.records, c.now * 1000)
    },
  },
]

const iso = (ms?: number) => (ms === undefined ? null : new Date(ms).toISOString())

/**
 * The (exchange, symbol) pairs the lake holds, from small listings rather than a table scan: the
 * candle job's serving windows (`serving/<exchange>/<symbol>/<tf>.json`) and ingest's checkpoints
 * (`state/checkpoints/<exchange>/<symbol>.json`).
 */
export async function lakeSymbols(store: ObjectStore): Promise<{ exchange: string; symbol: string }[]> {
  const seen = new Map<string, { exchange: string; symbol: string }>()
  const [serving, checkpoints] = await Promise.all([store.list('serving/'), store.list('state/checkpoints/')])
  for (const o of [...serving, ...checkpoints]) {
    const parts = o.key.replace(/^state\//, '').split('/')
    const exchange = parts[1]
    const symbol = parts[2]?.replace(/\.json$/, '')
    if (exchange && /^[a-z][a-z0-9-]{0,30}$/.test(exchange) && isSymbol(symbol)) seen.set(`${exchange}/${symbol}`, { exchange, symbol })
  }
  return [...seen.values()].sort((a, b) => a.exchange.localeCompare(b.exchange) || a.symbol.localeCompare(b.symbol))
}

async function status(c: Ctx) {
  const { engine, store } = c.deps
  const [symbols, quality, dlq, errors, gold, corrupt] = await Promise.all([lakeSymbols(store), listQuality(store), store.list('dlq/'), store.list('errors/'), store.list('gold/candles/'), store.list('quality/corrupt/')])
  const stalls = quality.stalls.filter((x) => stallOpen(x, c.now))
  const sources = []
  // the per-symbol queries all in flight at once (each an Athena round trip in AWS)
  const results = await Promise.all(symbols.map((s) => Promise.all([
    engine.query(lastTradesQuery({ ...s, since: c.now - defaults.rateWindowMs })),
    engine.query(lastTradesQuery({ ...s, since: c.now - defaults.statusLookbackMs })),
  ])))
  for (const [i, s] of symbols.entries()) {
    const [recent, day] = results[i]
    const recentBy = new Map(recent.map((r) => [String(r.source), Number(r.records)]))
    const gaps = { found: 0, filled: 0, deferred: 0, unfillable: 0 }
    for (const g of quality.gaps) if (g.exchange === s.exchange && g.symbol === s.symbol) { gaps.found++; gaps[g.kind]++ }
    for (const r of day) {
      sources.push({
        exchange: s.exchange, symbol: s.symbol, source: String(r.source),
        last_trade_time: String(r.last_trade_time), last_ingest_time: String(r.last_ingest_time),
        lag_ms: Math.max(0, c.now - Date.parse(String(r.last_trade_time))),
        ingest_rate_per_s: Number(((recentBy.get(String(r.source)) ?? 0) / (defaults.rateWindowMs / 1000)).toFixed(3)),
        records_24h: Number(r.records), gaps,
        simulated: isSimulated(s.exchange), stalled: stalls.some((x) => x.exchange === s.exchange && x.symbol === s.symbol),
      })
    }
  }
  const bySource: Record<string, number> = {}
  for (const o of dlq) { const src = o.key.split('/')[1] ?? '?'; bySource[src] = (bySource[src] ?? 0) + 1 }
  const newest = gold.reduce<typeof gold[number] | undefined>((a, o) => (!a || o.lastModified > a.lastModified ? o : a), undefined)
  return {
    time: new Date(c.now).toISOString(), sources,
    stalls: stalls.map((x) => ({ exchange: x.exchange, symbol: x.symbol, since: new Date(x.since).toISOString(), detected_at: new Date(x.detected_at).toISOString(), reason: x.reason, fetched: x.fetched })),
    dlq: { files: dlq.length, by_source: bySource, conversion_errors: errors.length },
    lake: { newest_gold_key: newest?.key ?? null, newest_gold_time: newest ? new Date(newest.lastModified).toISOString() : null, freshness_ms: newest ? Math.max(0, c.now - newest.lastModified) : null, corrupt_files: corrupt.length },
    exchanges: exchangeStatusOf({ now: c.now, symbols, sources, stalls, gold }),
  }
}

let doc: ReturnType<typeof openApiDocument> | undefined
/** The OpenAPI 3.1 document of `ROUTES`. */
export function openApi() {
  return (doc ??= openApiDocument(ROUTES.map((r) => ({ ...r, params: r.params.map((p) => ({ name: p.name, required: !!p.required, description: p.description, schema: p.schema })) }))))
}

const RAW = Symbol('raw')
const answerCap = (c: Ctx) => c.deps.maxAnswerBytes ?? defaults.maxAnswerBytes
/** A body serialized once (kept so by the cache); over the answer cap, a 413 that says what to do. */
function raw(c: Ctx, body: unknown) {
  const text = JSON.stringify(body)
  const cap = answerCap(c)
  if (utf8Length(text) > cap) throw new QueryLimitError(`the answer is over ${cap} bytes: narrow from/to or lower limit`, 413)
  return { [RAW]: text }
}

const REPLY = Symbol('reply')
/** A full response from a route (status other than 200). */
const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => ({ [REPLY]: true, status, body, headers })

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' }
const respond = (status: number, body: any, headers: Record<string, string> = {}): ApiResponse => ({ status, headers: { ...JSON_HEADERS, 'cache-control': 'no-store', ...headers }, body: body?.[RAW] ?? JSON.stringify(body) })

/** Validated input of a route from a raw query string; throws QueryInputError naming the parameter. */
export function inputOf(route: Route, rawQuery: string, ctx: Ctx): Record<string, unknown> {
  if (rawQuery.length > defaults.maxQueryChars) throw bad(`query string is over ${defaults.maxQueryChars} characters`)
  let search: URLSearchParams
  try { search = new URLSearchParams(rawQuery) } catch { throw bad('query string is malformed') }
  const names = new Set(route.params.map((p) => p.name))
  const seen = new Set<string>()
  for (const [k, v] of search) {
    if (!names.has(k)) throw bad(`unknown parameter ${JSON.stringify(k.slice(0, 40))}: ${route.path} takes ${route.params.map((p) => p.name).join(', ') || 'none'}`)
    if (seen.has(k)) throw bad(`${k} is given more than once`)
    if (v.length > defaults.maxParamChars) throw bad(`${k} is over ${defaults.maxParamChars} characters`)
    seen.add(k)
  }
  const input: Record<string, unknown> = {}
  for (const p of route.params) {
    const raw = search.get(p.name)
    // an empty value is not a value: the documented patterns and enums forbid it (leave the parameter out for its default)
    if (raw === '') throw bad(`${p.name} is empty: leave it out${p.required ? '' : ' for its default'} or give ${p.description}`)
    if (raw === null) {
      if (p.required) throw bad(`${p.name} is required: ${p.description}`)
      const d = p.fallback?.(ctx)
      if (d !== undefined) input[p.name] = d
      continue
    }
    input[p.name] = p.parse(raw, ctx)
  }
  const { from, to } = input as { from?: number; to?: number }
  if (from !== undefined && to !== undefined && to < from) throw bad('to must not be before from')
  return input
}

const header = (req: ApiRequest, name: string) => Object.entries(req.headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1]

/** The route a request names and may use: a response for no route (404) or a wrong method (405). */
function routeOf(req: Pick<ApiRequest, 'method' | 'path'>): Route | ApiResponse {
  const path = req.path.length > 1 ? req.path.replace(/\/+$/, '') : req.path
  const candidates = ROUTES.filter((r) => r.path === path)
  if (!candidates.length) return respond(404, { error: `no such route ${JSON.stringify(path.slice(0, 80))}: see /api/openapi.json` })
  const method = req.method.toUpperCase()
  if (method === 'OPTIONS') return { status: 204, headers: { allow: [...candidates.map((r) => r.method), 'OPTIONS'].join(', ') }, body: '' }
  const route = candidates.find((r) => r.method === method || (method === 'HEAD' && r.method === 'GET'))
  return route ?? respond(405, { error: `${path} answers ${candidates.map((r) => r.method).join(', ')}` }, { allow: candidates.map((r) => r.method).join(', ') })
}

const refuseKey = () => respond(401, { error: 'missing or invalid API key: send it in the x-api-key header' }, { 'www-authenticate': 'ApiKey header="x-api-key"' })

/** What a request with a body says of it before it is read: 415 unless JSON, 413 over the limit in bytes. */
function bodyProblem(route: Route, req: Pick<ApiRequest, 'headers'>, bytes: number | undefined): ApiResponse | undefined {
  if (!route.body) return undefined
  const type = header(req as ApiRequest, 'content-type')
  if (type !== undefined && !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) return respond(415, { error: `content-type must be application/json (got ${JSON.stringify(type.slice(0, 60))})` })
  if (bytes !== undefined && bytes > ingestDefaults.maxBodyBytes) return respond(413, { error: `body is over ${ingestDefaults.maxBodyBytes} bytes` })
  return undefined
}

/**
 * What can be answered from a request's method, path and headers alone, before its body is read
 * (the local server asks this first): 401 for a route that needs an API key and has none valid,
 * 415 for a body that is not JSON, 413 for a `content-length` over the limit. Undefined when the
 * body should be read and the request handled in full.
 * @example const early = await preflight(deps, { method: 'POST', path: '/api/ingest', headers }); if (early) return early
 */
export async function preflight(deps: Pick<ApiDeps, 'keys'>, req: Omit<ApiRequest, 'body'>): Promise<ApiResponse | undefined> {
  const route = routeOf(req)
  if (!('run' in route) || !route.body) return undefined
  if (route.auth === 'apiKey' && !(deps.keys && (await verifyApiKey(deps.keys, header(req, 'x-api-key'))))) return refuseKey()
  const length = header(req, 'content-length')
  return bodyProblem(route, req, length !== undefined && /^\d{1,15}$/.test(length) ? Number(length) : undefined)
}

/**
 * The API for given adapters.
 * @example const api = createApi({ engine, store }); const res = await api.handle({ method: 'GET', path: '/api/candles', rawQuery: 'symbol=BTC-USDT' })
 */
export function createApi(deps: ApiDeps) {
  const cache = deps.cache ?? ttlCache()
  const limiter = tokenBuckets(deps.rate)
  const clock = deps.clock ?? { now: () => Date.now() }
  const log = deps.log ?? (() => {})

  async function dispatch(req: ApiRequest, ctx: Ctx): Promise<ApiResponse> {
    if (!wellEncoded(req.path) || !wellEncoded(req.rawQuery ?? '')) return respond(400, { error: 'the request URL is not valid percent-encoding' })
    const route = routeOf(req)
    if (!('run' in route)) return route
    if (route.auth === 'apiKey') {
      const record = deps.keys ? await verifyApiKey(deps.keys, header(req, 'x-api-key')) : undefined
      if (!record) return refuseKey()
      ctx.keyName = record.name
      ctx.key = record
      const take = limiter.take(record.id)
      if (!take.ok) return respond(429, { error: 'rate limited: too many requests for this key' }, { 'retry-after': String(Math.ceil(take.retryAfterMs / 1000)) })
    }
    const early = bodyProblem(route, req, req.body === undefined ? undefined : utf8Length(req.body))
    if (early) return early
    const input = inputOf(route, req.rawQuery ?? '', ctx)
    const out: any = await route.run(ctx, input)
    if (out && out[REPLY]) return respond(out.status, out.body, out.headers)
    return respond(200, out)
  }

  return {
    cache,
    /** Answers one request; bad input is a 400 saying what was wrong, a failure a 500 (logged). */
    async handle(req: ApiRequest): Promise<ApiResponse> {
      const t0 = performance.now()
      const ctx: Ctx = { deps, now: clock.now(), cache, req }
      let res: ApiResponse
      try {
        res = await dispatch(req, ctx)
      } catch (e: any) {
        if (e instanceof QueryInputError) res = respond(400, { error: e.message })
        else if (e instanceof QueryLimitError) res = respond(e.status, { error: e.message }, e.status === 503 ? { 'retry-after': '1' } : {})
        else { log(`api error ${req.method} ${req.path}: ${String(e?.message ?? e).slice(0, 300)}`); res = respond(500, { error: 'internal error' }) }
      }
      // writes and refusals are logged (the key's name, never the key); answered reads are not
      if (req.method.toUpperCase() !== 'GET' || res.status >= 400) log(`api ${req.method} ${req.path} ${res.status} ${(performance.now() - t0).toFixed(1)}ms${ctx.keyName ? ` key=${ctx.keyName}` : ''}`)
      return res
    },
  }
}

export type Api = ReturnType<typeof createApi>
