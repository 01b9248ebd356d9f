/**
 * The local Firehose emulator: an HTTP endpoint speaking Firehose's JSON protocol
 * (`PutRecord`, `PutRecordBatch`, `DescribeDeliveryStream`), so ingest uses the real
 * `@aws-sdk/client-firehose`. It behaves as the stacks' delivery streams do in AWS (each behaviour
 * and its AWS document in docs/ARCHITECTURE.md): dynamic partitioning by the same JQ keys
 * (`PARTITION_QUERY`) into the same prefix (`firehosePrefix`), one object per partition and
 * buffer, named `<prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>.parquet`; record format
 * conversion (`./convert.ts`) that writes the Glue table's non-partition columns only, in Hive's
 * Parquet types and shape; records it cannot partition or convert go to the error output prefix
 * with Firehose's error document. Accepted records are spooled to disk before the reply, so a
 * crash loses none. With `recordsPerSec` set, a stream takes at most that many records a second,
 * as Firehose's Direct PUT quota does: the rest of a PutRecordBatch fails record by record with
 * `ServiceUnavailableException` (the producer backs off and retries them).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { randomUUID } from 'node:crypto'
import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { partitionOf } from '@ticklake/core/lake/layout'
import { ERROR_OUTPUT_PREFIX, FIREHOSE_BUFFERING, FIREHOSE_TABLES, PARQUET_SERDE, firehosePrefix, type GlueColumn } from '@ticklake/core/aws/glue'
import type { ObjectStore } from '@ticklake/core/ports'
import { convertRecords } from './convert'

/** A delivery stream: its Glue table's columns and the S3 prefix its dynamic partitioning writes under. */
export interface StreamConfig { name: string; table: string; columns: readonly GlueColumn[]; folder: string }

export const STREAMS: StreamConfig[] = [
  { name: 'ticklake-trades', ...FIREHOSE_TABLES.trades },
  { name: 'ticklake-quotes', ...FIREHOSE_TABLES.quotes },
]

export const defaults = {
  /**
   * Firehose's buffer interval: the stacks' (60 s), so the lake fills as late and in as few objects
   * as in AWS, where dynamic partitioning has no zero buffering. A test may ask for less.
   */
  bufferMs: FIREHOSE_BUFFERING.intervalSeconds * 1000,
  /**
   * Records buffered before a stream delivers early: the emulator's bound on its memory, in place of
   * AWS's 64 MiB per partition (about 300,000 trades); it only makes objects smaller, never later.
   */
  bufferRecords: 50_000,
  /** The trades stream, which most callers want. */
  streamName: 'ticklake-trades',
  maxBodyBytes: 5 * 1024 * 1024,
  /** The stream's version in object names: 1 until its configuration changes. */
  version: 1,
  /** The Parquet SerDe's settings (the stacks' by default; a test may ask for smaller row groups). */
  serde: PARQUET_SERDE,
  /**
   * Records a stream takes per second (PutRecord and PutRecordBatch together); 0: no quota. AWS's
   * default Direct PUT quota per stream is 1,000 records/s in most regions and 5,000 (or the 5 MiB/s
   * byte quota) in us-east-1, us-west-2 and eu-west-1 ("Amazon Data Firehose Quota").
   */
  recordsPerSec: 0,
}

export interface FirehoseEmulator {
  endpoint: string
  /** The trades stream's name. */
  streamName: string
  /** Writes whatever is buffered now. */
  flush(): Promise<void>
  /** `throttled`: records refused by the `recordsPerSec` quota. */
  stats(): { received: number; written: number; files: number; errors: number; throttled: number }
  close(): Promise<void>
}

/**
 * The prefix a record's partition keys evaluate to, as `PARTITION_QUERY` (exchange, symbol, and
 * the UTC date and hour of `ts` in µs) fills `firehosePrefix(folder)`; a reason when a key is missing.
 */
export function partitionPrefix(folder: string, r: any): { prefix: string } | { problem: string } {
  if (!r || typeof r !== 'object' || Array.isArray(r)) return { problem: 'record is not a JSON object' }
  const { exchange, symbol, ts } = r
  if (typeof exchange !== 'string' || !exchange || typeof symbol !== 'string' || !symbol) return { problem: 'partition keys exchange and symbol must be non-empty strings' }
  if (typeof ts !== 'number' || !Number.isFinite(ts) || Math.abs(ts) > 8.64e18) return { problem: 'partition key ts (epoch µs) must be a number' }
  const keys: Record<string, string> = { exchange, symbol, ...partitionOf(Math.floor(ts / 1e6) * 1000) }
  return { prefix: firehosePrefix(folder).replace(/!\{partitionKeyFromQuery:(\w+)\}/g, (_, k) => keys[k]) }
}

/** Firehose's name stamp of an object: `yyyy-MM-dd-HH-mm-ss` (UTC). */
const stampOf = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace(/[T:]/g, '-')

