/**
 * Captures of raw exchange traffic: reads the cryptofeed recording formats (legacy `*.0` lines
 * `<recv_ts>: <json>` / `<url> -> <recv_ts>: <json>`, and `*.jsonl.zst`) and ticklake's own
 * captures into one shape of message, tells which exchange a capture comes from, and picks out its
 * trades (Binance aggTrades, Coinbase `market_trades` and `match` trades) for parser tests and for
 * replay through the real ingest path.
 */
import { decompress } from 'fzstd'
import { isoToMicros, tradeProblem } from '../coinbase/index'

export interface CapturedMessage {
  kind: 'ws' | 'http' | 'connect' | 'config' | 'send' | 'header'
  /** Receive time, epoch seconds (fractional). */
  recvTs?: number
  /** For http: the URL fetched; for connect: the WebSocket URL. */
  url?: string
  data: string
}

/** One line of ticklake's own capture format (the same as cryptofeed's JSON lines): a frame received, a connection opened (data: its URL) or a message sent. */
export const captureLine = (kind: 'recv' | 'connect' | 'send', recvMs: number, data: string) => JSON.stringify({ t: kind, ts: recvMs / 1000, data }) + '\n'

/** The header line a capture opens with: the exchange and the symbols recorded (cryptofeed writes the same keys). */
export const captureHeader = (exchange: string, symbols: string[], recvMs: number) => JSON.stringify({ t: 'header', format: 2, exchange: exchange.toUpperCase(), config: { trades: symbols }, recorded: recvMs / 1000 }) + '\n'

/**
 * The exchange a capture was recorded from: its header's `exchange`, else its connection (or REST) URL, else
 * the shape of its frames (Coinbase `market_trades`/`match`, Binance `aggTrade`); undefined when
 * nothing tells.
 */
export function captureExchange(messages: CapturedMessage[]): 'binance' | 'coinbase' | undefined {
  const named = (s: string | undefined) => (/coinbase/i.test(s ?? '') ? 'coinbase' : /binance/i.test(s ?? '') ? 'binance' : undefined)
  for (const m of messages) {
    if (m.kind !== 'header') continue
    try { const x = named(JSON.parse(m.data).exchange); if (x) return x } catch { /* not JSON */ }
  }
  for (const m of messages) { const x = m.kind === 'connect' || m.kind === 'http' ? named(m.url) : undefined; if (x) return x }
  for (const m of messages) {
    if (m.kind !== 'ws') continue
    if (/"channel":\s*"market_trades"|"type":\s*"(last_)?match"/.test(m.data)) return 'coinbase'
    if (m.data.includes('"aggTrade"')) return 'binance'
  }
  return undefined
}

/**
 * The venue a capture was recorded from, so its trades keep their own partition: `binance-us`,
 * `binance-futures` (USD-M) and `binance-delivery` (COIN-M) told from the header's exchange name
 * (cryptofeed's `BINANCE_US`, `BINANCE_FUTURES`, `BINANCE_DELIVERY`) or a recorded URL's host
 * (`binance.us`, `fstream.`/`fapi.`, `dstream.`/`dapi.`); otherwise `captureExchange`'s answer.
 * @example captureVenue(parseCapture(bytes)) // 'binance-us'
 */
export function captureVenue(messages: CapturedMessage[]): 'binance' | 'binance-us' | 'binance-futures' | 'binance-delivery' | 'coinbase' | undefined {
  const exchange = captureExchange(messages)
  if (exchange !== 'binance') return exchange
  const byName = (s: string) => (/^binance[_-]us$/i.test(s) ? 'binance-us' : /^binance[_-]futures$/i.test(s) ? 'binance-futures' : /^binance[_-]delivery$/i.test(s) ? 'binance-delivery' : undefined)
  const byUrl = (u: string) => (/\.binance\.us\b/i.test(u) ? 'binance-us' : /\/\/(fstream|fapi)\.binance\./i.test(u) ? 'binance-futures' : /\/\/(dstream|dapi)\.binance\./i.test(u) ? 'binance-delivery' : undefined)
  for (const m of messages) {
    if (m.kind !== 'header') continue
    try { const x = byName(String(JSON.parse(m.data).exchange ?? '')); if (x) return x } catch { /* not JSON */ }
  }
  for (const m of messages) { const x = (m.kind === 'connect' || m.kind === 'http') && m.url ? byUrl(m.url) : undefined; if (x) return x }
  return 'binance'
}

/** A Coinbase trade as recorded: id, price and size as printed, time, and the MAKER side Coinbase prints (lower case). */
export interface CapturedCoinbaseTrade { trade_id: number; price: string; size: string; time: string; side: 'buy' | 'sell'; /** epoch µs of `time` */ us: number }

/**
 * The Coinbase trades of a capture per product id, each id once and in id order: Advanced Trade
 * `market_trades` (snapshots and updates) and legacy ws-feed `match`/`last_match` frames. The
 * recorded ids, prices and sizes are kept as printed; trades that fail Coinbase's shape are
 * counted in `rejected`, never replayed.
 */
