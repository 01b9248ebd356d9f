/**
 * The fake Coinbase's Exchange REST API: `GET /products/{id}/trades` newest first with `after` /
 * `before` id cursors and `CB-AFTER` / `CB-BEFORE` headers, `GET /products/{id}`, `GET /time`, and
 * Coinbase's public limit (10 requests a second, bursts of 15) answered with 429, as are the
 * `rest429` share of the fault suite.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { marketOf } from '../generator'
import type { Faults } from '../faults'
import { trim, type Book, type CoinbaseTrade } from './book'

/** The trade as the Exchange REST `/products/{id}/trades` prints it. */
const restTrade = (t: CoinbaseTrade) => ({ time: t.time, trade_id: t.trade_id, price: t.price, size: t.size, side: t.side })

/** First index of `trades` (ascending ids) whose id is >= id. */
function lowerBound(trades: readonly CoinbaseTrade[], id: number) {
  let lo = 0
  let hi = trades.length
  while (lo < hi) { const mid = (lo + hi) >> 1; if (trades[mid].trade_id < id) lo = mid + 1; else hi = mid }
  return lo
}

/** An Exchange REST error: HTTP status and Coinbase's `{message}` body. */
class RestError extends Error { constructor(readonly status: number, msg: string) { super(msg) } }

/**
 * The trades a `GET /products/{id}/trades` query selects, newest first: the newest `limit` without a
 * cursor, the `limit` just below id `after` (older), or the `limit` just above id `before` (newer).
 */
export function selectTrades(trades: readonly CoinbaseTrade[], params: URLSearchParams): CoinbaseTrade[] {
  const num = (name: string) => {
    const v = params.get(name)
    if (v === null) return undefined
    if (!/^\d{1,19}$/.test(v)) throw new RestError(400, `Invalid ${name}`)
    return Number(v)
  }
  const limit = Math.min(num('limit') ?? 1000, 1000)
  if (limit < 1) throw new RestError(400, 'Invalid limit')
  const after = num('after')
  const before = num('before')
  let from: number
  let to: number
  if (before !== undefined) { from = lowerBound(trades, before + 1); to = Math.min(trades.length, from + limit) }
  else { to = after !== undefined ? lowerBound(trades, after) : trades.length; from = Math.max(0, to - limit) }
  return trades.slice(from, to).reverse()
}

export interface RestOptions {
  books: Map<string, Book>
  /** Public REST requests a second, and the burst allowed above it. */
  restRatePerSec: number
  restBurst: number
  /** The faults in force (`rest429`) and the fake's seeded draw. */
  faults: Faults
  chance: () => number
  /** Generates trades up to now (and streams them), so REST never serves less than the stream sent. */
  tick: () => void
  now: () => number
}

/**
 * The REST request handler of the fake Coinbase.
 * @example createServer(coinbaseRest({ books, restRatePerSec: 10, restBurst: 15, faults, chance, tick, now }))
 */
export function coinbaseRest(o: RestOptions) {
  const { books, faults, chance, now } = o
  // REST: Coinbase's public limit as a token bucket.
  const bucket = { tokens: o.restBurst, at: now() }
  function admit() {
    const t = now()
    bucket.tokens = Math.min(o.restBurst, bucket.tokens + ((t - bucket.at) / 1000) * o.restRatePerSec)
    bucket.at = t
    if (bucket.tokens < 1) return false
    bucket.tokens--
    return true
  }

  function product(id: string) {
    const b = books.get(id)
    if (!b) throw new RestError(404, 'NotFound')
    return b
  }

  function rest(req: IncomingMessage, res: ServerResponse) {
    const u = new URL(req.url ?? '/', 'http://x')
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
      res.end(JSON.stringify(body))
    }
    try {
      if (req.method !== 'GET') return send(405, { message: 'method not allowed' })
      if ((faults.rest429 && chance() < faults.rest429) || !admit()) return send(429, { message: 'Public rate limit exceeded' })
      o.tick()
      if (u.pathname === '/time') { const t = now(); return send(200, { iso: new Date(t).toISOString(), epoch: t / 1000 }) }
      const m = /^\/products\/([^/]+)(\/trades)?$/.exec(u.pathname)
      if (!m) return send(404, { message: 'route not found' })
      const b = product(decodeURIComponent(m[1]))
      if (!m[2]) {
        const mk = marketOf(b.symbol)
        return send(200, {
          id: b.symbol, base_currency: mk.base, quote_currency: mk.quote, quote_increment: trim(mk.tickSize), base_increment: trim(mk.stepSize), display_name: b.symbol.replace('-', '/'),
          min_market_funds: '1', margin_enabled: false, post_only: false, limit_only: false, cancel_only: false, status: 'online', status_message: '', trading_disabled: false,
          fx_stablecoin: false, max_slippage_percentage: '0.02000000', auction_mode: false, high_bid_limit_percentage: '',
        })
      }
      const rows = selectTrades(b.trades, u.searchParams)
      const headers: Record<string, string> = rows.length ? { 'cb-before': String(rows[0].trade_id), 'cb-after': String(rows[rows.length - 1].trade_id) } : {}
      send(200, rows.map(restTrade), headers)
    } catch (e) {
      if (e instanceof RestError) return send(e.status, { message: e.message })
      send(500, { message: 'Internal server error' })
    }
  }

  return rest
}
