/**
 * Binance public-data archives (data.binance.vision): daily and monthly `trades` and `aggTrades`
 * CSV files, as such or zipped, turned into normalized trades. Reads file names
 * (`BTCUSDT-aggTrades-2025-01-01.zip`), parses rows of either kind with or without a header row
 * and with millisecond (before 2025 on spot, and futures) or microsecond (spot from 2025-01-01)
 * timestamps, streams a CSV or the CSV inside a ZIP chunk by chunk so a file of any size passes in
 * bounded memory, and checks a file against its `.CHECKSUM` (`<sha256>  <name>`). A bad row is
 * returned as a reason, never thrown, so it can go to the DLQ while the import goes on. No file
 * system here: callers hand in the bytes.
 */
import { createHash } from 'node:crypto'
import { Unzip, UnzipInflate } from 'fflate'
import type { Exchange, Trade, TradeSource } from '../../market/index'
import { tradeValues } from '../../market/index'

export const defaults = {
  /** Trades per batch yielded by `csvTrades`. */
  batchRows: 50_000,
  /** A line longer than this is a bad row (and the stream does not hold more of it). */
  maxLineChars: 4_096,
  /** Epoch values at or above this are microseconds, below it milliseconds (1e14 µs is 1973, 1e14 ms the year 5138). */
  microsFrom: 1e14,
  /** Trade times outside [2009-01-01, 2100-01-01) are taken for misread rows. */
  minTsMicros: Date.UTC(2009, 0, 1) * 1000,
  maxTsMicros: Date.UTC(2100, 0, 1) * 1000,
}

export type ArchiveKind = 'trades' | 'aggTrades'

/** What a Binance archive's file name says: `BTCUSDT-trades-2025-01-01.zip`. */
export interface ArchiveName {
  nativeSymbol: string
  kind: ArchiveKind
  /** `YYYY-MM-DD` for a daily file, `YYYY-MM` for a monthly one. */
  date: string
  period: 'daily' | 'monthly'
  /** The name without folder and extension: `BTCUSDT-trades-2025-01-01`. */
  base: string
}

/** Everything a row does not say itself. */
export interface ArchiveContext {
  exchange: Exchange
  /** Normalized `BASE-QUOTE`. */
  symbol: string
  native_symbol: string
  /** Epoch MICROseconds. */
  ingestTs: number
  source: TradeSource
}

/** A row that did not parse: 1-based line number in the CSV, why, and the row (cut short). */
export interface RowError { line: number; reason: string; text: string }

export interface CsvBatch {
  trades: Trade[]
  errors: RowError[]
  /** Lines read so far (the last line number seen). */
  lines: number
}

/** Columns of each kind in file order; spot files add `is_best_match`, futures files do not. */
export const CSV_COLUMNS: Record<ArchiveKind, string[]> = {
  trades: ['id', 'price', 'qty', 'quote_qty', 'time', 'is_buyer_maker', 'is_best_match'],
  aggTrades: ['agg_trade_id', 'price', 'quantity', 'first_trade_id', 'last_trade_id', 'transact_time', 'is_buyer_maker', 'is_best_match'],
}

const NAME = /^([A-Za-z0-9_]+)-(trades|aggTrades)-(\d{4})-(\d{2})(?:-(\d{2}))?(\.csv|\.zip)?$/i

/**
 * Symbol, kind and date of a Binance archive from its file name (a folder in front is ignored);
 * undefined when the name is not one. The `.CHECKSUM` file itself is not an archive.
 * @example parseArchiveName('BTCUSDT-aggTrades-2025-01.zip') // { nativeSymbol: 'BTCUSDT', kind: 'aggTrades', date: '2025-01', period: 'monthly', ... }
 */
export function parseArchiveName(name: string): ArchiveName | undefined {
  const file = name.split(/[\\/]/).pop() ?? ''
  const m = NAME.exec(file)
  if (!m) return undefined
  const [, symbol, kind, year, month, day, ext] = m
  const date = day ? `${year}-${month}-${day}` : `${year}-${month}`
  if (!validDate(Number(year), Number(month), day ? Number(day) : 1)) return undefined
  return {
    nativeSymbol: symbol.toUpperCase(),
    kind: kind.toLowerCase() === 'trades' ? 'trades' : 'aggTrades',
    date,
    period: day ? 'daily' : 'monthly',
    base: ext ? file.slice(0, -ext.length) : file,
  }
}

function validDate(y: number, m: number, d: number) {
  const t = new Date(Date.UTC(y, m - 1, d))
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d
}

/** Epoch ms of the first moment of an archive's date (`2025-01` -> 2025-01-01T00:00Z). */
export const archiveDateMs = (date: string) => Date.parse(date.length === 7 ? `${date}-01T00:00:00Z` : `${date}T00:00:00Z`)

/**
 * Whether an epoch timestamp is in milliseconds or microseconds, by its magnitude.
 * @example detectTimeUnit(1735689600000) === 'ms'; detectTimeUnit(1735689600000000) === 'us'
 */