export function coinbaseTradesOfCapture(messages: CapturedMessage[]) {
  const byProduct = new Map<string, Map<number, CapturedCoinbaseTrade>>()
  let rejected = 0
  const add = (t: any) => {
    if (tradeProblem(t)) { rejected++; return }
    const trades = byProduct.get(t.product_id) ?? new Map()
    byProduct.set(t.product_id, trades)
    const id = Number(t.trade_id)
    trades.set(id, { trade_id: id, price: t.price, size: t.size, time: t.time, side: t.side.toLowerCase(), us: isoToMicros(t.time)! })
  }
  for (const m of messages) {
    if (m.kind !== 'ws' || !/market_trades|match/.test(m.data)) continue
    let msg: any
    try { msg = JSON.parse(m.data) } catch { continue }
    if (msg?.channel === 'market_trades' && Array.isArray(msg.events)) {
      for (const ev of msg.events) if ((ev?.type === 'snapshot' || ev?.type === 'update') && Array.isArray(ev.trades)) for (const t of ev.trades) add(t)
    } else if (msg?.type === 'match' || msg?.type === 'last_match') add(msg)
  }
  return { rejected, trades: new Map([...byProduct].map(([p, m]) => [p, [...m.values()].sort((x, y) => x.trade_id - y.trade_id)])) }
}

/** A Binance aggTrade as it travels over REST (stream frames add e, E, s). */
export interface CapturedAggTrade { a: number; p: string; q: string; f: number; l: number; T: number; m: boolean; M: boolean }

/**
 * The Binance aggTrades of a capture, per native symbol, each id once and in id order, with the
 * normalized symbols its `configuration:` line names (when it has one).
 */
export function aggTradesOfCapture(messages: CapturedMessage[]) {
  const bySymbol = new Map<string, Map<number, CapturedAggTrade>>()
  const configured: string[] = []
  for (const m of messages) {
    if (m.kind === 'config') { try { configured.push(...(JSON.parse(m.data).trades ?? [])) } catch { /* not a cryptofeed config */ } continue }
    if (m.kind !== 'ws' || !m.data.includes('aggTrade')) continue
    let msg: any
    try { msg = JSON.parse(m.data) } catch { continue }
    const d = msg?.data ?? msg
    if (d?.e !== 'aggTrade' || typeof d.s !== 'string') continue
    const trades = bySymbol.get(d.s) ?? new Map()
    bySymbol.set(d.s, trades)
    trades.set(d.a, { a: d.a, p: d.p, q: d.q, f: d.f, l: d.l, T: d.T, m: d.m, M: d.M ?? true })
  }
  return { configured, trades: new Map([...bySymbol].map(([s, m]) => [s, [...m.values()].sort((x, y) => x.a - y.a)])) }
}

/** Parses one line of a legacy cryptofeed `.0` file. */
export function parseLegacyLine(line: string): CapturedMessage | undefined {
  if (!line.trim()) return undefined
  if (line.startsWith('configuration: ')) return { kind: 'config', data: line.slice(15) }
  const ws = /^(\d+(?:\.\d+)?): (.*)$/s.exec(line)
  if (ws) return { kind: 'ws', recvTs: Number(ws[1]), data: ws[2] }
  const http = /^(\S+) -> (\d+(?:\.\d+)?): (.*)$/s.exec(line)
  if (http) return { kind: 'http', url: http[1], recvTs: Number(http[2]), data: http[3] }
  const conn = /^(\S+) <-> (\d+(?:\.\d+)?)$/.exec(line)
  if (conn) return { kind: 'connect', url: conn[1], recvTs: Number(conn[2]), data: '' }
  const sent = /^(\S+) <- (\d+(?:\.\d+)?): (.*)$/s.exec(line)
  if (sent) return { kind: 'send', url: sent[1], recvTs: Number(sent[2]), data: sent[3] }
  return undefined
}

const KINDS = new Set<unknown>(['ws', 'http', 'connect', 'config', 'send', 'header'])

/**
 * Every message of a capture file's bytes: cryptofeed's legacy lines, or JSON lines
 * (`{"t":"recv","ts":…,"data":"…"}`, cryptofeed's format and ticklake's own), plain or zstd.
 */
export function parseCapture(bytes: Uint8Array): CapturedMessage[] {
  const zstd = bytes[0] === 0x28 && bytes[1] === 0xb5 && bytes[2] === 0x2f && bytes[3] === 0xfd
  const text = new TextDecoder().decode(zstd ? decompress(bytes) : bytes)
  const jsonl = zstd || /^\s*\{/.test(text)
  const out: CapturedMessage[] = []
  for (const line of text.split('\n')) {
    if (jsonl) {
      if (!line.trim()) continue
      let o: any
      try { o = JSON.parse(line) } catch { continue } // a line cut by a crash while recording
      if (!o || typeof o !== 'object' || Array.isArray(o)) continue // not a capture line (null, a number, a list)
      if (o.t === 'header') { out.push({ kind: 'header', recvTs: o.recorded, data: line }); if (o.config) out.push({ kind: 'config', data: JSON.stringify(o.config) }); continue }
      const kind = o.t === 'recv' ? 'ws' : o.t
      if (kind === 'connect' && !o.url && !o.addr && typeof o.data === 'string') o.url = o.data // ticklake's own connect lines name the URL in data
      const data = typeof o.data === 'string' ? o.data : o.data === undefined ? '' : JSON.stringify(o.data)
      if (!KINDS.has(kind)) continue // a line of a kind no reader here uses
      out.push({ kind, recvTs: typeof o.ts === 'number' ? o.ts : undefined, url: typeof (o.url ?? o.addr) === 'string' ? o.url ?? o.addr : undefined, data })
    } else {
      const m = parseLegacyLine(line)
      if (m) out.push(m)
    }
  }
  return out
}
