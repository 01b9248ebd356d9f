/**
 * `npx tsx bench/requests.ts [TRADES_PER_MINUTE] [MINUTES]`: the lake path's S3 requests per bronze
 * object, the figures docs/deploy.md prices. It plays one symbol's hour as Firehose delivers it in
 * AWS (one object per symbol a minute, its 60 s buffer interval), runs the real candle handler on
 * each object's S3 event, the silver handler on each candle state it writes and the features
 * handler on each gold and silver object (as stacks/pipeline.ts wires them), and counts each
 * handler's store calls by kind (PUT-class: put, list; GET-class: get, head) and its time here (in
 * memory: no S3 latency). Defaults: 694 trades a minute (1,000,000 a day), 60 minutes.
 */
import type { S3Event } from 'aws-lambda'
import { TRADE_COLUMNS, type Trade } from '@ticklake/core/market'
import { bronzeTradesPrefix } from '@ticklake/core/lake/layout'
import { writeParquet } from '@ticklake/core/lake/parquet'
import type { ObjectStore } from '@ticklake/core/ports'
import { memoryStore, s3Event } from '@ticklake/local/store/index'
import { createCandlesHandler } from '@ticklake/functions/candles'
import { createSilverHandler } from '@ticklake/functions/silver'
import { createFeaturesHandler } from '@ticklake/functions/features'

export const defaults = { tradesPerMinute: 694, minutes: 60, start: Date.parse('2026-11-24T15:00:00Z') }

type Kind = 'put' | 'list' | 'get' | 'head' | 'delete'
interface Tally { runs: number; ms: number; calls: Record<Kind, number> }

/** Plays `minutes` of one symbol through the lake functions; returns each function's tally. */
export async function lakeRequests(tradesPerMinute = defaults.tradesPerMinute, minutes = defaults.minutes) {
  const mem = memoryStore()
  const tallies = new Map<string, Tally>()
  const created: string[] = []
  let current: Tally | undefined
  const count = (k: Kind) => { if (current) current.calls[k]++ }
  const store: ObjectStore = {
    async get(k) { count('get'); return mem.get(k) },
    async head(k) { count('head'); return mem.head(k) },
    async put(k, b, o) { count('put'); const r = await mem.put(k, b, o); created.push(k); return r },
    async list(p) { count('list'); return mem.list(p) },
    async delete(k) { count('delete'); return mem.delete(k) },
  }
  const now = () => defaults.start + (minutes + 2) * 60_000
  const fns = { candles: createCandlesHandler({ store, now }), silver: createSilverHandler({ store }), features: createFeaturesHandler({ store }) }
  /** Runs `name` on the S3 event of `key`; returns the keys it created. */
  async function invoke(name: keyof typeof fns, key: string) {
    const event = s3Event('bench', key, 1, (await mem.head(key))!.etag) as S3Event
    const t = tallies.get(name) ?? { runs: 0, ms: 0, calls: { put: 0, list: 0, get: 0, head: 0, delete: 0 } }
    tallies.set(name, t)
    created.length = 0
    current = t
    const t0 = performance.now()
    await fns[name](event)
    t.ms += performance.now() - t0
    t.runs++
    current = undefined
    return [...created]
  }
  let id = 1, price = 100
  for (let m = 0; m < minutes; m++) {
    const rows: Trade[] = []
    for (let i = 0; i < tradesPerMinute; i++, id++) {
      price = Math.round((price + (((id * 7919) % 13) - 6) / 100) * 100) / 100
      rows.push({ exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: id, last_trade_id: id, ts: (defaults.start + m * 60_000 + Math.floor((i * 60_000) / tradesPerMinute)) * 1000, price, qty: 0.01, side: i % 2 ? 'buy' : 'sell', trades: 1, ingest_ts: 0, source: 'ws' })
    }
    const key = `${bronzeTradesPrefix('binance', 'BTC-USDT', '2026-11-24', '15')}minute-${String(m).padStart(2, '0')}.parquet`
    await mem.put(key, writeParquet(TRADE_COLUMNS, rows))
    const byCandles = await invoke('candles', key)
    const bySilver: string[] = []
    for (const k of byCandles.filter((k) => k.startsWith('state/candles/') && k.endsWith('.json'))) bySilver.push(...(await invoke('silver', k)))
    // as stacks/pipeline.ts notifies: 1m gold objects and silver's manifest (its commit of the hour's parts)
    for (const k of [...byCandles.filter((k) => k.startsWith('gold/candles/') && k.endsWith('.parquet')), ...bySilver.filter((k) => k.startsWith('state/silver/') && k.endsWith('.json'))]) await invoke('features', k)
  }
  return { minutes, tallies }
}

const isMain = process.argv[1]?.endsWith('requests.ts')
if (isMain) {
  const { minutes, tallies } = await lakeRequests(Number(process.argv[2] ?? defaults.tradesPerMinute), Number(process.argv[3] ?? defaults.minutes))
  console.log('per bronze object (one symbol, one minute):')
  for (const [name, t] of tallies) {
    const per = (n: number) => (n / minutes).toFixed(1)
    console.log(`${name.padEnd(9)} invocations ${per(t.runs)}  PUT-class ${per(t.calls.put + t.calls.list)} (put ${per(t.calls.put)}, list ${per(t.calls.list)})  GET-class ${per(t.calls.get + t.calls.head)} (get ${per(t.calls.get)}, head ${per(t.calls.head)})  ${(t.ms / t.runs).toFixed(0)} ms a run here`)
  }
}