export function detectTimeUnit(value: number): 'ms' | 'us' {
  return value >= defaults.microsFrom ? 'us' : 'ms'
}

/** Epoch microseconds of an epoch value in ms or µs. */
export const toMicros = (value: number) => (detectTimeUnit(value) === 'us' ? value : value * 1000)

const INT = /^\d{1,19}$/
const DECIMAL = /^\d{1,20}(\.\d{1,20})?$/
const BOOL = /^(true|false)$/i

function id(field: string | undefined, what: string): number | string {
  if (field === undefined || !INT.test(field)) return `${what} is not a non-negative integer`
  const n = Number(field)
  return Number.isSafeInteger(n) ? n : `${what} is too large`
}

function positive(field: string | undefined, what: string): number | string {
  if (field === undefined || !DECIMAL.test(field)) return `${what} is not a decimal number`
  const n = Number(field)
  return n > 0 ? n : `${what} is not positive`
}

function time(field: string | undefined, what: string): number | string {
  const v = id(field, what)
  if (typeof v === 'string') return v
  const us = toMicros(v)
  return us >= defaults.minTsMicros && us < defaults.maxTsMicros ? us : `${what} ${field} is not a time between 2009 and 2100 in ms or µs`
}

/**
 * One CSV row of a `trades` or `aggTrades` archive as a normalized trade, or the reason it is bad.
 * The taker side is `sell` when the buyer was the maker (`is_buyer_maker == true`). A `trades` row
 * covers one trade (`trade_id = first = last = id`); an aggTrades row covers `last - first + 1`.
 * @example parseCsvLine('5,100.5,0.1,10.05,1735689600000000,True,True', 'trades', ctx) // { trade_id: 5, ts: 1735689600000000, side: 'sell', ... }
 */
export function parseCsvLine(line: string, kind: ArchiveKind, ctx: ArchiveContext): Trade | { error: string } {
  const f = line.trim().split(',')
  const want = CSV_COLUMNS[kind].length
  if (f.length !== want && f.length !== want - 1) return { error: `expected ${want - 1} or ${want} fields for ${kind}, got ${f.length}` }
  const agg = kind === 'aggTrades'
  const tradeId = id(f[0], agg ? 'agg_trade_id' : 'id')
  const price = positive(f[1], 'price')
  const qty = positive(f[2], agg ? 'quantity' : 'qty')
  const first = agg ? id(f[3], 'first_trade_id') : tradeId
  const last = agg ? id(f[4], 'last_trade_id') : tradeId
  const ts = time(f[agg ? 5 : 4], agg ? 'transact_time' : 'time')
  const maker = f[agg ? 6 : 5]
  for (const v of [tradeId, price, qty, first, last, ts]) if (typeof v === 'string') return { error: v }
  if (agg && (last as number) < (first as number)) return { error: 'last_trade_id is below first_trade_id' }
  if (!BOOL.test(maker)) return { error: 'is_buyer_maker is not true or false' }
  // the bounds every door applies (core/market TRADE_LIMITS), values taken at 8 decimals
  const v = tradeValues(price, qty)
  if ('reason' in v) return { error: v.reason }
  return {
    exchange: ctx.exchange, symbol: ctx.symbol, native_symbol: ctx.native_symbol,
    trade_id: tradeId as number, first_trade_id: first as number, last_trade_id: last as number,
    ts: ts as number, price: v.price, qty: v.qty,
    side: maker.toLowerCase() === 'true' ? 'sell' : 'buy',
    trades: (last as number) - (first as number) + 1,
    ingest_ts: ctx.ingestTs, source: ctx.source,
  }
}

/** True when a first line is a header (its first field is not a number). */
const isHeader = (line: string) => !/^\s*\d/.test(line)

/**
 * The trades of a CSV arriving in chunks, in batches of about `batchRows`. Takes a header row or
 * none, LF or CRLF, a last line without newline and lines split across chunks; bad rows come back
 * in `errors` with their line number. Throws only when a header names too few columns for `kind`
 * (the file is not of that kind).
 */
export async function* csvTrades(chunks: AsyncIterable<Uint8Array>, kind: ArchiveKind, ctx: ArchiveContext, options: Partial<typeof defaults> = {}): AsyncGenerator<CsvBatch> {
  const { batchRows, maxLineChars } = { ...defaults, ...options }
  const decoder = new TextDecoder('utf-8')
  let rest = ''
  let lineNo = 0
  let overlong = false
  let batch: CsvBatch = { trades: [], errors: [], lines: 0 }
  const take = (raw: string) => {
    lineNo++
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (lineNo === 1 && line.charCodeAt(0) === 0xfeff) return take2(line.slice(1))
    return take2(line)
  }
  const take2 = (line: string) => {
    if (line.trim() === '') return
    if (lineNo === 1 && isHeader(line)) return checkHeader(line, kind)
    const r = parseCsvLine(line, kind, ctx)
    if ('error' in r) batch.errors.push({ line: lineNo, reason: r.error, text: line.slice(0, 200) })
    else batch.trades.push(r)
  }
  const cut = () => { const b = { ...batch, lines: lineNo }; batch = { trades: [], errors: [], lines: 0 }; return b }
  for await (const chunk of chunks) {
    const text = decoder.decode(chunk, { stream: true })
    let start = 0
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      if (overlong) { overlong = false; rest = ''; start = nl + 1; continue }
      take(rest + text.slice(start, nl))
      rest = ''
      start = nl + 1
    }
    if (!overlong) rest += text.slice(start)
    if (rest.length > maxLineChars) {
      lineNo++
      batch.errors.push({ line: lineNo, reason: `line is longer than ${maxLineChars} characters`, text: rest.slice(0, 200) })
      rest = ''
      overlong = true
    }
    if (batch.trades.length >= batchRows) yield cut()
  }
  const tail = rest + decoder.decode()
  if (!overlong && tail !== '') take(tail)
  if (batch.trades.length || batch.errors.length || lineNo === 0) yield cut()
}

