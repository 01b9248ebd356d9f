import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { S3Event } from 'aws-lambda'
import { PreconditionFailed } from '@ticklake/core/ports'
import { fileStore } from './index'

const dirs: string[] = []
const store = () => { const d = mkdtempSync(join(tmpdir(), 'ticklake-store-')); dirs.push(d); return fileStore(d) }
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

describe('file store', () => {
  it('stores, heads, lists in key order and deletes objects like S3', async () => {
    const s = store()
    await s.put('a/b/2.txt', 'two')
    await s.put('a/b/1.txt', new Uint8Array([1, 2, 3]))
    await s.put('a/c.txt', 'c')
    expect(new TextDecoder().decode(await s.get('a/b/2.txt'))).toBe('two')
    expect(await s.head('a/b/1.txt')).toMatchObject({ size: 3, etag: '"5289df737df57326fcdd22597afb1fac"' })
    expect((await s.list('a/b/')).map((o) => o.key)).toEqual(['a/b/1.txt', 'a/b/2.txt'])
    expect((await s.list('a/')).map((o) => o.key)).toEqual(['a/b/1.txt', 'a/b/2.txt', 'a/c.txt'])
    expect(await s.list('zzz/')).toEqual([])
    await s.delete('a/c.txt')
    expect(await s.get('a/c.txt')).toBeUndefined()
    expect(await s.head('a/c.txt')).toBeUndefined()
  })

  it('refuses a conditional put whose condition does not hold', async () => {
    const s = store()
    const { etag } = await s.put('k.json', '1', { ifNoneMatch: '*' })
    await expect(s.put('k.json', '2', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailed)
    await expect(s.put('k.json', '2', { ifMatch: '"stale"' })).rejects.toBeInstanceOf(PreconditionFailed)
    await s.put('k.json', '2', { ifMatch: etag })
    expect(new TextDecoder().decode(await s.get('k.json'))).toBe('2')
  })

  it('answers the ETag of what the file holds now, also after another store or process replaced it', async () => {
    const s = store()
    const other = fileStore(s.root)
    const { etag: first } = await s.put('k.json', 'one')
    expect((await s.head('k.json'))!.etag).toBe(first)
    const { etag: second } = await other.put('k.json', 'two') // same size, another writer
    expect(second).not.toBe(first)
    expect((await s.head('k.json'))!.etag).toBe(second)
    await expect(s.put('k.json', 'six', { ifMatch: first })).rejects.toBeInstanceOf(PreconditionFailed)
    writeFileSync(join(s.root, 'k.json'), 'ten') // a change in place, as a hand edit would make
    expect((await s.head('k.json'))!.etag).toBe('"' + createHash('md5').update('ten').digest('hex') + '"')
  })

  it('lets only one of many racing conditional writers win', async () => {
    const s = store()
    const { etag } = await s.put('k', '0')
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => s.put('k', String(i + 1), { ifMatch: etag })))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
  })

  it('rejects keys that would escape the lake folder', async () => {
    const s = store()
    for (const key of ['../x', 'a/../../x', '/etc/passwd', '']) await expect(s.put(key, 'x')).rejects.toThrow(/invalid object key/)
  })

  it('emits an S3 event, with the key URL-encoded as S3 does, for each created object under a prefix', async () => {
    const s = store()
    const events: S3Event[] = []
    s.notify({ prefix: 'bronze/', suffix: '.parquet', handler: (e) => events.push(e) })
    await s.put('bronze/exchange=binance/x y.parquet', 'x')
    await s.put('bronze/other.json', 'x')
    await s.put('gold/z.parquet', 'x')
    await new Promise((r) => setTimeout(r, 10))
    expect(events).toHaveLength(1)
    const r = events[0].Records[0]
    expect(r).toMatchObject({ eventSource: 'aws:s3', eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'ticklake-local' }, object: { key: 'bronze/exchange%3Dbinance/x+y.parquet', size: 1 } } })
  })

  it('writes to a temporary name and renames it into place: a reader sees the old object or the new one, never half, and list never shows the temporary file', async () => {
    const s = store()
    const old = new Uint8Array(8 << 20).fill(1)
    const next = new Uint8Array(8 << 20).fill(2)
    await s.put('gold/x.parquet', old)
    const seen = new Set<string>()
    let listed: string[] = []
    let done = false
    const put = s.put('gold/x.parquet', next).then(() => { done = true })
    while (!done) {
      const b = readFileSync(join(s.root, 'gold', 'x.parquet'))
      seen.add(b.length === old.length && (b[0] === b[b.length - 1]) ? `whole ${b[0]}` : `half ${b.length}`)
      listed = (await s.list('gold/')).map((o) => o.key)
      expect(listed).toEqual(['gold/x.parquet'])
      await new Promise((r) => setImmediate(r))
    }
    await put
    expect([...seen].filter((x) => x.startsWith('half'))).toEqual([])
    expect(readdirSync(join(s.root, 'gold'))).toEqual(['x.parquet'])
    expect((await s.get('gold/x.parquet'))![0]).toBe(2)
  })
})
