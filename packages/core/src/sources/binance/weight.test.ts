import { afterEach, describe, expect, it, vi } from 'vitest'
import { budget, getJson, setWeightPauseListener, weightWaitMs } from './index'

const answer = (weight: number) => new Response('[]', { status: 200, headers: { 'x-mbx-used-weight-1m': String(weight) } })
afterEach(() => { vi.useRealTimers(); setWeightPauseListener(undefined); budget.clear() })

describe('binance request weight', () => {
  it('lets a request go while the minute has weight left, and waits for the next minute once 80% is used', () => {
    const t = Date.UTC(2026, 10, 30, 12, 0, 40)
    expect(weightWaitMs({ usedWeight: 4799, minute: Math.floor(t / 60_000) }, t)).toBe(0)
    expect(weightWaitMs({ usedWeight: 4800, minute: Math.floor(t / 60_000) }, t)).toBe(20_050)
    expect(weightWaitMs({ usedWeight: 5900, minute: Math.floor(t / 60_000) - 1 }, t)).toBe(0) // an old minute's count
    expect(weightWaitMs({ usedWeight: 2000, minute: Math.floor(t / 60_000) }, t, 2400)).toBe(20_050) // futures' lower limit
  })

  it('holds the next request back until the minute turns after Binance reports heavy use, and says so', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 10, 30, 12, 0, 58), toFake: ['Date', 'setTimeout'] })
    const sent: number[] = []
    const fetchImpl = (async () => { sent.push(Date.now()); return answer(sent.length === 1 ? 5000 : 10) }) as unknown as typeof fetch
    const pauses: number[] = []
    setWeightPauseListener((_b, used, ms) => pauses.push(used, ms))
    await getJson('http://x/api/v3', '/aggTrades', {}, fetchImpl)
    const second = getJson('http://x/api/v3', '/aggTrades', {}, fetchImpl)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(sent).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1_100)
    await second
    expect(sent).toHaveLength(2)
    expect(sent[1]).toBeGreaterThanOrEqual(Date.UTC(2026, 10, 30, 12, 1, 0))
    expect(pauses).toEqual([5000, 2_050])
  })

  it('gives up a weight pause, without sending, as soon as the caller\'s signal aborts (a run\'s deadline)', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 10, 30, 12, 0, 10), toFake: ['Date', 'setTimeout'] })
    const sent: number[] = []
    const fetchImpl = (async () => { sent.push(Date.now()); return answer(5000) }) as unknown as typeof fetch
    await getJson('http://x/api/v3', '/aggTrades', {}, fetchImpl)
    const deadline = new AbortController()
    const second = getJson('http://x/api/v3', '/aggTrades', {}, fetchImpl, deadline.signal)
    const outcome = second.then(() => 'sent', (e) => e)
    await vi.advanceTimersByTimeAsync(2_000)
    deadline.abort(new Error('the run\'s budget ends'))
    expect(await outcome).toMatchObject({ message: 'the run\'s budget ends' })
    expect(sent).toHaveLength(1)
    await expect(getJson('http://x/api/v3', '/aggTrades', {}, fetchImpl, deadline.signal)).rejects.toThrow(/budget ends/)
    expect(sent).toHaveLength(1)
  })
})