function checkHeader(line: string, kind: ArchiveKind) {
  const cols = line.split(',').map((c) => c.trim().toLowerCase())
  const want = CSV_COLUMNS[kind]
  if (cols.length < want.length - 1 || cols.length > want.length) {
    throw new Error(`the CSV header "${line.slice(0, 200)}" has ${cols.length} columns; a ${kind} file has ${want.length - 1} or ${want.length} (${want.join(',')}): is this a ${kind} file?`)
  }
}

/**
 * The bytes of the first `.csv` entry of a ZIP arriving in chunks, as they inflate (fflate's
 * streaming Unzip): memory stays about one input chunk and what it inflates to. Throws when the
 * ZIP is corrupt, holds no CSV or ends before its CSV does. `onEntry` hears of every entry name.
 */
export async function* unzipCsv(chunks: AsyncIterable<Uint8Array>, onEntry?: (name: string, used: boolean) => void): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = []
  let failure: Error | undefined
  let csv: string | undefined
  let done = false
  const unzip = new Unzip((file) => {
    const used = csv === undefined && /\.csv$/i.test(file.name)
    if (used) csv = file.name
    onEntry?.(file.name, used)
    file.ondata = (err, data, final) => {
      if (!used) return
      if (err) { failure ??= new Error(`cannot inflate ${file.name} in the ZIP: ${err.message}`); return }
      if (data.length) out.push(data)
      if (final) done = true
    }
    // other entries are started too (and their bytes dropped), or the stream would buffer them
    try { file.start() } catch (e: any) { if (used) failure ??= new Error(`cannot read ${file.name} in the ZIP: ${e?.message ?? e}`) }
  })
  unzip.register(UnzipInflate)
  const push = (chunk: Uint8Array, final: boolean) => {
    try { unzip.push(chunk, final) } catch (e: any) { failure ??= new Error(`the ZIP is corrupt or truncated: ${e?.message ?? e}`) }
    if (failure) throw failure
  }
  for await (const chunk of chunks) {
    push(chunk, false)
    while (out.length) yield out.shift()!
  }
  push(new Uint8Array(0), true)
  while (out.length) yield out.shift()!
  if (csv === undefined) throw new Error('the ZIP holds no .csv file')
  if (!done) throw new Error(`the ZIP ends before ${csv} does (a truncated download?)`)
}

/** The SHA-256 and file name of a `.CHECKSUM` file's text (`<sha256>  <name>`); undefined when it is not one. */
export function parseChecksum(text: string): { sha256: string; name?: string } | undefined {
  const m = /^\s*([0-9a-fA-F]{64})(?:\s+\*?(\S.*?))?\s*$/m.exec(text)
  return m ? { sha256: m[1].toLowerCase(), name: m[2] } : undefined
}

export type ChecksumResult = { ok: true; sha256: string } | { ok: false; reason: string }

/** Compares a SHA-256 (hex) with a `.CHECKSUM` file's text. */
export function checkDigest(sha256: string, checksumText: string): ChecksumResult {
  const expected = parseChecksum(checksumText)
  if (!expected) return { ok: false, reason: 'the checksum file holds no SHA-256 (expected "<64 hex digits>  <file name>")' }
  if (expected.sha256 !== sha256.toLowerCase()) return { ok: false, reason: `SHA-256 mismatch${expected.name ? ` for ${expected.name}` : ''}: the checksum file says ${expected.sha256}, the file is ${sha256.toLowerCase()}` }
  return { ok: true, sha256: expected.sha256 }
}

/**
 * Checks bytes against a `.CHECKSUM` file's text (`<sha256>  <name>`, as data.binance.vision
 * serves it beside every archive).
 * @example verifyChecksum(zip, '9f86d0...  BTCUSDT-trades-2025-01-01.zip') // { ok: true, sha256 } or { ok: false, reason }
 */
export function verifyChecksum(bytes: Uint8Array, checksumText: string): ChecksumResult {
  return checkDigest(createHash('sha256').update(bytes).digest('hex'), checksumText)
}

/** SHA-256 (hex) of bytes arriving in chunks. */
export async function sha256Of(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of chunks) hash.update(chunk)
  return hash.digest('hex')
}
