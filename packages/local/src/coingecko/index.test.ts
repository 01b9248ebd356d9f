import { afterEach, describe, expect, it } from 'vitest'
import { parseSimplePrice, pollPrices, type PriceSnapshot } from '@ticklake/core/sources/coingecko'
import { partitionsOfKey } from '@ticklake/core/lake/layout'
import { readParquet } from '@ticklake/core/lake/parquet'
import { memoryStore } from '../store/index'
import { startFakeCoinGecko, type FakeCoinGecko } from './index'

const fakes: FakeCoinGecko[] = []
const start = async (o: Parameters<typeof startFakeCoinGecko>[0]) => { const f = await startFakeCoinGecko(o); fakes.push(f); return f }
afterEach(async () => { for (const f of fakes.splice(0)) await f.close() })

/**
 * `served` counts answers the fake sent; `seen` those the poller took in. They differ by at most the
 * one request in flight when the budget ended (the poller abandons it, the fake still answers it).
 */
const sameButLast = (seen: number, served: number) => { expect(seen).toBeLessThanOrEqual(served); expect(seen).toBeGreaterThanOrEqual(served - 1) }

const FIELDS = '&include_market_cap=true&include_24hr_vol=true&include_24hr_change=true&include_last_updated_at=true'
const get = async (url: string) => { const r = await fetch(url); return { status: r.status, retryAfter: r.headers.get('retry-after'), body: await r.json() } }

describe('fake coingecko', () => {
  it('answers simple/price in the real shape and leaves unknown coins and currencies out', async () => {
    const cg = await start({ coins: ['bitcoin', 'ethereum'], seed: 3 })
    const { status, body } = await get(`${cg.url}/api/v3/simple/price?ids=bitcoin,ethereum,notacoin&vs_currencies=usd,brl,xyz${FIELDS}`)
    expect(status).toBe(200)
    expect(Object.keys(body)).toEqual(['bitcoin', 'ethereum'])
    expect(Object.keys(body.bitcoin)).toEqual(['usd', 'usd_market_cap', 'usd_24h_vol', 'usd_24h_change', 'brl', 'brl_market_cap', 'brl_24h_vol', 'brl_24h_change', 'last_updated_at'])
    expect(body.bitcoin.brl / body.bitcoin.usd).toBeCloseTo(5.4, 3)
    expect(body.bitcoin.last_updated_at).toBe(Math.floor(cg.calls()[0].at / 1000))
    const { rows, problems } = parseSimplePrice(body, ['bitcoin', 'ethereum', 'notacoin'], ['usd', 'brl', 'xyz'], 1)
    expect(rows).toHaveLength(4)
    expect(problems).toHaveLength(3)
  })

  it('answers only the fields asked for, and the same walk for the same seed', async () => {
    const a = await start({ coins: ['bitcoin'], seed: 9 })
    const b = await start({ coins: ['bitcoin'], seed: 9 })
    const q = '/api/v3/simple/price?ids=bitcoin&vs_currencies=usd'
    const x = (await get(a.url + q)).body
    expect(x).toEqual((await get(b.url + q)).body)
    expect(Object.keys(x.bitcoin)).toEqual(['usd'])
  })

  it('refuses a request without ids or vs_currencies as CoinGecko does', async () => {
    const cg = await start({ coins: ['bitcoin'] })
    expect(await get(`${cg.url}/api/v3/simple/price?ids=bitcoin`)).toMatchObject({ status: 400, body: { error: 'Missing parameter vs_currencies' } })
    expect(await get(`${cg.url}/api/v3/simple/price?vs_currencies=usd`)).toMatchObject({ status: 400, body: { error: 'Missing parameter ids' } })
    expect((await get(`${cg.url}/api/v3/nothing`)).status).toBe(404)
  })

  it('answers 429 with Retry-After and the rate-limit body beyond its calls per minute', async () => {
    const cg = await start({ coins: ['bitcoin'], rateLimitPerMin: 3 })
    const statuses = []
    for (let i = 0; i < 5; i++) statuses.push(await get(`${cg.url}/api/v3/simple/price?ids=bitcoin&vs_currencies=usd`))
    expect(statuses.map((s) => s.status)).toEqual([200, 200, 200, 429, 429])
    expect(Number(statuses[3].retryAfter)).toBeGreaterThanOrEqual(59)
    expect(statuses[3].body.status.error_code).toBe(429)
  })
})

