/**
 * A tiny S3 on loopback for tests: path-style PutObject, GetObject, HeadObject, ListObjectsV2 and
 * DeleteObject over one bucket in memory, answering as Amazon S3 does where ticklake relies on it
 * (MD5 ETags in quotes, keys listed in order and paged, and the error codes of conditional writes:
 * 412 PreconditionFailed for `If-None-Match: *` over an object or `If-Match` with another ETag,
 * 404 NoSuchKey for `If-Match` where there is no object, 404 NoSuchBucket for another bucket).
 * The real `@aws-sdk/client-s3` talks to it, so the S3 adapter is tested through the SDK's own
 * request signing and error parsing. Not a general S3 emulator: no multipart, no versions.
 */
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export const defaults = { bucket: 'ticklake-test', pageSize: 1000 }

export interface S3StandIn {
  /** `http://127.0.0.1:PORT`, for `s3Store(bucket, endpoint)`. */
  endpoint: string
  bucket: string
  /** Requests answered, as `METHOD status` lines, in order (for tests that count round trips). */
  requests: string[]
  close(): Promise<void>
}

const xml = (res: ServerResponse, status: number, body: string) => {
  res.writeHead(status, { 'content-type': 'application/xml' })
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`)
}
const error = (res: ServerResponse, status: number, code: string, message: string) =>
  xml(res, status, `<Error><Code>${code}</Code><Message>${message}</Message><RequestId>stand-in</RequestId></Error>`)
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

async function bodyOf(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/** Starts the stand-in on a free loopback port. `pageSize` bounds a listing page (S3: 1,000). */
export async function startS3StandIn(o: Partial<typeof defaults> = {}): Promise<S3StandIn> {
  const { bucket, pageSize } = { ...defaults, ...o }
  const objects = new Map<string, { body: Buffer; etag: string; at: Date }>()
  const requests: string[] = []

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://stand-in')
    const [, b = '', ...rest] = url.pathname.split('/')
    const key = rest.map(decodeURIComponent).join('/')
    // S3 refuses a request that is not SigV4-signed before anything else (the signature itself is not checked here)
    if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ')) return error(res, 403, 'AccessDenied', 'Access Denied')
    if (decodeURIComponent(b) !== bucket) return error(res, 404, 'NoSuchBucket', 'The specified bucket does not exist')
    const current = objects.get(key)
    if (req.method === 'GET' && !key) {
      const prefix = url.searchParams.get('prefix') ?? ''
      const after = url.searchParams.get('continuation-token') ?? ''
      const all = [...objects.keys()].filter((k) => k.startsWith(prefix) && k > after).sort()
      const page = all.slice(0, pageSize)
      const truncated = all.length > page.length
      const contents = page.map((k) => {
        const x = objects.get(k)!
        return `<Contents><Key>${esc(k)}</Key><LastModified>${x.at.toISOString()}</LastModified><ETag>${esc(x.etag)}</ETag><Size>${x.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`
      }).join('')
      const next = truncated ? `<NextContinuationToken>${esc(page.at(-1)!)}</NextContinuationToken>` : ''
      return xml(res, 200, `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name><Prefix>${esc(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${pageSize}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${contents}${next}</ListBucketResult>`)
    }
    if (req.method === 'PUT') {
      const body = await bodyOf(req)
      const ifMatch = req.headers['if-match'], ifNoneMatch = req.headers['if-none-match']
      if (ifNoneMatch === '*' && current) return error(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold')
      if (ifMatch && !current) return error(res, 404, 'NoSuchKey', 'The specified key does not exist.')
      if (ifMatch && current!.etag !== ifMatch) return error(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold')
      const etag = `"${createHash('md5').update(body).digest('hex')}"`
      objects.set(key, { body, etag, at: new Date() })
      res.writeHead(200, { etag })
      return res.end()
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (!current) {
        if (req.method === 'HEAD') { res.writeHead(404); return res.end() }
        return error(res, 404, 'NoSuchKey', 'The specified key does not exist.')
      }
      res.writeHead(200, { etag: current.etag, 'content-length': current.body.length, 'last-modified': current.at.toUTCString(), 'content-type': 'application/octet-stream' })
      return res.end(req.method === 'GET' ? current.body : undefined)
    }
    if (req.method === 'DELETE') { objects.delete(key); res.writeHead(204); return res.end() }
    return error(res, 501, 'NotImplemented', `${req.method} is not served by the stand-in`)
  }

  const server = createServer((req, res) => {
    res.on('finish', () => requests.push(`${req.method} ${res.statusCode}`))
    handle(req, res).catch((e) => error(res, 500, 'InternalError', String(e)))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    requests,
    close: () => new Promise<void>((r, j) => server.close((e) => (e ? j(e) : r()))),
  }
}
