/**
 * The lake layout (DESIGN.md section 3): the keys of the lake's data and of the lake jobs' state
 * are built here (bronze trades, quotes and prices, silver, gold candles, features and symbols,
 * serving windows, hour states, checkpoints, completeness records, the DLQ), so the Hive partitions
 * that Athena and DuckDB prune by are spelled in one place, as are the lake's triggers
 * (`LAKE_TRIGGERS`: which objects run which lake function). Records with a module of their own
 * build their keys there: the quality records under `quality/` (lake/quality), the live snapshot
 * `serving/<exchange>/<symbol>/live.json` (serve/realtime/live), the API keys at
 * `state/api-keys.json` (serve/api/keys), the Firehose prefixes and error prefix (aws/glue).
 */
import type { Timeframe } from '../../market/index'

const pad = (n: number) => String(n).padStart(2, '0')

/** UTC date and hour of an epoch-ms time: `{ dt: '2026-11-24', hour: '15' }`. */
export function partitionOf(ms: number) {
  const d = new Date(ms)
  return { dt: d.toISOString().slice(0, 10), hour: pad(d.getUTCHours()) }
}

/** Folder of one hour of bronze trades: `bronze/trades/exchange=binance/symbol=BTC-USDT/dt=2026-11-24/hour=15/`. */
export const bronzeTradesPrefix = (exchange: string, symbol: string, dt: string, hour: string) =>
  `bronze/trades/exchange=${exchange}/symbol=${symbol}/dt=${dt}/hour=${hour}/`

/** `bronze/prices/source=coingecko/coin=bitcoin/dt=2026-11-24/<name>.parquet`, in the UTC day of `ingestTs` (epoch µs). */
export const pricesKey = (coin: string, ingestTs: number, name: string) =>
  `bronze/prices/source=coingecko/coin=${coin}/dt=${partitionOf(Math.floor(ingestTs / 1000)).dt}/${name}.parquet`

/** Folder of one hour of bronze quotes (best bid/ask). */
export const bronzeQuotesPrefix = (exchange: string, symbol: string, dt: string, hour: string) =>
  `bronze/quotes/exchange=${exchange}/symbol=${symbol}/dt=${dt}/hour=${hour}/`

/** One hour of silver trades in one file, as lakes from before silver parts hold it (read and adopted: `silverPartKey` now). */
export const silverTradesKey = (exchange: string, symbol: string, dt: string, hour: string) =>
  `silver/trades/exchange=${exchange}/symbol=${symbol}/dt=${dt}/hour=${hour}.parquet`

/**
 * One part of a silver hour (`dt=2026-11-24/hour=15-<name>.parquet`, beside where the hour's
 * single file was): each silver run adds a part of the trades new to the hour, and compaction
 * replaces parts by one. Same folder depth, so Athena and DuckDB read every part of the `dt`.
 */
export const silverPartKey = (exchange: string, symbol: string, dt: string, hour: string, name: string) =>
  `silver/trades/exchange=${exchange}/symbol=${symbol}/dt=${dt}/hour=${hour}-${name}.parquet`

/** What every file of one silver hour starts with (its parts, and `silverTradesKey` of lakes from before parts). */
export const silverHourPrefix = (exchange: string, symbol: string, dt: string, hour: string) =>
  `silver/trades/exchange=${exchange}/symbol=${symbol}/dt=${dt}/hour=${hour}`

/** Which bronze files a silver hour already holds and the parts that hold them (so the next run reads only new ones). */
export const silverManifestKey = (exchange: string, symbol: string, dt: string, hour: string) =>
  `state/silver/${exchange}/${symbol}/${dt}/${hour}.json`

/** The hour a silver manifest key names (`silverManifestKey`'s inverse), or undefined for any other key. */
export function hourOfSilverManifest(key: string): LakeHour | undefined {
  const m = /^state\/silver\/([^/]+)\/([^/]+)\/(\d{4}-\d\d-\d\d)\/(\d\d)\.json$/.exec(key)
  return m ? { exchange: m[1], symbol: m[2], dt: m[3], hour: m[4] } : undefined
}

