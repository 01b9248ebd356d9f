/**
 * A small DynamoDB stand-in on loopback for tests: DynamoDB's JSON 1.0 protocol over HTTP
 * (`X-Amz-Target: DynamoDB_20120810.<Operation>`), as far as the `ConnectionStore` adapter uses
 * it — PutItem, GetItem, DeleteItem, Query (on the table or a keys-only global secondary index,
 * key conditions `=` and `begins_with`, paging) and BatchWriteItem — with DynamoDB's own checks
 * where a mistake would pass unnoticed elsewhere (25 requests a batch, no duplicate keys, no
 * consistent read on a global index, signed requests). It can leave batch items unprocessed to
 * exercise the caller's retries. Not a database: one process, memory only.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

type Attr = Record<string, unknown>
type Item = Record<string, Attr>

export interface TableSpec { name: string; partitionKey: string; sortKey?: string; indexes?: Record<string, { partitionKey: string }> }

export interface DynamoStandIn {
  endpoint: string
  /** Requests per operation name. */
  calls: Record<string, number>
  /** Items of a table, for assertions. */
  items(table: string): Item[]
  /** The next `n` BatchWriteItem calls leave their last `per` requests unprocessed. */
  throttleBatches(n: number, per?: number): void
  close(): Promise<void>
}

class Fault extends Error {
  constructor(readonly type: string, message: string, readonly status = 400) { super(message) }
}

const scalar = (a: Attr | undefined) => (a && ('S' in a ? a.S : 'N' in a ? a.N : 'B' in a ? a.B : undefined)) as string | undefined

