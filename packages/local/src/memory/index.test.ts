import { describe, expect, it } from 'vitest'
import { collectBuffers, externalBytes, v8Collect } from './index'

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('collectBuffers', () => {
  it('has V8 collect once the thread\'s buffers grew past the bound, and not while they stay under it', async () => {
    let bytes = 1_000
    let runs = 0
    const stop = collectBuffers({ everyMs: 10, growthBytes: 100 }, () => { runs++; bytes = 1_050 }, () => bytes)
    await wait(40)
    expect(runs).toBe(0)
    bytes = 1_200 // grew by 200
    await wait(40)
    expect(runs).toBe(1) // after it, 1,050 is the new mark: 1,100 is not past it
    bytes = 1_100
    await wait(40)
    expect(runs).toBe(1)
    stop()
    bytes = 10_000
    await wait(40)
    expect(runs).toBe(1)
  })

  it('returns the memory of dead buffers through V8 itself', async () => {
    expect(v8Collect()).toBeTypeOf('function')
    const before = externalBytes()
    const stop = collectBuffers({ everyMs: 10, growthBytes: 8 * 1024 * 1024 })
    ;(() => { for (let i = 0; i < 16; i++) Buffer.alloc(1024 * 1024).fill(i) })() // 16 MB of dead buffers, as a finished job leaves
    expect(externalBytes() - before).toBeGreaterThanOrEqual(15 * 1024 * 1024)
    for (let i = 0; i < 50 && externalBytes() - before > 4 * 1024 * 1024; i++) await wait(10)
    stop()
    expect(externalBytes() - before).toBeLessThan(4 * 1024 * 1024)
  })
})
