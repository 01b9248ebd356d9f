import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeExchange, type FakeExchange } from '../exchange/index'
import { UnreachableError, UsageError } from './errors'
import { startConfig, startSources } from './sources'

const dirs: string[] = []
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'ticklake-sources-')); dirs.push(d); return d }
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

describe('the configuration ticklake start runs', () => {
  const empty = () => tmp()

  it('is Binance, Coinbase and CoinGecko without flags or file', () => {
    const { config, single } = startConfig({}, empty())
    expect(single).toBe(false)
    expect(config.exchanges.map((e) => e.exchange)).toEqual(['binance', 'coinbase'])
    expect(config.coingecko?.coins).toEqual(['bitcoin', 'ethereum'])
  })

  it('is the one exchange of before with --exchange, --symbols, --source or --rest-url', () => {
    expect(startConfig({ source: 'sim' }, empty())).toMatchObject({ single: true, config: { exchanges: [{ exchange: 'binance', symbols: ['BTC-USDT', 'ETH-USDT'] }] } })
    expect(startConfig({ exchange: 'coinbase' }, empty()).config.exchanges).toEqual([{ exchange: 'coinbase', symbols: ['BTC-USD', 'ETH-USD'] }])
    expect(startConfig({ symbols: 'eth-usdt', 'rest-url': 'http://h', 'ws-url': 'ws://h' }, empty()).config.exchanges).toEqual([{ exchange: 'binance', symbols: ['ETH-USDT'], restUrl: 'http://h', wsUrl: 'ws://h' }])
    expect(() => startConfig({ 'rest-url': 'http://h' }, empty())).toThrow(/--rest-url and --ws-url go together/)
  })

  it('is --sources, or the --config file, or ticklake.config.json in the working directory', () => {
    expect(startConfig({ sources: 'binance:BTC-USDT;coinbase:BTC-USD', currencies: 'eur' }, empty()).config).toEqual({ exchanges: [{ exchange: 'binance', symbols: ['BTC-USDT'] }, { exchange: 'coinbase', symbols: ['BTC-USD'] }] })
    const cwd = tmp()
    writeFileSync(join(cwd, 'ticklake.config.json'), JSON.stringify({ exchanges: [{ exchange: 'binance-us', symbols: ['BTC-USDT'] }] }))
    expect(startConfig({}, cwd)).toMatchObject({ single: false, from: 'ticklake.config.json', config: { exchanges: [{ exchange: 'binance-us' }] } })
    expect(startConfig({ config: join(cwd, 'ticklake.config.json') }, empty()).config.exchanges[0].exchange).toBe('binance-us')
    // flags of one exchange still mean one exchange, beside a file
    expect(startConfig({ exchange: 'coinbase' }, cwd).config.exchanges[0].exchange).toBe('coinbase')
  })

  it('refuses a bad configuration as bad usage, naming where it came from', () => {
    const cases: [Parameters<typeof startConfig>[0], RegExp][] = [
      [{ sources: 'kraken:BTC-USD' }, /^--sources: unknown exchange "kraken"/],
      [{ sources: 'binance:BTC-USDT;sim-binance:ETH-USDT' }, /^--sources: binance is configured twice/],
      [{ sources: 'binance:BTC-USDT', symbols: 'ETH-USDT' }, /--symbols is for one exchange/],
      [{ sources: 'binance:BTC-USDT', config: 'x.json' }, /--sources and --config name the same thing/],
      [{ config: join(tmp(), 'missing.json') }, /^--config: .*missing\.json: not found/],
    ]
    for (const [flags, message] of cases) {
      const e = (() => { try { startConfig(flags, empty()) } catch (e) { return e } })()
      expect(e, JSON.stringify(flags)).toBeInstanceOf(UsageError)
      expect((e as Error).message, JSON.stringify(flags)).toMatch(message)
    }
  })
})

describe('where each exchange\'s trades come from', () => {
  let fake: FakeExchange
  beforeAll(async () => { fake = await startFakeExchange({ symbols: ['BTC-USDT'], seed: 5, historyMs: 60_000 }) })
  afterAll(async () => { await fake?.close() })
  // a port nobody listens on: refused at once
  const nowhere = { restUrl: 'http://127.0.0.1:1', wsUrl: 'ws://127.0.0.1:1' }

  it('falls back on its own: the reachable exchange live, the unreachable one on its simulated twin, said in a line', async () => {
    const lines: string[] = []
    const config = { exchanges: [{ exchange: 'binance' as const, symbols: ['BTC-USDT'], restUrl: fake.restUrl, wsUrl: fake.wsUrl }, { exchange: 'coinbase' as const, symbols: ['BTC-USD'], ...nowhere }] }
    const started = await startSources(config, { mode: 'auto', dataDir: tmp(), log: (l) => lines.push(l) })
    try {
      expect(started.sources.map((s) => [s.exchange, s.source, s.restUrl === fake.restUrl])).toEqual([['binance', 'binance', true], ['coinbase', 'sim', false]])
      expect(started.sources[0].label).toBe(`live Binance (${fake.restUrl})`)
      expect(started.sources[1].label).toMatch(/^SIMULATED Coinbase exchange/)
      expect(lines).toEqual([expect.stringMatching(/^Coinbase is unreachable \(.+\): running sim-coinbase, the SIMULATED Coinbase, instead\.$/)])
      // the simulated Coinbase started here answers
      expect((await fetch(`${started.sources[1].restUrl}/time`)).ok).toBe(true)
    } finally { await started.close() }
  })

  it('refuses an unreachable exchange with --source live (exit 3), and asks none with --source sim', async () => {
    const config = { exchanges: [{ exchange: 'binance' as const, symbols: ['BTC-USDT'], restUrl: fake.restUrl, wsUrl: fake.wsUrl }, { exchange: 'coinbase' as const, symbols: ['BTC-USD'], ...nowhere }] }
    await expect(startSources(config, { mode: 'live', dataDir: tmp(), log: () => {} })).rejects.toBeInstanceOf(UnreachableError)
    const asked: string[] = []
    const sim = await startSources({ exchanges: [{ exchange: 'coinbase', symbols: ['BTC-USD'], feed: 'exchange' }] }, { mode: 'sim', dataDir: tmp(), log: () => {}, probe: async (u) => { asked.push(u); return true } })
    try {
      expect(asked).toEqual([])
      expect(sim.sources[0]).toMatchObject({ exchange: 'coinbase', source: 'sim', feed: 'exchange', wsUrl: expect.stringMatching(/\/ws-feed$/) })
    } finally { await sim.close() }
  })
})
