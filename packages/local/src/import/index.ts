/**
 * Importing Binance public-data archives (data.binance.vision `trades` and `aggTrades`, daily or
 * monthly, `.csv` or `.zip`) into the lake. Each file is checked against its `.CHECKSUM` when one
 * lies beside it, streamed (never held whole: a 1 GB CSV passes in bounded memory), and its trades
 * are written as bronze Parquet per hour under deterministic names
 * (`archive-<file>-<n>.parquet`), so importing the same file again overwrites instead of
 * duplicating. Every put emits the store's S3 event, so the candle handler recomputes each hour
 * touched. Bad rows are counted and sent to `dlq/archive/`; they never stop an import. An archive
 * read whole and without a bad row holds every trade of its UTC day (or month): the import records
 * that span as complete (`writeCompleteSpan`), so its candles, the day's last ones and its 1d candle
 * too, are final.
 */
import { createReadStream } from 'node:fs'
import { open, readFile, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import {
  archiveDateMs, checkDigest, csvTrades, parseArchiveName, sha256Of, unzipCsv,
  type ArchiveContext, type ArchiveKind, type RowError,
} from '@ticklake/core/sources/archive'
import { bronzeTradesPrefix, dlqKey, hourOfKey, lakeChain, partitionOf, type LakeFunction } from '@ticklake/core/lake/layout'
import { writeCompleteSpan } from '@ticklake/core/lake/candles'
import { isSymbol, nativeSymbol, normalizeNative, QUOTE_ASSETS, type Exchange, type Trade } from '@ticklake/core/market'
import { bronzeTradesFile } from '../firehose/convert'
import type { ObjectStore } from '@ticklake/core/ports'
import { createCandlesHandler } from '@ticklake/functions/candles'
import { createSilverHandler } from '@ticklake/functions/silver'
import { s3Event } from '../store/index'
import { thousands } from '../cli/terminal'
import type { S3Event } from 'aws-lambda'

export const defaults = {
  exchange: 'binance' as Exchange,
  /** Most rows in one bronze file. */
  maxRowsPerFile: 200_000,
  /** An hour that got no trade in this many rows is written out. */
  idleRows: 20_000,
  /** Most trades held before every open hour is written out (bounds memory on unordered input). */
  maxBufferedRows: 400_000,
  readChunkBytes: 1 << 20,
  /** Bad-row reasons kept in the summary. */
  firstErrors: 5,
  /** Bad rows written to the DLQ file (all are counted). */
  maxDlqRows: 100_000,
}

/** Binance venues whose archives share this format. */
export const ARCHIVE_EXCHANGES: Exchange[] = ['binance', 'binance-us', 'binance-futures']

export interface ImportProgress { file: string; bytes: number; totalBytes: number; trades: number; elapsedMs: number }

export interface ImportOptions {
  store: ObjectStore
  /** `binance` (default), `binance-us` or `binance-futures`. */
  exchange?: string
  /** Normalized (`BTC-USDT`) or native (`BTCUSDT`) symbol, instead of the one in the file name. */
  symbol?: string
  /** `trades` or `aggTrades`, for a file whose name does not say. */
  kind?: ArchiveKind
  onProgress?(p: ImportProgress): void
  /** Epoch ms (ingest_ts of the imported trades). */
  now?: () => number
  settings?: Partial<typeof defaults>
}

export interface FileSummary {
  file: string
  /** `refused`: nothing was read (bad name, symbol or checksum); `failed`: reading stopped part way (the trades before it are written). */
  status: 'imported' | 'refused' | 'failed'
  reason?: string
  symbol?: string
  native_symbol?: string
  kind?: ArchiveKind
  trades: number
  /** Bronze keys written. */
  files: string[]
  hours: number
  checksum: 'ok' | 'absent' | 'mismatch'
  errors: { count: number; first: RowError[] }
  dlq?: string
  warnings: string[]
  /** The span `[from, until)` (ISO times) recorded as complete in the lake: the archive's whole day or month. */
  complete?: { from: string; until: string }
}

const US_PER_HOUR = 3_600_000_000

/** The normalized and native symbol of a file, or why there is none. */
export function resolveSymbol(fromName: string | undefined, override?: string): { symbol: string; native: string } | { reason: string } {
  if (override) {
    // ASCII before case folding: `ßtcusdt` would otherwise become SSTCUSDT
    if (!/^[A-Za-z0-9-]{1,41}$/.test(override.trim())) return { reason: `symbol ${JSON.stringify(override)} is not ASCII letters, digits and '-'` }
    const o = override.trim().toUpperCase()
    if (isSymbol(o)) return { symbol: o, native: fromName ?? nativeSymbol(o) }
    const symbol = normalizeNative(o)
    return symbol ? { symbol, native: o } : { reason: `symbol ${JSON.stringify(override)} is neither BASE-QUOTE (BTC-USDT) nor a native symbol ending in a known quote asset (${QUOTE_ASSETS.join(', ')})` }
  }
  if (!fromName) return { reason: 'the file name does not name a symbol (expected e.g. BTCUSDT-trades-2025-01-01.zip): pass the symbol, e.g. BTC-USDT' }
  const symbol = normalizeNative(fromName)
  return symbol ? { symbol, native: fromName } : { reason: `cannot split ${fromName} into base and quote asset (known quote assets: ${QUOTE_ASSETS.join(', ')}): pass the symbol, e.g. BASE-QUOTE` }
}

/** Bytes of a file in chunks, telling `onBytes` how far it has read. */
async function* readChunks(path: string, chunkBytes: number, onBytes?: (n: number) => void): AsyncGenerator<Uint8Array> {
  let read = 0
  for await (const chunk of createReadStream(path, { highWaterMark: chunkBytes })) {
    read += (chunk as Buffer).length
    onBytes?.(read)
    yield chunk as Buffer
  }
}

/** True when the file starts like a ZIP (`PK\x03\x04`). */
async function isZip(path: string) {
  const fh = await open(path, 'r')
  try {
    const head = Buffer.alloc(4)
    const { bytesRead } = await fh.read(head, 0, 4, 0)
    return bytesRead === 4 && head.readUInt32LE(0) === 0x04034b50
  } finally { await fh.close() }
}

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_')

/**
 * Writes trades as bronze Parquet per hour: an hour's file is written when it reaches
 * `maxRowsPerFile`, when `idleRows` rows have passed without one for it (the input has moved on;
 * archives are in id order, which is time order give or take, though some interleave two time
 * ranges) or when too many trades are held. Every decision depends on the row index alone and
 * parts are numbered per hour, so the same input gives the same keys.
 */
function hourWriter(store: ObjectStore, exchange: string, symbol: string, base: string, settings: typeof defaults) {
  const buckets = new Map<number, { rows: Trade[]; parts: number; last: number }>()
  const written: string[] = []
  let buffered = 0
  let row = 0
  const prefixOf = (h: number) => { const { dt, hour } = partitionOf(h * 3_600_000); return bronzeTradesPrefix(exchange, symbol, dt, hour) }
  const stem = `archive-${safeName(base)}-`
  async function flush(h: number) {
    const b = buckets.get(h)!
    if (!b.rows.length) return
    const key = `${prefixOf(h)}${stem}${b.parts++}.parquet`
    const rows = b.rows
    b.rows = []
    buffered -= rows.length
    await store.put(key, bronzeTradesFile(rows), { contentType: 'application/vnd.apache.parquet' })
    written.push(key)
  }
  async function flushIf(test: (b: { rows: Trade[]; last: number }) => boolean) {
    for (const h of [...buckets.keys()].sort((a, b) => a - b)) if (test(buckets.get(h)!)) await flush(h)
  }
  const flushAll = () => flushIf(() => true)
  return {
    written,
    hours: () => buckets.size,
    async add(trades: Trade[]) {
      for (const t of trades) {
        const h = Math.floor(t.ts / US_PER_HOUR)
        let b = buckets.get(h)
        if (!b) buckets.set(h, (b = { rows: [], parts: 0, last: 0 }))
        b.rows.push(t)
        b.last = ++row
        buffered++
        if (b.rows.length >= settings.maxRowsPerFile) await flush(h)
        if (row % settings.idleRows === 0) await flushIf((o) => o.rows.length > 0 && o.last <= row - settings.idleRows)
        if (buffered >= settings.maxBufferedRows) await flushAll()
      }
    },
    flushAll,
    /** Deletes parts of this file left from an earlier import that wrote more of them. */
    async removeStale() {
      const keep = new Set(written)
      for (const h of buckets.keys()) {
        const prefix = prefixOf(h) + stem
        for (const o of await store.list(prefix)) if (!keep.has(o.key) && /^\d+\.parquet$/.test(o.key.slice(prefix.length))) await store.delete(o.key)
      }
    },
  }
}

/**
 * Records the archive's day (or month) as complete in the lake, so its candles become final: only
 * for a file read whole, without a bad row, whose name tells its date (otherwise a warning says why not).
 */
async function recordComplete(store: ObjectStore, summary: FileSummary, exchange: string, symbol: string, parsed: ReturnType<typeof parseArchiveName>, now: number) {
  if (!parsed) { summary.warnings.push('the file name tells no date (like BTCUSDT-trades-2025-01-01.zip), so its span is not recorded as complete: its candles stay as final as its trades show'); return }
  if (summary.errors.count > 0) { summary.warnings.push(`${summary.errors.count} bad row(s): the archive's span is not recorded as complete, so its candles are not all final`); return }
  const from = archiveDateMs(parsed.date)
  const start = new Date(from)
  const until = parsed.period === 'daily' ? from + 86_400_000 : Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1)
  await writeCompleteSpan(store, { exchange, symbol, from, until, source: 'archive', origin: parsed.base, written_at: now })
  summary.complete = { from: new Date(from).toISOString(), until: new Date(until).toISOString() }
}

