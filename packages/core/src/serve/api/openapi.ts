/**
 * What the HTTP API is: each route's method, path, query parameters, answers and errors, as
 * `@hono/zod-openapi` routes. The parameters are zod schemas that both validate and parse a
 * request (their messages are the 400's) and document it; `./index.ts` serves the routes with
 * Hono, and the OpenAPI 3.1 document at `/api/openapi.json` is generated from the same
 * definitions, so the documentation and the validation cannot drift.
 */
import { OpenAPIHono, createRoute, z, type RouteConfig } from '@hono/zod-openapi'
import { TIMEFRAMES, symbolFromInput } from '../../market/index'
import { QueryInputError, checkExchange, checkSymbol, defaults as queryDefaults, maxSpanMs, FEATURE_TABLES } from '../query/index'

export const defaults = {
  exchange: 'binance',
  maxParamChars: 200,
  maxQueryChars: 2_000,
}

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
  if (!Number.isFinite(ms) || ms < 0 || ms > Date.parse('2100-01-01T00:00:00Z')) throw new QueryInputError(`${name} must be an ISO-8601 time like 2026-11-24T15:00:00Z, or epoch milliseconds (got ${JSON.stringify(raw)})`)
  return ms
}

type Ctx = { issues: { code: 'custom'; message: string; input: unknown }[] }
const fail = (ctx: Ctx, message: string, input: unknown) => { ctx.issues.push({ code: 'custom', message, input }); return z.NEVER }

/**
 * A query parameter: the client's string, refused when empty, turned into its value by `value`
 * (whose QueryInputError is the 400's message; without it the string itself), then checked by
 * `schema`, which the document shows. Absent, it is undefined (or the schema's default), unless required.
 */
function param<S extends z.ZodType>(name: string, description: string, schema: S, o: { required?: boolean; value?: (raw: string) => unknown } = {}) {
  const p = z.preprocess((raw, ctx) => {
    if (raw === undefined) return fail(ctx as Ctx, `${name} is required: ${description}`, raw)
    if (raw === '') return fail(ctx as Ctx, `${name} is empty: leave it out${o.required ? '' : ' for its default'} or give ${description}`, raw)
    try { return o.value ? o.value(raw as string) : raw } catch (e) { if (e instanceof QueryInputError) return fail(ctx as Ctx, e.message, raw); throw e }
  }, schema)
  return (o.required ? p : p.optional()).openapi({ param: { name, in: 'query', required: !!o.required, description } })
}

/** The message of a bound a number did not meet, naming what it got. */
const got = (m: string) => ({ error: (iss: { input?: unknown }) => `${m} (got ${JSON.stringify(String(iss.input))})` })
const TF_NAMES = Object.keys(TIMEFRAMES) as [keyof typeof TIMEFRAMES, ...(keyof typeof TIMEFRAMES)[]]
const KINDS = Object.keys(FEATURE_TABLES) as ['trades', 'candles']
const limitMsg = got(`limit must be a whole number from 1 to ${queryDefaults.maxLimit}`)
const hoursMsg = got(`hours must be a number above 0 and at most ${queryDefaults.maxHours}`)

