/**
 * The fake Coinbase: the Advanced Trade market-data WebSocket and the Exchange REST trades endpoint
 * on loopback, fed by the same seeded generator as the fake Binance (one generated trade is one
 * Coinbase trade, with consecutive integer ids per product). WebSocket: one `subscribe` message per
 * channel (`market_trades`, `ticker`, `heartbeats`; none within 5 s closes the connection),
 * `market_trades` snapshots of the last 100 trades then `update` events, `ticker` snapshots and
 * updates with best bid/ask, a heartbeat each second, and a `sequence_num` counting every frame of
 * the connection from 0. On `/ws-feed` it speaks the legacy Exchange ws-feed instead (`matches`:
 * `last_match` then `match` frames with a per-product `sequence`; `heartbeat` with `last_trade_id`).
 * REST: `GET /products/{id}/trades` newest first with `after`/`before` id
 * cursors and `CB-AFTER`/`CB-BEFORE` headers, `GET /products/{id}`, `GET /time`, and Coinbase's
 * public limit (10 requests a second, bursts of 15) answered with 429. Frames are keyed and printed
 * like the real ones in ../shared/data/coinbase. Fault injection takes the fake Binance's options
 * (`Faults`) plus `seqGap`; `trades(symbol)` is the ground truth: every trade the exchange has.
 * In replay mode (`replay`) it plays a capture's trades instead of generating, with their recorded
 * ids, prices, sizes and times, on a clock that starts with the first trade subscription (as the
 * fake Binance's `replay`); it then sends no ticker frames, having none recorded.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import type { CapturedCoinbaseTrade } from '@ticklake/core/sources/capture'
import { dec8, generator, marketOf, noFaults, prng, resumeStart, type AggTrade, type FakeExchange, type Faults, type ResumeAt } from './index'

export const defaults = {
  host: '127.0.0.1',
  /** 0 picks a free port. */
  port: 0,
  symbols: ['BTC-USD', 'ETH-USD'],
  seed: 1,
  /** History generated into the past at start, served over REST. */
  historyMs: 6 * 3_600_000,
  /** Mean trades per second per product. */
  ratePerSec: 4,
  /** Live generation period. */
  tickMs: 100,
  heartbeatMs: 1_000,
  /** Coinbase closes a connection that has not subscribed within 5 seconds. */
  subscribeTimeoutMs: 5_000,
  /** Trades in a `market_trades` snapshot (Coinbase sends the last 100 per product). */
  snapshotTrades: 100,
  /** Oldest trades are dropped beyond this many per product. */
  maxTrades: 2_000_000,
  /** Public REST requests a second, and the burst allowed above it (Coinbase Exchange: 10 and 15). */
  restRatePerSec: 10,
  restBurst: 15,
  /** Most trades in one `market_trades` update frame (a replay at `max` speed publishes a whole capture at once). */
  frameTrades: 500,
}

/** Faults of the fake Binance, plus sequence numbers skipped without losing any frame. */
export interface CoinbaseFaults extends Faults {
  /** Share of frames sent with a `sequence_num` one higher than due (nothing lost: the client cannot know that). */
  seqGap: number
}
export const noCoinbaseFaults: CoinbaseFaults = { ...noFaults, seqGap: 0 }

/** One trade as the exchange holds it: id, 8-decimal price and size, time (µs ISO), MAKER side (as Coinbase prints it). */
export interface CoinbaseTrade { trade_id: number; price: string; size: string; time: string; side: 'buy' | 'sell'; T: number }

/** Replay mode: the exchange plays these recorded trades (per product id, ascending ids) instead of generating. */
export interface CoinbaseReplay {
  trades: Map<string, CapturedCoinbaseTrade[]>
  /** Capture time per wall time (2 = twice as fast); `max` sends everything at once. The clock starts with the first trade subscription. */
  speed: number | 'max'
}

export interface FakeCoinbaseOptions extends Partial<typeof defaults> {
  now?: () => number; faults?: Partial<CoinbaseFaults>; replay?: CoinbaseReplay
  /** Per product, where its trades go on from (ids after `id`, times after `ts`): the fake Binance's `resume`. */
  resume?: Record<string, ResumeAt | undefined>
}

/**
 * The fake Binance's handle, with Coinbase's ground truth and faults: `restUrl` is the Exchange
 * REST API, `wsUrl` the Advanced Trade WebSocket (the legacy ws-feed is at `${wsUrl}/ws-feed`).
 */
