import { afterEach, describe, expect, it } from 'vitest'
import type { PriceSnapshot } from '@ticklake/core/sources/coingecko'
import { readParquet } from '@ticklake/core/lake/parquet'
import { memoryStore } from '@ticklake/local/store/index'
import { scheduledEvent, lambdaContext, schedule } from '@ticklake/local/scheduler/index'
import { startFakeCoinGecko, type FakeCoinGecko } from '@ticklake/local/coingecko/index'
import { RESUME_KEY, configFromEnv, createPricesHandler, linkedCoinGeckoKey } from './prices'

const fakes: FakeCoinGecko[] = []
afterEach(async () => { for (const f of fakes.splice(0)) await f.close() })

describe('prices function', () => {
  it('polls CoinGecko for the invocation and writes bitcoin in usd and brl to bronze/prices', async () => {
    const cg = await startFakeCoinGecko({ coins: ['bitcoin'] })
    fakes.push(cg)
    const store = memoryStore()
    const handler = createPricesHandler({ coins: ['bitcoin'], currencies: ['usd', 'brl'], baseUrl: cg.url, intervalMs: 500 }, { store })
    const summary = await handler(scheduledEvent('ticklake-prices'), lambdaContext('ticklake-prices', 3_300))
    expect(summary.polls).toBeGreaterThanOrEqual(2)
    const keys = store.keys().filter((k) => k.startsWith('bronze/prices/source=coingecko/coin=bitcoin/dt='))
    expect(keys).toHaveLength(summary.polls)
    const rows = await readParquet<PriceSnapshot>((await store.get(keys[0]))!)
    expect(rows.map((r) => r.currency).sort()).toEqual(['brl', 'usd'])
    expect(rows.every((r) => r.price > 0 && r.complete)).toBe(true)
  })

  it('fails the invocation with CoinGecko\'s reason when the key is refused, and the schedule waits before trying again', async () => {
    const cg = await startFakeCoinGecko({ coins: ['bitcoin'], apiKey: 'right' })
    fakes.push(cg)
    const handler = createPricesHandler({ coins: ['bitcoin'], currencies: ['usd'], baseUrl: cg.url, apiKey: 'wrong' }, { store: memoryStore() })
    await expect(handler(scheduledEvent('p'), lambdaContext('p', 5_000))).rejects.toThrow(/401|key/i)
    const logs: string[] = []
    const s = schedule('p', handler, { budgetMs: 5_000, retryMs: 60_000, log: (l) => logs.push(l) })
    await new Promise((r) => setTimeout(r, 300))
    const stopped = Date.now()
    await s.stop()
    expect(Date.now() - stopped).toBeLessThan(1_000)
    expect(s.runs()).toBe(1)
    expect(logs[0]).toMatch(/^p failed: .*key/i)
  })

  it('keeps a Retry-After that outlasts the invocation in the lake, and the next invocation sends nothing before it', async () => {
    const cg = await startFakeCoinGecko({ coins: ['bitcoin'], faults: { fail429: 1, fail500: 0, retryAfterSec: 60 } })
    fakes.push(cg)
    const store = memoryStore()
    const handler = createPricesHandler({ coins: ['bitcoin'], currencies: ['usd'], baseUrl: cg.url }, { store })
    const first = await handler(scheduledEvent('p'), lambdaContext('p', 2_500))
    expect(first.backoffs).toBe(1)
    expect(first.resumeAt).toBeGreaterThan(Date.now() + 50_000)
    expect(JSON.parse(new TextDecoder().decode((await store.get(RESUME_KEY))!)).resume_at).toBe(first.resumeAt)
    const calls = cg.calls().length
    const second = await handler(scheduledEvent('p'), lambdaContext('p', 2_500))
    expect(cg.calls().length).toBe(calls)
    expect(second).toMatchObject({ requests: 0, resumeAt: first.resumeAt })
  })

  it('hands the time of the next poll to the next invocation, which does not poll sooner even when it starts at once', async () => {
    const cg = await startFakeCoinGecko({ coins: ['bitcoin'] })
    fakes.push(cg)
    const store = memoryStore()
    const handler = createPricesHandler({ coins: ['bitcoin'], currencies: ['usd'], baseUrl: cg.url, intervalMs: 1_500 }, { store })
    // a budget of 2.6 s (less the 2 s margin): one poll, then the next one is due after it
    const first = await handler(scheduledEvent('p'), lambdaContext('p', 2_600))
    expect(first.polls).toBe(1)
    expect(first.nextAt).toBeGreaterThan(Date.now())
    const second = await handler(scheduledEvent('p'), lambdaContext('p', 4_000))
    const times = cg.calls().map((c) => c.at)
    expect(second.polls).toBe(1)
    expect(times).toHaveLength(2)
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(1_450)
  })

  it('reads coins, currencies, host and key from the environment', () => {
    expect(configFromEnv({ TICKLAKE_COINS: 'Bitcoin, solana', TICKLAKE_CURRENCIES: 'usd,BRL', TICKLAKE_COINGECKO_KEY: 'k' })).toMatchObject({ coins: ['bitcoin', 'solana'], currencies: ['usd', 'brl'], apiKey: 'k' })
    expect(configFromEnv({})).toMatchObject({ coins: ['bitcoin', 'ethereum'], currencies: ['usd'] })
  })

  it('takes the key of the linked CoinGeckoKey secret over the environment, and no key from an empty or unlinked secret', () => {
    // SST's Resource exposes a linked secret as { value } (Secret.getSSTLink)
    expect(linkedCoinGeckoKey({ CoinGeckoKey: { value: ' CG-linked ' } })).toBe('CG-linked')
    expect(linkedCoinGeckoKey({ CoinGeckoKey: { value: '' } })).toBeUndefined()
    expect(linkedCoinGeckoKey({ ApiKeys: { value: '[]' } })).toBeUndefined()
    expect(linkedCoinGeckoKey()).toBeUndefined() // here no SST link is active: SST's own Resource, asked without throwing
    expect(configFromEnv({ TICKLAKE_COINGECKO_KEY: 'CG-env' }, 'CG-linked').apiKey).toBe('CG-linked')
    expect(configFromEnv({ TICKLAKE_COINGECKO_KEY: 'CG-env' }, undefined).apiKey).toBe('CG-env')
    expect(configFromEnv({ TICKLAKE_COINGECKO_KEY: '' }, undefined).apiKey).toBeUndefined()
  })
})
