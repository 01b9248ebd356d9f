/**
 * Record and replay. `recordCapture` writes what an exchange stream sends, frame by frame, as JSON
 * lines (`{"t":"recv","ts":…,"data":"…"}`, the format cryptofeed uses too): Binance combined
 * streams, or Coinbase's Advanced Trade `market_trades` and `heartbeats` (a header line names the
 * exchange, `send` lines keep the subscriptions). `replayCapture` plays a capture — ticklake's own
 * or cryptofeed's legacy and `.jsonl.zst` recordings, Binance or Coinbase (told from the capture) —
 * through the matching fake exchange and the real ingest path into the lake, keeping the recorded
 * trade ids, so `ticklake candles` answers for it and a second replay adds nothing.
 */
import { createWriteStream, type WriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import WebSocket from 'ws'
import { aggTradesOfCapture, captureHeader, captureVenue, captureLine, coinbaseTradesOfCapture, parseCapture, type CapturedMessage } from '@ticklake/core/sources/capture'
import { binanceVenue, streamUrl } from '@ticklake/core/sources/binance'
import { subscribeMessages } from '@ticklake/core/sources/coinbase'
import { isSymbol, normalizeNative, type Exchange } from '@ticklake/core/market'
import { renamedVenue } from '@ticklake/core/sources/venues'
import { readCheckpoint } from '@ticklake/core/sources/checkpoint'
import { startFakeExchange } from '../exchange/index'
import { startFakeCoinbase } from '../exchange/coinbase'
import { startCloud } from '../cloud/index'
import { fileStore } from '../store/index'

export const defaults = {
  replayTimeoutMs: 120_000,
  /** Channels a Coinbase recording subscribes to: trades, and heartbeats so quiet products keep the connection open. */
  coinbaseChannels: ['market_trades', 'heartbeats'],
}

export interface RecordOptions {
  wsUrl: string
  symbols: string[]
  out: string
  durationMs?: number
  signal?: AbortSignal
  /** Binance stream kind (default aggTrade). */
  kind?: string
  /** `coinbase`: the Advanced Trade protocol at `wsUrl` (subscribe messages); otherwise Binance combined streams. */
  exchange?: string
  /** Called once the stream is open (the file is made only then). */
  onOpen?: () => void
}

/**
 * Records the stream of `symbols` into `out` until `durationMs` passes or `signal` aborts; resolves
 * with the frame count. The file is opened only once the stream is: a stream that cannot be reached
 * leaves no file behind.
 */
export async function recordCapture(o: RecordOptions): Promise<number> {
  const coinbase = o.exchange === 'coinbase'
  const url = coinbase ? o.wsUrl : streamUrl(o.wsUrl, o.symbols, o.kind)
  let file!: WriteStream
  let frames = 0
  const ws = new WebSocket(url)
  const onMessage = (d: WebSocket.RawData) => { frames++; file.write(captureLine('recv', Date.now(), d.toString())) }
  ws.on('message', onMessage)
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => {
      file = createWriteStream(o.out, { flags: 'a' })
      o.onOpen?.()
      if (coinbase) file.write(captureHeader('coinbase', o.symbols, Date.now()))
      file.write(captureLine('connect', Date.now(), url))
      if (coinbase) for (const m of subscribeMessages(o.symbols, defaults.coinbaseChannels)) { ws.send(m); file.write(captureLine('send', Date.now(), m)) }
      resolve()
    })
    ws.once('error', (e) => reject(e))
  })
  await new Promise<void>((resolve) => {
    const timer = o.durationMs ? setTimeout(resolve, o.durationMs) : undefined
    o.signal?.addEventListener('abort', () => { clearTimeout(timer); resolve() })
    ws.once('close', () => { clearTimeout(timer); resolve() })
  })
  // Frames can still arrive while the close handshake runs: the capture ends here, so they are not counted or written.
  ws.off('message', onMessage)
  ws.close()
  await new Promise((r) => file.end(r))
  return frames
}

export interface ReplayOptions { file: string; speed: number | 'max'; dataDir: string; log?: (line: string) => void }

/** Plays a capture into the lake at `dataDir`; resolves with the trades replayed per symbol. */
export async function replayCapture(o: ReplayOptions): Promise<Record<string, number>> {
  const messages = parseCapture(new Uint8Array(await readFile(o.file)))
  // recorded market data keeps its venue: a Binance.US capture lands under binance-us, a futures one under binance-futures
  const exchange = captureVenue(messages)
  if (!exchange) throw new Error(`${o.file}: cannot tell which exchange it was recorded from (no header, connection URL, Binance aggTrade or Coinbase market_trades/match frame)`)
  return exchange === 'coinbase' ? replayCoinbase(o, messages) : replayBinance(o, messages, exchange)
}

