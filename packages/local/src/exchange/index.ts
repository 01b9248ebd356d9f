/**
 * The fake exchange: Binance spot's WebSocket and REST protocols on loopback, fed by a seeded
 * generator per symbol (a random walk with volatility and activity bursts, prices on the tick size
 * and quantities on the lot step). It generates `historyMs` of past trades at start, then trades in
 * real time, pushed to `/stream?streams=` and `/ws/<stream>` subscribers; REST serves `ping`, `time`,
 * `exchangeInfo`, `aggTrades` and `klines` with Binance's parameter rules, errors and weight headers,
 * and the streams hold Binance's connection limits (1024 streams, 5 incoming messages a second, 300
 * connection attempts in 5 minutes).
 * Frames and bodies are keyed and ordered like the real ones in ../shared/data/binance. It is the
 * offline source of `ticklake start` and the ground truth of tests: `aggTrades(symbol)` is exactly
 * what it has published. Its parts: `generator.ts` (the seeded market, shared with the fake
 * Coinbase), `binance/book.ts` (the trades of each symbol, held as the typed-array columns of
 * `columns.ts`), `binance/rest.ts` (REST routes and
 * weights), `binance/streams.ts` (WebSocket streams) and `faults.ts` (fault injection); this file
 * puts them on one port.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { noFaults, type Faults } from './faults'
import { prng, type AggTrade, type ResumeAt } from './generator'
import { nativeSymbol } from '@ticklake/core/market'
import { binanceBooks, type Replay } from './binance/book'
import { binanceRest, type PlantedKline } from './binance/rest'
import { binanceStreams, type StreamStats } from './binance/streams'

export { prng, hash, units8, dec8, marketOf, generator, resumeStart, type AggTrade, type Resume, type ResumeAt } from './generator'
export { noFaults, type Faults } from './faults'
export { klinesOf, type Replay } from './binance/book'
export { INTERVALS, KLINE_INDEX, selectAggTrades, type PlantedKline } from './binance/rest'
export type { StreamStats } from './binance/streams'

export const defaults = {
  host: '127.0.0.1',
  /** 0 picks a free port. */
  port: 0,
  symbols: ['BTC-USDT', 'ETH-USDT'],
  seed: 1,
  /** History generated into the past at start, served over REST. */
  historyMs: 6 * 3_600_000,
  /** Mean aggTrades per second per symbol, bursts included (bursts run 3-8 times the calm rate). */
  ratePerSec: 4,
  /** Activity bursts on (realistic) or off (a steady rate, for load tests and soaks). */
  bursts: true,
  pingIntervalMs: 20_000,
  /** A connection that has not answered a ping for this long is dropped (Binance: one minute). */
  pongTimeoutMs: 60_000,
  /** Binance closes every connection after 24 hours. */
  maxConnectionMs: 24 * 3_600_000,
  /** Oldest trades are dropped beyond this many per symbol (held as columns: about 50 bytes a trade). */
  maxTrades: 2_000_000,
  /** Trades older than this behind a symbol's newest are dropped (`ticklake start`'s simulator bounds it: `sim.ts`). */
  retainMs: Infinity,
  /** Live generation period. */
  tickMs: 100,
  /** REQUEST_WEIGHT per minute; beyond it REST answers 429 with Retry-After. */
  weightLimit: 6000,
  /** Streams one connection may listen to (Binance: 1024). */
  maxStreams: 1024,
  /** Incoming messages (text, ping, pong) a connection may send a second (Binance spot: 5); past it the connection is closed with 1008. */
  maxMessagesPerSec: 5,
  /** Connection attempts in any 5 minutes (Binance: 300 per IP); past it an upgrade is answered 429. */
  maxConnectionsPer5Min: 300,
}

export interface FakeExchangeOptions extends Partial<typeof defaults> {
  now?: () => number; faults?: Partial<Faults>; replay?: Replay
  /** Per normalized symbol, its own mean rate in place of `ratePerSec` (a heavy-tailed mix for load tests). */
  rates?: Record<string, number>
  /**
   * Per normalized symbol, where the exchange goes on from instead of starting afresh: ids after
   * `id`, times after `ts` (history generated from there, at most `historyMs` back), from `price`.
   */
  resume?: Record<string, ResumeAt | undefined>
}

export interface FakeExchange {
  /** `http://127.0.0.1:PORT` */
  restUrl: string
  /** `ws://127.0.0.1:PORT` */
  wsUrl: string
  port: number
  symbols: string[]
  /**
   * Every aggTrade generated so far, oldest first (the oldest are dropped past `maxTrades` and
   * `retainMs`): a live view of the columns the fake holds, each element read making a new object
   * (a whole-array method such as `map` makes one per trade: ground truth for tests and benches).
   */
  aggTrades(symbol: string): ReadonlyArray<AggTrade>
  /** In replay mode: true once every captured trade has been published. */
  replayDone(): boolean
  /** Changes the faults injected from now on. */
  setFaults(f: Partial<Faults>): void
  /** Closes every stream connection abruptly (as a network cut does: code 1006 at the client). */
  dropConnections(): void
  /** What the streams refused (connections, streams, rate) and the most streams one connection listened to. */
  streamStats(): StreamStats
  /** The highest `X-MBX-USED-WEIGHT-1M` the REST API has answered. */
  peakWeight(): number
  /** Makes `GET /api/v3/klines` report one field of one kline wrongly from now on. */
  plantKline(p: PlantedKline): void
  close(): Promise<void>
}

/**
 * Starts the fake exchange on one port (REST and WebSocket).
 * @example const fx = await startFakeExchange({ symbols: ['BTC-USDT'] }); await fetch(`${fx.restUrl}/api/v3/aggTrades?symbol=BTCUSDT`)
 */
export async function startFakeExchange(options: FakeExchangeOptions = {}): Promise<FakeExchange> {
  const o = { ...defaults, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof defaults
  const now = options.now ?? Date.now
  const start = now()
  const faults: Faults = { ...noFaults, ...options.faults }
  const planted: PlantedKline[] = []
  // one seeded draw for every fault, in the order the parts make them
  const chance = prng(o.seed + 7919)
  const replay = options.replay
  if (replay) o.symbols = replay.symbols
  const book = binanceBooks({ ...o, start, resume: options.resume, rates: options.rates, replay, faults, chance })
  const streams = binanceStreams({ ...o, books: book.books, advance: book.advance, faults, chance, now, onConnection: () => book.startReplay(now()) })
  const ticker = setInterval(streams.tick, o.tickMs)

  const rest = binanceRest({ books: book.books, weightLimit: o.weightLimit, faults, chance, planted, tick: streams.tick, start, now })
  const server = createServer(rest)
  server.on('upgrade', streams.upgrade)
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(o.port, o.host, () => resolve()) })
  const port = (server.address() as AddressInfo).port
  return {
    restUrl: `http://${o.host}:${port}`,
    wsUrl: `ws://${o.host}:${port}`,
    port,
    symbols: [...o.symbols],
    aggTrades: (symbol) => book.books.get(nativeSymbol(symbol))?.trades ?? [],
    replayDone: book.replayDone,
    setFaults(f) { Object.assign(faults, f) },
    dropConnections: streams.dropConnections,
    streamStats: streams.stats,
    peakWeight: rest.peakWeight,
    plantKline(p) { planted.push(p) },
    async close() {
      clearInterval(ticker)
      await streams.close()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}
