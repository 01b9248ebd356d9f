// The functions of the flow (DESIGN.md section 1): ingest (one function per configured exchange)
// and prices on a schedule (reserved concurrency 1, so two runs never race for one checkpoint),
// candles, silver and features on the lake's S3 events. Each gets only the links it needs.
import { LAKE_TRIGGERS, queueOf, type LakeFunction, type LakeQueue } from '../packages/core/src/lake/layout'
import { existsSync, readFileSync } from 'node:fs'
import { defaults as sourceDefaults, formatSources, parseSourcesFile, sourcesFromEnv, type ExchangeSource } from '../packages/core/src/sources/config'
import { lake } from './lake'
import { realtime } from './realtime'

// The sources of this deployment, the configuration `ticklake start` reads too: the JSON file
// TICKLAKE_CONFIG names, else TICKLAKE_SOURCES (`binance:BTC-USDT,ETH-USDT;coinbase:BTC-USD`), else
// TICKLAKE_EXCHANGE with TICKLAKE_SYMBOLS, else ticklake.config.json beside sst.config.ts, else Binance.
const env = process.env
const file = env.TICKLAKE_CONFIG ?? (!env.TICKLAKE_SOURCES && !env.TICKLAKE_EXCHANGE && !env.TICKLAKE_SYMBOLS && existsSync(sourceDefaults.file) ? sourceDefaults.file : undefined)
export const sources = file ? parseSourcesFile(readFileSync(file, 'utf8'), file) : sourcesFromEnv(env)
const simulated = sources.exchanges.find((e) => e.simulated)
if (simulated) throw new Error(`TICKLAKE_SOURCES: sim-${simulated.exchange} is a simulated source, which runs locally only (ticklake start)`)

// what the HTTP API says runs: the first exchange is the page's
export const config = new sst.Linkable('TicklakeConfig', {
  properties: { exchange: sources.exchanges[0]?.exchange ?? 'binance', symbols: sources.exchanges[0]?.symbols.join(',') ?? '', sources: formatSources(sources) },
})
const live = {
  TICKLAKE_CONNECTIONS_TABLE: realtime.connections.name,
  TICKLAKE_WS_ENDPOINT: realtime.ws.managementEndpoint,
}
const livePermissions = [{ actions: ['execute-api:ManageConnections'], resources: ['*'] }]

/** `Ingest` and the exchange's name in PascalCase: `IngestBinanceUs` for binance-us. */
export const ingestId = (exchange: string) => `Ingest${exchange.split('-').map((w) => w[0].toUpperCase() + w.slice(1)).join('')}`

/** One exchange's scheduled ingest function: its own checkpoints, so reserved concurrency 1 of its own. */
function ingestOf(e: ExchangeSource) {
  return new sst.aws.Cron(ingestId(e.exchange), {
    schedule: 'rate(1 minute)',
    function: {
      handler: 'packages/functions/src/ingest.handler',
      timeout: '60 seconds',
      memory: '1024 MB',
      concurrency: { reserved: 1 },
      link: [lake.bucket, lake.trades, realtime.connections, config],
      environment: {
        TICKLAKE_BUCKET: lake.bucket.name,
        TICKLAKE_FIREHOSE_STREAM: lake.trades.name,
        TICKLAKE_QUOTES_STREAM: lake.quotes.name,
        TICKLAKE_EXCHANGE: e.exchange,
        TICKLAKE_SYMBOLS: e.symbols.join(','),
        ...(e.feed && { TICKLAKE_FEED: e.feed }),
        ...(e.restUrl && { TICKLAKE_REST_URL: e.restUrl, TICKLAKE_WS_URL: e.wsUrl! }),
        ...live,
      },
      permissions: [
        { actions: ['firehose:PutRecordBatch'], resources: [lake.trades.arn, lake.quotes.arn] },
        ...livePermissions,
      ],
    },
  })
}

/** The ingest function of each configured exchange, by exchange. */
export const ingest = Object.fromEntries(sources.exchanges.map((e) => [e.exchange, ingestOf(e)]))

// The CoinGecko Demo key (`sst secret set CoinGeckoKey CG-...`), linked to the prices function
// alone, which reads it through SST's Resource; left empty, CoinGecko's keyless public API is used.
export const coingeckoKey = new sst.Secret('CoinGeckoKey', '')

export const prices = sources.coingecko && new sst.aws.Cron('Prices', {
  schedule: 'rate(1 minute)',
  function: {
    handler: 'packages/functions/src/prices.handler',
    timeout: '60 seconds',
    concurrency: { reserved: 1 },
    link: [lake.bucket, coingeckoKey],
    environment: { TICKLAKE_BUCKET: lake.bucket.name, TICKLAKE_COINS: sources.coingecko.coins.join(','), TICKLAKE_CURRENCIES: sources.coingecko.currencies.join(',') },
  },
})