/** The 1m gold candles of one hour. */
export const goldCandlesKey = (exchange: string, symbol: string, tf: Timeframe, dt: string, hour: string) =>
  `gold/candles/exchange=${exchange}/symbol=${symbol}/tf=${tf}/dt=${dt}/hour=${hour}.parquet`

/** Per-trade ML features of one silver hour (docs/features.md). */
export const goldTradeFeaturesKey = (exchange: string, symbol: string, dt: string, hour: string) =>
  `gold/features/trades/exchange=${exchange}/symbol=${symbol}/dt=${dt}/hour=${hour}.parquet`

/** Indicators of the 1m candles of one hour (docs/features.md). */
export const goldCandleFeaturesKey = (exchange: string, symbol: string, dt: string, hour: string) =>
  `gold/features/candles/exchange=${exchange}/symbol=${symbol}/tf=1m/dt=${dt}/hour=${hour}.parquet`

/** What the features of one hour were computed from (silver ETags), and how many targets were still unknown. */
export const featuresStateKey = (exchange: string, symbol: string, dt: string, hour: string) => `state/features/${exchange}/${symbol}/${dt}/${hour}.json`

/** The symbol dimension: one object for every exchange (`gold/dim_symbols/dim_symbols.parquet`). */
export const dimSymbolsKey = () => 'gold/dim_symbols/dim_symbols.parquet'

/**
 * Gold candle layout by timeframe: every file, of every timeframe, at the same Hive depth with the
 * same partitions (`exchange=/symbol=/tf=/dt=`), under the `dt` of its span's first day, so Athena,
 * DuckDB and polars read the whole tree as one table and prune it by date. 1m, 5m, 15m and 1h in one
 * file per UTC hour (`tf=5m/dt=2026-11-24/hour=15.parquet`), 4h in one file per UTC day
 * (`tf=4h/dt=2026-11-24/day.parquet`), 1d in one file per UTC year at its first day
 * (`tf=1d/dt=2026-01-01/year.parquet`). Each file holds the candles opening in it.
 */
export const CANDLE_FILE_SPAN: Record<Timeframe, 'hour' | 'day' | 'year'> = { '1m': 'hour', '5m': 'hour', '15m': 'hour', '1h': 'hour', '4h': 'day', '1d': 'year' }

/** The `dt` partition of the gold file holding the `tf` candle that opens at `ms`: the first day of the file's span. */
export function candleFileDt(tf: Timeframe, ms: number): string {
  const { dt } = partitionOf(ms)
  return CANDLE_FILE_SPAN[tf] === 'year' ? `${dt.slice(0, 4)}-01-01` : dt
}

/** The gold file holding the `tf` candle that opens at `ms`. */
export function goldCandleFileKey(exchange: string, symbol: string, tf: Timeframe, ms: number) {
  const base = `gold/candles/exchange=${exchange}/symbol=${symbol}/tf=${tf}/dt=${candleFileDt(tf, ms)}`
  const span = CANDLE_FILE_SPAN[tf]
  return span === 'hour' ? `${base}/hour=${partitionOf(ms).hour}.parquet` : `${base}/${span}.parquet`
}

/**
 * Where a gold candle file of the layout before issue 10 belongs now (`tf=4h/dt=D.parquet` ->
 * `tf=4h/dt=D/day.parquet`, `tf=1d/year=YYYY.parquet` -> `tf=1d/dt=YYYY-01-01/year.parquet`), or
 * undefined for any other key.
 */
export function relocatedCandleKey(key: string): string | undefined {
  const m = /^(gold\/candles\/exchange=[^/]+\/symbol=[^/]+)\/tf=(4h|1d)\/(?:dt=(\d{4}-\d\d-\d\d)|year=(\d{4}))\.parquet$/.exec(key)
  if (!m || (m[2] === '4h') !== (m[3] !== undefined)) return undefined
  return m[2] === '4h' ? `${m[1]}/tf=4h/dt=${m[3]}/day.parquet` : `${m[1]}/tf=1d/dt=${m[4]}-01-01/year.parquet`
}

