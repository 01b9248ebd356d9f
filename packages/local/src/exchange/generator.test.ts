import { describe, expect, it } from 'vitest'
import type { AggTrade } from './index'
import { generator } from './index'

/** Trades per second in each of the first `minutes` minutes of a generator at `rate`. */
function perMinute(rate: number, bursts: boolean, minutes: number) {
  const out: AggTrade[] = []
  generator('BTC-USDT', 5, 0, rate, bursts)(minutes * 60_000, out)
  const counts = new Array(minutes).fill(0)
  for (const t of out) counts[Math.min(minutes - 1, Math.floor(t.T / 60_000))]++
  return counts.map((n) => n / 60)
}

describe('fake exchange generator', () => {
  it('holds a steady rate in every minute when bursts are off (soaks and load tests measure at the rate asked)', () => {
    for (const r of perMinute(5000, false, 2)) { expect(r).toBeGreaterThan(4_900); expect(r).toBeLessThan(5_100) }
  })

  it('keeps the asked rate only as a long-run mean when bursts are on', () => {
    const rates = perMinute(100, true, 60)
    expect(Math.max(...rates) / Math.min(...rates)).toBeGreaterThan(2)
    const mean = rates.reduce((a, b) => a + b) / rates.length
    expect(mean).toBeGreaterThan(50)
    expect(mean).toBeLessThan(200)
  })
})
