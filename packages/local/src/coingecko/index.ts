/**
 * The fake CoinGecko: the public API's `GET /api/v3/simple/price` on loopback, answering in the real
 * shape (`{"bitcoin":{"usd":..,"usd_market_cap":..,"usd_24h_vol":..,"usd_24h_change":..,"last_updated_at":<s>}}`)
 * from a seeded random walk per coin, converted to each vs_currency at fixed rates. Like the real
 * API it leaves unknown coin ids (and unsupported currencies) out of a 200 answer, refuses a request
 * without `ids` or `vs_currencies` with `{"error":"Missing parameter <name>"}` (clients report 400
 * and, since 2025, 422 for this; the fake answers 400), counts every request against a per-minute
 * limit and beyond it answers 429 with `Retry-After` and CoinGecko's rate-limit body. Faults inject
 * 429s and 500s at a seeded rate. `calls()` is the ground truth of tests: every request, its status
 * and what was served. Also serves `/api/v3/ping` and `/api/v3/simple/supported_vs_currencies`.
 */
import { hash, prng } from '../exchange/index'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** Units of one US dollar in each currency the fake supports (`btc`/`eth` follow the walk). */
export const RATES: Record<string, number> = {
  usd: 1, eur: 0.92, brl: 5.4, gbp: 0.79, jpy: 155, cad: 1.37, aud: 1.52, chf: 0.9, inr: 83.5, krw: 1370, mxn: 17.1, ars: 880, btc: NaN, eth: NaN,
}

/** Start price in USD and circulating supply of the coins the fake knows best; others get seeded ones. */
const COINS: Record<string, [usd: number, supply: number]> = {
  bitcoin: [65_000, 19_700_000], ethereum: [3_200, 120_000_000], solana: [150, 460_000_000], tether: [1, 110_000_000_000],
  binancecoin: [580, 147_000_000], ripple: [0.52, 55_000_000_000], dogecoin: [0.15, 145_000_000_000], cardano: [0.45, 35_000_000_000],
}

export const defaults = {
  host: '127.0.0.1',
  /** 0 picks a free port. */
  port: 0,
  /** Coin ids the fake knows; others are left out of answers as the real API does. */
  coins: Object.keys(COINS),
  /** vs_currencies the fake supports (a subset of RATES). */
  currencies: Object.keys(RATES),
  seed: 1,
  /** Requests per rolling minute before 429 (the Demo plan documents about 30). */
  rateLimitPerMin: 30,
  windowMs: 60_000,
}

export interface Faults {
  /** Share of requests answered 429 with `Retry-After: retryAfterSec`. */
  fail429: number
  /** Share of requests answered 500. */
  fail500: number
  /** `Retry-After` of injected 429s, in whole seconds (0 lets tests retry at once). */
  retryAfterSec: number
}
export const noFaults: Faults = { fail429: 0, fail500: 0, retryAfterSec: 1 }

export interface FakeCoinGeckoOptions extends Partial<typeof defaults> {
  faults?: Partial<Faults>
  /** When set, requests must carry this key (`x-cg-demo-api-key` header or `x_cg_demo_api_key` parameter). */
  apiKey?: string
  now?: () => number
}

/** One request the fake received. */
export interface Call {
  at: number
  path: string
  query: Record<string, string>
  status: number
  /** The Demo key sent, if any. */
  apiKey?: string
  /** The JSON served with a 200. */
  body?: unknown
}

export interface FakeCoinGecko {
  /** `http://127.0.0.1:PORT` (the poller's `baseUrl`). */
  url: string
  port: number
  /** Every request so far, oldest first. */
  calls(): Call[]
  setFaults(f: Partial<Faults>): void
  close(): Promise<void>
}


/** Rounds to `digits` significant digits, as CoinGecko's default precision roughly does. */
const sig = (v: number, digits = 8) => (v === 0 || !Number.isFinite(v) ? v : Number(v.toPrecision(digits)))

/**
 * One coin's market, deterministic for (seed, coin): each `step()` moves the USD price by a small
 * gaussian return; `open` is the price "24 h ago" the change is measured from.
 */
export function coinWalk(coin: string, seed: number) {
  const rand = prng(seed ^ hash(coin))
  const [usd0, supply] = COINS[coin] ?? [1 + (hash(coin) % 500), 1_000_000 * (1 + (hash(coin) % 1000))]
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
  const open = usd0 * (1 + 0.03 * gauss())
  let usd = usd0
  let vol = usd0 * supply * (0.02 + 0.03 * rand())
  return {
    step() { usd *= Math.exp(0.002 * gauss()); vol *= Math.exp(0.01 * gauss()) },
    get usd() { return usd },
    quote(rate: number) {
      return { price: sig(usd * rate), marketCap: sig(usd * rate * supply, 12), volume: sig(vol * rate, 12), change: sig((usd / open - 1) * 100, 10) }
    },
  }
}

