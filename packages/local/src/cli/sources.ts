/**
 * The sources of `ticklake start`: which configuration runs (`--sources`, `--config FILE`, a
 * `ticklake.config.json` in the working directory, the one exchange of `--exchange`/`--symbols`/
 * `--source` as before, or Binance, Coinbase and CoinGecko by default), and for each exchange where
 * its trades come from. Every exchange is probed at once (an offline start waits for one timeout);
 * one that does not answer falls back ON ITS OWN to its simulated twin (`sim-binance`,
 * `sim-coinbase`), said in one line, unless the run insists on live exchanges (`--source live`, exit 3).
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { simulatedOf } from '@ticklake/core/market'
import { endpointsOf } from '@ticklake/core/sources/venues'
import { SourcesConfigError, defaults as configDefaults, parseSources, parseSourcesFile, type ExchangeSource, type SourcesConfig } from '@ticklake/core/sources/config'
import type { CloudSource } from '../cloud/index'
import { UnreachableError, UsageError } from './errors'
import { symbolArg } from './args'

/** The `start` flags that choose the sources. */
export interface SourceFlags {
  sources?: string
  config?: string
  source?: string
  exchange?: string
  symbols?: string
  'rest-url'?: string
  'ws-url'?: string
  currencies?: string
}

/** How a run treats an exchange that does not answer: fall back to its twin (`auto`), refuse (`live`), or never ask (`sim`). */
export type SourceMode = 'auto' | 'live' | 'sim'

/** A configuration error as a usage error (exit 2), its origin named. */
const usage = (where: string, e: unknown): never => {
  if (e instanceof SourcesConfigError) throw new UsageError(`${where}: ${e.message}`)
  throw e
}

/**
 * The configuration `start` runs and whether it is the one-exchange start of before (`single`: its
 * terminal lines are unchanged). `--sources` or `--config` name it; else the one exchange of
 * `--exchange`, `--symbols`, `--source` or `--rest-url`; else `ticklake.config.json` in `cwd`; else
 * Binance, Coinbase and CoinGecko. CoinGecko is left to the caller's `--coins` when the
 * configuration is the one exchange of before.
 */
export function startConfig(v: SourceFlags, cwd = process.cwd()): { config: SourcesConfig; single: boolean; from: string } {
  const currencies = v.currencies?.split(',')
  const oneFlags = (['exchange', 'symbols', 'rest-url', 'ws-url'] as const).filter((k) => v[k] !== undefined)
  if (v.sources !== undefined && v.config !== undefined) throw new UsageError('--sources and --config name the same thing: pass one')
  if ((v.sources !== undefined || v.config !== undefined) && oneFlags.length) throw new UsageError(`--${oneFlags[0]} is for one exchange: with ${v.sources !== undefined ? '--sources' : '--config'}, name symbols (and restUrl/wsUrl in a config file) there`)
  if (v.sources !== undefined) {
    try { return { config: parseSources(v.sources, currencies), single: false, from: '--sources' } } catch (e) { return usage('--sources', e) }
  }
  if (v.config !== undefined) return { config: readConfig(v.config), single: false, from: v.config }
  if (oneFlags.length || v.source !== undefined) return { config: { exchanges: [oneExchange(v)] }, single: true, from: 'flags' }
  const file = resolve(cwd, configDefaults.file)
  if (existsSync(file)) return { config: readConfig(file), single: false, from: configDefaults.file }
  return { config: structuredClone(configDefaults.config), single: false, from: 'defaults' }
}

/** The configuration in a JSON file; a usage error when it is missing or wrong. */
function readConfig(path: string): SourcesConfig {
  let text: string
  try { text = readFileSync(path, 'utf8') } catch (e: any) { throw new UsageError(`--config: ${path}: ${e?.code === 'ENOENT' ? 'not found' : e?.code ?? e?.message}`) }
  try { return parseSourcesFile(text, path) } catch (e) { return usage('--config', e) }
}

/** The one exchange of `--exchange`, `--symbols`, `--rest-url` and `--ws-url`, as `ticklake start` always took it. */
function oneExchange(v: SourceFlags): ExchangeSource {
  const exchange = (v.exchange ?? 'binance') as ExchangeSource['exchange']
  const coinbase = exchange === 'coinbase'
  const symbols = v.symbols ? v.symbols.split(',').filter((x) => x.trim()).map((x) => symbolArg('symbols', x, coinbase ? 'BTC-USD' : 'BTC-USDT')) : coinbase ? ['BTC-USD', 'ETH-USD'] : ['BTC-USDT', 'ETH-USDT']
  if (!v['rest-url'] !== !v['ws-url']) throw new UsageError('--rest-url and --ws-url go together')
  return { exchange, symbols, ...(v['rest-url'] && { restUrl: v['rest-url'], wsUrl: v['ws-url'] }) }
}

/**
 * True when `url` answers within `timeoutMs` (Binance's and CoinGecko's `/ping`, Coinbase's
 * `/time`); else the reason, in one line.
 */
