/**
 * The local Firehose emulator: an HTTP endpoint speaking Firehose's JSON protocol
 * (`PutRecord`, `PutRecordBatch`, `DescribeDeliveryStream`), so ingest uses the real
 * `@aws-sdk/client-firehose`. Like delivery streams with dynamic partitioning and Parquet
 * conversion, each stream buffers records, then writes one Parquet file per partition and buffer
 * into the object store under the lake's Hive prefix; records it cannot convert go to `errors/`
 * with the reason, as Firehose's error output prefix does. Accepted records are spooled to disk
 * before the reply, so a crash loses none. With `recordsPerSec` set, a stream takes at most that
 * many records a second, as Firehose's Direct PUT quota does: the rest of a PutRecordBatch fails
 * record by record with `ServiceUnavailableException` (the producer backs off and retries them).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { randomUUID } from 'node:crypto'
import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { QUOTE_COLUMNS, TRADE_COLUMNS, type Column } from '@ticklake/core/market'
import { bronzeQuotesPrefix, bronzeTradesPrefix, partitionOf } from '@ticklake/core/lake'
import { writeParquet } from '@ticklake/core/parquet'
import type { ObjectStore } from '@ticklake/core/ports'

/** A delivery stream: its record columns and the lake prefix (dynamic partitioning) of a record. */
export interface StreamConfig { name: string; columns: Column<any>[]; prefixOf: (record: any) => string }

const hourOf = (r: { exchange: string; symbol: string; ts: number }) => partitionOf(r.ts / 1000)
export const STREAMS: StreamConfig[] = [
  { name: 'ticklake-trades', columns: TRADE_COLUMNS, prefixOf: (r) => { const p = hourOf(r); return bronzeTradesPrefix(r.exchange, r.symbol, p.dt, p.hour) } },
  { name: 'ticklake-quotes', columns: QUOTE_COLUMNS, prefixOf: (r) => { const p = hourOf(r); return bronzeQuotesPrefix(r.exchange, r.symbol, p.dt, p.hour) } },
]

export const defaults = {
  /** Firehose's buffer interval; AWS allows 0-900 s, locally about a second keeps the lake fresh. */
  bufferMs: 1_000,
  bufferRecords: 50_000,
  /** The trades stream, which most callers want. */
  streamName: 'ticklake-trades',
  maxBodyBytes: 5 * 1024 * 1024,
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

/** Why a record does not fit `columns`, or undefined when it does. */
export function recordProblem(r: any, columns: Column<any>[] = TRADE_COLUMNS): string | undefined {
  if (!r || typeof r !== 'object') return 'record is not a JSON object'
  for (const c of columns) {
    const v = r[c.name]
    if (c.type === 'STRING' ? typeof v !== 'string' || !v : typeof v !== 'number' || !Number.isFinite(v)) return `column ${c.name} (${c.type}) is missing or of the wrong type`
    if ((c.type === 'INT64' || c.type === 'INT32' || c.type === 'TIMESTAMP_MICROS') && !Number.isSafeInteger(v)) return `column ${c.name} is not an integer`
  }
  return undefined
}

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
  let buffer: any[] = []
  const quota = { second: 0, used: 0 }
  let errors: string[] = []
  let seq = Date.now()
  let spoolFile = spool && join(spool, `${cfg.name}-${seq}.jsonl`)
  let spooled: string[] = []

  function take(line: string, raw: string) {
    let r: any
    try { r = JSON.parse(line) } catch { r = undefined }
    const problem = r === undefined ? 'record is not valid JSON' : recordProblem(r, cfg.columns)
    if (problem) { stats.errors++; errors.push(JSON.stringify({ errorCode: 'DataFormatConversion.Malformed', errorMessage: problem, rawData: raw.slice(0, 10_000) })) }
    else buffer.push(Object.fromEntries(cfg.columns.map((c) => [c.name, r[c.name]])))
  }

  // Spool files left by a crashed process are delivered now (duplicates, if any, are removed by silver).
  if (spool) {
    for (const f of readdirSync(spool).filter((f) => f.startsWith(`${cfg.name}-`) && f.endsWith('.jsonl')).sort()) {
      for (const line of readFileSync(join(spool, f), 'utf8').split('\n')) if (line.trim()) take(line, line)
      spooled.push(join(spool, f))
    }
  }

  async function deliver(records: any[], bad: string[]) {
    const groups = new Map<string, any[]>()
    for (const r of records) {
      const prefix = cfg.prefixOf(r)
      const g = groups.get(prefix)
      if (g) g.push(r); else groups.set(prefix, [r])
    }
    const stamp = new Date().toISOString().replace(/[-:T]/g, '-').slice(0, 19)
    for (const [prefix, rows] of groups) {
      await store.put(`${prefix}${cfg.name}-1-${stamp}-${randomUUID()}.parquet`, writeParquet(cfg.columns, rows))
      stats.written += rows.length
      stats.files++
    }
    if (bad.length) {
      const p = partitionOf(Date.now())
      await store.put(`errors/format-conversion-failed/dt=${p.dt}/hour=${p.hour}/${cfg.name}-${stamp}-${randomUUID()}.jsonl`, bad.join('\n') + '\n')
    }
  }

  return {
    pending: () => buffer.length + errors.length,
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
      for (const line of lines) take(line, data)
      return buffer.length >= o.bufferRecords
    },
    async writeOut() {
      const records = buffer
      const bad = errors
      const sealed = spoolFile ? spooled.concat(spoolFile) : spooled
      buffer = []
      errors = []
      spooled = []
      if (spool) spoolFile = join(spool, `${cfg.name}-${++seq}.jsonl`)
      try { await deliver(records, bad) } catch (e) {
        buffer = records.concat(buffer)
        errors = bad.concat(errors)
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

  let writing = Promise.resolve()
  function flush() {
    writing = writing.then(async () => {
      for (const [name, s] of streams) await s.writeOut().catch((e) => log(`firehose emulator could not write ${name} (records kept for the next try): ${e.message}`))
    })
    return writing
  }
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
      const accept = (data: unknown) => { if (stream.accept(String(data ?? ''))) void flush(); return { RecordId: randomUUID().replace(/-/g, '') } }
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