/** The simple/price answer of `coins` (known ones only) in `currencies` (supported ones only) with the optional fields asked for. */
function simplePrice(q: URLSearchParams, walks: Map<string, ReturnType<typeof coinWalk>>, supported: string[], nowMs: number) {
  const list = (k: string) => (q.get(k) ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)
  const flag = (k: string) => q.get(k) === 'true'
  const currencies = list('vs_currencies').filter((c) => supported.includes(c))
  const btc = walks.get('bitcoin')?.usd ?? 65_000
  const eth = walks.get('ethereum')?.usd ?? 3_200
  const rateOf = (c: string) => (c === 'btc' ? 1 / btc : c === 'eth' ? 1 / eth : RATES[c])
  const out: Record<string, Record<string, number>> = {}
  for (const coin of list('ids')) {
    const walk = walks.get(coin)
    if (!walk || out[coin]) continue
    const entry: Record<string, number> = {}
    for (const c of currencies) {
      const v = walk.quote(rateOf(c))
      entry[c] = v.price
      if (flag('include_market_cap')) entry[`${c}_market_cap`] = v.marketCap
      if (flag('include_24hr_vol')) entry[`${c}_24h_vol`] = v.volume
      if (flag('include_24hr_change')) entry[`${c}_24h_change`] = v.change
    }
    if (flag('include_last_updated_at')) entry.last_updated_at = Math.floor(nowMs / 1000)
    out[coin] = entry
  }
  return out
}

const RATE_LIMITED = { status: { error_code: 429, error_message: "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate limits." } }

/**
 * Starts the fake CoinGecko on loopback.
 * @example const cg = await startFakeCoinGecko({ coins: ['bitcoin'], seed: 7 }); await pollPrices({ baseUrl: cg.url, ... })
 */
export async function startFakeCoinGecko(options: FakeCoinGeckoOptions = {}): Promise<FakeCoinGecko> {
  const o = { ...defaults, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof defaults
  const now = options.now ?? Date.now
  let faults: Faults = { ...noFaults, ...options.faults }
  const chance = prng(o.seed + 7919)
  const walks = new Map(o.coins.map((c) => [c.toLowerCase(), coinWalk(c.toLowerCase(), o.seed)]))
  const supported = o.currencies.map((c) => c.toLowerCase()).filter((c) => c in RATES)
  const log: Call[] = []
  const recent: number[] = []

  function send(res: ServerResponse, call: Call, status: number, body: unknown, headers: Record<string, string> = {}) {
    call.status = status
    if (status === 200) call.body = body
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
    res.end(JSON.stringify(body))
  }

  function handle(req: IncomingMessage, res: ServerResponse) {
    const t = now()
    const u = new URL(req.url ?? '/', 'http://localhost')
    const header = req.headers['x-cg-demo-api-key']
    const key = (Array.isArray(header) ? header[0] : header) ?? u.searchParams.get('x_cg_demo_api_key') ?? undefined
    const call: Call = { at: t, path: u.pathname, query: Object.fromEntries(u.searchParams), status: 0, apiKey: key }
    log.push(call)
    // every request counts against the minute, refused ones too (as CoinGecko documents)
    while (recent.length && recent[0] <= t - o.windowMs) recent.shift()
    recent.push(t)
    if (recent.length > o.rateLimitPerMin) {
      const wait = Math.max(1, Math.ceil((recent[recent.length - o.rateLimitPerMin] + o.windowMs - t) / 1000))
      return send(res, call, 429, RATE_LIMITED, { 'retry-after': String(wait) })
    }
    const roll = chance()
    if (roll < faults.fail429) return send(res, call, 429, RATE_LIMITED, { 'retry-after': String(faults.retryAfterSec) })
    if (roll < faults.fail429 + faults.fail500) return send(res, call, 500, { status: { error_code: 500, error_message: 'Internal Server Error' } })
    if (req.method !== 'GET') return send(res, call, 405, { error: 'Method Not Allowed' })
    if (options.apiKey !== undefined && key !== options.apiKey) {
      return send(res, call, 401, { status: { error_code: 10002, error_message: 'API Key Missing or invalid: use the x-cg-demo-api-key header' } })
    }
    const path = u.pathname.replace(/\/+$/, '')
    if (path === '/api/v3/ping') return send(res, call, 200, { gecko_says: '(V3) To the Moon!' })
    if (path === '/api/v3/simple/supported_vs_currencies') return send(res, call, 200, supported)
    if (path !== '/api/v3/simple/price') return send(res, call, 404, { error: 'Incorrect path. Please check https://docs.coingecko.com/' })
    for (const p of ['ids', 'vs_currencies']) if (!u.searchParams.get(p)) return send(res, call, 400, { error: `Missing parameter ${p}` })
    for (const w of walks.values()) w.step()
    return send(res, call, 200, simplePrice(u.searchParams, walks, supported, t))
  }

  const server = createServer(handle)
  await new Promise<void>((resolve) => server.listen(o.port, o.host, resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://${o.host}:${port}`,
    port,
    calls: () => log.slice(),
    setFaults(f) { faults = { ...faults, ...f } },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}
