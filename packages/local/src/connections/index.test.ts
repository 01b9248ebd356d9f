// The memory store's behaviour is the ConnectionStore contract (contract.test.ts runs it against
// this store and the DynamoDB adapter); here only what is its own.
import { describe, expect, it } from 'vitest'
import { memoryConnectionStore } from './index'

describe('memoryConnectionStore', () => {
  it('counts the connections it holds, and none once they are removed', async () => {
    const s = memoryConnectionStore()
    await s.add('a', 1)
    await s.add('b', 2)
    await s.subscribe('a', ['x'])
    expect(s.size()).toBe(2)
    await s.remove('a')
    await s.remove('b')
    expect(s.size()).toBe(0)
  })
})