/** Exact minute sums of one hour's candles (the state coarser timeframes roll up from). */
export const candleStateKey = (exchange: string, symbol: string, dt: string, hour: string) => `state/candles/${exchange}/${symbol}/${dt}/${hour}.json`

/** The hour a candle state key names (`candleStateKey`'s inverse), or undefined for any other key. */
export function hourOfCandleState(key: string): LakeHour | undefined {
  const m = /^state\/candles\/([^/]+)\/([^/]+)\/(\d{4}-\d\d-\d\d)\/(\d\d)\.json$/.exec(key)
  return m ? { exchange: m[1], symbol: m[2], dt: m[3], hour: m[4] } : undefined
}

/**
 * A completeness record of one UTC day (`state/complete/<exchange>/<symbol>/<dt>.json`): a span of
 * the day the lake is known to hold every trade of (an imported archive day), so its candles are final.
 */
export const completeKey = (exchange: string, symbol: string, dt: string) => `state/complete/${exchange}/${symbol}/${dt}.json`

/** Folder of one day's candle states. */
export const candleStatePrefix = (exchange: string, symbol: string, dt: string) => `state/candles/${exchange}/${symbol}/${dt}/`

/** Recent window of candles for the page: `serving/binance/BTC-USDT/1m.json`. */
export const servingKey = (exchange: string, symbol: string, tf: Timeframe) => `serving/${exchange}/${symbol}/${tf}.json`

/** Last trade id accepted downstream for one (exchange, symbol). */
export const checkpointKey = (exchange: string, symbol: string) => `state/checkpoints/${exchange}/${symbol}.json`

/** Where unparseable input goes, with the reason. */
export const dlqKey = (source: string, ms: number, name: string) => `dlq/${source}/dt=${partitionOf(ms).dt}/${name}.jsonl`

/**
 * Where a lake job (`candles`) puts the rows of one bronze object it cannot take, one object per
 * bronze object so that a rerun rewrites the same key:
 * `dlq/candles/dt=2026-11-24/binance.BTC-USDT.15.<object name>.jsonl`.
 */
export function bronzeDlqKey(job: string, bronzeKey: string): string {
  const h = hourOfKey(bronzeKey)
  const name = bronzeKey.slice(bronzeKey.lastIndexOf('/') + 1).replace(/\.parquet$/, '')
  const ms = h ? Date.parse(`${h.dt}T${h.hour}:00:00Z`) : 0
  return dlqKey(job, Number.isFinite(ms) ? ms : 0, h ? `${h.exchange}.${h.symbol}.${h.hour}.${name}` : name)
}

/** Reads the Hive partitions out of a key: `{ exchange: 'binance', symbol: 'BTC-USDT', dt: ..., hour: ... }`. */
export function partitionsOfKey(key: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of key.split('/')) {
    const m = /^([a-z_]+)=([^/]+?)(\.parquet)?$/.exec(part)
    if (m) out[m[1]] = decodeURIComponent(m[2])
  }
  return out
}

/** An hour of one symbol's data, as keys name it. */
export interface LakeHour { exchange: string; symbol: string; dt: string; hour: string }

/** The hour a key's Hive partitions name (`exchange=`, `symbol=`, `dt=`, `hour=`; a silver part's `hour=HH-<name>` too), or undefined. */
export function hourOfKey(key: string): LakeHour | undefined {
  const p = partitionsOfKey(key)
  return p.exchange && p.symbol && p.dt && p.hour ? { exchange: p.exchange, symbol: p.symbol, dt: p.dt, hour: p.hour.replace(/^(\d\d)-.+$/, '$1') } : undefined
}

/**
 * The hours an S3 event's objects name, each once, in order: keys arrive URL-encoded (spaces as
 * `+`), and `hourOf` reads an hour from a decoded key (undefined for keys to ignore).
 * @example hoursOfEvent(event, hourOfCandleState) // [{ exchange: 'binance', symbol: 'BTC-USDT', dt: '2026-11-24', hour: '15' }]
 */
