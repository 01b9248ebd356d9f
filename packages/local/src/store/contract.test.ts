/**
 * The `ObjectStore` contract, run over every adapter: the S3 adapter through the real
 * `@aws-sdk/client-s3` against a loopback S3 stand-in (answering as S3 does), the filesystem
 * store, the local memory store and core's counting test store. Conditional writes are the point:
 * each adapter must refuse the same writes with PreconditionFailed, so the optimistic loops that
 * read an ETag and write over it retry, instead of failing the run, on whichever store they run.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { s3Store } from '@ticklake/core/aws/s3'
import { PreconditionFailed, type ObjectStore } from '@ticklake/core/ports'
import { countingStore } from '../../../core/test/counting-store'
import { readDimSymbols, writeDimSymbols, type DimSymbol } from '@ticklake/core/sources/symbols'
import { fileStore, memoryStore } from './index'
import { startS3StandIn, type S3StandIn } from '../../test/s3-stand-in'

let s3: S3StandIn
const dirs: string[] = []
beforeAll(async () => { s3 = await startS3StandIn({ pageSize: 2 }) })
afterAll(async () => { await s3.close(); for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

let n = 0
/** Each adapter, fresh: S3 ones under their own prefix of the stand-in's bucket. */
const adapters: [string, () => { store: ObjectStore; root: string }][] = [
  ['s3 (SDK client on the stand-in)', () => ({ store: s3Store(s3.bucket, s3.endpoint), root: `t${++n}/` })],
  ['file store', () => { const d = mkdtempSync(join(tmpdir(), 'ticklake-contract-')); dirs.push(d); return { store: fileStore(d), root: '' } }],
  ['memory store', () => ({ store: memoryStore(), root: '' })],
  ['counting store (core tests)', () => ({ store: countingStore(), root: '' })],
]
const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined)

describe.each(adapters)('ObjectStore contract: %s', (_, make) => {
  it('puts, gets, heads, lists in key order across pages, and deletes', async () => {
    const { store, root } = make()
    const { etag } = await store.put(`${root}a/2.json`, '{"b":2}')
    await store.put(`${root}a/1.json`, new Uint8Array([123, 125]))
    await store.put(`${root}a/3.json`, '3')
    await store.put(`${root}b.json`, 'b')
    expect(text(await store.get(`${root}a/2.json`))).toBe('{"b":2}')
    expect(await store.head(`${root}a/2.json`)).toMatchObject({ key: `${root}a/2.json`, size: 7, etag })
    expect((await store.list(`${root}a/`)).map((o) => o.key)).toEqual([`${root}a/1.json`, `${root}a/2.json`, `${root}a/3.json`])
    await store.delete(`${root}a/2.json`)
    expect(await store.get(`${root}a/2.json`)).toBeUndefined()
    expect(await store.head(`${root}a/2.json`)).toBeUndefined()
  })

  it('refuses ifNoneMatch over an object and ifMatch with another ETag, and writes when the ETag is current', async () => {
    const { store, root } = make()
    const key = `${root}k.json`
    const first = await store.put(key, '1', { ifNoneMatch: '*' })
    await expect(store.put(key, '2', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailed)
    await expect(store.put(key, '2', { ifMatch: '"0123456789abcdef0123456789abcdef"' })).rejects.toBeInstanceOf(PreconditionFailed)
    const second = await store.put(key, '2', { ifMatch: first.etag })
    expect(second.etag).not.toBe(first.etag)
    expect(text(await store.get(key))).toBe('2')
  })

  it('refuses ifMatch on a key with no object as PreconditionFailed, and writes nothing', async () => {
    const { store, root } = make()
    const etag = (await store.put(`${root}other.json`, 'x')).etag // a real ETag, of another object
    await expect(store.put(`${root}gone.json`, 'y', { ifMatch: etag })).rejects.toBeInstanceOf(PreconditionFailed)
    await store.put(`${root}was.json`, 'z')
    await store.delete(`${root}was.json`)
    await expect(store.put(`${root}was.json`, 'w', { ifMatch: etag })).rejects.toBeInstanceOf(PreconditionFailed)
    expect(await store.head(`${root}gone.json`)).toBeUndefined()
    expect(await store.head(`${root}was.json`)).toBeUndefined()
  })

  it('lets an optimistic loop retry and write when the object vanishes between its read and its write', async () => {
    const { store } = make() // the dimension's one key: only this case writes it in the stand-in's bucket
    const row = (symbol: string): DimSymbol => ({
      exchange: 'binance', symbol, native_symbol: symbol.replace('-', ''), base: symbol.split('-')[0], quote: symbol.split('-')[1], status: 'TRADING', trading: true,
      contract_type: 'spot', tick_size: 0.01, lot_size: 0.001, min_qty: null, min_notional: null, price_decimals: 2, qty_decimals: 3, updated_at: 1,
    })
    await writeDimSymbols(store, [row('BTC-USDT')])
    let removed = false
    const racing: ObjectStore = {
      ...store,
      async put(key, body, o) {
        if (!removed && o?.ifMatch) { removed = true; await store.delete(key) } // another party removes it after our head
        return store.put(key, body, o)
      },
    }
    expect(await writeDimSymbols(racing, [row('ETH-USDT')])).toBe(1)
    expect(removed).toBe(true)
    expect((await readDimSymbols(store)).map((r) => r.symbol)).toEqual(['ETH-USDT'])
  })
})

describe('S3 adapter errors that are not conditions', () => {
  it('keeps a missing bucket an error, not a PreconditionFailed that a loop would retry', async () => {
    const store = s3Store('no-such-bucket', s3.endpoint)
    const e = await store.put('k', 'v', { ifMatch: '"0123456789abcdef0123456789abcdef"' }).catch((x) => x)
    expect(e).not.toBeInstanceOf(PreconditionFailed)
    expect(e.name).toBe('NoSuchBucket')
  })
})
