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

/** Every message of a capture file's bytes; `.zst` content is detected by its magic number. */
export function parseCapture(bytes: Uint8Array): CapturedMessage[] {
  const zstd = bytes[0] === 0x28 && bytes[1] === 0xb5 && bytes[2] === 0x2f && bytes[3] === 0xfd
  const text = new TextDecoder().decode(zstd ? decompress(bytes) : bytes)
  const out: CapturedMessage[] = []
  for (const line of text.split('\n')) {
    if (zstd) {
      if (!line.trim()) continue
      const o = JSON.parse(line)
      const kind = o.t === 'recv' ? 'ws' : o.t
      out.push({ kind, recvTs: o.ts, data: typeof o.data === 'string' ? o.data : JSON.stringify(o.data) })
    } else {
      const m = parseLegacyLine(line)
      if (m) out.push(m)
    }
  }
  return out
}