/** The query parameters routes take (`limit` has a default per route). */
export const P = {
  exchange: param('exchange', 'Exchange, e.g. binance, binance-us, binance-futures, coinbase', z.string().openapi({ pattern: '^[a-z][a-z0-9-]{0,30}$', default: defaults.exchange }), { value: checkExchange }),
  symbol: param('symbol', 'Normalized symbol BASE-QUOTE, e.g. BTC-USDT (case-insensitive)', z.string().openapi({ pattern: '^[A-Za-z0-9]{1,20}-[A-Za-z0-9]{1,20}$' }), { required: true, value: (raw) => checkSymbol(symbolFromInput(raw) ?? raw) }),
  tf: param('tf', `Timeframe: ${TF_NAMES.join(', ')}`, z.enum(TF_NAMES, got(`tf must be one of ${TF_NAMES.join(', ')}`))).default('1m'),
  from: param('from', 'Start time, inclusive: ISO-8601 or epoch ms', z.number().openapi({ type: 'string', example: '2026-11-24T00:00:00Z' }), { value: (raw) => parseTime('from', raw) }),
  to: param('to', 'End time, exclusive: ISO-8601 or epoch ms', z.number().openapi({ type: 'string', example: '2026-11-25T00:00:00Z' }), { value: (raw) => parseTime('to', raw) }),
  limit: (dflt: number) => param('limit', `At most this many rows (1 to ${queryDefaults.maxLimit}); without from, the newest ones`,
    z.int(limitMsg).min(1, limitMsg).max(queryDefaults.maxLimit, limitMsg).openapi({ default: dflt }), { value: (raw) => (/^\d{1,6}$/.test(raw) ? Number(raw) : raw) }),
  hours: param('hours', `Window in hours back from now (up to ${queryDefaults.maxHours})`,
    z.number(hoursMsg).gt(0, hoursMsg).max(queryDefaults.maxHours, hoursMsg), { value: (raw) => (/^\d{1,5}(\.\d{1,3})?$/.test(raw) ? Number(raw) : raw) }).default(24),
  kind: param('kind', 'Feature family: trades (per-trade features) or candles (per-1m-candle indicators)', z.enum(KINDS, got(`kind must be one of ${KINDS.join(', ')}`))).default('candles'),
}

/** The query of a route: its parameters, with `to` never before `from`. */
const query = <T extends z.ZodRawShape>(shape: T) => z.object(shape).refine((q: { from?: number; to?: number }) => q.from === undefined || q.to === undefined || q.to >= q.from, 'to must not be before from')

const str = (d?: string) => (d ? z.string().describe(d) : z.string())
const num = (d?: string) => (d ? z.number().describe(d) : z.number())
const int = (d?: string) => (d ? z.int().describe(d) : z.int())
const bool = (d?: string) => (d ? z.boolean().describe(d) : z.boolean())
const time = (d?: string) => z.string().openapi({ format: 'date-time', ...(d ? { description: d } : {}) })
const side = z.enum(['buy', 'sell']).describe('taker side')

const CANDLE = z.object({
  exchange: str(), symbol: str(), tf: str(), open_time: time('open time, the stamp'), close_time: time(), open: num(), high: num(), low: num(), close: num(),
  volume: num('base volume'), quote_volume: num(), trades: int('individual trades'), taker_buy_volume: num(), taker_buy_quote_volume: num(), vwap: num(),
  first_trade_id: int(), last_trade_id: int(), final: bool('false while the candle may still change'),
})
const TRADE = z.object({ exchange: str(), symbol: str(), trade_id: int(), ts: time('exchange trade time'), price: num(), qty: num(), side, ingest_ts: time('when Ticklake received it'), source: str('ws, rest, archive, replay or api') })
const TYPE_STATS = z.object({ hits: int(), misses: int(), hit_rate: num('hits / (hits + misses)'), entries: int(), ttl_ms: int() })

/** The ingest body as documented (JSON Schema: each record is checked on its own by `tradeOf`, not refused with the batch). */
const BRONZE_IN = {
  type: 'object', description: 'A trade in the bronze schema; ingest_ts and source are set by Ticklake (receive time, "api")',
  properties: {
    exchange: { type: 'string', description: "one of the names the key may write (never a built-in venue's)" }, symbol: { type: 'string', description: 'BASE-QUOTE, e.g. BTC-USDT' },
    native_symbol: { type: 'string', description: "the venue's spelling (default: symbol without '-')" }, trade_id: { type: 'integer', description: '>= 0' },
    first_trade_id: { type: 'integer', description: 'default trade_id' }, last_trade_id: { type: 'integer', description: 'default trade_id' }, ts: { type: 'integer', description: 'trade time, epoch MICROseconds' },
    price: { type: 'number', description: '1e-8 to 1e12, taken at 8 decimals' }, qty: { type: 'number', description: '1e-8 to 1e15, taken at 8 decimals; price x qty at most 1e18' },
    side: { type: 'string', enum: ['buy', 'sell'], description: 'taker side' }, trades: { type: 'integer', description: 'individual trades: last_trade_id - first_trade_id + 1 (refused when it differs)' },
    ingest_ts: { type: 'integer', description: 'ignored: set to the receive time' }, source: { type: 'string', description: 'ignored: set to api' },
  },
  required: ['exchange', 'symbol', 'trade_id', 'ts', 'price', 'qty', 'side'],
  additionalProperties: false,
} as const