const readBody = (req: IncomingMessage, limit: number) => new Promise<string>((resolve, reject) => {
  const chunks: Buffer[] = []
  let size = 0
  req.on('data', (c: Buffer) => { size += c.length; if (size > limit) { reject(new Error('body too large')); req.destroy() } else chunks.push(c) })
  req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
  req.on('error', reject)
})

export interface FirehoseOptions extends Partial<typeof defaults> { log?: (s: string) => void; spoolDir?: string; streams?: StreamConfig[] }

/** One delivery stream's buffer, error records and spool files. */
function deliveryStream(cfg: StreamConfig, store: ObjectStore, o: typeof defaults, stats: ReturnType<FirehoseEmulator['stats']>, spool?: string) {
  // Long by design: the stream's buffer and spool live in this closure; its parts are the small named functions inside.
  // raw lines grouped by the prefix their partition keys evaluate to: a line is parsed again when
  // it is delivered rather than held as an object meanwhile (an object took about as much memory
  // again as its line, for up to a minute of every record)
  let buffer = new Map<string, string[]>()
  let count = 0
  let failed: { type: string; code: string; message: string; raw: string }[] = []
  const quota = { second: 0, used: 0 }
  let seq = Date.now()
  /** Sequence numbers of error documents (their own count: `seq` names the spool files). */
  let records = 0
  let spoolFile = spool && join(spool, `${cfg.name}-${seq}.jsonl`)
  let spooled: string[] = []

  function take(line: string) {
    let r: unknown
    try { r = JSON.parse(line) } catch { failed.push({ type: 'processing-failed', code: 'DynamicPartitioning.MetadataExtractionFailed', message: 'record is not valid JSON', raw: line }); stats.errors++; return }
    const p = partitionPrefix(cfg.folder, r)
    if ('problem' in p) { failed.push({ type: 'processing-failed', code: 'DynamicPartitioning.MetadataExtractionFailed', message: p.problem, raw: line }); stats.errors++; return }
    let lines = buffer.get(p.prefix)
    if (!lines) buffer.set(p.prefix, (lines = []))
    lines.push(line)
    count++
  }

  // Spool files left by a crashed process are delivered now (duplicates, if any, are removed by silver).
  if (spool) {
    for (const f of readdirSync(spool).filter((f) => f.startsWith(`${cfg.name}-`) && f.endsWith('.jsonl')).sort()) {
      for (const line of readFileSync(join(spool, f), 'utf8').split('\n')) if (line.trim()) take(line)
      spooled.push(join(spool, f))
    }
  }

  /** Firehose's error document of a record (Developer Guide, "Handling errors for data format conversion"). */
  const errorDocument = (e: (typeof failed)[number], now: number) => JSON.stringify({
    attemptsMade: 1, arrivalTimestamp: now, lastErrorCode: e.code, lastErrorMessage: e.message, attemptEndingTimestamp: now,
    rawData: Buffer.from(e.raw).toString('base64'), sequenceNumber: String(++records), subSequenceNumber: 0,
    ...(e.type === 'format-conversion-failed' ? { dataCatalogTable: { catalogId: '000000000000', databaseName: 'ticklake_local', tableName: cfg.table, region: 'local' } } : {}),
  })

  async function deliver(groups: typeof buffer, bad: typeof failed) {
    const now = Date.now()
    const stamp = stampOf(now)
    const errors = bad.slice()
    for (const [prefix, lines] of groups) {
      const out = convertRecords(lines.map((l) => JSON.parse(l)), cfg.columns, o.serde)
      for (const e of out.errors) errors.push({ type: 'format-conversion-failed', code: 'DataFormatConversion.MalformedData', message: e.message, raw: lines[e.index] })
      if (!out.bytes) continue
      await store.put(`${prefix}${cfg.name}-${o.version}-${stamp}-${randomUUID()}.parquet`, out.bytes)
      stats.written += out.rows
      stats.files++
    }
    stats.errors += errors.length - bad.length
    const byType = new Map<string, typeof errors>()
    for (const e of errors) byType.set(e.type, [...(byType.get(e.type) ?? []), e])
    for (const [type, list] of byType) {
      const prefix = ERROR_OUTPUT_PREFIX.replace('!{firehose:error-output-type}', type).replace('!{timestamp:yyyy-MM-dd}', partitionOf(now).dt)
      await store.put(`${prefix}${cfg.name}-${o.version}-${stamp}-${randomUUID()}`, list.map((e) => errorDocument(e, now)).join('\n') + '\n')
    }
  }

  return {
    pending: () => count + failed.length,
    /** True when the quota of this second has room for one more record (which it then counts). */
    admit() {
      if (!o.recordsPerSec) return true
      const second = Math.floor(Date.now() / 1000)
      if (second !== quota.second) Object.assign(quota, { second, used: 0 })
      if (quota.used >= o.recordsPerSec) { stats.throttled++; return false }
      quota.used++
      return true
    },
    accept(data: string) {
      stats.received++
      const lines = Buffer.from(data, 'base64').toString('utf8').split('\n').filter((l) => l.trim())
      if (spoolFile && lines.length) appendFileSync(spoolFile, lines.join('\n') + '\n')
      for (const line of lines) take(line)
      return count >= o.bufferRecords
    },
    async writeOut() {
      const groups = buffer
      const bad = failed
      const sealed = spoolFile ? spooled.concat(spoolFile) : spooled
      buffer = new Map()
      count = 0
      failed = []
      spooled = []
      if (spool) spoolFile = join(spool, `${cfg.name}-${++seq}.jsonl`)
      try { await deliver(groups, bad) } catch (e) {
        for (const [prefix, lines] of groups) {
          const now = buffer.get(prefix)
          buffer.set(prefix, now ? lines.concat(now) : lines)
          count += lines.length
        }
        failed = bad.concat(failed)
        spooled = sealed.concat(spooled)
        throw e
      }
      for (const f of sealed) rmSync(f, { force: true })
    },
  }
}

