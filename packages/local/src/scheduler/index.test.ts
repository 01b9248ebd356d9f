import { describe, expect, it } from 'vitest'
import { schedule, scheduledEvent } from './index'

describe('local scheduler', () => {
  it('invokes with a real EventBridge scheduled event and a context whose remaining time is the budget', async () => {
    const seen: { source: string; type: string; remaining: number }[] = []
    const s = schedule('rule', async (e, c) => { seen.push({ source: e.source, type: e['detail-type'], remaining: c.getRemainingTimeInMillis() }); await new Promise((r) => setTimeout(r, 20)) }, { budgetMs: 5_000 })
    await new Promise((r) => setTimeout(r, 50))
    await s.stop()
    expect(seen[0]).toMatchObject({ source: 'aws.events', type: 'Scheduled Event' })
    expect(seen[0].remaining).toBeGreaterThan(4_900)
    expect(scheduledEvent('x').resources[0]).toMatch(/:rule\/x$/)
  })

  it('keeps timers and I/O running while a function returns at once, and stops promptly', async () => {
    const s = schedule('busy', async () => 'done at once')
    const t0 = Date.now()
    await new Promise((r) => setTimeout(r, 30)) // would never fire if the loop ran on microtasks only
    expect(Date.now() - t0).toBeLessThan(1_000)
    expect(s.runs()).toBeGreaterThan(1)
    await s.stop()
  })
})