const EXCHANGE = { exchange: str(), venue: str('the market venue it is or stands in for: coinbase for sim-coinbase'), simulated: bool('true for a simulated venue (sim-binance, ...): fake trades, not market data') }
/** The per-exchange rows of `/api/symbols` and `/api/status` (folded by `core/serve/query/exchanges.ts`). */
const EXCHANGES = {
  symbols: z.array(z.object({ ...EXCHANGE, symbols: z.array(str()).describe('its symbols with 1m candles'), first_candle: time(), last_candle: time(), candles: int('1m candles held, all its symbols') })).describe('the same rows per exchange'),
  status: z.array(z.object({
    ...EXCHANGE, symbols: z.array(str()).describe('every symbol of it the lake lists'),
    last_trade_time: time('its newest trade of the last 24 h').nullable(), lag_ms: int('now - last_trade_time: its freshest symbol').nullable(), max_lag_ms: int('the lag of its stalest symbol with a trade in 24 h').nullable(),
    idle: z.array(str()).describe('symbols without a trade in the last 24 h'), ingest_rate_per_s: num('records per second over the last 5 minutes, all its symbols'), records_24h: int(),
    stalled: z.array(str()).describe('symbols with a stall in course'), newest_gold_time: time().nullable(), freshness_ms: int('now - its newest gold candle object').nullable(),
  })).describe('pipeline status per exchange'),
}

const ERROR = z.object({ error: str('what was wrong') }).describe('An error: the status says what kind, the message says what was wrong').openapi('Error')

const STATUS_TEXT: Record<number, string> = { 400: 'Bad input: the message says which parameter and why', 401: 'Missing or invalid API key', 403: 'The key may not write an exchange named in the batch: nothing was written (rejected lists each such record with its reason)', 413: 'Too large: the request body, or the answer (narrow from/to or lower limit)', 429: 'Rate limited: retry after the Retry-After seconds', 500: 'Internal error', 503: 'Unavailable: the query engine is busy, the query ran over its time limit, or a dependency is missing; retry after Retry-After' }