/** Waits until the fake has published every captured trade and the ingest's checkpoints reached each symbol's last id. */
async function awaitReplay(o: ReplayOptions, exchange: Exchange, last: Map<string, number>, done: () => boolean, spanMs: number) {
  const store = fileStore(o.dataDir)
  const deadline = Date.now() + (o.speed === 'max' ? 0 : spanMs / o.speed) + defaults.replayTimeoutMs
  const caughtUp = async () => {
    for (const [symbol, id] of last) {
      const cp = await readCheckpoint(store, exchange, symbol)
      if (!cp || cp.checkpoint.last_trade_id < id) return false
    }
    return true
  }
  while (!(done() && (await caughtUp()))) {
    if (Date.now() > deadline) throw new Error('replay did not finish in time: the ingest did not catch up with the capture')
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** A Coinbase capture (Advanced Trade or legacy ws-feed) through the fake Coinbase and the real ingest with exchange `coinbase`. */
async function replayCoinbase(o: ReplayOptions, messages: CapturedMessage[]) {
  const log = o.log ?? (() => {})
  const { trades, rejected } = coinbaseTradesOfCapture(messages)
  if (!trades.size) throw new Error(`${o.file} holds no Coinbase market_trades or match frames to replay`)
  if (rejected) log(`${rejected} malformed trade(s) in the capture left out`)
  const symbols = [...trades.keys()]
  for (const s of symbols) if (!isSymbol(s)) throw new Error(`${o.file}: product ${s} is not BASE-QUOTE`)
  const fx = await startFakeCoinbase({ replay: { trades, speed: o.speed } })
  const all = [...trades.values()]
  const spanMs = (Math.max(...all.map((t) => t.at(-1)!.us)) - Math.min(...all.map((t) => t[0].us))) / 1000
  // The capture's own quotes are not replayed (the fake has none to send): quotes stay off.
  const cloud = await startCloud({ exchange: 'coinbase', source: 'replay', restUrl: fx.restUrl, wsUrl: fx.wsUrl, symbols, port: 0, dataDir: o.dataDir, backfillMs: 0, ingestBudgetMs: 3_600_000, firehoseBufferMs: 200, ingest: { quotes: false, streamSource: 'replay', settings: { checkpointEveryMs: 200 } }, log })
  try {
    await awaitReplay(o, 'coinbase', new Map(symbols.map((s) => [s, trades.get(s)!.at(-1)!.trade_id])), fx.replayDone, spanMs)
  } finally {
    await cloud.close()
    await fx.close()
  }
  return Object.fromEntries(symbols.map((s) => [s, trades.get(s)!.length]))
}

/**
 * A Binance capture through the fake Binance and the real ingest, under the venue it was recorded
 * from (`exchange`): the fake speaks spot's protocol, whatever venue the capture is of.
 */
async function replayBinance(o: ReplayOptions, messages: CapturedMessage[], exchange: Exchange) {
  const log = o.log ?? (() => {})
  const { configured, trades } = aggTradesOfCapture(messages)
  if (!trades.size) throw new Error(`${o.file} holds no Binance aggTrade frames to replay`)
  const symbols = [...trades.keys()].map((n) => {
    const s = normalizeNative(n, configured)
    if (!s) throw new Error(`cannot tell base and quote of ${n}; the capture has no configuration line naming it`)
    return s
  })
  const fx = await startFakeExchange({ replay: { trades, symbols, speed: o.speed } })
  const venue = renamedVenue(binanceVenue({ exchange: 'binance', restUrl: fx.restUrl, wsUrl: fx.wsUrl, symbols, quotes: true }), exchange)
  const cloud = await startCloud({ exchange, source: 'replay', restUrl: fx.restUrl, wsUrl: fx.wsUrl, symbols, port: 0, dataDir: o.dataDir, backfillMs: 0, ingestBudgetMs: 3_600_000, firehoseBufferMs: 200, ingest: { venue, streamSource: 'replay', settings: { checkpointEveryMs: 200 } }, log })
  const natives = [...trades.keys()]
  const span = Math.max(...[...trades.values()].map((t) => t.at(-1)!.T - t[0].T))
  try {
    await awaitReplay(o, exchange, new Map(natives.map((n, i) => [symbols[i], trades.get(n)!.at(-1)!.a])), fx.replayDone, span)
  } finally {
    await cloud.close()
    await fx.close()
  }
  return Object.fromEntries(natives.map((n, i) => [symbols[i], trades.get(n)!.length]))
}
