/**
 * The realtime protocol of the WebSocket API (DESIGN.md section 7), shared by the server handlers,
 * the live fan-out and the page: channel names, client and server messages, and the validation of
 * what a client sends. Browser-safe: no Node imports here. The server side (connect, disconnect,
 * client frames, broadcast) is `./server.ts`; the live path's candles, ticker and stats `./live.ts`.
 */
import type { Candle, Timeframe, Trade } from '../../market/index'
import { TIMEFRAMES, isSymbol } from '../../market/index'

export const defaults = {
  /** Largest client frame accepted, in bytes. */
  maxFrameBytes: 32 * 1024,
  /** Most channels one connection may hold. */
  maxSubscriptions: 50,
  /**
   * Abuse limits the handlers enforce themselves (in AWS no gateway does it per connection): in any
   * `abuseWindowMs`, frames beyond `maxFrames` are refused (`rate_limited`), and a connection whose
   * refused frames pass `maxStrikes` is closed. Looser than the local gateway's own limits.
   */
  abuseWindowMs: 10_000,
  maxFrames: 300,
  maxStrikes: 50,
}

export type ChannelKind = 'candles' | 'trades' | 'ticker' | 'stats'
export interface Channel { kind: ChannelKind; exchange: string; symbol: string; tf?: Timeframe }

/** A channel of a subscribe or unsubscribe that was refused, and why. */
export interface RejectedChannel { channel: string; message: string }

/**
 * Client to server. `rejected` lists the channels of a subscribe or unsubscribe that are not
 * valid (the others are taken): a message naming one bad channel among good ones is not refused whole.
 */
export type ClientMessage =
  | { action: 'subscribe'; channels: string[]; rejected?: RejectedChannel[] }
  | { action: 'unsubscribe'; channels: string[]; rejected?: RejectedChannel[] }
  | { action: 'ping' }

/**
 * A trade as the live path sends it: times in epoch ms for the browser. `ingest_time` is when
 * Ticklake received it (the trade's `ingest_ts` in ms): live latency is measured from it.
 */
export interface LiveTrade { id: number; time: number; price: number; qty: number; side: Trade['side']; ingest_time?: number }

/** Last price of a symbol, with best bid/ask when quotes are streamed. Times in epoch ms. */
export interface Ticker {
  exchange: string
  symbol: string
  /** Exchange time of the last trade. */
  time: number
  price: number
  bid?: number
  bid_qty?: number
  ask?: number
  ask_qty?: number
  /** Open of the current UTC day as far as this live path has seen it, and the change from it in %. */
  day_open?: number
  day_change_pct?: number
}

/** Live activity of a symbol, as the ingest function sees it. Times in epoch ms. */
export interface Stats {
  exchange: string
  symbol: string
  time: number
  /** Trades (individual ones) per second over the last `window_ms`. */
  trades_per_s: number
  window_ms: number
  /** Base volume and trades in the current UTC minute and hour (from this run's trades). */
  minute_volume: number
  minute_trades: number
  hour_volume: number
  hour_trades: number
  /** Receipt minus exchange time of the last trade: how far the feed runs behind. */
  ingest_lag_ms: number
}

/**
 * Server to client. A `snapshot` always carries `candles` (empty outside candle channels) and,
 * on the other channels, `trades`, `ticker` or `stats` (`null` while none is known).
 */
export type ServerMessage =
  | { type: 'snapshot'; channel: string; candles: Candle[]; trades?: LiveTrade[]; ticker?: Ticker | null; stats?: Stats | null }
  | { type: 'candle'; channel: string; candle: Candle; final: boolean }
  | { type: 'trade'; channel: string; trades: LiveTrade[] }
  | { type: 'ticker'; channel: string; ticker: Ticker }
  | { type: 'stats'; channel: string; stats: Stats }
  | { type: 'subscribed'; channels: string[] }
  | { type: 'unsubscribed'; channels: string[] }
  | { type: 'pong'; time: number }
  | { type: 'error'; code: ErrorCode; message: string; channels?: string[] }

/** `rate_limited` comes from the gateway (a flood of frames); the rest from the protocol. */
export type ErrorCode = 'bad_json' | 'bad_message' | 'unknown_action' | 'bad_channel' | 'too_large' | 'too_many_subscriptions' | 'rate_limited' | 'closing' | 'internal'

export class ProtocolError extends Error {
  constructor(readonly code: ErrorCode, message: string) { super(message) }
}