/** Starts the stand-in with the given tables on a free loopback port. */
export async function startDynamoStandIn(tables: TableSpec[], options: { pageSize?: number } = {}): Promise<DynamoStandIn> {
  const data = new Map(tables.map((t) => [t.name, { spec: t, rows: new Map<string, Item>() }]))
  const calls: Record<string, number> = {}
  let throttle = { n: 0, per: 1 }
  const pageSize = options.pageSize ?? 1_000

  const tableOf = (name: unknown) => {
    const t = data.get(String(name))
    if (!t) throw new Fault('ResourceNotFoundException', `Requested resource not found: Table: ${name} not found`)
    return t
  }
  const keyOf = (spec: TableSpec, item: Item) => {
    const p = scalar(item[spec.partitionKey])
    const s = spec.sortKey ? scalar(item[spec.sortKey]) : ''
    if (p === undefined || s === undefined) throw new Fault('ValidationException', 'One of the required keys was not given a value')
    return JSON.stringify([p, s])
  }

  /** A key condition of the forms the adapter sends: `a = :v [AND begins_with(b, :p)]`. */
  function condition(expr: string, names: Record<string, string> = {}, values: Record<string, Attr> = {}) {
    const name = (n: string) => (n.startsWith('#') ? names[n] ?? fail(`name ${n} is not defined`) : n)
    const value = (v: string) => scalar(values[v]) ?? fail(`value ${v} is not defined`)
    const fail = (m: string): never => { throw new Fault('ValidationException', `Invalid KeyConditionExpression: ${m}`) }
    return expr.split(/\s+AND\s+/i).map((part) => {
      let m = /^\s*([#\w]+)\s*=\s*(:\w+)\s*$/.exec(part)
      if (m) return { attr: name(m[1]), test: (x?: string) => x === value(m![2]), eq: true }
      m = /^\s*begins_with\s*\(\s*([#\w]+)\s*,\s*(:\w+)\s*\)\s*$/i.exec(part)
      if (m) return { attr: name(m[1]), test: (x?: string) => x !== undefined && x.startsWith(value(m![2])), eq: false }
      return fail(`unsupported condition "${part.trim()}"`)
    })
  }

  const ops: Record<string, (b: any) => object> = {
    PutItem(b) {
      const t = tableOf(b.TableName)
      t.rows.set(keyOf(t.spec, b.Item), b.Item)
      return {}
    },
    /** `ADD a :x` (numbers) and `SET b = :y` clauses, the subset the adapter uses; `ReturnValues: UPDATED_NEW`. */
    UpdateItem(b) {
      const t = tableOf(b.TableName)
      const k = keyOf(t.spec, b.Key)
      const item = { ...(t.rows.get(k) ?? b.Key) }
      const name = (n: string) => (n.startsWith('#') ? b.ExpressionAttributeNames?.[n] : n)
      const value = (v: string) => b.ExpressionAttributeValues?.[v]
      const updated: Record<string, unknown> = {}
      const expr = String(b.UpdateExpression ?? '')
      const add = /\bADD\s+([#\w]+)\s+(:\w+)/.exec(expr)
      const set = /\bSET\s+([#\w]+)\s*=\s*(:\w+)/.exec(expr)
      if (!add && !set) throw new Fault('ValidationException', `unsupported update expression "${expr}"`)
      if (add) { const a = name(add[1]); item[a] = { N: String(Number(item[a]?.N ?? 0) + Number(value(add[2])?.N)) }; updated[a] = item[a] }
      if (set) { const a = name(set[1]); item[a] = value(set[2]); updated[a] = item[a] }
      t.rows.set(k, item)
      return b.ReturnValues === 'UPDATED_NEW' ? { Attributes: updated } : {}
    },
    GetItem(b) {
      const t = tableOf(b.TableName)
      const it = t.rows.get(keyOf(t.spec, b.Key))
      return it ? { Item: it } : {}
    },
    DeleteItem(b) {
      const t = tableOf(b.TableName)
      t.rows.delete(keyOf(t.spec, b.Key))
      return {}
    },
    Query(b) {
      const t = tableOf(b.TableName)
      const index = b.IndexName ? t.spec.indexes?.[b.IndexName] : undefined
      if (b.IndexName && !index) throw new Fault('ValidationException', `The table does not have the specified index: ${b.IndexName}`)
      if (index && b.ConsistentRead) throw new Fault('ValidationException', 'Consistent reads are not supported on global secondary indexes')
      const conds = condition(String(b.KeyConditionExpression ?? ''), b.ExpressionAttributeNames, b.ExpressionAttributeValues)
      const hash = index ? index.partitionKey : t.spec.partitionKey
      if (!conds.some((c) => c.eq && c.attr === hash)) throw new Fault('ValidationException', `Query condition missed key schema element: ${hash}`)
      const keys = (it: Item) => index ? { [index.partitionKey]: it[index.partitionKey], [t.spec.partitionKey]: it[t.spec.partitionKey], ...(t.spec.sortKey ? { [t.spec.sortKey]: it[t.spec.sortKey] } : {}) } : it
      const all = [...t.rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .filter(([, it]) => conds.every((c) => c.test(scalar(it[c.attr]))))
      const from = b.ExclusiveStartKey ? all.findIndex(([k]) => k === keyOf(t.spec, b.ExclusiveStartKey)) + 1 : 0
      const limit = Math.min(b.Limit ?? Infinity, pageSize)
      const page = all.slice(from, from + limit)
      const more = from + page.length < all.length
      const last = page.at(-1)?.[1]
      return { Items: page.map(([, it]) => keys(it)), Count: page.length, ScannedCount: page.length, ...(more && last ? { LastEvaluatedKey: keys(last) } : {}) }
    },
    BatchWriteItem(b) {
      const out: Record<string, unknown[]> = {}
      const entries = Object.entries(b.RequestItems ?? {}) as [string, any[]][]
      const count = entries.reduce((n, [, r]) => n + r.length, 0)
      if (count === 0 || count > 25) throw new Fault('ValidationException', `1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have length less than or equal to 25 (got ${count})`)
      for (const [name, requests] of entries) {
        const t = tableOf(name)
        const seen = new Set<string>()
        for (const r of requests) {
          const k = keyOf(t.spec, r.PutRequest?.Item ?? r.DeleteRequest?.Key)
          if (seen.has(k)) throw new Fault('ValidationException', 'Provided list of item keys contains duplicates')
          seen.add(k)
        }
        let done = requests
        if (throttle.n > 0) { throttle.n--; out[name] = requests.slice(-throttle.per); done = requests.slice(0, -throttle.per) }
        for (const r of done) {
          if (r.PutRequest) t.rows.set(keyOf(t.spec, r.PutRequest.Item), r.PutRequest.Item)
          else t.rows.delete(keyOf(t.spec, r.DeleteRequest.Key))
        }
      }
      return { UnprocessedItems: out }
    },
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    let body = ''
    for await (const chunk of req) body += chunk
    const answer = (status: number, doc: object) => { res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': Math.random().toString(36).slice(2) }); res.end(JSON.stringify(doc)) }
    try {
      if (!/^AWS4-HMAC-SHA256 /.test(String(req.headers.authorization ?? ''))) throw new Fault('MissingAuthenticationTokenException', 'Request is missing Authentication Token')
      const op = /^DynamoDB_20120810\.(\w+)$/.exec(String(req.headers['x-amz-target'] ?? ''))?.[1]
      if (!op || !ops[op]) throw new Fault('UnknownOperationException', `unknown operation ${req.headers['x-amz-target']}`)
      calls[op] = (calls[op] ?? 0) + 1
      answer(200, ops[op](JSON.parse(body)))
    } catch (e: any) {
      if (e instanceof Fault) return answer(e.status, { __type: `com.amazonaws.dynamodb.v20120810#${e.type}`, message: e.message })
      answer(500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: String(e?.message ?? e) })
    }
  }

  const server = createServer((req, res) => { void handle(req, res) })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    items: (table) => [...tableOf(table).rows.values()],
    throttleBatches(n, per = 1) { throttle = { n, per } },
    async close() {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}
