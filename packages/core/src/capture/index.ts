/**
 * Captures of raw exchange traffic: reads the cryptofeed recording formats (legacy `*.0` lines
 * `<recv_ts>: <json>` / `<url> -> <recv_ts>: <json>`, and `*.jsonl.zst`) into one shape of
 * message, for parser tests and (later) replay through the real ingest path.
 */
import { decompress } from 'fzstd'

export interface CapturedMessage {
  kind: 'ws' | 'http' | 'connect' | 'config' | 'send' | 'header'
  /** Receive time, epoch seconds (fractional). */
  recvTs?: number
  /** For http: the URL fetched; for connect: the WebSocket URL. */
  url?: string
  data: string
}

/** One line of ticklake's own capture format (the same as cryptofeed's JSON lines). */
export const captureLine = (kind: 'recv' | 'connect', recvMs: number, data: string) => JSON.stringify({ t: kind, ts: recvMs / 1000, data }) + '\n'

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
  return undefined
}

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
      if (o.t === 'header') { if (o.config) out.push({ kind: 'config', data: JSON.stringify(o.config) }); continue }
      const kind = o.t === 'recv' ? 'ws' : o.t
      const data = typeof o.data === 'string' ? o.data : o.data === undefined ? '' : JSON.stringify(o.data)
      out.push({ kind, recvTs: o.ts, url: o.url ?? o.addr, data })
    } else {
      const m = parseLegacyLine(line)
      if (m) out.push(m)
    }
  }
  return out
}
