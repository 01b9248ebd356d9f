/**
 * `POST /api/ingest` input: a batch of trades in the bronze schema (`TRADE_COLUMNS`) from a
 * producer outside Ticklake, checked record by record. A good record becomes a bronze trade with
 * `ingest_ts` set on receipt and `source: 'api'`; a bad one is answered by its index and reason
 * and goes nowhere. Good records travel through the same delivery stream (Firehose) as ingest's.
 */
import { TRADE_COLUMNS, isSymbol, nativeSymbol, reservedExchange, tradeValues, type Trade } from '../../market/index'
import type { RecordStream } from '../../ports/index'

export const defaults = {
  maxRecords: 5_000,
  maxBodyBytes: 1024 * 1024,
  /** Firehose PutRecordBatch takes at most 500 records. */
  batchSize: 500,
  /** Trade times accepted: from 2009 to a day ahead of now. */
  earliestMicros: Date.parse('2009-01-01T00:00:00Z') * 1000,
  aheadMicros: 86_400_000_000,
}

export interface Rejected { index: number; reason: string }

const FIELDS = new Set<string>(TRADE_COLUMNS.map((c) => c.name))
const EXCHANGE = /^[a-z][a-z0-9-]{0,30}$/
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v)

/**
 * The bronze trade of one submitted record, or the reason it is refused.
 * @example tradeOf({ exchange: 'myfeed', symbol: 'BTC-USD', trade_id: 1, ts: 1764000000000000, price: 1, qty: 1, side: 'buy' }, Date.now() * 1000)
 */
export function tradeOf(r: unknown, nowMicros: number): { trade: Trade } | { reason: string } {
  if (!r || typeof r !== 'object' || Array.isArray(r)) return { reason: 'record is not a JSON object' }
  const o = r as Record<string, unknown>
  const unknown = Object.keys(o).find((k) => !FIELDS.has(k))
  if (unknown !== undefined) return { reason: `unknown field ${JSON.stringify(unknown.slice(0, 40))}; fields are ${[...FIELDS].join(', ')}` }
  if (typeof o.exchange !== 'string' || !EXCHANGE.test(o.exchange)) return { reason: "exchange must be lowercase letters, digits or '-', starting with a letter" }
  if (!isSymbol(o.symbol)) return { reason: 'symbol must be BASE-QUOTE in capitals, like BTC-USDT' }
  if (o.native_symbol !== undefined && (typeof o.native_symbol !== 'string' || !/^[A-Za-z0-9._/-]{1,40}$/.test(o.native_symbol))) return { reason: 'native_symbol must be 1 to 40 letters, digits or ._/-' }
  for (const k of ['trade_id', 'first_trade_id', 'last_trade_id'] as const) {
    if ((k === 'trade_id' || o[k] !== undefined) && (!isInt(o[k]) || (o[k] as number) < 0)) return { reason: `${k} must be a whole number of 0 or more` }
  }
  const first = (o.first_trade_id ?? o.trade_id) as number
  const last = (o.last_trade_id ?? o.trade_id) as number
  if (first > last) return { reason: 'first_trade_id must not be above last_trade_id' }
  if (!isInt(o.ts)) return { reason: 'ts must be a whole number of microseconds since 1970 (UTC)' }
  if (o.ts < 1e14 && o.ts > 1e11) return { reason: 'ts looks like milliseconds: send microseconds (ms * 1000)' }
  if (o.ts < defaults.earliestMicros || o.ts > nowMicros + defaults.aheadMicros) return { reason: 'ts is outside 2009-01-01 .. now + 1 day' }
  for (const k of ['price', 'qty'] as const) if (typeof o[k] !== 'number' || !Number.isFinite(o[k]) || (o[k] as number) <= 0) return { reason: `${k} must be a number above 0` }
  // the bounds every door applies (core/market TRADE_LIMITS): taken at 8 decimals, within the limits
  const values = tradeValues(o.price, o.qty)
  if ('reason' in values) return { reason: values.reason }
  if (o.side !== 'buy' && o.side !== 'sell') return { reason: 'side must be buy or sell (the taker side)' }
  // DESIGN.md: a record's trades are its id range (an aggTrade's l - f + 1, 1 for a plain trade); the candles count them so
  if (last - first + 1 > 2 ** 31 - 1) return { reason: 'first_trade_id .. last_trade_id covers more than 2^31 - 1 trades' }
  if (o.trades !== undefined && o.trades !== last - first + 1) return { reason: `trades, when sent, must be last_trade_id - first_trade_id + 1 (${last - first + 1})` }
  if (o.ingest_ts !== undefined && !isInt(o.ingest_ts)) return { reason: 'ingest_ts, when sent, must be a whole number (it is replaced by the receive time)' }
  if (o.source !== undefined && typeof o.source !== 'string') return { reason: "source, when sent, must be a string (it is replaced by 'api')" }
  return {
    trade: {
      exchange: o.exchange as Trade['exchange'], symbol: o.symbol, native_symbol: (o.native_symbol as string | undefined) ?? nativeSymbol(o.symbol),
      trade_id: o.trade_id as number, first_trade_id: first, last_trade_id: last, ts: o.ts,
      price: values.price, qty: values.qty, side: o.side, trades: last - first + 1,
      ingest_ts: nowMicros, source: 'api',
    },
  }
}