// S3 invokes the lake functions asynchronously: an event that still fails after Lambda's two
// retries lands here, with the request and the error, instead of being dropped (a silver hour
// would otherwise stay behind its candles until the hour's next object). A queued function's
// message that failed its last receive lands here too (the queue's dead-letter queue: the message
// as S3 sent it). Alarm on its depth, and send its S3 events to the function again once the cause is fixed.
export const lakeFailures = new sst.aws.Queue('LakeFailures', { visibilityTimeout: '5 minutes' })

/** A lake function's timeout, in seconds. */
const LAKE_TIMEOUT_S = 120

const lakeFunction = (name: LakeFunction, memory: `${number} MB`) => ({
  handler: `packages/functions/src/${name}.handler`,
  timeout: `${LAKE_TIMEOUT_S} seconds` as const,
  memory,
  link: [lake.bucket, realtime.connections, lakeFailures],
  environment: { TICKLAKE_BUCKET: lake.bucket.name, ...live },
  permissions: livePermissions,
})

/** A lake function whose failed S3 events go to `lakeFailures` (two retries first, as Lambda does by default). */
function lakeFunctionWithFailures(id: string, name: LakeFunction, memory: `${number} MB`) {
  const fn = new sst.aws.Function(id, lakeFunction(name, memory))
  new aws.lambda.FunctionEventInvokeConfig(`${id}Async`, {
    functionName: fn.name,
    maximumRetryAttempts: 2,
    maximumEventAgeInSeconds: 6 * 3600,
    destinationConfig: { onFailure: { destination: lakeFailures.arn } },
  })
  return fn
}

/**
 * A lake function whose triggers name a queue (`LakeTrigger.queue`): S3 notifies the queue, and an
 * event source mapping invokes the function with batches of up to `size` messages gathered for up to
 * the window, reading its partial batch responses. The queue hides a batch for six times the
 * function's timeout plus the window, as Lambda's guide asks of an SQS event source, and moves a
 * message that failed `maxReceiveCount` receives to `lakeFailures`.
 */
function lakeFunctionWithQueue(id: string, name: LakeFunction, memory: `${number} MB`, q: LakeQueue) {
  const queue = new sst.aws.Queue(`${id}Queue`, {
    visibilityTimeout: `${6 * LAKE_TIMEOUT_S + q.windowSeconds} seconds`,
    dlq: { queue: lakeFailures.arn, retry: q.maxReceiveCount },
  })
  const args = lakeFunction(name, memory)
  const fn = new sst.aws.Function(id, {
    ...args,
    permissions: [...args.permissions, { actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'], resources: [queue.arn] }],
  })
  queue.subscribe(fn.arn, { batch: { size: q.size, window: `${q.windowSeconds} seconds`, partialResponses: true } })
  return { fn, queue }
}

/** A lake function as its triggers ask: behind its queue if they name one, else invoked by S3. */
const lakeFunctionOf = (id: string, name: LakeFunction, memory: `${number} MB`) => {
  const q = queueOf(name)
  return q ? lakeFunctionWithQueue(id, name, memory, q) : { fn: lakeFunctionWithFailures(id, name, memory), queue: undefined }
}

// 3,584 MB for the candle function: two full vCPUs, which its decode and minute sums use
// (core/candles defaults.decodeThreads); the feature job runs on two kinds of object (below), both
// sent to its queue (core's defaults.featuresQueue: the events of 30 s run each hour once).
const lakeFns = { candles: lakeFunctionOf('Candles', 'candles', '3584 MB'), silver: lakeFunctionOf('Silver', 'silver', '2048 MB'), features: lakeFunctionOf('Features', 'features', '2048 MB') }
const candles = lakeFns.candles.fn, silver = lakeFns.silver.fn, features = lakeFns.features.fn
export const featuresQueue = lakeFns.features.queue

// One notify call per bucket, from core's LAKE_TRIGGERS (the table the local cloud routes by too): a
// chain of disjoint prefixes, the candle job on every new bronze trades object (it reads bronze and
// writes gold and the hour's candle state), the silver job on every candle state it wrote (it merges
// the same bronze into silver, off the candles' path), the feature job on every gold candle object
// (the handler keeps the 1m ones) and every silver manifest
// (the silver job's commit: it names the hour's parts once they are written, which a part's own
// event would not wait for).
// A trigger with a queue notifies its function's queue instead of the function.
lake.bucket.notify({
  notifications: LAKE_TRIGGERS.map((t) => {
    const { fn, queue } = lakeFns[t.fn]
    return { name: t.name, events: ['s3:ObjectCreated:*'], filterPrefix: t.prefix, filterSuffix: t.suffix, ...(queue ? { queue } : { function: fn.arn }) }
  }),
})

export const pipeline = { ingest, prices, coingeckoKey, candles, silver, features, featuresQueue, lakeFailures }
