import { describe, expect, it } from 'vitest'
import type { ObjectStore } from '../../ports/index'
import { readParquet } from '../../lake/parquet/index'
import { parseSimplePrice, pollPrices, simplePriceUrl, type PriceSnapshot } from './index'
import { pricesKey } from '../../lake/layout/index'

/** A `simple/price` answer as CoinGecko sends it (fields in its order), for bitcoin and ethereum in usd and brl. */
const REAL = JSON.stringify({
  bitcoin: {
    usd: 67187.33, usd_market_cap: 1317802988326.25, usd_24h_vol: 31260929299.52, usd_24h_change: 3.637278946773539,
    brl: 335621.18, brl_market_cap: 6582735627021.9, brl_24h_vol: 156155227408.7, brl_24h_change: 3.5922318,
    last_updated_at: 1711356300,
  },
  ethereum: {
    usd: 3515.56, usd_market_cap: 422010395211.18, usd_24h_vol: 14019432134.77, usd_24h_change: 4.208,
    brl: 17561.23, brl_market_cap: 2108042069003.1, brl_24h_vol: 70030001455.2, brl_24h_change: 4.16,
    last_updated_at: 1711356295,
  },
})
const INGEST = Date.UTC(2024, 2, 25, 8, 45, 1, 234) * 1000

function memoryStore() {
  const objects = new Map<string, Uint8Array>()
  const store: ObjectStore = {
    async get(k) { return objects.get(k) },
    async head() { return undefined },
    async put(k, body) { objects.set(k, typeof body === 'string' ? new TextEncoder().encode(body) : body); return { etag: '"x"' } },
    async list(p) { return [...objects.keys()].filter((k) => k.startsWith(p)).sort().map((key) => ({ key, size: 0, etag: '', lastModified: 0 })) },
    async delete(k) { objects.delete(k) },
  }
  return { store, objects }
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })

describe('coingecko simple/price parser', () => {
  it('turns a real-shaped answer for bitcoin and ethereum in usd and brl into four complete rows', () => {
    const { rows, problems } = parseSimplePrice(REAL, ['bitcoin', 'ethereum'], ['usd', 'brl'], INGEST)
    expect(problems).toEqual([])
    expect(rows).toHaveLength(4)
    expect(rows[0]).toEqual<PriceSnapshot>({
      source: 'coingecko', coin: 'bitcoin', currency: 'usd', price: 67187.33, market_cap: 1317802988326.25, volume_24h: 31260929299.52,
      change_24h_pct: 3.637278946773539, complete: true, last_updated: 1711356300 * 1_000_000, ingest_ts: INGEST,
    })
    expect(rows.map((r) => `${r.coin}/${r.currency}=${r.price}`)).toEqual(['bitcoin/usd=67187.33', 'bitcoin/brl=335621.18', 'ethereum/usd=3515.56', 'ethereum/brl=17561.23'])
    expect(rows[3]).toMatchObject({ market_cap: 2108042069003.1, volume_24h: 70030001455.2, change_24h_pct: 4.16, last_updated: 1711356295_000_000 })
  })

  it('accepts an already parsed answer and upper-case coin and currency names', () => {
    const { rows, problems } = parseSimplePrice(JSON.parse(REAL), ['Bitcoin'], ['USD'], INGEST)
    expect(problems).toEqual(['unexpected coin "ethereum" in the answer', 'bitcoin: unexpected field "brl"', 'bitcoin: unexpected field "brl_market_cap"', 'bitcoin: unexpected field "brl_24h_vol"', 'bitcoin: unexpected field "brl_24h_change"'])
    expect(rows.map((r) => [r.coin, r.currency, r.price])).toEqual([['bitcoin', 'usd', 67187.33]])
  })

  it('reports a coin CoinGecko left out and a currency it has no price in as problems, and keeps the rest', () => {
    const body = { bitcoin: { usd: 67187.33, usd_market_cap: 1, usd_24h_vol: 2, usd_24h_change: 3, last_updated_at: 1711356300 } }
    const { rows, problems } = parseSimplePrice(body, ['bitcoin', 'notacoin'], ['usd', 'xyz'], INGEST)
    expect(rows.map((r) => `${r.coin}/${r.currency}`)).toEqual(['bitcoin/usd'])
    expect(problems).toHaveLength(2)
    expect(problems[0]).toMatch(/bitcoin: no price in "xyz".*supported_vs_currencies/)
    expect(problems[1]).toMatch(/coin "notacoin" is missing.*coins\/list/)
  })

  it('reports garbage, an error body and a wrong shape as problems without throwing', () => {
    expect(parseSimplePrice('<html>Cloudflare</html>', ['bitcoin'], ['usd'], INGEST)).toEqual({ rows: [], problems: ['answer is not valid JSON'] })
    expect(parseSimplePrice('', ['bitcoin'], ['usd'], INGEST).problems).toEqual(['answer is not valid JSON'])
    expect(parseSimplePrice('[1,2]', ['bitcoin'], ['usd'], INGEST).problems).toEqual(['answer is not a JSON object keyed by coin id'])
    expect(parseSimplePrice('null', ['bitcoin'], ['usd'], INGEST).problems).toEqual(['answer is not a JSON object keyed by coin id'])
    expect(parseSimplePrice('{"error":"Missing parameter vs_currencies"}', ['bitcoin'], ['usd'], INGEST).problems).toEqual(['CoinGecko answered an error: Missing parameter vs_currencies'])
    expect(parseSimplePrice({ status: { error_code: 429, error_message: 'rate' } }, ['bitcoin'], ['usd'], INGEST).problems).toEqual(['CoinGecko answered an error (429): rate'])
    expect(parseSimplePrice({ bitcoin: 'x' }, ['bitcoin'], ['usd'], INGEST).problems).toEqual(['coin "bitcoin" is "x", not an object'])
    expect(parseSimplePrice('{}', ['bitcoin'], ['usd'], INGEST).problems).toHaveLength(1)
  })

  it('skips a price that is no positive number and writes absent or null extras as 0 with complete = false', () => {
    const body = { bitcoin: { usd: null, brl: 335621.18, brl_24h_change: null, eur: '61000' } }
    const { rows, problems } = parseSimplePrice(body, ['bitcoin'], ['usd', 'brl', 'eur'], INGEST)
    expect(problems).toEqual(['bitcoin: price in "usd" is null, not a positive number', 'bitcoin: price in "eur" is "61000", not a positive number'])
    expect(rows).toEqual([{ source: 'coingecko', coin: 'bitcoin', currency: 'brl', price: 335621.18, market_cap: 0, volume_24h: 0, change_24h_pct: 0, complete: false, last_updated: 0, ingest_ts: INGEST }])
    expect(rows.some((r) => Object.values(r).some((v) => typeof v === 'number' && Number.isNaN(v)))).toBe(false)
  })
})

