/**
 * The fake Coinbase: the Advanced Trade market-data WebSocket and the Exchange REST trades endpoint
 * on loopback, fed by the same seeded generator as the fake Binance (one generated trade is one
 * Coinbase trade, with consecutive integer ids per product). WebSocket: one `subscribe` message per
 * channel (`market_trades`, `ticker`, `heartbeats`; none within 5 s closes the connection),
 * `market_trades` snapshots of the last 100 trades then `update` events, `ticker` snapshots and
 * updates with best bid/ask, a heartbeat each second, and a `sequence_num` counting every frame of
 * the connection from 0. On `/ws-feed` it speaks the legacy Exchange ws-feed instead (`matches`:
 * `last_match` then `match` frames with a per-product `sequence`; `heartbeat` with `last_trade_id`).
 * REST: `GET /products/{id}/trades` newest first with `after`/`before` id
 * cursors and `CB-AFTER`/`CB-BEFORE` headers, `GET /products/{id}`, `GET /time`, and Coinbase's
 * public limit (10 requests a second, bursts of 15) answered with 429. Frames are keyed and printed
 * like the real ones in ../shared/data/coinbase. Fault injection takes the fake Binance's options
 * (`Faults`) plus `seqGap`; `trades(symbol)` is the ground truth: every trade the exchange has.
 * In replay mode (`replay`) it plays a capture's trades instead of generating, with their recorded
 * ids, prices, sizes and times, on a clock that starts with the first trade subscription (as the
 * fake Binance's `replay`); it then sends no ticker frames, having none recorded. Its parts:
 * `coinbase/book.ts` (the trades of each product, as `columns.ts`' columns), `coinbase/rest.ts` (REST routes and limit),
 * `coinbase/advanced.ts` (Advanced Trade WebSocket), `coinbase/legacy.ts` (ws-feed), with the
 * seeded market of `generator.ts` and the faults of `faults.ts`; this file puts them on one port.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'
import { prng, type ResumeAt } from './generator'
import { noCoinbaseFaults, type CoinbaseFaults } from './faults'
import type { FakeExchange } from './index'
import { coinbaseBooks, type CoinbaseReplay, type CoinbaseTrade } from './coinbase/book'
import { coinbaseRest } from './coinbase/rest'
import { advancedTrade } from './coinbase/advanced'
import { exchangeFeed } from './coinbase/legacy'

export { noCoinbaseFaults, type CoinbaseFaults } from './faults'
export type { CoinbaseReplay, CoinbaseTrade } from './coinbase/book'
export { selectTrades } from './coinbase/rest'

export const defaults = {
  host: '127.0.0.1',
  /** 0 picks a free port. */
  port: 0,
  symbols: ['BTC-USD', 'ETH-USD'],
  seed: 1,
  /** History generated into the past at start, served over REST. */
  historyMs: 6 * 3_600_000,
  /** Mean trades per second per product. */
  ratePerSec: 4,
  /** Live generation period. */
  tickMs: 100,
  heartbeatMs: 1_000,
  /** Coinbase closes a connection that has not subscribed within 5 seconds. */
  subscribeTimeoutMs: 5_000,
  /** Trades in a `market_trades` snapshot (Coinbase sends the last 100 per product). */
  snapshotTrades: 100,
  /** Oldest trades are dropped beyond this many per product (held as columns: about 40 bytes a trade). */
  maxTrades: 2_000_000,
  /** Trades older than this behind a product's newest are dropped (`ticklake start`'s simulator bounds it: `sim.ts`). */
  retainMs: Infinity,
  /** Public REST requests a second, and the burst allowed above it (Coinbase Exchange: 10 and 15). */
  restRatePerSec: 10,
  restBurst: 15,
  /** Most trades in one `market_trades` update frame (a replay at `max` speed publishes a whole capture at once). */
  frameTrades: 500,
}