/** Bytes of a string in UTF-8, without encoding it. */
export function utf8Length(s: string): number {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 2; i++ } // a pair: 4 bytes for 2 units
    else if (c >= 0x800) n += 2
    else if (c >= 0x80) n += 1
  }
  return n
}

/** The records of a request body: a JSON array of trades, or `{ "trades": [...] }`; else the reason. */
export function batchOf(body: string | undefined): { records: unknown[] } | { error: string } {
  if (!body) return { error: 'body must be a JSON array of trades, or {"trades": [...]}' }
  if (utf8Length(body) > defaults.maxBodyBytes) return { error: `body is over ${defaults.maxBodyBytes} bytes` }
  let doc: any
  try { doc = JSON.parse(body) } catch { return { error: 'body is not valid JSON' } }
  const records = Array.isArray(doc) ? doc : doc && typeof doc === 'object' && Array.isArray(doc.trades) ? doc.trades : undefined
  if (!records) return { error: 'body must be a JSON array of trades, or {"trades": [...]}' }
  if (records.length > defaults.maxRecords) return { error: `a batch holds at most ${defaults.maxRecords} trades (got ${records.length})` }
  return { records }
}

/**
 * The records of a batch whose exchange the key may not write (`allowed`: the key's exchange
 * names), with the reason; empty when it may write all of them. Records without a string
 * `exchange` are left to `tradeOf`. `POST /api/ingest` refuses the whole batch (403) when any is.
 * @example refusedExchanges([{ exchange: 'binance' }], ['myfeed']) // [{ index: 0, reason: 'this key may not write exchange binance ...' }]
 */
export function refusedExchanges(records: unknown[], allowed: readonly string[], keyName = 'this key'): Rejected[] {
  const may = new Set(allowed)
  const out: Rejected[] = []
  records.forEach((r, index) => {
    const ex = r && typeof r === 'object' ? (r as Record<string, unknown>).exchange : undefined
    if (typeof ex !== 'string' || may.has(ex)) return
    const reason = reservedExchange(ex)
      ? `exchange ${JSON.stringify(ex.slice(0, 40))} is reserved for Ticklake's own sources: no key may write it`
      : allowed.length ? `key ${keyName} may write exchange ${allowed.join(', ')} only` : `key ${keyName} is bound to no exchange name: make a key with ticklake keys add NAME --exchange NAME`
    out.push({ index, reason })
  })
  return out
}

/** Validates each record and sends the good ones to `stream` in Firehose-sized batches. */
export async function ingestTrades(stream: RecordStream, records: unknown[], nowMicros: number): Promise<{ accepted: number; rejected: Rejected[] }> {
  const rejected: Rejected[] = []
  const good: { index: number; trade: Trade }[] = []
  records.forEach((r, index) => {
    const out = tradeOf(r, nowMicros)
    if ('trade' in out) good.push({ index, trade: out.trade }); else rejected.push({ index, reason: out.reason })
  })
  let accepted = 0
  for (let i = 0; i < good.length; i += defaults.batchSize) {
    const chunk = good.slice(i, i + defaults.batchSize)
    try {
      const { failed } = await stream.putRecords(chunk.map((g) => g.trade))
      const failedSet = new Set(failed)
      chunk.forEach((g, j) => { if (failedSet.has(j)) rejected.push({ index: g.index, reason: 'the delivery stream did not accept this record: send it again' }); else accepted++ })
    } catch {
      for (const g of chunk) rejected.push({ index: g.index, reason: 'the delivery stream is unavailable: send it again' })
    }
  }
  rejected.sort((a, b) => a.index - b.index)
  return { accepted, rejected }
}