export function hoursOfEvent(event: S3EventLike, hourOf: (key: string) => LakeHour | undefined = hourOfKey): LakeHour[] {
  const hours = new Map<string, LakeHour>()
  for (const r of event.Records ?? []) {
    const h = hourOf(decodeURIComponent(r.s3.object.key.replace(/\+/g, ' ')))
    if (h) hours.set(`${h.exchange}/${h.symbol}/${h.dt}/${h.hour}`, { exchange: h.exchange, symbol: h.symbol, dt: h.dt, hour: h.hour })
  }
  return [...hours.values()]
}

/** The keys of an S3 event, as far as the lake reads one. */
export interface S3EventLike { Records?: { s3: { object: { key: string } } }[] }

/**
 * What the body of an SQS message that S3 sent holds: its S3 event (one a message), `'test'` for
 * the `s3:TestEvent` S3 sends when a queue notification is set up, or an Error saying why it is
 * neither (any other message sent to the queue).
 */
export function s3EventOfMessage(body: string): S3EventLike | 'test' | Error {
  let doc: any
  try { doc = JSON.parse(body) } catch (e) { return new Error(`not JSON (${(e as Error).message})`) }
  if (doc?.Event === 's3:TestEvent') return 'test'
  const records = doc?.Records
  if (!Array.isArray(records) || !records.length || !records.every((r) => typeof r?.s3?.object?.key === 'string')) return new Error('not an S3 event notification (no Records with s3.object.key)')
  return doc
}

/** A batch of SQS messages as Lambda delivers it: each message's id and body. */
export interface QueueBatch { Records: { messageId: string; body: string }[] }

/**
 * The hours a batch of SQS messages of S3 events names, each once however many messages name it,
 * with the ids of the messages that do (the ones to report if its run fails); `tests` are the
 * `s3:TestEvent` messages, `malformed` the messages that hold no S3 event, with why.
 */
export function hoursOfQueue(batch: QueueBatch, hourOf: (key: string) => LakeHour | undefined = hourOfKey) {
  const hours = new Map<string, { hour: LakeHour; messageIds: string[] }>()
  const tests: string[] = [], malformed: { messageId: string; reason: string }[] = []
  for (const m of batch.Records) {
    const event = s3EventOfMessage(m.body)
    if (event === 'test') tests.push(m.messageId)
    else if (event instanceof Error) malformed.push({ messageId: m.messageId, reason: event.message })
    else for (const h of hoursOfEvent(event, hourOf)) {
      const k = `${h.exchange}/${h.symbol}/${h.dt}/${h.hour}`
      if (!hours.has(k)) hours.set(k, { hour: h, messageIds: [] })
      hours.get(k)!.messageIds.push(m.messageId)
    }
  }
  return { hours: [...hours.values()], tests, malformed }
}

/** The JSON document at `servingKey`: newest candles last. */
export interface ServingWindow { exchange: string; symbol: string; tf: Timeframe; updated_at: number; candles: import('../../market/index').Candle[] }

/** A lake function run by S3 events: `packages/functions/src/<name>.ts`, a function of stacks/pipeline.ts. */
export type LakeFunction = 'candles' | 'silver' | 'features'

/**
 * An SQS queue between a trigger's notifications and its function (S3 notification -> queue ->
 * Lambda event source mapping): events are gathered for up to `windowSeconds` from the first of a
 * batch (`MaximumBatchingWindowInSeconds`, at most 300) or until `size` messages (`BatchSize`, at
 * most 10,000 for a standard queue with a window), then delivered as one invocation; a message the
 * function reports failed (`batchItemFailures`) is received again after the visibility timeout, up
 * to `maxReceiveCount` times, then dead-lettered.
 */
export interface LakeQueue { windowSeconds: number; size: number; maxReceiveCount: number }

/**
 * One bucket notification: objects created under `prefix` ending in `suffix` invoke `fn`; `name` is
 * the notification's in AWS. With `queue`, the events reach `fn` in batches through an SQS queue
 * (every trigger of one function names the same queue: `queueOf`); without it, one invocation each.
 */
export interface LakeTrigger { name: string; fn: LakeFunction; prefix: string; suffix: string; queue?: LakeQueue }