export interface FakeCoinbase extends Pick<FakeExchange, 'restUrl' | 'wsUrl' | 'port' | 'symbols' | 'replayDone' | 'dropConnections' | 'close'> {
  /** Every trade of a product so far, oldest first: the ground truth. */
  trades(symbol: string): ReadonlyArray<CoinbaseTrade>
  setFaults(f: Partial<CoinbaseFaults>): void
}

const CHANNELS = new Set(['market_trades', 'ticker', 'heartbeats'])
/** Trailing fraction zeros dropped (`'1.50' -> '1.5'`, `'70' -> '70'`), as Coinbase prints decimals. */
const trim = (dec: string) => (dec.includes('.') ? dec.replace(/\.?0+$/, '') : dec)
/** `2026-08-09T21:05:42.514318Z` from epoch µs, trailing zeros of the fraction dropped as Coinbase does. */
const isoMicros = (us: number) => `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19)}${`.${String(us % 1_000_000).padStart(6, '0')}`.replace(/\.?0+$/, '')}Z`
/** A frame `timestamp`: nanosecond digits, as Coinbase prints them. */
const isoNanos = (ms: number, n: number) => `${new Date(ms).toISOString().slice(0, 19)}.${String(ms % 1000).padStart(3, '0')}${String(n % 1_000_000).padStart(6, '0')}Z`

/** A generated aggTrade as one Coinbase trade: µs time from the ms time and the id, maker side from `m`. */
function fromAgg(a: AggTrade): CoinbaseTrade {
  return { trade_id: a.a, price: a.p, size: a.q, time: isoMicros(a.T * 1000 + ((a.a * 7919) % 1000)), side: a.m ? 'buy' : 'sell', T: a.T }
}

/** The trade as the Advanced Trade `market_trades` channel prints it. */
const wsTrade = (product: string, t: CoinbaseTrade) => ({ product_id: product, trade_id: String(t.trade_id), price: trim(t.price), size: trim(t.size), time: t.time, side: t.side.toUpperCase() })
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

/**
 * Starts the fake Coinbase on one port (REST and WebSocket).
 * @example const cb = await startFakeCoinbase({ symbols: ['BTC-USD'] }); await fetch(`${cb.restUrl}/products/BTC-USD/trades?limit=5`)
 */
