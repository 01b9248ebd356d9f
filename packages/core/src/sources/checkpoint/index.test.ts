import { describe, expect, it } from 'vitest'
import { PreconditionFailed, type ObjectStore } from '../../ports/index'
import { countingStore as memory } from '../../../test/counting-store'
import { readCheckpoint, writeCheckpoint, type Checkpoint } from './index'

const cp = (id: number): Checkpoint => ({ exchange: 'binance', symbol: 'BTC-USDT', last_trade_id: id, ts: id * 1000, updated_at: 0 })

/** A store in memory that counts every request made of it (GET, HEAD, PUT). */
function countingStore() {
  const inner = memory()
  let n = 0
  const store: ObjectStore = {
    get: (k) => { n++; return inner.get(k) },
    head: (k) => { n++; return inner.head(k) },
    put: (k, b, o) => { n++; return inner.put(k, b, o) },
    list: (p) => inner.list(p),
    delete: (k) => inner.delete(k),
  }
  return { store, requests: () => n }
}

describe('checkpoints', () => {
  it('writes with one conditional PUT when the caller knows what its ETag holds, and reads back the new one', async () => {
    const { store, requests } = countingStore()
    let etag = await writeCheckpoint(store, cp(10))
    const before = requests()
    etag = await writeCheckpoint(store, cp(510), etag, 10)
    expect(requests() - before).toBe(1)
    expect((await readCheckpoint(store, 'binance', 'BTC-USDT'))).toEqual({ checkpoint: cp(510), etag })
  })

  it('never moves backwards, with or without a known stored id', async () => {
    const { store } = countingStore()
    const etag = await writeCheckpoint(store, cp(10))
    expect(await writeCheckpoint(store, cp(5), etag, 10)).toBe(etag)
    expect(await writeCheckpoint(store, cp(5), etag)).toBe(etag)
    expect((await readCheckpoint(store, 'binance', 'BTC-USDT'))!.checkpoint.last_trade_id).toBe(10)
  })

  it('refuses to write over a version another writer put meanwhile', async () => {
    const { store } = countingStore()
    const mine = await writeCheckpoint(store, cp(10))
    await writeCheckpoint(store, cp(20), mine, 10)
    await expect(writeCheckpoint(store, cp(30), mine, 10)).rejects.toBeInstanceOf(PreconditionFailed)
    await expect(writeCheckpoint(store, cp(30), mine)).rejects.toBeInstanceOf(PreconditionFailed)
  })
})
