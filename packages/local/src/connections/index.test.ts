import { describe, expect, it } from 'vitest'
import { memoryConnectionStore } from './index'

describe('memoryConnectionStore', () => {
  it('finds the subscribers of a channel and the channels of a connection', async () => {
    const s = memoryConnectionStore()
    await s.add('a', 1)
    await s.add('b', 2)
    expect(await s.subscribe('a', ['x', 'y'])).toBe(2)
    expect(await s.subscribe('b', ['y'])).toBe(1)
    expect((await s.subscribers('y')).sort()).toEqual(['a', 'b'])
    expect(await s.channelsOf('a')).toEqual(['x', 'y'])
  })

  it('counts a channel once however often it is subscribed', async () => {
    const s = memoryConnectionStore()
    await s.add('a', 1)
    await s.subscribe('a', ['x'])
    expect(await s.subscribe('a', ['x', 'x'])).toBe(1)
    expect(await s.subscribers('x')).toEqual(['a'])
  })

  it('unsubscribes only the named channels', async () => {
    const s = memoryConnectionStore()
    await s.add('a', 1)
    await s.subscribe('a', ['x', 'y'])
    await s.unsubscribe('a', ['x', 'never'])
    expect(await s.channelsOf('a')).toEqual(['y'])
    expect(await s.subscribers('x')).toEqual([])
  })

  it('forgets a removed connection in every channel, and ignores one it never knew', async () => {
    const s = memoryConnectionStore()
    await s.add('a', 1)
    await s.subscribe('a', ['x', 'y'])
    await s.remove('a')
    await s.remove('ghost')
    expect(await s.subscribers('x')).toEqual([])
    expect(await s.channelsOf('a')).toEqual([])
    expect(s.size()).toBe(0)
  })

  it('does not subscribe a connection it does not know (one that already left)', async () => {
    const s = memoryConnectionStore()
    expect(await s.subscribe('late', ['x'])).toBe(0)
    expect(await s.subscribers('x')).toEqual([])
  })
})