/** `candleChannel('binance', 'BTC-USDT', '1m') === 'candles:binance:BTC-USDT:1m'` */
export const candleChannel = (exchange: string, symbol: string, tf: Timeframe) => `candles:${exchange}:${symbol}:${tf}`
/** `tradeChannel('binance', 'BTC-USDT') === 'trades:binance:BTC-USDT'` */
export const tradeChannel = (exchange: string, symbol: string) => `trades:${exchange}:${symbol}`
/** `tickerChannel('binance', 'BTC-USDT') === 'ticker:binance:BTC-USDT'` */
export const tickerChannel = (exchange: string, symbol: string) => `ticker:${exchange}:${symbol}`
/** `statsChannel('binance', 'BTC-USDT') === 'stats:binance:BTC-USDT'` */
export const statsChannel = (exchange: string, symbol: string) => `stats:${exchange}:${symbol}`

const EXCHANGE = /^[a-z][a-z0-9-]{0,30}$/

/** Is this message a partial (not final) update, which may be coalesced? */
export const isPartial = (m: ServerMessage) => m.type === 'candle' ? !m.final : m.type === 'trade' || m.type === 'ticker' || m.type === 'stats'

/** Parses a channel name, or throws a ProtocolError saying what is wrong with it. */
export function parseChannel(name: unknown): Channel {
  if (typeof name !== 'string' || name.length > 100) throw new ProtocolError('bad_channel', 'a channel is a string of at most 100 characters')
  const [kind, exchange, symbol, tf, ...rest] = name.split(':')
  const known = kind === 'candles' || kind === 'trades' || kind === 'ticker' || kind === 'stats'
  if (!known) throw new ProtocolError('bad_channel', `unknown channel kind in "${name}": use candles, trades, ticker or stats`)
  if (!EXCHANGE.test(exchange ?? '') || !isSymbol(symbol)) throw new ProtocolError('bad_channel', `"${name}" is not <kind>:<exchange>:<BASE-QUOTE>`)
  if (rest.length) throw new ProtocolError('bad_channel', `"${name}" has too many parts`)
  if (kind === 'candles') {
    // own keys only: `constructor`, `toString` or `__proto__` are no timeframe
    if (!tf || !Object.hasOwn(TIMEFRAMES, tf)) throw new ProtocolError('bad_channel', `"${name}" needs a timeframe: ${Object.keys(TIMEFRAMES).join(', ')}`)
    return { kind, exchange, symbol, tf: tf as Timeframe }
  }
  if (tf !== undefined) throw new ProtocolError('bad_channel', `"${name}" takes no timeframe`)
  return { kind, exchange, symbol }
}

/** A refused channel as the error frame names it: the string itself, or the JSON of anything else, at most 100 characters. */
const nameOf = (c: unknown) => (typeof c === 'string' ? c : String(JSON.stringify(c))).slice(0, 100)

/**
 * Parses and validates one client frame; throws a ProtocolError with a code on anything wrong. A
 * subscribe or unsubscribe with some bad channels among good ones keeps the good ones and lists the
 * bad ones in `rejected`; only when none is good is it refused whole (`bad_channel`).
 */
export function parseClientMessage(raw: string | Uint8Array, limits = defaults): ClientMessage {
  const size = typeof raw === 'string' ? new TextEncoder().encode(raw).length : raw.length
  if (size > limits.maxFrameBytes) throw new ProtocolError('too_large', `frame of ${size} bytes is over the ${limits.maxFrameBytes} byte limit`)
  let msg: any
  try { msg = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw)) } catch { throw new ProtocolError('bad_json', 'frame is not valid JSON') }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg)) throw new ProtocolError('bad_message', 'a message is a JSON object with an "action"')
  if (msg.action === 'ping') return { action: 'ping' }
  if (msg.action === 'subscribe' || msg.action === 'unsubscribe') {
    if (!Array.isArray(msg.channels) || msg.channels.length === 0) throw new ProtocolError('bad_message', `"${msg.action}" needs a non-empty "channels" array`)
    if (msg.channels.length > limits.maxSubscriptions) throw new ProtocolError('too_many_subscriptions', `at most ${limits.maxSubscriptions} channels per connection`)
    const good = new Set<string>()
    const rejected: RejectedChannel[] = []
    let first: ProtocolError | undefined
    for (const c of msg.channels) {
      try { parseChannel(c); good.add(c) } catch (e) {
        const err = e instanceof ProtocolError ? e : new ProtocolError('bad_channel', 'a channel is a string of at most 100 characters')
        first ??= err
        rejected.push({ channel: nameOf(c), message: err.message })
      }
    }
    if (!good.size) throw first!
    return { action: msg.action, channels: [...good], ...(rejected.length ? { rejected } : {}) }
  }
  // never String() of what the client sent: `{"action":{"toString":1}}` would throw
  const action = typeof msg.action === 'string' ? JSON.stringify(msg.action) : String(JSON.stringify(msg.action))
  throw new ProtocolError('unknown_action', `unknown action ${action.slice(0, 60)}: use subscribe, unsubscribe or ping`)
}