/** Imports one archive; see `importArchives`. */
async function importOne(path: string, opts: ImportOptions, settings: typeof defaults): Promise<FileSummary> {
  const name = basename(path)
  const parsed = parseArchiveName(name)
  const summary: FileSummary = { file: path, status: 'refused', trades: 0, files: [], hours: 0, checksum: 'absent', errors: { count: 0, first: [] }, warnings: [] }
  const refuse = (reason: string) => Object.assign(summary, { status: 'refused' as const, reason: `${name}: ${reason}` })
  // what the path is comes first: a missing file is "not found", whatever its name says
  let totalBytes: number
  try {
    const st = await stat(path)
    if (st.isDirectory()) return refuse('is a directory, not an archive file')
    totalBytes = st.size
  } catch (e: any) { return refuse(e?.code === 'ENOENT' ? 'not found' : `cannot read the file (${e?.code ?? e?.message ?? e})`) }
  const exchange = (opts.exchange ?? settings.exchange) as Exchange
  if (!ARCHIVE_EXCHANGES.includes(exchange)) return refuse(`exchange ${JSON.stringify(opts.exchange)} does not publish these archives (use ${ARCHIVE_EXCHANGES.join(', ')})`)
  const kind = opts.kind ?? parsed?.kind
  if (!kind) return refuse('cannot tell trades from aggTrades: the name is not like BTCUSDT-trades-2025-01-01.zip or BTCUSDT-aggTrades-2025-01.zip (pass the kind)')
  if (parsed && opts.kind && parsed.kind !== opts.kind) summary.warnings.push(`the name says ${parsed.kind}, read as ${opts.kind} as asked`)
  const sym = resolveSymbol(parsed?.nativeSymbol, opts.symbol)
  if ('reason' in sym) return refuse(sym.reason)
  Object.assign(summary, { symbol: sym.symbol, native_symbol: sym.native, kind })
  if (opts.symbol && parsed && nativeSymbol(sym.symbol) !== parsed.nativeSymbol) summary.warnings.push(`the name says ${parsed.nativeSymbol}, stored as ${sym.symbol} as asked`)

  const zip = await isZip(path)
  if (/\.zip$/i.test(name) && !zip) return refuse('not a zip: the name ends in .zip but the file does not start like a ZIP archive (an unfinished download, or a page saved under that name?)')
  const checksumText = await readFile(`${path}.CHECKSUM`, 'utf8').catch((e) => { if (e?.code === 'ENOENT') return undefined; throw e })
  if (checksumText !== undefined) {
    const result = checkDigest(await sha256Of(readChunks(path, settings.readChunkBytes)), checksumText)
    if (!result.ok) { summary.checksum = 'mismatch'; return refuse(`${result.reason} (${basename(path)}.CHECKSUM); the file was not imported`) }
    summary.checksum = 'ok'
  }

  const now = opts.now ?? Date.now
  const started = now()
  const ctx: ArchiveContext = { exchange, symbol: sym.symbol, native_symbol: sym.native, ingestTs: started * 1000, source: 'archive' }
  const base = parsed?.base ?? name.replace(/\.(csv|zip)$/i, '')
  const writer = hourWriter(opts.store, exchange, sym.symbol, base, settings)
  const dlq: string[] = []
  let bytes = 0
  const source = readChunks(path, settings.readChunkBytes, (n) => { bytes = n })
  const csv = zip
    ? unzipCsv(source, (entry, used) => { if (!used) summary.warnings.push(`ignored ${entry} in the ZIP`) })
    : source
  summary.status = 'imported'
  try {
    for await (const batch of csvTrades(csv, kind, ctx)) {
      await writer.add(batch.trades)
      summary.trades += batch.trades.length
      summary.errors.count += batch.errors.length
      for (const e of batch.errors) {
        if (summary.errors.first.length < settings.firstErrors) summary.errors.first.push(e)
        if (dlq.length < settings.maxDlqRows) dlq.push(JSON.stringify({ file: name, ...e }))
      }
      opts.onProgress?.({ file: name, bytes, totalBytes, trades: summary.trades, elapsedMs: now() - started })
    }
  } catch (e: any) {
    Object.assign(summary, { status: 'failed', reason: `${name}: ${e?.message ?? e}` })
  }
  // not one row read as this kind: the kind is wrong (or the file is no archive), not the rows
  if (summary.status === 'imported' && summary.trades === 0 && summary.errors.count > 0) {
    const other = kind === 'trades' ? 'aggTrades' : 'trades'
    return refuse(`no row reads as ${kind}: ${thousands(summary.errors.count)} bad row(s) of ${thousands(summary.errors.count)}, e.g. line ${summary.errors.first[0]?.line}: ${summary.errors.first[0]?.reason} (is it a ${other} file? ${opts.kind ? `pass --kind ${other}` : 'pass --kind'}); nothing imported`)
  }
  await writer.flushAll()
  if (summary.status === 'imported') await writer.removeStale()
  Object.assign(summary, { files: writer.written, hours: writer.hours() })
  const key = dlqKey('archive', parsed ? archiveDateMs(parsed.date) : started, safeName(base))
  if (dlq.length) {
    await opts.store.put(key, dlq.join('\n') + '\n', { contentType: 'application/x-ndjson' })
    summary.dlq = key
  } else if (summary.status === 'imported' && parsed) await opts.store.delete(key)
  if (summary.errors.count > dlq.length) summary.warnings.push(`${summary.errors.count - dlq.length} more bad rows were counted but not written to the DLQ`)
  if (summary.status === 'imported') await recordComplete(opts.store, summary, exchange, sym.symbol, parsed, now())
  opts.onProgress?.({ file: name, bytes: summary.status === 'imported' ? totalBytes : bytes, totalBytes, trades: summary.trades, elapsedMs: now() - started })
  return summary
}

