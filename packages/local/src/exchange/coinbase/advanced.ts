/**
 * The fake Coinbase's Advanced Trade market-data WebSocket: one `subscribe` message per channel
 * (`market_trades`, `ticker`, `heartbeats`; none within 5 s closes the connection),
 * `market_trades` snapshots of the last 100 trades then `update` events, `ticker` snapshots and
 * updates with best bid/ask (none in replay mode), a heartbeat each second, and a `sequence_num`
 * counting every frame of the connection from 0, through the stream faults (`seqGap` included).
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer } from 'ws'
import type { CoinbaseFaults } from '../faults'
import { trim, type Book, type CoinbaseTrade } from './book'

const CHANNELS = new Set(['market_trades', 'ticker', 'heartbeats'])
/** A frame `timestamp`: nanosecond digits, as Coinbase prints them. */
const isoNanos = (ms: number, n: number) => `${new Date(ms).toISOString().slice(0, 19)}.${String(ms % 1000).padStart(3, '0')}${String(n % 1_000_000).padStart(6, '0')}Z`

/** The trade as the Advanced Trade `market_trades` channel prints it. */
const wsTrade = (product: string, t: CoinbaseTrade) => ({ product_id: product, trade_id: String(t.trade_id), price: trim(t.price), size: trim(t.size), time: t.time, side: t.side.toUpperCase() })
export interface AdvancedOptions {
  books: Map<string, Book>
  /** A product's `ticker` entry. */
  ticker: (b: Book) => object
  /** Replay mode: no ticker frames (none were recorded). */
  replay: boolean
  snapshotTrades: number
  frameTrades: number
  subscribeTimeoutMs: number
  /** When the exchange started (ms): heartbeats count from it. */
  start: number
  /** The faults in force and the fake's seeded draw. */
  faults: CoinbaseFaults
  chance: () => number
  now: () => number
  /** Called at each `market_trades` subscription (a replay's clock starts with the first). */
  onTradeSubscription: () => void
}

/**
 * The Advanced Trade side of the fake Coinbase: `accept` takes a connection, `tick` pushes new
 * trades, `heartbeat` sends each subscriber its heartbeat.
 * @example const at = advancedTrade(o); at.accept(wss, req, socket, head); setInterval(at.heartbeat, 1_000)
 */
export function advancedTrade(o: AdvancedOptions) {
  // Long by design: the fake's subscribers live in this closure; its parts are the small named functions inside.
  const { books, ticker, faults, chance, now } = o
  let nanos = 0
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
    if (channel === 'market_trades' && type === 'subscribe') o.onTradeSubscription()
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
      else if (!o.replay) frames.push({ channel, events: [{ type: 'snapshot', tickers: [ticker(b)] }] })
    }
    send(ws, c, [...frames, subscriptions(c)])
  }

  /** Pushes `market_trades` and `ticker` updates of the new trades to each subscriber. */
  function tick(fresh: Map<string, CoinbaseTrade[]>) {
    for (const [ws, c] of conns) {
      const frames: { channel: string; events: unknown[] }[] = []
      for (const [p, f] of fresh) {
        if (c.subs.get('market_trades')?.has(p)) {
          for (let i = 0; i < f.length; i += o.frameTrades) frames.push({ channel: 'market_trades', events: [{ type: 'update', trades: f.slice(i, i + o.frameTrades).reverse().map((t) => wsTrade(p, t)) }] })
        }
        if (c.subs.get('ticker')?.has(p) && !o.replay) frames.push({ channel: 'ticker', events: [{ type: 'update', tickers: [ticker(books.get(p)!)] }] })
      }
      if (frames.length) send(ws, c, frames)
    }
  }

  /** Sends each connection subscribed to `heartbeats` its next heartbeat. */
  function heartbeat() {
    const t = now()
    for (const [ws, c] of conns) {
      if (!c.heartbeats) continue
      const at = new Date(t).toISOString().replace('T', ' ').replace('Z', '')
      send(ws, c, [{ channel: 'heartbeats', events: [{ current_time: `${at}000000 +0000 UTC m=+${((t - o.start) / 1000).toFixed(9)}`, heartbeat_counter: ++c.counter }] }])
    }
  }

  /** Takes a connection on `/`: closed unless it subscribes within `subscribeTimeoutMs`. */
  function accept(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer) {
    wss.handleUpgrade(req, socket, head, (ws) => {
      const c: Conn = { seq: 0, subs: new Map(), heartbeats: false, counter: Math.floor(chance() * 50_000), subscribed: false }
      conns.set(ws, c)
      const deadline = setTimeout(() => { if (!c.subscribed) ws.close(1000, 'subscribe within 5 seconds') }, o.subscribeTimeoutMs)
      ws.on('message', (data) => onMessage(ws, c, data.toString()))
      ws.on('close', () => { clearTimeout(deadline); conns.delete(ws) })
    })
  }

  return { tick, heartbeat, accept, sockets: () => [...conns.keys()] }
}
