import { describe, expect, it } from 'vitest'
import { externalBytes, mallocTrim, returnMemory, v8Collect } from './index'

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('returnMemory', () => {
  it('has V8 collect once the thread\'s buffers grew past the bound, and not while they stay under it', async () => {
    let bytes = 1_000
    let runs = 0
    const stop = returnMemory({ everyMs: 10, growthBytes: 100 }, () => { runs++; bytes = 1_050 }, undefined, () => bytes)
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
    const stop = returnMemory({ everyMs: 10, growthBytes: 8 * 1024 * 1024 })
    ;(() => { for (let i = 0; i < 16; i++) Buffer.alloc(1024 * 1024).fill(i) })() // 16 MB of dead buffers, as a finished job leaves
    expect(externalBytes() - before).toBeGreaterThanOrEqual(15 * 1024 * 1024)
    for (let i = 0; i < 50 && externalBytes() - before > 4 * 1024 * 1024; i++) await wait(10)
    stop()
    expect(externalBytes() - before).toBeLessThan(4 * 1024 * 1024)
  })

  it('trims the arenas after a collection and at least every trimEveryMs', async () => {
    let bytes = 0
    const events: string[] = []
    const stop = returnMemory({ everyMs: 10, growthBytes: 100, trimGapMs: 0, trimEveryMs: 60 }, () => { events.push('gc'); bytes = 0 }, () => events.push('trim'), () => bytes)
    bytes = 500
    await wait(25)
    expect(events).toEqual(['gc', 'trim'])
    await wait(100)
    stop()
    expect(events.filter((e) => e === 'gc')).toHaveLength(1)
    expect(events.filter((e) => e === 'trim').length).toBeGreaterThanOrEqual(2)
  })

  it('does not trim again within trimGapMs, however often V8 collects', async () => {
    let bytes = 0
    const events: string[] = []
    const stop = returnMemory({ everyMs: 10, growthBytes: 100, trimGapMs: 1_000, trimEveryMs: 10_000 }, () => { events.push('gc'); bytes = 0 }, () => events.push('trim'), () => bytes)
    for (let i = 0; i < 5; i++) { bytes = 500; await wait(25) }
    stop()
    expect(events.filter((e) => e === 'gc').length).toBeGreaterThanOrEqual(4)
    expect(events.filter((e) => e === 'trim')).toEqual([])
  })

  it.runIf(process.platform === 'linux')('gives freed malloc memory back to the system through glibc\'s malloc_trim', async () => {
    const trim = await mallocTrim()
    expect(trim).toBeTypeOf('function')
    const rss = () => process.memoryUsage().rss
    // 40,000 small buffers freed but every tenth: the arena keeps the span between the survivors
    let all: Buffer[] | undefined = Array.from({ length: 40_000 }, (_, i) => Buffer.allocUnsafeSlow(2_000 + (i % 50) * 40).fill(1))
    const keep = all.filter((_, i) => i % 10 === 0)
    all = undefined
    v8Collect()!()
    await wait(50)
    const before = rss()
    trim!()
    expect(before - rss()).toBeGreaterThan(20 * 1024 * 1024)
    expect(keep).toHaveLength(4_000)
  })
})
