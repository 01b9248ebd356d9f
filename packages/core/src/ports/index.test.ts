import { describe, expect, it } from 'vitest'
import { PreconditionFailed, UpdateConflict, readJson, updateObject, type ObjectStore } from './index'
import { countingStore } from '../../test/counting-store'

/** Adds `item` to the JSON list at `key` (creating it), through `updateObject`. */
const append = (store: ObjectStore, key: string, item: number, retries?: number) =>
  updateObject(store, key, async (head) => {
    const list = head ? (await readJson<number[]>(store, key)) ?? [] : []
    return { body: JSON.stringify([...list, item]), result: list.length + 1 }
  }, { retries, contentType: 'application/json' })

/** `store` with a pause of up to 2 ms before each call, so concurrent callers interleave in every order. */
function jittery(store: ObjectStore): ObjectStore {
  const wait = () => new Promise((r) => setTimeout(r, Math.random() * 2))
  return {
    get: async (k) => { await wait(); return store.get(k) },
    head: async (k) => { await wait(); return store.head(k) },
    put: async (k, b, o) => { await wait(); return store.put(k, b, o) },
    list: async (p) => { await wait(); return store.list(p) },
    delete: async (k) => { await wait(); return store.delete(k) },
  }
}

describe('updateObject', () => {
  it('creates a missing object only where there is none, and rewrites one only over the version it read', async () => {
    const store = countingStore()
    const puts: unknown[] = []
    const spy: ObjectStore = { ...store, put: (k, b, o) => { puts.push(o); return store.put(k, b, o) } }
    expect(await append(spy, 'a.json', 1)).toMatchObject({ result: 1, etag: '"1"' })
    expect(await append(spy, 'a.json', 2)).toMatchObject({ result: 2, etag: '"2"' })
    expect(puts).toEqual([{ ifNoneMatch: '*', contentType: 'application/json' }, { ifMatch: '"1"', contentType: 'application/json' }])
    expect(await readJson(store, 'a.json')).toEqual([1, 2])
  })

  it('never loses an update of concurrent updaters: each one that lost a race reads again and adds its own', async () => {
    for (const store of [countingStore(), jittery(countingStore())]) {
      await Promise.all(Array.from({ length: 8 }, (_, i) => append(store, 'list.json', i, 10)))
      expect((await readJson<number[]>(store, 'list.json'))!.sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    }
  })

  it('gives up after its retries when another writer wins every time, with an error naming the key and the tries', async () => {
    const store = countingStore()
    let tries = 0
    const rival = updateObject(store, 'hot.json', async () => {
      tries++
      await store.put('hot.json', `rival ${tries}`) // another writer lands between the read and the write
      return { body: 'mine', result: true }
    }, { retries: 3 })
    const e = await rival.catch((x) => x)
    expect(e).toBeInstanceOf(UpdateConflict)
    expect(e).toBeInstanceOf(PreconditionFailed)
    expect(e).toMatchObject({ key: 'hot.json', tries: 4, message: 'gave up updating hot.json after 4 tries: another writer changed it before each write' })
    expect(tries).toBe(4)
    expect(new TextDecoder().decode(await store.get('hot.json'))).toBe('rival 4')
  })

  it('writes nothing when the change has no body, and passes an error other than a failed condition through untouched', async () => {
    const store = countingStore()
    expect(await updateObject(store, 'k', () => ({ result: 'kept' }))).toEqual({ result: 'kept' })
    expect(await store.head('k')).toBeUndefined()
    let tries = 0
    const broken: ObjectStore = { ...store, put: async () => { tries++; throw new Error('disk full') } }
    await expect(updateObject(broken, 'k', () => ({ body: 'x', result: 1 }))).rejects.toThrow('disk full')
    expect(tries).toBe(1)
  })

  it('reads `also` alongside the ETag at every try and hands it to the change', async () => {
    const store = countingStore()
    await store.put('input', 'v1')
    const seen: string[] = []
    await updateObject(store, 'out', async (_head, input) => {
      seen.push(input)
      if (seen.length === 1) { await store.put('input', 'v2'); await store.put('out', 'rival') }
      return { body: input, result: true }
    }, { also: async () => new TextDecoder().decode(await store.get('input')) })
    expect(seen).toEqual(['v1', 'v2'])
    expect(new TextDecoder().decode(await store.get('out'))).toBe('v2')
  })
})