describe('coingecko poller against the fake', () => {
  it('writes each poll as Parquet at the coin partition keys, with the values served', async () => {
    const cg = await start({ coins: ['bitcoin', 'ethereum'], seed: 5 })
    const store = memoryStore()
    const summary = await pollPrices({ baseUrl: cg.url, coins: ['bitcoin', 'ethereum'], currencies: ['usd', 'brl'], store, intervalMs: 100, budgetMs: 450 })
    const served = cg.calls().filter((c) => c.status === 200)
    expect(summary).toMatchObject({ rows: summary.polls * 4, errors: 0, backoffs: 0, problems: 0 })
    sameButLast(summary.polls, served.length)
    expect(summary.polls).toBeGreaterThanOrEqual(3)
    const keys = store.keys()
    expect(keys).toHaveLength(summary.polls * 2)
    for (const key of keys) {
      expect(key).toMatch(/^bronze\/prices\/source=coingecko\/coin=(bitcoin|ethereum)\/dt=\d{4}-\d\d-\d\d\/\d{8}T\d{9}Z\.parquet$/)
    }
    const rows = (await Promise.all(keys.map(async (k) => ({ key: k, rows: await readParquet<PriceSnapshot>((await store.get(k))!) }))))
    for (const { key, rows: list } of rows) {
      const part = partitionsOfKey(key)
      expect(list.every((r) => r.coin === part.coin && r.source === 'coingecko')).toBe(true)
      expect(new Date(list[0].ingest_ts / 1000).toISOString().slice(0, 10)).toBe(part.dt)
    }
    // the first poll's files hold exactly what the fake served first
    const first = served[0].body as Record<string, Record<string, number>>
    const btc = rows.find((r) => r.key.includes('coin=bitcoin'))!.rows
    expect(btc.map((r) => [r.currency, r.price, r.market_cap, r.volume_24h, r.change_24h_pct, r.last_updated, r.complete])).toEqual([
      ['usd', first.bitcoin.usd, first.bitcoin.usd_market_cap, first.bitcoin.usd_24h_vol, first.bitcoin.usd_24h_change, first.bitcoin.last_updated_at * 1e6, true],
      ['brl', first.bitcoin.brl, first.bitcoin.brl_market_cap, first.bitcoin.brl_24h_vol, first.bitcoin.brl_24h_change, first.bitcoin.last_updated_at * 1e6, true],
    ])
    expect(btc[0].ingest_ts).toBeGreaterThanOrEqual(served[0].at * 1000)
  })

  it('backs off on 429s, counts each one, and still writes polls', async () => {
    const cg = await start({ coins: ['bitcoin'], seed: 11, faults: { fail429: 0.5, retryAfterSec: 0 } })
    const store = memoryStore()
    const lines: string[] = []
    const summary = await pollPrices({ baseUrl: cg.url, coins: ['bitcoin'], currencies: ['usd'], store, intervalMs: 50, budgetMs: 800, log: (l) => lines.push(l) })
    const limited = cg.calls().filter((c) => c.status === 429).length
    expect(limited).toBeGreaterThan(0)
    sameButLast(summary.backoffs, limited)
    sameButLast(summary.polls, cg.calls().filter((c) => c.status === 200).length)
    expect(summary.polls).toBeGreaterThan(0)
    expect(store.keys()).toHaveLength(summary.polls)
    expect(lines.some((l) => /HTTP 429.*Retry-After/.test(l))).toBe(true)
  })

  it('retries 500s with backoff, counts each as an error, and still writes polls', async () => {
    const cg = await start({ coins: ['bitcoin'], seed: 4, faults: { fail500: 0.4 } })
    const summary = await pollPrices({ baseUrl: cg.url, coins: ['bitcoin'], currencies: ['usd'], store: memoryStore(), intervalMs: 50, budgetMs: 700, settings: { backoffBaseMs: 20 } })
    const failed = cg.calls().filter((c) => c.status === 500).length
    expect(failed).toBeGreaterThan(0)
    sameButLast(summary.errors, failed)
    expect(summary.polls).toBeGreaterThan(0)
  })

  it('never sends more than the configured calls per minute, and so never meets the limit', async () => {
    const cg = await start({ coins: ['bitcoin'], rateLimitPerMin: 8 })
    const lines: string[] = []
    const summary = await pollPrices({ baseUrl: cg.url, coins: ['bitcoin'], currencies: ['usd'], store: memoryStore(), intervalMs: 50, budgetMs: 1_000, callsPerMinute: 8, log: (l) => lines.push(l) })
    const calls = cg.calls()
    expect(calls).toHaveLength(8)
    expect(calls.every((c) => c.status === 200)).toBe(true)
    expect(summary).toMatchObject({ polls: 8, requests: 8, backoffs: 0, errors: 0 })
    expect(lines[0]).toMatch(/shorter than 8 calls a minute allow/)
  })

  it('polls with a Demo key the fake accepts, and stops with the fix named when the key is wrong', async () => {
    const cg = await start({ coins: ['bitcoin'], apiKey: 'CG-good' })
    const ok = await pollPrices({ baseUrl: cg.url, coins: ['bitcoin'], currencies: ['usd'], apiKey: 'CG-good', store: memoryStore(), intervalMs: 10_000, budgetMs: 100 })
    expect(ok).toMatchObject({ polls: 1, errors: 0 })
    expect(cg.calls()[0].apiKey).toBe('CG-good')
    const bad = await pollPrices({ baseUrl: cg.url, coins: ['bitcoin'], currencies: ['usd'], apiKey: 'CG-bad', store: memoryStore(), intervalMs: 10, budgetMs: 1_000 })
    expect(bad).toMatchObject({ polls: 0, errors: 1, requests: 1 })
    expect(bad.stopped).toMatch(/HTTP 401.*Demo key/)
  })

  it('honours the fake\'s own limit when configured above it', async () => {
    const cg = await start({ coins: ['bitcoin'], rateLimitPerMin: 3 })
    const summary = await pollPrices({ baseUrl: cg.url, coins: ['bitcoin'], currencies: ['usd'], store: memoryStore(), intervalMs: 50, budgetMs: 500, callsPerMinute: 30 })
    // three polls, then a 429 whose Retry-After (about 60 s) outlasts the budget: the poller waits instead of hammering
    expect(summary).toMatchObject({ polls: 3, backoffs: 1, requests: 4 })
    expect(cg.calls()).toHaveLength(4)
  })
})
