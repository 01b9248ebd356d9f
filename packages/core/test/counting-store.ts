/**
 * An object store in memory for core's own tests (core does not import `@ticklake/local`, whose
 * `memoryStore` gives MD5 ETags as S3 does for plain uploads): ETags here are a counter, as S3's
 * are under KMS encryption, so no code may take an ETag for the bytes' MD5; reads are counted.
 */
import { PreconditionFailed, type ObjectStore } from '../src/ports/index'

/** A fresh store; `reads` counts `get` calls by key. */
export function countingStore(): ObjectStore & { reads: Map<string, number> } {
  const m = new Map<string, { body: Uint8Array; etag: string }>()
  let n = 0
  const store = {
    reads: new Map<string, number>(),
    async get(k: string) { store.reads.set(k, (store.reads.get(k) ?? 0) + 1); return m.get(k)?.body },
    async head(k: string) { const o = m.get(k); return o && { key: k, size: o.body.length, etag: o.etag, lastModified: 0 } },
    async put(k: string, b: Uint8Array | string, o: { ifMatch?: string; ifNoneMatch?: '*' } = {}) {
      const cur = m.get(k)
      if ((o.ifNoneMatch && cur) || (o.ifMatch && cur?.etag !== o.ifMatch)) throw new PreconditionFailed(k)
      const etag = `"${++n}"`
      m.set(k, { body: typeof b === 'string' ? new TextEncoder().encode(b) : b, etag })
      return { etag }
    },
    async list(prefix: string) { return [...m.keys()].filter((k) => k.startsWith(prefix)).sort().map((key) => ({ key, size: m.get(key)!.body.length, etag: m.get(key)!.etag, lastModified: 0 })) },
    async delete(k: string) { m.delete(k) },
  }
  return store
}
