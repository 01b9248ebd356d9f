/**
 * The local object store: the lake as plain files under one folder (`./.ticklake` by default), with
 * S3's semantics where Ticklake relies on them (ETags, conditional puts, prefix listing in key
 * order, atomic replacement) and S3 event notifications in S3's own event shape for every created
 * object, so the real handlers run on what S3 would send them.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import type { S3Event } from 'aws-lambda'
import { PreconditionFailed, type ObjectInfo, type ObjectStore } from '@ticklake/core/ports'

export const defaults = { bucket: 'ticklake-local', region: 'us-east-1' }

export interface Notification { prefix?: string; suffix?: string; handler: (event: S3Event) => unknown }

export interface FileStore extends ObjectStore {
  root: string
  /** Calls `handler` with an S3 event for each object created under `prefix` ending in `suffix`. */
  notify(n: Notification): void
}

const md5 = (b: Uint8Array) => `"${createHash('md5').update(b).digest('hex')}"`
const keyOk = (key: string) => key.length > 0 && key.length <= 1024 && !key.startsWith('/') && !key.split('/').some((p) => p === '..' || p === '.')

/** S3's event record for a created object (keys URL-encoded the way S3 encodes them). */
export function s3Event(bucket: string, key: string, size: number, etag: string, region = defaults.region): S3Event {
  const now = new Date()
  return {
    Records: [{
      eventVersion: '2.1', eventSource: 'aws:s3', awsRegion: region, eventTime: now.toISOString(), eventName: 'ObjectCreated:Put',
      userIdentity: { principalId: 'local' }, requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: { 'x-amz-request-id': randomBytes(8).toString('hex').toUpperCase(), 'x-amz-id-2': randomBytes(16).toString('base64') },
      s3: {
        s3SchemaVersion: '1.0', configurationId: 'ticklake-local',
        bucket: { name: bucket, ownerIdentity: { principalId: 'local' }, arn: `arn:aws:s3:::${bucket}` },
        object: { key: encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+'), size, eTag: etag.replace(/"/g, ''), sequencer: now.getTime().toString(16).toUpperCase().padStart(16, '0') },
      },
    }],
  } as S3Event
}

/** A FileStore rooted at `root`. */
export function fileStore(root: string, bucket = defaults.bucket): FileStore {
  const notifications: Notification[] = []
  const locks = new Map<string, Promise<unknown>>()
  const path = (key: string) => {
    if (!keyOk(key)) throw new Error(`invalid object key: ${JSON.stringify(key)}`)
    return join(root, ...key.split('/'))
  }
  /** Serializes writes per key so a conditional put checks and writes as one step. */
  async function locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = locks.get(key) ?? Promise.resolve()
    const run = prev.then(fn, fn)
    locks.set(key, run.catch(() => {}))
    try { return await run } finally { if (locks.get(key) === run) locks.delete(key) }
  }
  /**
   * ETags already computed, by the file they were computed from: every write renames a new file
   * into place (a new inode), so an unchanged (inode, mtime, size) is an unchanged object and its
   * MD5 is not computed again (it was most of the lake thread's CPU: whole files read and hashed on
   * every head and every put).
   */
  const etags = new Map<string, { ino: bigint; mtimeNs: bigint; size: bigint; etag: string }>()
  async function head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const st = await stat(path(key), { bigint: true })
      const known = etags.get(key)
      const lastModified = Number(st.mtimeNs / 1_000_000n)
      if (known && known.ino === st.ino && known.mtimeNs === st.mtimeNs && known.size === st.size) return { key, size: Number(st.size), etag: known.etag, lastModified }
      const bytes = await readFile(path(key))
      const etag = md5(bytes)
      const again = await stat(path(key), { bigint: true })
      // cached only when the file did not change while it was read
      if (again.ino === st.ino && again.mtimeNs === st.mtimeNs && again.size === st.size && again.size === BigInt(bytes.length)) etags.set(key, { ino: st.ino, mtimeNs: st.mtimeNs, size: st.size, etag })
      return { key, size: bytes.length, etag, lastModified }
    } catch (e: any) { if (e.code === 'ENOENT' || e.code === 'ENOTDIR' || e.code === 'EISDIR') return undefined; throw e }
  }
  async function walk(dir: string, out: string[]) {
    let entries
    try { entries = await readdir(dir, { withFileTypes: true }) } catch (e: any) { if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return; throw e }
    for (const e of entries) {
      if (e.name.startsWith('.tmp-')) continue
      const p = join(dir, e.name)
      if (e.isDirectory()) await walk(p, out); else out.push(relative(root, p).split(sep).join('/'))
    }
  }
  return {
    root,
    notify(n) { notifications.push(n) },
    async get(key) {
      try { return new Uint8Array(await readFile(path(key))) } catch (e: any) { if (e.code === 'ENOENT' || e.code === 'EISDIR' || e.code === 'ENOTDIR') return undefined; throw e }
    },
    head,
    async put(key, body, options = {}) {
      const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body
      const etag = md5(bytes)
      await locked(key, async () => {
        // an unconditional put reads nothing of the object it replaces
        const current = options.ifNoneMatch === '*' || options.ifMatch ? await head(key) : undefined
        if (options.ifNoneMatch === '*' && current) throw new PreconditionFailed(key)
        if (options.ifMatch && current?.etag !== options.ifMatch) throw new PreconditionFailed(key)
        const p = path(key)
        await mkdir(dirname(p), { recursive: true })
        const tmp = join(dirname(p), `.tmp-${randomBytes(6).toString('hex')}`)
        await writeFile(tmp, bytes)
        const st = await stat(tmp, { bigint: true }) // the file itself: a rename keeps its inode and mtime
        await rename(tmp, p)
        etags.set(key, { ino: st.ino, mtimeNs: st.mtimeNs, size: st.size, etag })
      })
      for (const n of notifications) {
        if ((n.prefix && !key.startsWith(n.prefix)) || (n.suffix && !key.endsWith(n.suffix))) continue
        queueMicrotask(() => { void n.handler(s3Event(bucket, key, bytes.length, etag)) })
      }
      return { etag }
    },
    async list(prefix) {
      const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : ''
      const keys: string[] = []
      await walk(base ? join(root, ...base.split('/')) : root, keys)
      const out: ObjectInfo[] = []
      for (const key of keys.filter((k) => k.startsWith(prefix)).sort()) {
        const st = await stat(path(key)).catch(() => undefined)
        if (st) out.push({ key, size: st.size, etag: '', lastModified: st.mtimeMs })
      }
      return out
    },
    async delete(key) { etags.delete(key); await rm(path(key), { force: true }) },
  }
}

/** An ObjectStore in memory with the same semantics (for tests and throwaway runs). */
export function memoryStore(): ObjectStore & { keys(): string[] } {
  const objects = new Map<string, { body: Uint8Array; etag: string; at: number }>()
  return {
    keys: () => [...objects.keys()].sort(),
    async get(key) { return objects.get(key)?.body },
    async head(key) { const o = objects.get(key); return o && { key, size: o.body.length, etag: o.etag, lastModified: o.at } },
    async put(key, body, options = {}) {
      if (!keyOk(key)) throw new Error(`invalid object key: ${JSON.stringify(key)}`)
      const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body
      const current = objects.get(key)
      if ((options.ifNoneMatch === '*' && current) || (options.ifMatch && current?.etag !== options.ifMatch)) throw new PreconditionFailed(key)
      const etag = md5(bytes)
      objects.set(key, { body: bytes, etag, at: Date.now() })
      return { etag }
    },
    async list(prefix) { return [...objects.keys()].filter((k) => k.startsWith(prefix)).sort().map((key) => ({ key, size: objects.get(key)!.body.length, etag: objects.get(key)!.etag, lastModified: objects.get(key)!.at })) },
    async delete(key) { objects.delete(key) },
  }
}