export const defaults = {
  /**
   * The feature job's queue. Its work is a whole hour of per-trade features, and each bronze object
   * makes two events of its hour (the 1m gold object, the silver manifest): run per event, an hour
   * cost O(n^2) and held a core at 1,000 trades/s. Batched, an hour named by every event of 30 s
   * runs once: features are at most about the window (plus a run) late. Candles, silver and the
   * live path are not queued and not delayed.
   */
  featuresQueue: { windowSeconds: 30, size: 10_000, maxReceiveCount: 3 } satisfies LakeQueue,
}

/**
 * The lake's triggers, the one table of them: stacks/pipeline.ts declares the bucket notifications
 * from it, the local cloud routes its file store's S3 events by it and the archive import runs its
 * jobs in the order `lakeChain` derives from it. A chain of disjoint prefixes, as S3 requires of one
 * bucket's notifications: a new bronze object runs the candle job, the hour state it writes the
 * silver job, a gold candle object (the 1m ones: the handler ignores the others) and a silver
 * manifest (the commit of an hour's parts) the feature job, through its queue
 * (`defaults.featuresQueue`).
 */
export const LAKE_TRIGGERS: readonly LakeTrigger[] = [
  { name: 'Candles', fn: 'candles', prefix: 'bronze/trades/', suffix: '.parquet' },
  { name: 'Silver', fn: 'silver', prefix: 'state/candles/', suffix: '.json' },
  { name: 'FeaturesOnCandles', fn: 'features', prefix: 'gold/candles/', suffix: '.parquet', queue: defaults.featuresQueue },
  { name: 'FeaturesOnSilver', fn: 'features', prefix: 'state/silver/', suffix: '.json', queue: defaults.featuresQueue },
]

/** The queue `fn`'s events go through, or undefined when S3 invokes it directly; its triggers must agree (one queue, one event source mapping per function). */
export function queueOf(fn: LakeFunction, triggers: readonly LakeTrigger[] = LAKE_TRIGGERS): LakeQueue | undefined {
  const queues = [...new Set(triggers.filter((t) => t.fn === fn).map((t) => t.queue))]
  if (queues.length > 1) throw new Error(`the ${fn} function's triggers name different queues: one function has one queue`)
  return queues[0]
}

/** The objects of an hour each lake function writes that a trigger takes (the next links of the chain). */
export const LAKE_OUTPUTS: Record<LakeFunction, (h: LakeHour) => string[]> = {
  candles: (h) => [candleStateKey(h.exchange, h.symbol, h.dt, h.hour), goldCandlesKey(h.exchange, h.symbol, '1m', h.dt, h.hour)],
  silver: (h) => [silverManifestKey(h.exchange, h.symbol, h.dt, h.hour)],
  features: () => [],
}

/** The triggers an object at `key` fires. */
export const triggersOf = (key: string) => LAKE_TRIGGERS.filter((t) => key.startsWith(t.prefix) && key.endsWith(t.suffix))

/**
 * The lake jobs an object at `key` sets off, directly or through the objects they write, each once
 * and after every job whose output triggers it, with the key of the event it runs on (its last
 * trigger's: the feature job runs once, on the silver manifest, after the silver job).
 * @example lakeChain(bronzeKey) // [{ fn: 'candles', key: bronzeKey }, { fn: 'silver', key: 'state/candles/…' }, { fn: 'features', key: 'state/silver/…' }]
 */
export function lakeChain(key: string): { fn: LakeFunction; key: string }[] {
  const runs: { fn: LakeFunction; key: string }[] = []
  const seen = new Set<string>()
  for (const queue = [key]; queue.length;) {
    const k = queue.shift()!
    if (seen.has(k)) continue
    seen.add(k)
    const h = hourOfCandleState(k) ?? hourOfSilverManifest(k) ?? hourOfKey(k)
    for (const t of triggersOf(k)) {
      runs.push({ fn: t.fn, key: k })
      if (h) queue.push(...LAKE_OUTPUTS[t.fn](h))
    }
  }
  return runs.filter((r, i) => !runs.slice(i + 1).some((later) => later.fn === r.fn))
}
