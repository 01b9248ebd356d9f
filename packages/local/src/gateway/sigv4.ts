/**
 * Checks the AWS Signature Version 4 of a management API call (`/@connections/{id}`), as API
 * Gateway does: the request is signed again with the local cloud's own credentials by
 * `@smithy/signature-v4` (the signer the AWS SDK itself uses), over the headers the caller says it
 * signed, at the time it says it signed, and the two signatures must be equal. A call signed with
 * other credentials, or altered after signing, or stamped more than `maxSkewMs` away from now, is
 * refused. The credentials are the local cloud's (random per run in `ticklake start`).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { SignatureV4 } from '@smithy/signature-v4'

export const defaults = {
  /** AWS refuses a signature stamped more than 5 minutes from its clock. */
  maxSkewMs: 5 * 60_000,
}

export interface Credentials { accessKeyId: string; secretAccessKey: string }

/** SHA-256 (or HMAC-SHA-256 with a secret) in the shape the signer takes. */
type Data = string | ArrayBuffer | ArrayBufferView
const bytes = (d: Data) => (typeof d === 'string' ? d : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : new Uint8Array(d))
class Sha256 {
  private readonly h
  constructor(secret?: Data) { this.h = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256') }
  update(data: Data) { this.h.update(bytes(data)) }
  async digest() { return new Uint8Array(this.h.digest()) }
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/

/** `20261124T150405Z` as epoch ms; NaN when it is not that shape. */
const amzDate = (s: string) => {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s)
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : Number.NaN
}

export interface SignedCall {
  method: string
  /** Host header as received. */
  host: string
  /** The path as received (percent-encoded) and the query string without `?`. */
  path: string
  query: string
  headers: Record<string, string | string[] | undefined>
  body: Uint8Array
}

/**
 * Why a call's signature is not good, or undefined when it is.
 * @example await sigv4Problem(call, { accessKeyId: 'local', secretAccessKey: 'local' }) // undefined
 */
export async function sigv4Problem(call: SignedCall, credentials: Credentials, now = Date.now(), o = defaults): Promise<string | undefined> {
  const header = (name: string) => { const v = call.headers[name]; return Array.isArray(v) ? v.join(',') : v }
  const m = AUTH.exec(header('authorization') ?? '')
  if (!m) return 'Missing Authentication Token'
  const [, keyId, , region, service, signed, signature] = m
  if (keyId !== credentials.accessKeyId) return 'The security token included in the request is invalid.'
  const stamp = header('x-amz-date') ?? ''
  const at = amzDate(stamp)
  if (!(Math.abs(now - at) <= o.maxSkewMs)) return 'Signature expired or not yet valid: x-amz-date is missing or too far from now'
  const names = signed.split(';')
  if (!names.includes('host')) return 'The host header must be signed'
  const headers: Record<string, string> = {}
  for (const n of names) {
    const v = n === 'host' ? call.host : header(n)
    if (v === undefined) return `Signed header ${n} is missing`
    headers[n] = v
  }
  // The signer takes a sent payload hash as it is: the body must be what it hashes.
  const payloadHash = header('x-amz-content-sha256')
  if (payloadHash !== undefined && payloadHash !== createHash('sha256').update(call.body).digest('hex')) return 'The provided x-amz-content-sha256 header does not match what was computed.'
  const query: Record<string, string | string[]> = {}
  for (const [k, v] of new URLSearchParams(call.query)) { const q = query[k]; query[k] = q === undefined ? v : Array.isArray(q) ? [...q, v] : [q, v] }
  // The path as the SDK sent it (percent-encoded); the signer escapes it once more, as SigV4 asks of every service but S3.
  const signer = new SignatureV4({ credentials, region, service, sha256: Sha256, applyChecksum: false })
  const request = { method: call.method, protocol: 'http:', hostname: call.host, path: call.path, query, headers, body: call.body }
  const again = await signer.sign(request, { signingDate: new Date(at), signingRegion: region, signingService: service, signableHeaders: new Set(names) })
  const expected = /Signature=([0-9a-f]{64})/.exec(String(again.headers.authorization ?? again.headers.Authorization))?.[1] ?? ''
  if (expected.length !== signature.length || !timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
    return 'The request signature we calculated does not match the signature you provided.'
  }
  return undefined
}
