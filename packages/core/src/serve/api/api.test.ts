/**
 * The HTTP API's parts that need no lake: the TTL cache, API keys and the token bucket, trade
 * record validation, time parsing, and the SQL rules both engines impose (parameters bound only
 * where Athena takes them). The routes over a real lake are tested in @ticklake/local (src/api).
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ttlCache, normalizedKey, sizeOf } from './cache'
import { exchangesProblem, jsonKeyStore, newApiKey, tokenBuckets, verifyApiKey, writableExchanges } from './keys'
import { tradeOf, batchOf, refusedExchanges, defaults as ingestDefaults, utf8Length } from './ingest'
import { createApi, parseTime, openApi, preflight, ROUTES } from './index'
import { TRADE_COLUMNS, symbolFromInput } from '../../market/index'
import { candlesQuery, featuresQuery, lastTradesQuery, latestQuery, placeholders, statisticsQuery, symbolSpanQuery } from '../query/index'

describe('ttlCache', () => {
  it('serves an entry until its type’s TTL passes, counting hits and misses per type', async () => {
    let t = 0
    const cache = ttlCache({ ttlMs: { latest: 1_000, candles: 60_000 }, now: () => t })
    let computed = 0
    const compute = async () => ++computed
    expect(await cache.get('latest', { symbol: 'BTC-USDT' }, compute)).toBe(1)
    expect(await cache.get('latest', { symbol: 'BTC-USDT' }, compute)).toBe(1)
    t = 1_001
    expect(await cache.get('latest', { symbol: 'BTC-USDT' }, compute)).toBe(2)
    expect(await cache.get('candles', { symbol: 'BTC-USDT' }, compute)).toBe(3)
    t = 50_000
    expect(await cache.get('candles', { symbol: 'BTC-USDT' }, compute)).toBe(3)
    // the latest entry expired at 2_001: no longer counted as held
    expect(cache.stats().types.latest).toEqual({ hits: 1, misses: 2, hit_rate: 0.3333, entries: 0, ttl_ms: 1_000 })
    expect(cache.stats().types.candles).toMatchObject({ hits: 1, misses: 1, hit_rate: 0.5 })
  })

  it('keys by normalized input, shares one computation between concurrent misses, and never keeps a failure', async () => {
    expect(normalizedKey({ b: 1, a: 'x', c: undefined })).toBe(normalizedKey({ a: 'x', b: 1 }))
    const cache = ttlCache()
    let calls = 0
    const slow = () => new Promise<number>((r) => setTimeout(() => r(++calls), 10))
    const [a, b] = await Promise.all([cache.get('symbols', {}, slow), cache.get('symbols', {}, slow)])
    expect([a, b, calls]).toEqual([1, 1, 1])
    await expect(cache.get('status', {}, () => Promise.reject(new Error('engine down')))).rejects.toThrow('engine down')
    expect(await cache.get('status', {}, async () => 'ok')).toBe('ok')
  })
})

describe('ttlCache bounds', () => {
  it('keeps answers within its byte bound, dropping the least recently used first', async () => {
    const cache = ttlCache({ maxBytes: 10_000 })
    const answer = (n: number) => async () => 'x'.repeat(n)
    for (let i = 0; i < 5; i++) await cache.get('candles', { i }, answer(3_000))
    // three of 3,000 bytes fit in 10,000: the two oldest went
    expect(cache.stats().types.candles.entries).toBe(3)
    expect(cache.stats().total.bytes).toBeLessThanOrEqual(10_000)
    let computed = 0
    await cache.get('candles', { i: 2 }, async () => { computed++; return '' }) // still kept: a hit, and now the most recent
    await cache.get('candles', { i: 5 }, answer(3_000))
    await cache.get('candles', { i: 0 }, async () => { computed++; return '' }) // dropped: computed again
    expect(computed).toBe(1)
    await cache.get('candles', { i: 2 }, async () => { computed++; return '' })
    expect(computed).toBe(1)
  })

  it('serves an answer larger than its entry bound without keeping it, and sizes serialized answers by their text', async () => {
    const cache = ttlCache({ maxBytes: 100_000, maxEntryBytes: 1_000 })
    let computed = 0
    const big = async () => { computed++; return { [Symbol('raw')]: 'y'.repeat(5_000) } }
    await cache.get('features', {}, big)
    await cache.get('features', {}, big)
    expect(computed).toBe(2)
    expect(cache.stats().total.bytes).toBe(0)
    expect(sizeOf({ [Symbol('raw')]: 'z'.repeat(700) })).toBeGreaterThanOrEqual(700)
  })
})

describe('API keys', () => {
  it('verifies a key against its salted hash and refuses wrong, unknown and malformed keys', async () => {
    const { key, record } = newApiKey('feed-1', ['feed'])
    expect(key).toMatch(/^tlk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/)
    expect(JSON.stringify(record)).not.toContain(key.slice('tlk_000000000000_'.length))
    const store = jsonKeyStore(JSON.stringify({ version: 1, keys: [record] }))
    expect((await verifyApiKey(store, key))?.name).toBe('feed-1')
    const other = newApiKey('feed-2', ['feed'])
    for (const bad of [other.key, key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'), key + 'x', '', undefined, 42, `tlk_${record.id}_`]) expect(await verifyApiKey(store, bad)).toBeUndefined()
    expect(() => newApiKey('bad name!', ['feed'])).toThrow(/key name/)
  })

  it('reads key records as the file or a bare array (the SST secret defaults to []), and fails lookups, not startup, on a bad secret', async () => {
    const { key, record } = newApiKey('feed-3', ['feed'])
    expect((await verifyApiKey(jsonKeyStore(JSON.stringify([record])), key))?.name).toBe('feed-3')
    expect(await verifyApiKey(jsonKeyStore('[]'), key)).toBeUndefined()
    expect(await verifyApiKey(jsonKeyStore(undefined), key)).toBeUndefined()
    const broken = jsonKeyStore(`{"keys": [${JSON.stringify(record)}`)
    await expect(verifyApiKey(broken, key)).rejects.toThrow('API key records are not valid JSON')
  })

  it('binds a key to exchange names of its own, never a built-in venue\'s or a simulated one\'s, even in a record edited by hand', () => {
    expect(newApiKey('feed', ['myfeed', 'other', 'myfeed']).record.exchanges).toEqual(['myfeed', 'other'])
    for (const names of [[], ['binance'], ['myfeed', 'coinbase'], ['binance-us'], ['sim-coinbase'], ['My Feed']]) expect(exchangesProblem(names), names.join()).toBeTruthy()
    expect(() => newApiKey('feed', ['binance-futures'])).toThrow(/reserved for Ticklake's own sources/)
    const { record } = newApiKey('feed', ['myfeed'])
    expect(writableExchanges({ ...record, exchanges: ['myfeed', 'binance', 'sim-binance'] })).toEqual(['myfeed'])
    expect(writableExchanges({ ...record, exchanges: undefined })).toEqual([])
  })

  it('names each record of a batch whose exchange the key may not write, with the reason', () => {
    const batch = [{ exchange: 'myfeed' }, { exchange: 'binance' }, 'junk', { exchange: 'elsewhere' }, { exchange: 7 }]
    expect(refusedExchanges(batch, ['myfeed'], 'feed')).toEqual([
      { index: 1, reason: expect.stringMatching(/^exchange "binance" is reserved/) },
      { index: 3, reason: 'key feed may write exchange myfeed only' },
    ])
    expect(refusedExchanges([{ exchange: 'myfeed' }], [], 'old')).toEqual([{ index: 0, reason: expect.stringMatching(/^key old is bound to no exchange name/) }])
    expect(refusedExchanges(batch.slice(0, 1), ['myfeed'])).toEqual([])
  })

  it('lets a key spend its burst, then refills at its rate', () => {
    let t = 0
    const limit = tokenBuckets({ perSecond: 2, burst: 3 }, () => t)
    expect([1, 2, 3, 4].map(() => limit.take('k').ok)).toEqual([true, true, true, false])
    expect(limit.take('k').retryAfterMs).toBe(500)
    expect(limit.take('other').ok).toBe(true)
    t = 500
    expect(limit.take('k').ok).toBe(true)
    expect(limit.take('k').ok).toBe(false)
  })
})

describe('ingest records', () => {
  const now = Date.parse('2026-11-25T00:00:00Z') * 1000
  const good = { exchange: 'myfeed', symbol: 'ETH-USD', trade_id: 7, ts: now - 1_000_000, price: 3000.5, qty: 0.25, side: 'sell' }

  it('makes a bronze trade of a good record, with defaults, the receive time and source api', () => {
    expect(tradeOf({ ...good, ingest_ts: 1, source: 'ws' }, now)).toEqual({ trade: { ...good, native_symbol: 'ETHUSD', first_trade_id: 7, last_trade_id: 7, trades: 1, ingest_ts: now, source: 'api' } })
    expect(tradeOf({ ...good, first_trade_id: 5, last_trade_id: 9 }, now)).toMatchObject({ trade: { trades: 5 } })
  })

  it('says why a record is refused', () => {
    const reason = (o: unknown) => ('reason' in tradeOf(o, now) ? (tradeOf(o, now) as any).reason : 'accepted')
    expect(reason([])).toBe('record is not a JSON object')
    expect(reason({ ...good, exchange: 'My Feed' })).toMatch(/^exchange must be/)
    expect(reason({ ...good, symbol: 'ethusd' })).toMatch(/^symbol must be/)
    expect(reason({ ...good, trade_id: 1.5 })).toMatch(/^trade_id must be a whole number/)
    expect(reason({ ...good, first_trade_id: 9, last_trade_id: 5 })).toMatch(/^first_trade_id must not be above/)
    expect(reason({ ...good, ts: String(good.ts) })).toMatch(/^ts must be a whole number of microseconds/)
    expect(reason({ ...good, ts: now + 2 * 86_400_000_000 })).toMatch(/^ts is outside/)
    expect(reason({ ...good, qty: 0 })).toBe('qty must be a number above 0')
    expect(reason({ ...good, price: Number.POSITIVE_INFINITY })).toBe('price must be a number above 0')
    expect(reason({ ...good, __proto__x: 1 })).toMatch(/^unknown field/)
    // a record's trades are its id range (DESIGN.md), which the candles count
    expect(reason({ ...good, first_trade_id: 5, last_trade_id: 9, trades: 5 })).toBe('accepted')
    expect(reason({ ...good, trades: 3 })).toBe('trades, when sent, must be last_trade_id - first_trade_id + 1 (1)')
    expect(reason({ ...good, first_trade_id: 0, last_trade_id: 2 ** 31 })).toMatch(/covers more than 2\^31 - 1 trades/)
  })

  it('never throws on arbitrary JSON, and accepts only records that fit the bronze schema', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.record({ exchange: fc.string(), symbol: fc.string(), trade_id: fc.anything(), ts: fc.anything(), price: fc.anything(), qty: fc.anything(), side: fc.string() }, { requiredKeys: [] }), (a, b) => {
      for (const r of [a, b]) {
        const out = tradeOf(r, now)
        if ('trade' in out) expect(out.trade.price > 0 && Number.isSafeInteger(out.trade.ts) && ['buy', 'sell'].includes(out.trade.side)).toBe(true)
      }
    }))
  })

  it('reads a batch as an array or {trades}, and refuses other bodies and oversized batches', () => {
    expect(batchOf('[1]')).toEqual({ records: [1] })
    expect(batchOf('{"trades":[]}')).toEqual({ records: [] })
    expect(batchOf('{')).toEqual({ error: 'body is not valid JSON' })
    expect(batchOf('"x"')).toMatchObject({ error: expect.stringMatching(/JSON array/) })
    expect(batchOf(JSON.stringify(Array(ingestDefaults.maxRecords + 1).fill(0)))).toMatchObject({ error: expect.stringMatching(/at most 5000/) })
  })
})

describe('parseTime', () => {
  it('takes ISO-8601 and epoch milliseconds, and nothing else', () => {
    expect(parseTime('from', '2026-11-24')).toBe(Date.parse('2026-11-24T00:00:00Z'))
    expect(parseTime('from', '2026-11-24T15:00')).toBe(Date.parse('2026-11-24T15:00:00Z'))
    expect(parseTime('from', '2026-11-24T15:00:00+02:00')).toBe(Date.parse('2026-11-24T13:00:00Z'))
    expect(parseTime('from', '1764000000000')).toBe(1764000000000)
    for (const bad of ['yesterday', '2026-13-01', '2026-02-30', '2026-11-24 15:00', '2026-11-24T15:00:00Z OR 1=1', '99999999999999999', '-5', '']) {
      expect(() => parseTime('from', bad), bad).toThrow(/from must be an ISO-8601 time/)
    }
  })
})

describe('query SQL', () => {
  const statements = [
    candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from: 0, to: 1, limit: 5 }),
    candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1h' }),
    symbolSpanQuery({ exchange: 'binance', symbol: 'BTC-USDT' }),
    latestQuery({ exchange: 'binance', symbol: 'BTC-USDT', now: 0 }),
    statisticsQuery({ exchange: 'binance', symbol: 'BTC-USDT', from: 0 }),
    featuresQuery({ kind: 'trades', exchange: 'binance', symbol: 'BTC-USDT', limit: 3 }),
    featuresQuery({ kind: 'candles', exchange: 'binance', symbol: 'BTC-USDT', from: 0 }),
    lastTradesQuery({ exchange: 'binance', symbol: 'BTC-USDT', since: 0 }),
  ]
  it('binds every value as a parameter, only in WHERE clauses (as Athena requires), never LIMIT ?', () => {
    for (const st of statements) {
      expect(placeholders(st.sql)).toBe(st.params.length)
      expect(st.sql).not.toMatch(/LIMIT \?/)
      expect(st.sql).not.toContain("'")
      const beforeWhere = st.sql.split(/\bWHERE\b/)[0]
      expect(beforeWhere).not.toContain('?')
      // Athena's tables project symbol as an injected partition: every query must pin it
      expect(st.sql).toMatch(/exchange = \? AND symbol = \?/)
    }
  })
  it('keeps hostile values out of the SQL text', () => {
    expect(() => candlesQuery({ exchange: 'binance', symbol: "BTC-USDT' OR 1=1 --", tf: '1m' })).toThrow(/symbol must look like/)
    for (const kind of ['orders', 'constructor', '__proto__']) expect(() => featuresQuery({ kind: kind as any, exchange: 'binance', symbol: 'BTC-USDT' })).toThrow(/kind must be one of/)
    for (const tf of ['constructor', 'toString']) expect(() => candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf: tf as any })).toThrow(/tf must be one of/)
  })
})

describe('OpenAPI document', () => {
  it('has an operation for every route with its parameters, responses and errors', () => {
    const doc = openApi()
    for (const r of ROUTES) {
      const op = (doc.paths[r.path] as any)[r.method.toLowerCase()]
      expect(op.operationId).toMatch(/^(get|post)[A-Z]/)
      expect(op.parameters.map((p: any) => p.name)).toEqual(r.params.map((p) => p.name))
      for (const code of r.errors) expect(op.responses[code]).toBeDefined()
    }
    expect(new Set(ROUTES.map((r) => (doc.paths[r.path] as any)[r.method.toLowerCase()].operationId)).size).toBe(ROUTES.length)
  })
  it('documents as the ingest body exactly the bronze columns that record validation takes', () => {
    const body = (openApi().paths['/api/ingest'] as any).post.requestBody.content['application/json'].schema
    expect(Object.keys(body.items.properties).sort()).toEqual(TRADE_COLUMNS.map((c) => c.name).sort())
    const now = Date.now() * 1000
    const minimal = Object.fromEntries(body.items.required.map((k: string) => [k, { exchange: 'x', symbol: 'A-B', side: 'buy', ts: now }[k] ?? 1]))
    expect('trade' in tradeOf(minimal, now)).toBe(true)
  })
})

describe('request hygiene (issue 12)', () => {
  const { key, record } = newApiKey('feed-h', ['myfeed'])
  const keys = jsonKeyStore(JSON.stringify([record]))
  const engine = { query: async () => [] } as any
  const stream = { putRecords: async () => ({ failed: [] }) } as any
  const store = { get: async () => undefined, list: async () => [] } as any
  const ingest = (body: string, headers: Record<string, string> = {}) => createApi({ engine, store, stream, keys }).handle({ method: 'POST', path: '/api/ingest', headers: { 'x-api-key': key, 'content-type': 'application/json', ...headers }, body })

  it('counts the ingest body limit in bytes, not characters', async () => {
    const euros = `[${JSON.stringify('€'.repeat(400_000))}]` // 400,004 characters, 1,200,004 bytes
    expect(euros.length).toBeLessThan(ingestDefaults.maxBodyBytes)
    expect(utf8Length(euros)).toBe(Buffer.byteLength(euros))
    expect((await ingest(euros)).status).toBe(413)
    expect(batchOf(euros)).toEqual({ error: expect.stringMatching(/over 1048576 bytes/) })
    expect(utf8Length('a€😀\ud800')).toBe(Buffer.byteLength('a€😀\ud800'))
  })

  it('answers a body that is not JSON with 415, and a key that is missing with 401 first', async () => {
    const res = await ingest('[]', { 'content-type': 'text/plain' })
    expect(res.status).toBe(415)
    expect((await ingest('[]', { 'content-type': 'application/json; charset=utf-8' })).status).toBe(200)
    expect((await ingest('[]', { 'x-api-key': '', 'content-type': 'text/plain' })).status).toBe(401)
  })

  it('answers from method, path and headers alone before the body: 401, 415, 413 by content-length, else nothing', async () => {
    const pre = (headers: Record<string, string>) => preflight({ keys }, { method: 'POST', path: '/api/ingest', headers })
    expect((await pre({ 'content-type': 'application/json' }))?.status).toBe(401)
    expect((await pre({ 'x-api-key': key, 'content-type': 'application/x-www-form-urlencoded' }))?.status).toBe(415)
    expect((await pre({ 'x-api-key': key, 'content-type': 'application/json', 'content-length': String(ingestDefaults.maxBodyBytes + 1) }))?.status).toBe(413)
    expect(await pre({ 'x-api-key': key, 'content-type': 'application/json', 'content-length': '2' })).toBeUndefined()
    expect(await preflight({ keys }, { method: 'GET', path: '/api/candles', headers: {} })).toBeUndefined()
  })

  it('refuses a symbol that is BASE-QUOTE only once case-folded (ß becomes SS), and malformed percent-encoding, with 400', async () => {
    const api = createApi({ engine, store })
    for (const rawQuery of ['symbol=%C3%9Ftc-usdt', 'symbol=btc-u%C5%BFdt', 'symbol=BTC-USDT&from=%E0%A4%A']) {
      const res = await api.handle({ method: 'GET', path: '/api/candles', rawQuery })
      expect(res.status).toBe(400)
    }
    expect((await api.handle({ method: 'GET', path: '/api/can%dles' })).status).toBe(400)
    expect(symbolFromInput('ßtc-usdt')).toBeUndefined()
    expect(symbolFromInput('btc-usdt')).toBe('BTC-USDT')
  })
})
