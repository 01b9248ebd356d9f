/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the one route table in `./index.ts`,
 * so the documentation and the code cannot drift; plus a small JSON Schema checker (the subset the
 * document uses) with which tests hold every answer to its documented schema.
 */

/** The subset of JSON Schema the route table uses. */
export interface Schema {
  type?: 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null' | ('string' | 'number' | 'integer' | 'boolean' | 'null' | 'object')[]
  description?: string
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  enum?: (string | number)[]
  format?: string
  pattern?: string
  minimum?: number
  exclusiveMinimum?: number
  maximum?: number
  default?: unknown
  additionalProperties?: boolean | Schema
  example?: unknown
}

/** Shorthands for the route table. */
export const s = {
  str: (description?: string, extra: Partial<Schema> = {}): Schema => ({ type: 'string', description, ...extra }),
  num: (description?: string): Schema => ({ type: 'number', description }),
  int: (description?: string): Schema => ({ type: 'integer', description }),
  bool: (description?: string): Schema => ({ type: 'boolean', description }),
  time: (description?: string): Schema => ({ type: 'string', format: 'date-time', description }),
  nullable: (inner: Schema): Schema => ({ ...inner, type: [inner.type as 'string', 'null'] }),
  arr: (items: Schema, description?: string): Schema => ({ type: 'array', items, description }),
  /** An object whose listed properties are all required. */
  obj: (properties: Record<string, Schema>, description?: string, extra: Partial<Schema> = {}): Schema => ({ type: 'object', description, properties, required: Object.keys(properties), ...extra }),
  map: (values: Schema, description?: string): Schema => ({ type: 'object', description, additionalProperties: values }),
  any: (description?: string): Schema => ({ description }),
}

const EXCHANGE = { exchange: s.str(), venue: s.str('the market venue it is or stands in for: coinbase for sim-coinbase'), simulated: s.bool('true for a simulated venue (sim-binance, ...): fake trades, not market data') }
/** The per-exchange rows of `/api/symbols` and `/api/status` (folded by `core/serve/query/exchanges.ts`). */
export const EXCHANGE_SCHEMAS = {
  symbols: s.arr(s.obj({ ...EXCHANGE, symbols: s.arr(s.str(), 'its symbols with 1m candles'), first_candle: s.time(), last_candle: s.time(), candles: s.int('1m candles held, all its symbols') }), 'the same rows per exchange'),
  status: s.arr(s.obj({
    ...EXCHANGE, symbols: s.arr(s.str(), 'every symbol of it the lake lists'),
    last_trade_time: s.nullable(s.time('its newest trade of the last 24 h')), lag_ms: s.nullable(s.int('now - last_trade_time: its freshest symbol')), max_lag_ms: s.nullable(s.int('the lag of its stalest symbol with a trade in 24 h')),
    idle: s.arr(s.str(), 'symbols without a trade in the last 24 h'), ingest_rate_per_s: s.num('records per second over the last 5 minutes, all its symbols'), records_24h: s.int(),
    stalled: s.arr(s.str(), 'symbols with a stall in course'), newest_gold_time: s.nullable(s.time()), freshness_ms: s.nullable(s.int('now - its newest gold candle object')),
  }), 'pipeline status per exchange'),
}

/** Problems of `value` against `schema` (empty when it conforms), with paths. */
export function schemaProblems(schema: Schema, value: unknown, path = '$'): string[] {
  const out: string[] = []
  const types = schema.type === undefined ? undefined : Array.isArray(schema.type) ? schema.type : [schema.type]
  const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v)
  if (types && !types.some((t) => (t === 'integer' ? Number.isInteger(value) : t === 'number' ? typeof value === 'number' : typeOf(value) === t))) {
    return [`${path}: ${typeOf(value)} is not ${types.join(' or ')}`]
  }
  if (schema.enum && !schema.enum.includes(value as string)) out.push(`${path}: ${JSON.stringify(value)} is not one of ${schema.enum.join(', ')}`)
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>
    for (const k of schema.required ?? []) if (!(k in o)) out.push(`${path}.${k}: missing`)
    for (const [k, v] of Object.entries(o)) {
      const sub = schema.properties?.[k] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined)
      if (sub) out.push(...schemaProblems(sub, v, `${path}.${k}`))
      else if (schema.properties && schema.additionalProperties === false) out.push(`${path}.${k}: not documented`)
    }
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => out.push(...schemaProblems(schema.items!, v, `${path}[${i}]`)))
  return out
}

export interface DocParam { name: string; required: boolean; description: string; schema: Schema }
export interface DocRoute { method: string; path: string; summary: string; description?: string; params: DocParam[]; response: Schema; auth?: 'apiKey'; body?: Schema; errors: number[] }

const ERROR = s.obj({ error: s.str('what was wrong') }, 'An error: the status says what kind, the message says what was wrong')

const STATUS_TEXT: Record<number, string> = { 400: 'Bad input: the message says which parameter and why', 401: 'Missing or invalid API key', 403: 'The key may not write an exchange named in the batch: nothing was written (rejected lists each such record with its reason)', 404: 'Not found', 405: 'Method not allowed', 413: 'Too large: the request body, or the answer (narrow from/to or lower limit)', 429: 'Rate limited: retry after the Retry-After seconds', 500: 'Internal error', 503: 'Unavailable: the query engine is busy, the query ran over its time limit, or a dependency is missing; retry after Retry-After' }

/** The OpenAPI 3.1 document of `routes`. */
export function openApiDocument(routes: DocRoute[], info: { title?: string; version?: string } = {}) {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of routes) {
    const op: Record<string, unknown> = {
      operationId: r.method.toLowerCase() + r.path.replace(/^\/api/, '').split(/[/.]/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join(''),
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      parameters: r.params.map((p) => ({ name: p.name, in: 'query', required: p.required, description: p.description, schema: p.schema })),
      responses: {
        200: { description: 'OK', content: { 'application/json': { schema: r.response } } },
        ...Object.fromEntries(r.errors.map((code) => [code, { description: STATUS_TEXT[code] ?? 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }])),
      },
    }
    if (r.auth) op.security = [{ apiKey: [] }]
    if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: r.body } } }
    ;(paths[r.path] ??= {})[r.method.toLowerCase()] = op
  }
  return {
    openapi: '3.1.0',
    info: { title: info.title ?? 'Ticklake HTTP API', version: info.version ?? '0.1.0', description: 'Candles, trades, statistics, features and pipeline status from the Ticklake lake (Athena in AWS, DuckDB locally), and trade ingestion for outside producers. Every query parameter is validated; bad input gets 400 with a message naming the parameter.' },
    paths,
    components: {
      schemas: { Error: ERROR },
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'A key made by `ticklake keys add NAME` (locally) or kept hashed in the TicklakeApiKeys secret (AWS)' } },
    },
  }
}