/**
 * Imports Binance archives (`.csv` or `.zip`, `trades` or `aggTrades`) into bronze, one file after
 * another, and returns what happened to each. A file whose symbol cannot be told, or whose
 * `<path>.CHECKSUM` does not match, is refused (nothing written) and the others go on.
 * @example await importArchives(['BTCUSDT-aggTrades-2025-01-01.zip'], { store }) // [{ status: 'imported', trades: 1234567, checksum: 'ok', ... }]
 */
export async function importArchives(paths: string[], opts: ImportOptions): Promise<FileSummary[]> {
  const settings = { ...defaults, ...opts.settings }
  const out: FileSummary[] = []
  for (const path of paths) out.push(await importOne(path, opts, settings))
  return out
}

const mb = (n: number) => (n / 1e6).toFixed(1)

/**
 * One line of text showing an import's progress, for a TTY (write it after `\r`).
 * @example progressBar({ file: 'a.zip', bytes: 5e6, totalBytes: 1e7, trades: 1e5, elapsedMs: 1000 }) // 'a.zip [##########----------]  50.0%  5.0/10.0 MB  100,000 trades  100,000 trades/s'
 */
export function progressBar(p: ImportProgress, width = 20): string {
  const frac = p.totalBytes > 0 ? Math.min(1, p.bytes / p.totalBytes) : 1
  const filled = Math.round(frac * width)
  const rate = p.elapsedMs > 0 ? Math.round((p.trades * 1000) / p.elapsedMs) : 0
  return `${p.file} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(frac * 100).toFixed(1).padStart(5)}%  ${mb(p.bytes)}/${mb(p.totalBytes)} MB  ${thousands(p.trades)} trades  ${thousands(rate)} trades/s`
}