export interface FakeCoinbaseOptions extends Partial<typeof defaults> {
  now?: () => number; faults?: Partial<CoinbaseFaults>; replay?: CoinbaseReplay
  /** Per product, its own mean rate in place of `ratePerSec`. */
  rates?: Record<string, number>
  /** Per product, where its trades go on from (ids after `id`, times after `ts`): the fake Binance's `resume`. */
  resume?: Record<string, ResumeAt | undefined>
}

/**
 * The fake Binance's handle, with Coinbase's ground truth and faults: `restUrl` is the Exchange
 * REST API, `wsUrl` the Advanced Trade WebSocket (the legacy ws-feed is at `${wsUrl}/ws-feed`).
 */
export interface FakeCoinbase extends Pick<FakeExchange, 'restUrl' | 'wsUrl' | 'port' | 'symbols' | 'replayDone' | 'dropConnections' | 'close'> {
  /**
   * Every trade of a product so far, oldest first: the ground truth. A live view of the columns the
   * fake holds, each element read making a new object (a whole-array method makes one per trade).
   */
  trades(symbol: string): ReadonlyArray<CoinbaseTrade>
  setFaults(f: Partial<CoinbaseFaults>): void
}

/**
 * Starts the fake Coinbase on one port (REST and WebSocket).
 * @example const cb = await startFakeCoinbase({ symbols: ['BTC-USD'] }); await fetch(`${cb.restUrl}/products/BTC-USD/trades?limit=5`)
 */
export async function startFakeCoinbase(options: FakeCoinbaseOptions = {}): Promise<FakeCoinbase> {
  const o = { ...defaults, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof defaults
  const now = options.now ?? Date.now
  const start = now()
  const faults: CoinbaseFaults = { ...noCoinbaseFaults, ...options.faults }
  // one seeded draw for every fault and random field, in the order the parts make them
  const chance = prng(o.seed + 104_729)
  const replay = options.replay
  if (replay) o.symbols = [...replay.trades.keys()]
  const book = coinbaseBooks({ ...o, start, resume: options.resume, rates: options.rates, replay, faults, chance })
  const startReplay = () => book.startReplay(now())
  const advanced = advancedTrade({ ...o, books: book.books, ticker: book.ticker, replay: !!replay, start, faults, chance, now, onTradeSubscription: startReplay })
  const feed = exchangeFeed({ ...o, books: book.books, faults, chance, now, onTradeSubscription: startReplay })

  /** Generates trades up to now and pushes them to the subscribers of both feeds. */
  function tick() {
    const fresh = book.advanceAll(now)
    if (!fresh.size) return
    feed.tick(fresh)
    advanced.tick(fresh)
  }
  const ticker_ = setInterval(tick, o.tickMs)
  const heart = setInterval(advanced.heartbeat, o.heartbeatMs)
  const legacyHeart = setInterval(feed.heartbeat, o.heartbeatMs)

  const wss = new WebSocketServer({ noServer: true })
  const server = createServer(coinbaseRest({ ...o, books: book.books, faults, chance, tick, now }))
  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (path === '/ws-feed') return feed.accept(wss, req, socket, head)
    if (path !== '/') { socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'); return }
    advanced.accept(wss, req, socket, head)
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(o.port, o.host, () => resolve()) })
  const port = (server.address() as AddressInfo).port
  const sockets = () => [...advanced.sockets(), ...feed.sockets()]
  return {
    restUrl: `http://${o.host}:${port}`,
    wsUrl: `ws://${o.host}:${port}`,
    port,
    symbols: [...o.symbols],
    trades: (symbol) => book.books.get(symbol)?.trades ?? [],
    replayDone: book.replayDone,
    setFaults(f) { Object.assign(faults, f) },
    dropConnections() { for (const ws of sockets()) ws.terminate() },
    async close() {
      clearInterval(ticker_)
      clearInterval(heart)
      clearInterval(legacyHeart)
      for (const ws of sockets()) ws.terminate()
      await new Promise((r) => wss.close(r))
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}
