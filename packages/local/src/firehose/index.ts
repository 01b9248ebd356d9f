/**
 * The local Firehose emulator: an HTTP endpoint speaking Firehose's JSON protocol
 * (`PutRecord`, `PutRecordBatch`, `DescribeDeliveryStream`), so ingest uses the real
 * `@aws-sdk/client-firehose`. Like a delivery stream with dynamic partitioning and Parquet
 * conversion, it buffers records, then writes one Parquet file per partition and buffer into the
 * object store under the lake's Hive prefix; records it cannot convert go to `errors/` with the
 * reason, as Firehose's error output prefix does.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { randomUUID } from 'node:crypto'
import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { TRADE_COLUMNS, type Trade } from '@ticklake/core/market'
import { bronzeTradesPrefix, partitionOf } from '@ticklake/core/lake'
import { writeParquet } from '@ticklake/core/parquet'
import type { ObjectStore } from '@ticklake/core/ports'

export const defaults = {
  /** Firehose's buffer interval; AWS allows 0-900 s, locally about a second keeps the lake fresh. */
  bufferMs: 1_000,
  bufferRecords: 50_000,
  streamName: 'ticklake-trades',
  maxBodyBytes: 5 * 1024 * 1024,
}

export interface FirehoseEmulator {
  endpoint: string
  streamName: string
  /** Writes whatever is buffered now. */
  flush(): Promise<void>
  stats(): { received: number; written: number; files: number; errors: number }
  close(): Promise<void>
}

/** Why a record is not a trade of the bronze schema, or undefined when it is one. */
export function tradeProblem(r: any): string | undefined {
  if (!r || typeof r !== 'object') return 'record is not a JSON object'
  for (const c of TRADE_COLUMNS) {
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

/** Starts the emulator on a loopback port, writing into `store`. */
export async function startFirehose(store: ObjectStore, options: Partial<typeof defaults> & { log?: (s: string) => void; spoolDir?: string } = {}): Promise<FirehoseEmulator> {
  const o = { ...defaults, ...options }
  const log = options.log ?? (() => {})
  let buffer: Trade[] = []
  let errors: string[] = []
  const stats = { received: 0, written: 0, files: 0, errors: 0 }
  let writing = Promise.resolve()

  // Accepted means durable, as in AWS: each record is appended to a spool file before the reply,
  // and a spool file is removed only once its records are in the lake. Spool files left by a
  // crashed process are delivered at the next start (duplicates, if any, are removed by silver).
  const spool = options.spoolDir
  let spoolSeq = Date.now()
  let spoolFile = spool && join(spool, `${o.streamName}-${spoolSeq}.jsonl`)
  let spooled: string[] = []
  if (spool) {
    mkdirSync(spool, { recursive: true })
    for (const f of readdirSync(spool).filter((f) => f.startsWith(`${o.streamName}-`) && f.endsWith('.jsonl')).sort()) {
      for (const line of readFileSync(join(spool, f), 'utf8').split('\n')) if (line.trim()) take(line, line)
      spooled.push(join(spool, f))
    }
    if (spooled.length) log(`firehose emulator: delivering ${buffer.length} records left by an earlier run`)
  }

  async function writeOut() {
    const records = buffer
    const bad = errors
    const sealed = spoolFile ? spooled.concat(spoolFile) : spooled
    buffer = []
    errors = []
    spooled = []
    if (spool) spoolFile = join(spool, `${o.streamName}-${++spoolSeq}.jsonl`)
    try { await deliver(records, bad) } catch (e) {
      buffer = records.concat(buffer)
      errors = bad.concat(errors)
      spooled = sealed.concat(spooled)
      throw e
    }
    for (const f of sealed) rmSync(f, { force: true })
  }

  async function deliver(records: Trade[], bad: string[]) {
    const groups = new Map<string, Trade[]>()
    for (const t of records) {
      const p = partitionOf(t.ts / 1000)
      const prefix = bronzeTradesPrefix(t.exchange, t.symbol, p.dt, p.hour)
      const g = groups.get(prefix)
      if (g) g.push(t); else groups.set(prefix, [t])
    }
    const stamp = new Date().toISOString().replace(/[-:T]/g, '-').slice(0, 19)
    for (const [prefix, rows] of groups) {
      await store.put(`${prefix}${o.streamName}-1-${stamp}-${randomUUID()}.parquet`, writeParquet(TRADE_COLUMNS, rows))
      stats.written += rows.length
      stats.files++
    }
    if (bad.length) {
      const p = partitionOf(Date.now())
      await store.put(`errors/format-conversion-failed/dt=${p.dt}/hour=${p.hour}/${o.streamName}-${stamp}-${randomUUID()}.jsonl`, bad.join('\n') + '\n')
    }
  }
  function flush() {
    const records = buffer.length
    writing = writing.then(writeOut).catch((e) => log(`firehose emulator could not write (${records} records kept for the next try): ${e.message}`))
    return writing
  }
  const timer = setInterval(() => { if (buffer.length || errors.length) void flush() }, o.bufferMs)

  /** Buffers one record line, or its conversion error. */
  function take(line: string, raw: string) {
    let r: any
    try { r = JSON.parse(line) } catch { r = undefined }
    const problem = r === undefined ? 'record is not valid JSON' : tradeProblem(r)
    if (problem) { stats.errors++; errors.push(JSON.stringify({ errorCode: 'DataFormatConversion.Malformed', errorMessage: problem, rawData: raw.slice(0, 10_000) })) }
    else buffer.push(Object.fromEntries(TRADE_COLUMNS.map((c) => [c.name, r[c.name]])) as Trade)
  }

  function accept(data: string) {
    stats.received++
    const lines = Buffer.from(data, 'base64').toString('utf8').split('\n').filter((l) => l.trim())
    if (spoolFile && lines.length) appendFileSync(spoolFile, lines.join('\n') + '\n')
    for (const line of lines) take(line, data)
    if (buffer.length >= o.bufferRecords) void flush()
    return { RecordId: randomUUID().replace(/-/g, '') }
  }

  const server: Server = createServer(async (req, res) => {
    const reply = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() })
      res.end(JSON.stringify(body))
    }
    try {
      const target = String(req.headers['x-amz-target'] ?? '')
      const body = JSON.parse(await readBody(req, o.maxBodyBytes) || '{}')
      if (body.DeliveryStreamName !== o.streamName) return reply(400, { __type: 'ResourceNotFoundException', message: `Firehose ${body.DeliveryStreamName} under account 000000000000 not found.` })
      if (target === 'Firehose_20150804.PutRecordBatch') {
        if (!Array.isArray(body.Records) || body.Records.length === 0 || body.Records.length > 500) return reply(400, { __type: 'InvalidArgumentException', message: 'Records must hold 1 to 500 records' })
        return reply(200, { FailedPutCount: 0, Encrypted: false, RequestResponses: body.Records.map((r: any) => accept(String(r.Data ?? ''))) })
      }
      if (target === 'Firehose_20150804.PutRecord') return reply(200, { ...accept(String(body.Record?.Data ?? '')), Encrypted: false })
      if (target === 'Firehose_20150804.DescribeDeliveryStream') return reply(200, { DeliveryStreamDescription: { DeliveryStreamName: o.streamName, DeliveryStreamStatus: 'ACTIVE', DeliveryStreamType: 'DirectPut' } })
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
