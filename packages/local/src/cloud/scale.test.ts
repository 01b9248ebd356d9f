/**
 * The short version of `npm run bench -- --only scale`: two exchanges of 50 symbols each at a
 * heavy-tailed mix of rates, through one `ticklake start` process, every trade of the fakes' ground truth over
 * the run in the lake's bronze. Only delivery is asserted: speed is measured in bench/.
 */
import { describe, expect, it } from 'vitest'
import { scaleRun } from '../../../../bench/scale'

describe('the local cloud at scale', () => {
  it('lands every trade of 2 exchanges x 50 symbols at a Zipf mix of rates in one lake', async () => {
    // Coinbase's backfill pages at its public 10 requests/s: 50 products take about 11 s to go live,
    // and each backfills historyMs before the moment it is reached, so history covers that pacing
    const r = await scaleRun({ symbols: 50, seconds: 16, ratePerExchange: 100, historyMs: 15_000, warmupMs: 0 })
    expect(r.exchanges.map((e) => e.exchange)).toEqual(['sim-binance', 'sim-coinbase'])
    for (const e of r.exchanges) {
      expect(e.truth, e.exchange).toBeGreaterThan(500)
      expect(e.missing, e.exchange).toEqual([])
      expect(e.delivered, e.exchange).toBe(e.truth)
    }
  }, 90_000)
})