/**
 * Runs the lake jobs an import's bronze objects set off (`lakeChain` of core's LAKE_TRIGGERS: the
 * candle job, then the silver job), once for every hour the given bronze keys fall in, oldest first
 * (each hour's flat candles start from the previous hour's close), with the S3 events the lake
 * would send. After an import, this makes `ticklake candles` answer for it. The feature job, last
 * in the chain, is left out: an import computes no features.
 * @example await buildCandles(store, summaries.flatMap((s) => s.files))
 */
export async function buildCandles(store: ObjectStore, keys: string[], onHour?: (hour: string, done: number, total: number) => void) {
  const byHour = new Map<string, string>()
  for (const key of keys) {
    const h = hourOfKey(key)
    if (h) byHour.set(`${h.exchange}/${h.symbol}/${h.dt}T${h.hour}`, key)
  }
  const jobs: Partial<Record<LakeFunction, (event: S3Event) => Promise<unknown>>> = { candles: createCandlesHandler({ store }), silver: createSilverHandler({ store }) }
  const hours = [...byHour.keys()].sort()
  for (const [i, h] of hours.entries()) {
    for (const run of lakeChain(byHour.get(h)!)) await jobs[run.fn]?.(s3Event('ticklake-local', run.key, 0, ''))
    onHour?.(h, i + 1, hours.length)
  }
  return hours.length
}
