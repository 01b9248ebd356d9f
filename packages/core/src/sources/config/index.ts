/**
 * Sources configuration: which exchanges one lake ingests (each with its symbols, and for Coinbase
 * which of its two feeds) and which CoinGecko coins it polls, in one typed value shared by the local
 * cloud (`ticklake start --sources`, `ticklake.config.json`) and the AWS stacks (one scheduled
 * ingest function per exchange). Three spellings of it are read here, each checked with an error
 * that names the entry at fault: the `--sources` string
 * (`binance:BTC-USDT,ETH-USDT;coinbase:BTC-USD;coingecko:bitcoin,ethereum`), the JSON file
 * (`{ "exchanges": [{ "exchange": "binance", "symbols": ["BTC-USDT"] }], "coingecko": {...} }`), and
 * the environment (`TICKLAKE_SOURCES`, or the one-exchange `TICKLAKE_EXCHANGE` + `TICKLAKE_SYMBOLS`).
 * A simulated name (`sim-binance:BTC-USDT`) is read as its exchange, asked to run simulated.
 */
import { z } from 'zod'
import { isSimulated, venueOf, type Exchange } from '../../market/index'
import { COINBASE_FEEDS, EXCHANGES, type CoinbaseFeed } from '../venues/index'

export { COINBASE_FEEDS, type CoinbaseFeed }

/** One exchange ingested: its symbols as the lake spells them (`BASE-QUOTE`). */
export interface ExchangeSource {
  exchange: Exchange
  symbols: string[]
  /** Coinbase only: which feed its WebSocket reads (default `advanced-trade`). */
  feed?: CoinbaseFeed
  /** Run on the simulated twin (`sim-<exchange>`) whatever the exchange's reachability. */
  simulated?: boolean
  /** Another endpoint speaking the exchange's protocol (a fake exchange run elsewhere); both or neither. */
  restUrl?: string
  wsUrl?: string
}

export interface CoinGeckoSource { coins: string[]; currencies: string[] }

export interface SourcesConfig {
  exchanges: ExchangeSource[]
  /** CoinGecko polling into `bronze/prices/`; none when absent. */
  coingecko?: CoinGeckoSource
}

export const defaults = {
  /** What runs with no configuration: Binance, Coinbase and CoinGecko. */
  config: {
    exchanges: [
      { exchange: 'binance', symbols: ['BTC-USDT', 'ETH-USDT'] },
      { exchange: 'coinbase', symbols: ['BTC-USD', 'ETH-USD'] },
    ],
    coingecko: { coins: ['bitcoin', 'ethereum'], currencies: ['usd', 'brl'] },
  } as SourcesConfig,
  /** The JSON file `ticklake start` reads from its working directory when no `--sources` or `--config` is given. */
  file: 'ticklake.config.json',
}

/** A configuration that does not hold: its message names the entry and what is allowed. */
export class SourcesConfigError extends Error {
  override name = 'SourcesConfigError'
}

const SYMBOL = /^[A-Za-z0-9]+-[A-Za-z0-9]+(-[A-Za-z0-9]+)?$/
const COIN = /^[a-z0-9][a-z0-9-]*$/
const CURRENCY = /^[a-z0-9]+$/
const fail = (message: string): never => { throw new SourcesConfigError(message) }

/** The exchange a name stands for, and whether it asks for the simulated twin; an error for one ingest does not speak. */
function exchangeOf(name: string): { exchange: Exchange; simulated: boolean } {
  const exchange = venueOf(name)
  if (!(EXCHANGES as string[]).includes(exchange)) fail(`unknown exchange ${JSON.stringify(name)}: use ${EXCHANGES.join(', ')} (or coingecko)`)
  return { exchange, simulated: isSimulated(name) }
}

/** Symbols in any case as the lake spells them, each BASE-QUOTE and named once. */
function symbolsOf(exchange: string, list: string[]): string[] {
  const symbols = list.map((s) => s.trim()).filter(Boolean)
  if (!symbols.length) fail(`${exchange}: name at least one symbol, e.g. ${exchange}:${exchange.includes('coinbase') ? 'BTC-USD' : 'BTC-USDT'}`)
  const seen = new Set<string>()
  for (const s of symbols) {
    // checked before case folding: `ßtc-usdt` is refused, not read as SSTC-USDT
    if (!SYMBOL.test(s)) fail(`${exchange}: ${JSON.stringify(s)} is not BASE-QUOTE like BTC-USDT`)
    if (seen.has(s.toUpperCase())) fail(`${exchange}: ${s.toUpperCase()} is named twice`)
    seen.add(s.toUpperCase())
  }
  return [...seen]
}

/** Coins and currencies of CoinGecko, lower case, each well formed and named once. */
function coingeckoOf(coins: string[], currencies: string[]): CoinGeckoSource {
  const clean = (what: string, list: string[], re: RegExp) => {
    const out = list.map((x) => x.trim().toLowerCase()).filter(Boolean)
    if (!out.length) fail(`coingecko: name at least one ${what}`)
    for (const x of out) if (!re.test(x)) fail(`coingecko: ${JSON.stringify(x)} is not a ${what} id`)
    const dup = out.find((x, i) => out.indexOf(x) !== i)
    if (dup) fail(`coingecko: ${what} ${dup} is named twice`)
    return out
  }
  return { coins: clean('coin', coins, COIN), currencies: clean('currency', currencies, CURRENCY) }
}