export async function startFakeCoinbase(options: FakeCoinbaseOptions = {}): Promise<FakeCoinbase> {
  const o = { ...defaults, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof defaults
  const now = options.now ?? Date.now
  const start = now()
  const faults: CoinbaseFaults = { ...noCoinbaseFaults, ...options.faults }
  const chance = prng(o.seed + 104_729)
  let nanos = 0

  interface Book { symbol: string; gen: ReturnType<typeof generator>; agg: AggTrade[]; trades: CoinbaseTrade[]; open: number; lo: number; hi: number; vol: number; play?: (until: number) => CoinbaseTrade[] }
  /** Generates (or plays) a product's trades up to `until` (minus the `idGap` share, which never existed), trims past the cap, returns the new ones. */
  function advance(b: Book, until: number) {
    b.agg.length = 0
    if (!b.play) b.gen(until, b.agg)
    const fresh = b.play ? b.play(until) : b.agg.filter(() => !(faults.idGap > 0 && chance() < faults.idGap)).map(fromAgg)
    for (const t of fresh) {
      b.trades.push(t)
      const p = Number(t.price)
      b.open ||= p
      b.lo = Math.min(b.lo, p)
      b.hi = Math.max(b.hi, p)
      b.vol += Number(t.size)
    }
    if (b.trades.length > o.maxTrades) b.trades.splice(0, b.trades.length - o.maxTrades + Math.floor(o.maxTrades / 16))
    return fresh
  }
  const replay = options.replay
  let replayStart = 0
  /** The capture time (µs) the replay clock starts from: the first recorded trade of any product. */
  const t0 = replay ? Math.min(...[...replay.trades.values()].map((l) => l[0]?.us ?? Infinity)) : 0
  /** Plays one product's recorded trades on the replay clock. */
  function player(product: string) {
    const list = replay!.trades.get(product) ?? []
    let i = 0
    return (until: number) => {
      const out: CoinbaseTrade[] = []
      if (!replayStart) return out
      const capUs = replay!.speed === 'max' ? Infinity : t0 + (until - replayStart) * 1000 * replay!.speed
      for (; i < list.length && list[i].us <= capUs; i++) { const r = list[i]; out.push({ trade_id: r.trade_id, price: r.price, size: r.size, time: r.time, side: r.side, T: Math.floor(r.us / 1000) }) }
      return out
    }
  }
  if (replay) o.symbols = [...replay.trades.keys()]
  const books = new Map<string, Book>(o.symbols.map((s) => {
    const from = resumeStart(options.resume?.[s], start, o.historyMs)
    const b: Book = { symbol: s, gen: generator(s, o.seed, from, o.ratePerSec, true, options.resume?.[s]), agg: [], trades: [], open: 0, lo: Infinity, hi: 0, vol: 0 }
    if (replay) b.play = player(s)
    else for (let t = from; t < start; t += 3_600_000) advance(b, Math.min(t + 3_600_000, start))
    return [s, b]
  }))

  /** A `ticker` entry: 24 h figures over what the exchange generated, best bid/ask one tick either side of the last price. */
  function ticker(b: Book) {
    const last = b.trades[b.trades.length - 1]
    const m = marketOf(b.symbol)
    const tick = Number(m.tickSize)
    const p = Number(last?.price ?? m.price)
    const fix = (v: number) => trim(v.toFixed(m.priceDecimals))
    const qty = () => trim((0.001 + chance() * 2).toFixed(8))
    return {
      type: 'ticker', product_id: b.symbol, price: fix(p), volume_24_h: trim(b.vol.toFixed(8)), low_24_h: fix(b.lo === Infinity ? p : b.lo), high_24_h: fix(b.hi || p),
      low_52_w: fix((b.lo === Infinity ? p : b.lo) * 0.8), high_52_w: fix((b.hi || p) * 1.5), price_percent_chg_24_h: String(b.open ? ((p - b.open) / b.open) * 100 : 0),
      best_bid: fix(p - tick), best_ask: fix(p + tick), best_bid_quantity: qty(), best_ask_quantity: qty(),
    }
  }

  /** One connection: its next sequence number and what it subscribed to. */
  interface Conn { seq: number; subs: Map<string, Set<string>>; heartbeats: boolean; counter: number; subscribed: boolean }
  const conns = new Map<WebSocket, Conn>()

  /** Frames for one connection, numbered in order, with the stream faults applied. */
  function send(ws: WebSocket, c: Conn, frames: { channel: string; events: unknown[] }[]) {
    if (ws.readyState !== WebSocket.OPEN || now() < faults.stallUntil) return
    const out: string[] = []
    for (const f of frames) {
      if (faults.seqGap && chance() < faults.seqGap) c.seq++
      const text = JSON.stringify({ channel: f.channel, timestamp: isoNanos(now(), ++nanos * 7_919), sequence_num: c.seq++, events: f.events })
      if (faults.drop && chance() < faults.drop) continue
      out.push(text)
      if (faults.duplicate && chance() < faults.duplicate) out.push(text)
      if (out.length > 1 && faults.reorder && chance() < faults.reorder) out.push(out.splice(out.length - 2, 1)[0])
    }
    for (const text of out) ws.send(text)
  }

  /** The `subscriptions` frame: every channel of the connection and its products. */
  const subscriptions = (c: Conn) => ({ channel: 'subscriptions', events: [{ subscriptions: Object.fromEntries([...[...c.subs].filter(([, p]) => p.size).map(([ch, p]) => [ch, [...p]]), ...(c.heartbeats ? [['heartbeats', ['heartbeats']]] : [])]) }] })

  function onMessage(ws: WebSocket, c: Conn, text: string) {
    let msg: any
    try { msg = JSON.parse(text) } catch { return ws.send(JSON.stringify({ type: 'error', message: 'Malformed JSON' })) }
    const type = msg?.type
    const channel = msg?.channel
    if (type !== 'subscribe' && type !== 'unsubscribe') return ws.send(JSON.stringify({ type: 'error', message: `Unknown message type: ${String(type)}` }))
    if (typeof channel !== 'string' || !CHANNELS.has(channel)) return ws.send(JSON.stringify({ type: 'error', message: 'Failed to subscribe', reason: `channel ${String(channel)} is not supported` }))
    const products: unknown = msg.product_ids ?? []
    if (!Array.isArray(products) || (channel !== 'heartbeats' && (!products.length || !products.every((p) => typeof p === 'string' && books.has(p))))) {
      return ws.send(JSON.stringify({ type: 'error', message: 'Failed to subscribe', reason: 'product_ids must name listed products' }))
    }
    c.subscribed = true
    if (channel === 'market_trades' && type === 'subscribe') replayStart ||= now()
    if (channel === 'heartbeats') { c.heartbeats = type === 'subscribe'; return send(ws, c, [subscriptions(c)]) }
    const set = c.subs.get(channel) ?? new Set<string>()
    c.subs.set(channel, set)
    const frames: { channel: string; events: unknown[] }[] = []
    for (const p of products as string[]) {
      if (type === 'unsubscribe') { set.delete(p); continue }
      if (set.has(p)) continue
      set.add(p)
      const b = books.get(p)!
      if (channel === 'market_trades') frames.push({ channel, events: [{ type: 'snapshot', trades: b.trades.slice(-o.snapshotTrades).reverse().map((t) => wsTrade(p, t)) }] })
      else if (!replay) frames.push({ channel, events: [{ type: 'snapshot', tickers: [ticker(b)] }] })
    }
    send(ws, c, [...frames, subscriptions(c)])
  }

  /** Generates trades up to now and pushes `market_trades` and `ticker` updates to each subscriber. */
  function tick() {
    const fresh = new Map<string, CoinbaseTrade[]>()
    for (const [p, b] of books) { const f = advance(b, now()); if (f.length) fresh.set(p, f) }
    if (!fresh.size) return
    if (legacy.size) legacyTick(fresh)
    for (const [ws, c] of conns) {
      const frames: { channel: string; events: unknown[] }[] = []
      for (const [p, f] of fresh) {
        if (c.subs.get('market_trades')?.has(p)) {
          for (let i = 0; i < f.length; i += o.frameTrades) frames.push({ channel: 'market_trades', events: [{ type: 'update', trades: f.slice(i, i + o.frameTrades).reverse().map((t) => wsTrade(p, t)) }] })
        }
        if (c.subs.get('ticker')?.has(p) && !replay) frames.push({ channel: 'ticker', events: [{ type: 'update', tickers: [ticker(books.get(p)!)] }] })
      }
      if (frames.length) send(ws, c, frames)
    }
  }
  const ticker_ = setInterval(tick, o.tickMs)
  const heart = setInterval(() => {
    const t = now()
    for (const [ws, c] of conns) {
      if (!c.heartbeats) continue
      const at = new Date(t).toISOString().replace('T', ' ').replace('Z', '')
      send(ws, c, [{ channel: 'heartbeats', events: [{ current_time: `${at}000000 +0000 UTC m=+${((t - start) / 1000).toFixed(9)}`, heartbeat_counter: ++c.counter }] }])
    }
  }, o.heartbeatMs)

  // The legacy Exchange ws-feed: one subscribe with `channels`, per-product `sequence` counting order events.
  interface Legacy { products: Set<string>; heartbeat: Set<string> }
  const legacy = new Map<WebSocket, Legacy>()
  const orderSeq = new Map(o.symbols.map((s, i) => [s, 3_000_000_000 + i * 1_000_000_000]))
  const uuid = () => [8, 4, 4, 4, 12].map((n) => Array.from({ length: n }, () => Math.floor(chance() * 16).toString(16)).join('')).join('-')
  /** A `match` (or `last_match`) frame, keyed as the recording's. */
  function matchFrame(type: string, p: string, t: CoinbaseTrade) {
    const seq = orderSeq.get(p)! + 1 + Math.floor(chance() * 4) // order events between matches: jumps without any loss
    orderSeq.set(p, seq)
    return JSON.stringify({ type, trade_id: t.trade_id, maker_order_id: uuid(), taker_order_id: uuid(), side: t.side, size: trim(t.size), price: trim(t.price), product_id: p, sequence: seq, time: t.time })
  }
  /** Frames with the stream faults applied (dropped, doubled, swapped), unless stalled. */
  function faulty(frames: string[]) {
    if (now() < faults.stallUntil) return []
    const out: string[] = []
    for (const f of frames) {
      if (faults.drop && chance() < faults.drop) continue
      out.push(f)
      if (faults.duplicate && chance() < faults.duplicate) out.push(f)
      if (out.length > 1 && faults.reorder && chance() < faults.reorder) out.push(out.splice(out.length - 2, 1)[0])
    }
    return out
  }
  function onLegacy(ws: WebSocket, l: Legacy, text: string) {
    let msg: any
    try { msg = JSON.parse(text) } catch { return ws.send(JSON.stringify({ type: 'error', message: 'Failed to subscribe', reason: 'malformed JSON' })) }
    const products: unknown = msg?.product_ids
    const channels: unknown = msg?.channels
    if (msg?.type !== 'subscribe' || !Array.isArray(products) || !products.every((p) => books.has(p)) || !Array.isArray(channels) || !channels.every((c) => c === 'matches' || c === 'heartbeat')) {
      return ws.send(JSON.stringify({ type: 'error', message: 'Failed to subscribe', reason: 'subscribe to matches and heartbeat of listed products' }))
    }
    const frames: string[] = []
    if (channels.includes('matches')) replayStart ||= now()
    for (const p of products as string[]) {
      if (channels.includes('heartbeat')) l.heartbeat.add(p)
      if (!channels.includes('matches') || l.products.has(p)) continue
      l.products.add(p)
      const last = books.get(p)!.trades.at(-1)
      if (last) frames.push(matchFrame('last_match', p, last))
    }
    const names = (name: string, set: Set<string>) => (set.size ? [{ name, product_ids: [...set] }] : [])
    ws.send(JSON.stringify({ type: 'subscriptions', channels: [...names('matches', l.products), ...names('heartbeat', l.heartbeat)] }))
    for (const f of faulty(frames)) ws.send(f)
  }
  function legacyTick(fresh: Map<string, CoinbaseTrade[]>) {
    for (const [ws, l] of legacy) {
      const frames = [...fresh].filter(([p]) => l.products.has(p)).flatMap(([p, f]) => f.map((t) => matchFrame('match', p, t)))
      if (ws.readyState === WebSocket.OPEN) for (const f of faulty(frames)) ws.send(f)
    }
  }
  const legacyHeart = setInterval(() => {
    for (const [ws, l] of legacy) {
      const frames = [...l.heartbeat].map((p) => JSON.stringify({ type: 'heartbeat', last_trade_id: books.get(p)!.trades.at(-1)?.trade_id ?? 0, product_id: p, sequence: orderSeq.get(p), time: isoMicros(now() * 1000) }))
      if (ws.readyState === WebSocket.OPEN) for (const f of faulty(frames)) ws.send(f)
    }
  }, o.heartbeatMs)

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
      tick()
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

  const wss = new WebSocketServer({ noServer: true })
  const server = createServer(rest)
  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (path === '/ws-feed') {
      return wss.handleUpgrade(req, socket, head, (ws) => {
        const l: Legacy = { products: new Set(), heartbeat: new Set() }
        legacy.set(ws, l)
        const deadline = setTimeout(() => { if (!l.products.size && !l.heartbeat.size) ws.close(1000, 'subscribe within 5 seconds') }, o.subscribeTimeoutMs)
        ws.on('message', (data) => onLegacy(ws, l, data.toString()))
        ws.on('close', () => { clearTimeout(deadline); legacy.delete(ws) })
      })
    }
    if (path !== '/') { socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'); return }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const c: Conn = { seq: 0, subs: new Map(), heartbeats: false, counter: Math.floor(chance() * 50_000), subscribed: false }
      conns.set(ws, c)
      const deadline = setTimeout(() => { if (!c.subscribed) ws.close(1000, 'subscribe within 5 seconds') }, o.subscribeTimeoutMs)
      ws.on('message', (data) => onMessage(ws, c, data.toString()))
      ws.on('close', () => { clearTimeout(deadline); conns.delete(ws) })
    })
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(o.port, o.host, () => resolve()) })
  const port = (server.address() as AddressInfo).port
  return {
    restUrl: `http://${o.host}:${port}`,
    wsUrl: `ws://${o.host}:${port}`,
    port,
    symbols: [...o.symbols],
    trades: (symbol) => books.get(symbol)?.trades ?? [],
    replayDone: () => !!replay && [...books].every(([p, b]) => b.trades.length === (replay.trades.get(p)?.length ?? 0)),
    setFaults(f) { Object.assign(faults, f) },
    dropConnections() { for (const ws of [...conns.keys(), ...legacy.keys()]) ws.terminate() },
    async close() {
      clearInterval(ticker_)
      clearInterval(heart)
      clearInterval(legacyHeart)
      for (const ws of [...conns.keys(), ...legacy.keys()]) ws.terminate()
      await new Promise((r) => wss.close(r))
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}