describe('coingecko lake key and request', () => {
  it('puts a snapshot in its coin partition and the UTC day of its ingest time', () => {
    expect(pricesKey('bitcoin', Date.UTC(2026, 10, 24, 23, 59, 59, 999) * 1000, 'p1')).toBe('bronze/prices/source=coingecko/coin=bitcoin/dt=2026-11-24/p1.parquet')
    expect(pricesKey('ethereum', Date.UTC(2026, 10, 25) * 1000, 'p2')).toBe('bronze/prices/source=coingecko/coin=ethereum/dt=2026-11-25/p2.parquet')
  })

  it('asks simple/price for every optional field, on the host with or without /api/v3', () => {
    const want = 'https://api.coingecko.com/api/v3/simple/price?ids=bitcoin,ethereum&vs_currencies=usd,brl&include_market_cap=true&include_24hr_vol=true&include_24hr_change=true&include_last_updated_at=true'
    expect(simplePriceUrl('https://api.coingecko.com', ['bitcoin', 'ethereum'], ['usd', 'brl'])).toBe(want)
    expect(simplePriceUrl('https://api.coingecko.com/api/v3/', ['Bitcoin', 'ethereum'], ['USD', 'brl'])).toBe(want)
  })
})

describe('coingecko poller', () => {
  it('retries network errors and 5xx a few times with backoff, then writes the poll', async () => {
    const { store, objects } = memoryStore()
    const answers: (() => Response)[] = [
      () => { throw new TypeError('fetch failed') },
      () => json({ status: { error_code: 500, error_message: 'oops' } }, 500),
      () => json(REAL),
    ]
    let n = 0
    const fetchStub = (async () => answers[Math.min(n++, answers.length - 1)]()) as unknown as typeof fetch
    const lines: string[] = []
    const summary = await pollPrices({
      baseUrl: 'http://cg.test', coins: ['bitcoin', 'ethereum'], currencies: ['usd', 'brl'], store, fetch: fetchStub,
      intervalMs: 10_000, budgetMs: 400, log: (l) => lines.push(l), settings: { backoffBaseMs: 20, maxRetries: 3 },
    })
    expect(summary).toMatchObject({ polls: 1, rows: 4, errors: 2, backoffs: 0, requests: 3 })
    expect(lines.join('\n')).toMatch(/fetch failed.*retry 1\/3/)
    const keys = [...objects.keys()].sort()
    expect(keys).toHaveLength(2)
    expect(keys[0]).toMatch(/^bronze\/prices\/source=coingecko\/coin=bitcoin\/dt=\d{4}-\d\d-\d\d\/\d{8}T\d{9}Z\.parquet$/)
    const rows = await readParquet<PriceSnapshot>(objects.get(keys[0])!)
    expect(rows.map((r) => [r.coin, r.currency, r.price, r.complete])).toEqual([['bitcoin', 'usd', 67187.33, true], ['bitcoin', 'brl', 335621.18, true]])
  })

  it('sends a Demo key in its header, never in the URL', async () => {
    const seen: { url: string; headers: Record<string, string> }[] = []
    const fetchStub = (async (url: string, init: RequestInit) => { seen.push({ url, headers: init.headers as Record<string, string> }); return json(REAL) }) as unknown as typeof fetch
    await pollPrices({ baseUrl: 'http://cg.test', coins: ['bitcoin'], currencies: ['usd'], apiKey: 'CG-secret', store: memoryStore().store, fetch: fetchStub, intervalMs: 10_000, budgetMs: 50 })
    expect(seen[0].headers['x-cg-demo-api-key']).toBe('CG-secret')
    expect(seen[0].url).not.toContain('CG-secret')
  })

  it('stops at once with a message naming the fix when the key is refused', async () => {
    const fetchStub = (async () => json({ status: { error_code: 10011, error_message: 'Invalid API Key' } }, 401)) as unknown as typeof fetch
    const summary = await pollPrices({ baseUrl: 'http://cg.test', coins: ['bitcoin'], currencies: ['usd'], apiKey: 'k', store: memoryStore().store, fetch: fetchStub, intervalMs: 10, budgetMs: 2_000 })
    expect(summary).toMatchObject({ polls: 0, errors: 1, requests: 1 })
    expect(summary.stopped).toMatch(/Demo key needs baseUrl https:\/\/api\.coingecko\.com/)
  })

  it('waits out a 429 for its Retry-After before asking again', async () => {
    const times: number[] = []
    let n = 0
    const fetchStub = (async () => { times.push(Date.now()); return n++ === 0 ? json({ status: { error_code: 429 } }, 429, { 'retry-after': '1' }) : json(REAL) }) as unknown as typeof fetch
    const summary = await pollPrices({ baseUrl: 'http://cg.test', coins: ['bitcoin', 'ethereum'], currencies: ['usd', 'brl'], store: memoryStore().store, fetch: fetchStub, intervalMs: 10_000, budgetMs: 1_500 })
    expect(summary).toMatchObject({ polls: 1, backoffs: 1, errors: 0, requests: 2 })
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(990)
  })

  it('backs off exponentially after a 429 without Retry-After (a Cloudflare page)', async () => {
    const times: number[] = []
    let n = 0
    const fetchStub = (async () => { times.push(Date.now()); return n++ < 2 ? new Response('<html>429 Too Many Requests</html>', { status: 429 }) : json(REAL) }) as unknown as typeof fetch
    const lines: string[] = []
    const summary = await pollPrices({
      baseUrl: 'http://cg.test', coins: ['bitcoin'], currencies: ['usd'], store: memoryStore().store, fetch: fetchStub, intervalMs: 10_000, budgetMs: 1_000,
      random: () => 1, settings: { backoffBaseMs: 100 }, log: (l) => lines.push(l),
    })
    expect(summary).toMatchObject({ polls: 1, backoffs: 2, requests: 3 })
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(95)
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(195)
    expect(lines[0]).toMatch(/no Retry-After: exponential backoff/)
  })

  it('ends when the signal aborts', async () => {
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 100)
    const fetchStub = (async () => json(REAL)) as unknown as typeof fetch
    const t0 = Date.now()
    const summary = await pollPrices({ baseUrl: 'http://cg.test', coins: ['bitcoin'], currencies: ['usd'], store: memoryStore().store, fetch: fetchStub, intervalMs: 30_000, budgetMs: 60_000, signal: ac.signal })
    expect(Date.now() - t0).toBeLessThan(1_000)
    expect(summary.polls).toBe(1)
  })
})