export async function reachable(url: string, timeoutMs = 4_000): Promise<true | string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    if (res.ok) return true
    return res.status === 451 ? 'HTTP 451: this region is refused' : `HTTP ${res.status}`
  } catch (e: any) {
    return e?.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (e?.cause?.code ?? e?.message ?? String(e))
  }
}

/** The name people know an exchange by. */
export const venueName = (exchange: string) => (exchange.includes('coinbase') ? 'Coinbase' : exchange.includes('binance-us') ? 'Binance.US' : exchange.includes('binance-futures') ? 'Binance Futures' : 'Binance')

/** One exchange as `start` runs it: the cloud's source, and what the terminal says of it. */
export interface StartedSource extends CloudSource { label: string }

/**
 * Where each configured exchange's trades come from, probed at once: the exchange (or the
 * configured endpoint) when it answers, else its simulated twin (a fake exchange started here,
 * resumed where the lake stands, or the configured endpoint labelled SIMULATED). `live` refuses an
 * unreachable exchange (`UnreachableError`, exit 3); `sim` probes nothing. `close` stops the fakes.
 */
export async function startSources(config: SourcesConfig, o: { mode: SourceMode; dataDir: string; log: (line: string) => void; probe?: typeof reachable; single?: boolean }) {
  const probe = o.probe ?? reachable
  const fakes: { close(): Promise<void> }[] = []
  const close = async () => { await Promise.all(fakes.map((f) => f.close())) }
  const probes = config.exchanges.map(async (e) => {
    const ep = endpointsOf(e.exchange, e.feed)!
    const restUrl = e.restUrl ?? ep.rest
    const asked = !(o.mode === 'sim' || e.simulated)
    return { e, restUrl, wsUrl: e.wsUrl ?? ep.ws, asked, ok: asked ? await probe(e.exchange === 'coinbase' ? `${restUrl}/time` : `${restUrl}${ep.api}/ping`) : undefined }
  })
  const sources: StartedSource[] = []
  try {
    for (const { e, restUrl, wsUrl, asked, ok } of await Promise.all(probes)) {
      const name = venueName(e.exchange)
      const live = e.exchange === 'coinbase' ? 'coinbase' : 'binance'
      if (ok === true) { sources.push({ exchange: e.exchange, source: live, restUrl, wsUrl, symbols: e.symbols, feed: e.feed, label: `live ${name} (${restUrl})` }); continue }
      if (asked) {
        if (o.mode === 'live') throw new UnreachableError(`${name} is unreachable (${ok}); run without --source to fall back to the simulated exchange`)
        o.log(`${name} is unreachable (${ok}): running ${o.single ? 'on the SIMULATED exchange' : `${simulatedOf(e.exchange)}, the SIMULATED ${name},`} instead.`)
      }
      const label = `SIMULATED ${e.exchange === 'coinbase' ? 'Coinbase ' : ''}exchange (fake trades, not market data)`
      if (e.restUrl && !asked) {
        // a simulated exchange run elsewhere (the load test's, in its own process): still SIMULATED
        o.log(`using the SIMULATED exchange at ${restUrl}`)
        sources.push({ exchange: e.exchange, source: 'sim', restUrl, wsUrl, symbols: e.symbols, feed: e.feed, label })
        continue
      }
      // the fake exchange goes on from where the lake's simulated trades stand
      const fake = await (await import('../exchange/sim')).startSimulator({ exchange: simulatedOf(e.exchange), symbols: e.symbols, dataDir: o.dataDir })
      fakes.push(fake)
      sources.push({ exchange: e.exchange, source: 'sim', restUrl: fake.restUrl, wsUrl: e.feed === 'exchange' ? `${fake.wsUrl}/ws-feed` : fake.wsUrl, symbols: e.symbols, feed: e.feed, label })
    }
  } catch (e) { await close(); throw e }
  return { sources, close }
}

/** CoinGecko's public API. */
export const COINGECKO = 'https://api.coingecko.com'

/**
 * CoinGecko polling for `start`: the real API when `probe` (started beside the exchanges') found it,
 * the simulated one when the run is simulated (`--source sim`: no probe) or CoinGecko is
 * unreachable, whatever the exchanges do.
 */
export async function pricesSource(coinList: string, currencyList: string, url: string | undefined, probe: Promise<true | string> | undefined) {
  const list = (s: string) => s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean)
  const coins = list(coinList)
  const currencies = list(currencyList)
  if (coinList.trim() === 'none' || !coins.length) return undefined
  if (!currencies.length) throw new UsageError('--currencies names at least one, e.g. usd')
  if (probe) {
    const ok = await probe
    if (ok === true) return { config: { coins, currencies, baseUrl: url ?? COINGECKO, apiKey: process.env.TICKLAKE_COINGECKO_KEY }, close: async () => {} }
    if (url) throw new UnreachableError(`CoinGecko at ${url} is unreachable (${ok})`)
    console.log(`CoinGecko is unreachable (${ok}): prices come from the SIMULATED CoinGecko instead.`)
  }
  const { startFakeCoinGecko } = await import('../coingecko/index')
  const fake = await startFakeCoinGecko({ coins, currencies })
  return { config: { coins, currencies, baseUrl: fake.url }, close: () => fake.close() }
}
