/**
 * The simulator as `ticklake start` runs it: the fake exchange that speaks a venue's protocol (the
 * fake Coinbase for `sim-coinbase`, the fake Binance for every `sim-binance…`), started where the
 * lake stands. A restart on a lake that already holds simulated trades goes on from each symbol's
 * checkpoint (its last trade id and time, and the last close of its serving window): ids and times
 * continue, the time the simulator was stopped is generated as history (at most the fake's
 * `historyMs`) and backfilled by ingest over REST, so live trades show at once instead of the fake
 * replaying ids the lake already has. Only simulated names are read: nothing here looks at, or can
 * move, a market venue's checkpoint. The fake holds a bounded history (`simDefaults`: the last 6
 * hours, the most a restart generates and backfills, and at most 150,000 trades a symbol, about 7 MB
 * of columns), so a long `ticklake start` does not grow; a REST request for an id older than that is
 * answered as past `maxTrades`: the fake Binance pages from the oldest trade it holds, the fake
 * Coinbase answers `after` such an id with an empty page.
 */
import { readCheckpoint } from '@ticklake/core/sources/checkpoint'
import { servingKey, type ServingWindow } from '@ticklake/core/lake/layout'
import { isSimulated, venueOf } from '@ticklake/core/market'
import { readJson, type ObjectStore } from '@ticklake/core/ports'
import { fileStore } from '../store/index'
import type { ResumeAt } from './index'

export interface SimulatorOptions {
  /** A simulated venue: `sim-binance`, `sim-binance-us`, `sim-binance-futures` or `sim-coinbase`. */
  exchange: string
  symbols: string[]
  /** The lake the simulator's trades go to (its checkpoints say where to go on from). */
  dataDir: string
  /** Options passed to the fake exchange as they are (port, seed, rates, faults, now...). */
  fake?: Record<string, unknown>
}

/** What the simulator passes the fake unless `fake` says otherwise: the history it keeps per symbol. */
export const simDefaults = {
  /** The fake's default `historyMs`: what a restart generates and ingest backfills at most. */
  retainMs: 6 * 3_600_000,
  /** About 1.7 times 6 hours at the default 4 trades a second: a bursty or faster symbol stays near 7 MB. */
  maxTrades: 150_000,
}

/**
 * Where a simulated symbol stands in the lake: its checkpoint's last trade id and time (ms), and the
 * last close of its 1m serving window; undefined when the lake has none (a first run).
 */
export async function lakePosition(store: ObjectStore, exchange: string, symbol: string): Promise<ResumeAt | undefined> {
  if (!isSimulated(exchange)) throw new Error(`${exchange} is not a simulated venue: the simulator resumes only sim-… checkpoints`)
  const cp = await readCheckpoint(store, exchange, symbol)
  if (!cp) return undefined
  const window = await readJson<ServingWindow>(store, servingKey(exchange, symbol, '1m')).catch(() => undefined)
  const price = window?.candles?.at(-1)?.close
  return { id: cp.checkpoint.last_trade_id, ts: Math.floor(cp.checkpoint.ts / 1000), price: typeof price === 'number' && price > 0 ? price : undefined }
}

/**
 * Starts the fake exchange of a simulated venue, resumed where the lake at `dataDir` stands.
 * @example const fake = await startSimulator({ exchange: 'sim-binance', symbols: ['BTC-USDT'], dataDir: '.ticklake' })
 */
export async function startSimulator(o: SimulatorOptions) {
  if (!isSimulated(o.exchange)) throw new Error(`${o.exchange} is not a simulated venue (sim-binance, sim-binance-us, sim-binance-futures, sim-coinbase)`)
  const store = fileStore(o.dataDir)
  const resume = Object.fromEntries(await Promise.all(o.symbols.map(async (s) => [s, await lakePosition(store, o.exchange, s)] as const)))
  const options = { port: 0, ...simDefaults, ...o.fake, symbols: o.symbols, resume }
  return venueOf(o.exchange) === 'coinbase'
    ? (await import('./coinbase')).startFakeCoinbase(options)
    : (await import('./index')).startFakeExchange(options)
}
