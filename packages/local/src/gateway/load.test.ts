import { describe, expect, it } from 'vitest'
import { loadTest } from '../../../../bench/load'

// The short version of `npm run load` (bench/load.ts): a real `ticklake start` child process on
// the fake exchange at 1,000 trades/s, with 50 WebSocket subscribers in another process for 5 s.
// Latency is reported by `npm run load`, not asserted here (this machine's load decides it);
// delivery is asserted.
describe('realtime load (short)', () => {
  it('delivers every trade of the window to each of 50 subscribers, with partial candles at most 4 a second', async () => {
    const [r] = await loadTest({ clients: 50, rate: 1000, seconds: 5, alignMinute: false })
    expect(r.connected).toBe(50)
    expect(r.tradesGenerated).toBeGreaterThan(1_000)
    expect(r.clientsWithAllTrades, `delivered ${r.tradeDeliveryRatio} of ${r.tradesGenerated} trades to each of ${r.connected}; holes ${r.holes}; ingest had${r.windowIngested ? '' : ' not'} checkpointed the window`).toBe(50)
    expect(r.tradeDeliveryRatio).toBe(1)
    expect(r.latencyMs.samples).toBeGreaterThanOrEqual(r.tradesGenerated * r.sampledClients)
    expect(r.holes).toBe(0)
    expect(r.partialUpdatesPerClientPerS).toBeGreaterThan(0)
    // the coalescer spaces a channel's updates 250 ms apart: a window of `seconds` holds 4 x seconds + 1
    // of them at most, and a subscriber hears of the window's end a little after it
    expect(r.partialUpdatesPerClientPerS).toBeLessThanOrEqual((4 * r.seconds + 2) / r.seconds)
    if (r.finalsExpected.length) expect(r.clientsWithAllFinals).toBe(50)
    expect(r.errors).toBe(0)
  }, 120_000)
})