/** A route: its answer's schema, its errors, its query and (ingest) body, with an operationId from its method and path. */
function route(r: { method: 'get' | 'post'; path: string; summary: string; description?: string; query?: z.ZodObject; response: z.ZodType; errors: number[]; body?: object; auth?: boolean }) {
  return createRoute({
    method: r.method, path: r.path, summary: r.summary, ...(r.description ? { description: r.description } : {}),
    operationId: r.method + r.path.replace(/^\/api/, '').split(/[/.]/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join(''),
    request: { ...(r.query ? { query: r.query } : {}), ...(r.body ? { body: { required: true, content: { 'application/json': { schema: r.body } } } } : {}) },
    ...(r.auth ? { security: [{ apiKey: [] }] } : {}),
    responses: {
      200: { description: 'OK', content: { 'application/json': { schema: r.response } } },
      ...Object.fromEntries(r.errors.map((code) => [code, { description: STATUS_TEXT[code], content: { 'application/json': { schema: ERROR } } }])),
    },
  })
}

/** Every route of the API: `./index.ts` gives each its handler. */
export const DEFS = {
  health: route({
    method: 'get', path: '/api/health', summary: 'Liveness and what runs', errors: [],
    response: z.looseObject({ ok: bool(), time: time() }),
  }),
  symbols: route({
    method: 'get', path: '/api/symbols', summary: 'Every exchange and symbol with 1m candles in the lake (found by its serving windows and checkpoints), per symbol and per exchange', errors: [500, 503],
    response: z.object({ symbols: z.array(z.object({ exchange: str(), symbol: str(), first_candle: time(), last_candle: time(), candles: int('1m candles held') })), exchanges: EXCHANGES.symbols }),
  }),
  candles: route({
    method: 'get', path: '/api/candles', summary: 'Candles of one symbol and timeframe, oldest first', errors: [400, 413, 500, 503],
    description: `Open time in [from, to). With from: the first \`limit\` candles from it; without: the newest \`limit\` candles. [from, to) spans at most ${queryDefaults.maxLimit} candles of tf (1m: ${Math.round(maxSpanMs({ tf: '1m' }) / 86_400_000)} days); wider is 400. An answer over the byte cap is 413; a busy engine or a query over its time limit is 503 (Retry-After).`,
    query: query({ exchange: P.exchange, symbol: P.symbol, tf: P.tf, from: P.from, to: P.to, limit: P.limit(queryDefaults.maxLimit) }),
    response: z.object({ exchange: str(), symbol: str(), tf: str(), from: time().nullable(), to: time().nullable(), count: int(), candles: z.array(CANDLE) }),
  }),
  latest: route({
    method: 'get', path: '/api/latest', summary: 'The newest trade of a symbol (silver, within a day)', errors: [400, 500, 503],
    query: query({ exchange: P.exchange, symbol: P.symbol }),
    response: z.object({ exchange: str(), symbol: str(), trade: TRADE.nullable(), age_ms: int('now - trade time').nullable() }),
  }),
  statistics: route({
    method: 'get', path: '/api/statistics', summary: "A symbol's statistics over the last `hours`, from its 1m candles", errors: [400, 500, 503],
    query: query({ exchange: P.exchange, symbol: P.symbol, hours: P.hours }),
    response: z.object({
      exchange: str(), symbol: str(), hours: num(), from: time(), to: time(), avg: num('volume-weighted average price').nullable(),
      min: num().nullable(), max: num().nullable(), first: num('first open').nullable(), last: num('last close').nullable(), change_pct: num('(last - first) / first * 100').nullable(),
      volume: num(), quote_volume: num(), count: int('individual trades'), candles: int(),
    }),
  }),
  features: route({
    method: 'get', path: '/api/features', summary: 'Gold features of a symbol: per trade or per 1m candle', errors: [400, 413, 500, 503],
    description: `Rows of gold/features/trades (stamped by ts) or gold/features/candles (1m candles, stamped by open_time), oldest first; without from, the newest \`limit\`; an empty list while none are computed. Columns are those of docs/features.md. kind=trades reads at most a day: [from, to) spans at most ${maxSpanMs({ kind: 'trades' }) / 3_600_000} hours (without to: the day from from; without from: the newest \`limit\` of the last day); kind=candles at most ${queryDefaults.maxLimit} minutes. Wider is 400, an answer over the byte cap 413, a busy engine or a query over its time limit 503.`,
    query: query({ kind: P.kind, exchange: P.exchange, symbol: P.symbol, from: P.from, to: P.to, limit: P.limit(1000) }),
    response: z.object({ kind: str(), exchange: str(), symbol: str(), count: int(), rows: z.array(z.looseObject({}).describe('one feature row')) }),
  }),
  status: route({
    method: 'get', path: '/api/status', summary: 'Pipeline status per source and per exchange: last trade, lag, ingest rate, gaps, stalls, DLQ, lake freshness', errors: [500, 503],
    response: z.object({
      time: time(),
      sources: z.array(z.object({
        exchange: str(), symbol: str(), source: str('ws, rest, archive, replay or api'), last_trade_time: time(), last_ingest_time: time(),
        lag_ms: int('now - last trade time'), ingest_rate_per_s: num('records per second over the last 5 minutes'), records_24h: int(),
        gaps: z.object({ found: int(), filled: int(), deferred: int(), unfillable: int() }).describe('trade-id gaps of this exchange and symbol'),
        simulated: bool('true for a simulated venue (sim-binance, ...): fake trades, not market data'),
        stalled: bool('true while a stall of this exchange and symbol is open (see stalls)'),
      })),
      stalls: z.array(z.object({
        exchange: str(), symbol: str(), since: time('the last trade heard before the stall'), detected_at: time(), reason: str(), fetched: int('trades caught up over REST meanwhile'),
      })).describe('stalls in course: a source that stopped bringing trades while its exchange traded on, or stopped answering'),
      dlq: z.object({ files: int('files under dlq/'), by_source: z.record(z.string(), int()), conversion_errors: int('files under errors/ (Firehose format conversion)') }),
      lake: z.object({ newest_gold_key: str().nullable(), newest_gold_time: time().nullable(), freshness_ms: int('now - newest gold candle object').nullable(), corrupt_files: int('files readers found unreadable and skip: quality/corrupt/') }),
      exchanges: EXCHANGES.status,
    }),
  }),
  cacheStats: route({
    method: 'get', path: '/api/cache/stats', summary: 'Hits, misses and hit rate of the query cache per query type', errors: [],
    response: z.object({ types: z.record(z.string(), TYPE_STATS), total: z.object({ hits: int(), misses: int(), hit_rate: num(), bytes: int('bytes of the answers kept (their JSON)'), max_bytes: int('the bound of bytes kept: the least recently used go first') }) }),
  }),
  openapi: route({
    method: 'get', path: '/api/openapi.json', summary: 'This document', errors: [],
    response: z.looseObject({ openapi: str(), info: z.looseObject({}), paths: z.looseObject({}) }),
  }),
  ingest: route({
    method: 'post', path: '/api/ingest', summary: 'Trades from a producer outside Ticklake, into the lake through the delivery stream', auth: true, errors: [400, 401, 403, 413, 415, 429, 503],
    description: 'Body: a JSON array of trades (or {"trades": [...]}), at most 5000. A key is bound to the exchange names it may write (never a built-in venue\'s, such as binance or coinbase, nor a simulated source\'s): a batch with any record of another exchange is refused whole, 403 {error, rejected: [{index, reason}]}, and nothing of it is written. Otherwise each record is checked on its own: good ones are accepted (ingest_ts set on receipt, source "api"; price and qty taken at 8 decimals, price 1e-8..1e12, qty 1e-8..1e15, price x qty at most 1e18), bad ones are answered by index and reason.',
    body: { type: 'array', items: BRONZE_IN },
    response: z.object({ accepted: int(), rejected: z.array(z.object({ index: int(), reason: str() })) }),
  }),
}

type Document = ReturnType<OpenAPIHono['getOpenAPI31Document']> & { paths: Record<string, Record<string, any>> }
let doc: Document | undefined
/** The OpenAPI 3.1 document of `DEFS` (every operation lists its parameters, none as `[]`). */
export function openApi() {
  if (doc) return doc
  const app = new OpenAPIHono()
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'A key made by `ticklake keys add NAME` (locally) or kept hashed in the TicklakeApiKeys secret (AWS)' })
  for (const def of Object.values(DEFS)) app.openAPIRegistry.registerPath(def as RouteConfig)
  doc = <Document>app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: { title: 'Ticklake HTTP API', version: '0.1.0', description: 'Candles, trades, statistics, features and pipeline status from the Ticklake lake (Athena in AWS, DuckDB locally), and trade ingestion for outside producers. Every query parameter is validated; bad input gets 400 with a message naming the parameter.' },
  })
  for (const ops of Object.values(doc.paths)) for (const op of Object.values(ops)) op.parameters ??= []
  return doc
}

/** The routes as the document lists them: method, path, parameters (name, schema), 200 schema and error statuses. */
export const ROUTES = Object.values(DEFS).map((d) => {
  const op: any = openApi().paths[d.path][d.method]
  return {
    method: d.method.toUpperCase(), path: d.path,
    params: op.parameters as { name: string; required: boolean; description: string; schema: Record<string, any> }[],
    response: op.responses[200].content['application/json'].schema as Record<string, any>,
    errors: Object.keys(op.responses).filter((s) => s !== '200').map(Number),
  }
})