/** Starts the emulator on a loopback port, writing into `store`. */
export async function startFirehose(store: ObjectStore, options: FirehoseOptions = {}): Promise<FirehoseEmulator> {
  const o = { ...defaults, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof defaults
  const log = options.log ?? (() => {})
  const stats = { received: 0, written: 0, files: 0, errors: 0, throttled: 0 }
  if (options.spoolDir) mkdirSync(options.spoolDir, { recursive: true })
  const streams = new Map((options.streams ?? STREAMS).map((c) => [c.name, deliveryStream(c, store, o, stats, options.spoolDir)]))
  const left = [...streams.values()].reduce((n, s) => n + s.pending(), 0)
  if (left) log(`firehose emulator: delivering ${left} records left by an earlier run`)

  // Each stream delivers on its own (as each delivery stream has its own buffer), one delivery at a
  // time, and at most one more waits: a buffer that stays full while a delivery runs asks once, not
  // once per record (which made a delivery of a few seconds' records for every PutRecordBatch).
  const writing = new Map<string, Promise<void>>()
  const waiting = new Map<string, Promise<void>>()
  function deliverStream(name: string) {
    const queued = waiting.get(name)
    if (queued) return queued
    const run = (writing.get(name) ?? Promise.resolve()).then(async () => {
      waiting.delete(name)
      await streams.get(name)!.writeOut().catch((e) => log(`firehose emulator could not write ${name} (records kept for the next try): ${e.message}`))
    })
    waiting.set(name, run)
    writing.set(name, run)
    return run
  }
  const flush = () => Promise.all([...streams.keys()].map(deliverStream)).then(() => {})
  const timer = setInterval(() => { if ([...streams.values()].some((s) => s.pending())) void flush() }, o.bufferMs)

  const server: Server = createServer(async (req, res) => {
    const reply = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() })
      res.end(JSON.stringify(body))
    }
    try {
      const target = String(req.headers['x-amz-target'] ?? '')
      const body = JSON.parse(await readBody(req, o.maxBodyBytes) || '{}')
      const stream = streams.get(body.DeliveryStreamName)
      if (!stream) return reply(400, { __type: 'ResourceNotFoundException', message: `Firehose ${body.DeliveryStreamName} under account 000000000000 not found.` })
      const accept = (data: unknown) => { if (stream.accept(String(data ?? ''))) void deliverStream(body.DeliveryStreamName); return { RecordId: randomUUID().replace(/-/g, '') } }
      // Over the quota, PutRecordBatch answers 200 with the refused records' ErrorCode; PutRecord fails whole (PutRecordBatch, Firehose API Reference)
      const slowDown = { ErrorCode: 'ServiceUnavailableException', ErrorMessage: 'Slow down.' }
      if (target === 'Firehose_20150804.PutRecordBatch') {
        if (!Array.isArray(body.Records) || body.Records.length === 0 || body.Records.length > 500) return reply(400, { __type: 'InvalidArgumentException', message: 'Records must hold 1 to 500 records' })
        const responses = body.Records.map((r: any) => stream.admit() ? accept(r?.Data) : slowDown)
        return reply(200, { FailedPutCount: responses.filter((r: any) => r.ErrorCode).length, Encrypted: false, RequestResponses: responses })
      }
      if (target === 'Firehose_20150804.PutRecord') {
        if (!stream.admit()) return reply(503, { __type: 'ServiceUnavailableException', message: 'Slow down.' })
        return reply(200, { ...accept(body.Record?.Data), Encrypted: false })
      }
      if (target === 'Firehose_20150804.DescribeDeliveryStream') return reply(200, { DeliveryStreamDescription: { DeliveryStreamName: body.DeliveryStreamName, DeliveryStreamStatus: 'ACTIVE', DeliveryStreamType: 'DirectPut' } })
      return reply(400, { __type: 'UnknownOperationException', message: `unknown operation ${target}` })
    } catch (e: any) {
      return reply(400, { __type: 'SerializationException', message: e.message })
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    streamName: o.streamName,
    flush,
    stats: () => ({ ...stats }),
    async close() {
      clearInterval(timer)
      await flush()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}