/** Checks the whole: each exchange named once (its simulated twin counts as it), URLs in pairs, feeds on Coinbase only. */
function checked(c: SourcesConfig): SourcesConfig {
  if (!c.exchanges.length && !c.coingecko) fail('no source configured: name an exchange with its symbols, e.g. binance:BTC-USDT')
  const seen = new Set<string>()
  for (const e of c.exchanges) {
    if (seen.has(e.exchange)) fail(`${e.exchange} is configured twice (a simulated name counts as its exchange): one ingest per exchange`)
    seen.add(e.exchange)
    if (e.feed && e.exchange !== 'coinbase') fail(`${e.exchange}: feed is for coinbase only (${COINBASE_FEEDS.join(' or ')})`)
    if (!e.restUrl !== !e.wsUrl) fail(`${e.exchange}: restUrl and wsUrl go together`)
  }
  return c
}

/**
 * The `--sources` string: entries split by `;`, each `exchange:SYMBOL,SYMBOL` (`sim-<exchange>`
 * for its simulated twin) or `coingecko:coin,coin` (with `currencies`, default usd,brl).
 * @example parseSources('binance:btc-usdt;coinbase:BTC-USD').exchanges // [{ exchange: 'binance', symbols: ['BTC-USDT'] }, { exchange: 'coinbase', symbols: ['BTC-USD'] }]
 */
export function parseSources(text: string, currencies: string[] = defaults.config.coingecko!.currencies): SourcesConfig {
  const config: SourcesConfig = { exchanges: [] }
  for (const entry of text.split(';').map((x) => x.trim()).filter(Boolean)) {
    const colon = entry.indexOf(':')
    if (colon < 0) fail(`${JSON.stringify(entry)} is not name:LIST, e.g. binance:BTC-USDT,ETH-USDT`)
    const name = entry.slice(0, colon).trim().toLowerCase()
    const list = entry.slice(colon + 1).split(',')
    if (name === 'coingecko') {
      if (config.coingecko) fail('coingecko is configured twice')
      config.coingecko = coingeckoOf(list, currencies)
      continue
    }
    const { exchange, simulated } = exchangeOf(name)
    config.exchanges.push({ exchange, symbols: symbolsOf(name, list), ...(simulated && { simulated }) })
  }
  return checked(config)
}

const FILE = z.object({
  exchanges: z.array(z.object({
    exchange: z.string(),
    symbols: z.array(z.string()),
    feed: z.enum(COINBASE_FEEDS).optional(),
    simulated: z.boolean().optional(),
    restUrl: z.url().optional(),
    wsUrl: z.url().optional(),
  }).strict()).default([]),
  coingecko: z.object({ coins: z.array(z.string()), currencies: z.array(z.string()).optional() }).strict().optional(),
}).strict()

/**
 * A configuration from its JSON form (the parsed `ticklake.config.json`), checked as `parseSources` checks the string.
 * @example sourcesConfig({ exchanges: [{ exchange: 'coinbase', feed: 'exchange', symbols: ['BTC-USD'] }] })
 */
export function sourcesConfig(json: unknown): SourcesConfig {
  const r = FILE.safeParse(json)
  if (!r.success) {
    const i = r.error.issues[0]
    fail(`${i.path.join('.') || 'the configuration'}: ${i.message}`)
  }
  const f = r.data!
  return checked({
    exchanges: f.exchanges.map((e) => {
      const { exchange, simulated } = exchangeOf(e.exchange)
      return { ...e, exchange, symbols: symbolsOf(e.exchange, e.symbols), ...((simulated || e.simulated) && { simulated: true }) }
    }),
    ...(f.coingecko && { coingecko: coingeckoOf(f.coingecko.coins, f.coingecko.currencies ?? defaults.config.coingecko!.currencies) }),
  })
}

/** A configuration from the text of a JSON file; `name` (the file) heads its errors. */
export function parseSourcesFile(text: string, name = defaults.file): SourcesConfig {
  let json: unknown
  try { json = JSON.parse(text) } catch (e: any) { return fail(`${name} is not JSON: ${e.message}`) }
  try { return sourcesConfig(json) } catch (e: any) { return fail(`${name}: ${e.message}`) }
}

/**
 * The configuration of a deployment, from its environment: `TICKLAKE_SOURCES` (the `--sources`
 * string), else one exchange from `TICKLAKE_EXCHANGE` (default binance) and `TICKLAKE_SYMBOLS`
 * (default BTC-USDT,ETH-USDT), with CoinGecko's `TICKLAKE_COINS`/`TICKLAKE_CURRENCIES` (default bitcoin,ethereum in usd,brl).
 */
export function sourcesFromEnv(env: Record<string, string | undefined>): SourcesConfig {
  const list = (s: string | undefined, d: string[]) => (s === undefined ? d : s.split(','))
  const cg = defaults.config.coingecko!
  const currencies = list(env.TICKLAKE_CURRENCIES, cg.currencies)
  const c = env.TICKLAKE_SOURCES
    ? parseSources(env.TICKLAKE_SOURCES, currencies)
    : parseSources(`${env.TICKLAKE_EXCHANGE ?? 'binance'}:${env.TICKLAKE_SYMBOLS ?? 'BTC-USDT,ETH-USDT'}`)
  if (!c.coingecko && env.TICKLAKE_COINS !== 'none') c.coingecko = coingeckoOf(list(env.TICKLAKE_COINS, cg.coins), currencies)
  return c
}

/** The `--sources` string of a configuration (its exchanges and CoinGecko coins), as `parseSources` reads it back. */
export function formatSources(c: SourcesConfig): string {
  return [
    ...c.exchanges.map((e) => `${e.simulated ? `sim-${e.exchange}` : e.exchange}:${e.symbols.join(',')}`),
    ...(c.coingecko ? [`coingecko:${c.coingecko.coins.join(',')}`] : []),
  ].join(';')
}
