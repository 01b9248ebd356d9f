/**
 * Record and replay. `recordCapture` writes what an exchange stream sends, frame by frame, as JSON
 * lines (`{"t":"recv","ts":…,"data":"…"}`, the format cryptofeed uses too). `replayCapture` plays
 * a capture — ticklake's own or cryptofeed's legacy and `.jsonl.zst` recordings — through the fake
 * exchange and the real ingest path into the lake, so `ticklake candles` answers for it.
 */
import { createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import WebSocket from 'ws'
import { aggTradesOfCapture, captureLine, parseCapture } from '@ticklake/core/capture'
import { streamUrl } from '@ticklake/core/binance'
import { normalizeNative } from '@ticklake/core/market'
import { readCheckpoint } from '@ticklake/core/checkpoint'
import { startFakeExchange } from '../exchange/index'
import { startCloud } from '../cloud/index'
import { fileStore } from '../store/index'

export const defaults = { replayTimeoutMs: 120_000 }

export interface RecordOptions { wsUrl: string; symbols: string[]; out: string; durationMs?: number; signal?: AbortSignal; kind?: string }

/** Records the stream of `symbols` into `out` until `durationMs` passes or `signal` aborts; resolves with the frame count. */
export async function recordCapture(o: RecordOptions): Promise<number> {
  const url = streamUrl(o.wsUrl, o.symbols, o.kind)
  const file = createWriteStream(o.out, { flags: 'a' })
  let frames = 0
  const ws = new WebSocket(url)
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => { file.write(captureLine('connect', Date.now(), url)); resolve() })
    ws.once('error', reject)
  })
  ws.on('message', (d) => { frames++; file.write(captureLine('recv', Date.now(), d.toString())) })
  await new Promise<void>((resolve) => {
    const timer = o.durationMs ? setTimeout(resolve, o.durationMs) : undefined
    o.signal?.addEventListener('abort', () => { clearTimeout(timer); resolve() })
    ws.once('close', () => { clearTimeout(timer); resolve() })
  })
  ws.close()
  await new Promise((r) => file.end(r))
  return frames
}

export interface ReplayOptions { file: string; speed: number | 'max'; dataDir: string; log?: (line: string) => void }

/** Plays a capture into the lake at `dataDir`; resolves with the trades replayed per symbol. */
export async function replayCapture(o: ReplayOptions) {
  const log = o.log ?? (() => {})
  const { configured, trades } = aggTradesOfCapture(parseCapture(new Uint8Array(await readFile(o.file))))
  if (!trades.size) throw new Error(`${o.file} holds no Binance aggTrade frames to replay`)
  const symbols = [...trades.keys()].map((n) => {
    const s = normalizeNative(n, configured)
    if (!s) throw new Error(`cannot tell base and quote of ${n}; the capture has no configuration line naming it`)
    return s
  })
  const fx = await startFakeExchange({ replay: { trades, symbols, speed: o.speed } })
  const cloud = await startCloud({ source: 'replay', restUrl: fx.restUrl, wsUrl: fx.wsUrl, symbols, port: 0, dataDir: o.dataDir, backfillMs: 0, ingestBudgetMs: 3_600_000, firehoseBufferMs: 200, ingest: { streamSource: 'replay', settings: { checkpointEveryMs: 200 } }, log })
  const store = fileStore(o.dataDir)
  const natives = [...trades.keys()]
  const span = Math.max(...[...trades.values()].map((t) => t.at(-1)!.T - t[0].T))
  const deadline = Date.now() + (o.speed === 'max' ? 0 : span / o.speed) + defaults.replayTimeoutMs
  const caughtUp = async () => {
    for (let i = 0; i < natives.length; i++) {
      const cp = await readCheckpoint(store, 'binance', symbols[i])
      if (!cp || cp.checkpoint.last_trade_id < trades.get(natives[i])!.at(-1)!.a) return false
    }
    return true
  }
  try {
    while (!(fx.replayDone() && (await caughtUp()))) {
      if (Date.now() > deadline) throw new Error('replay did not finish in time: the ingest did not catch up with the capture')
      await new Promise((r) => setTimeout(r, 100))
    }
  } finally {
    await cloud.close()
    await fx.close()
  }
  return Object.fromEntries(natives.map((n, i) => [symbols[i], trades.get(n)!.length]))
}
