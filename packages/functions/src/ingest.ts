/**
 * Ingest function: run every minute by a schedule (EventBridge in AWS, the local scheduler
 * locally); spends the invocation's remaining time in core's `runIngest`, its live path connected
 * to the live feed over the given broadcast (`publish`).
 */
import middy from '@middy/core'
import type { Context, ScheduledEvent } from 'aws-lambda'
import { runIngest, type IngestDeps, type IngestOptions } from '@ticklake/core/sources/ingest'
import { COINBASE_FEEDS, EXCHANGES, endpointsOf, venueFor, type CoinbaseFeed } from '@ticklake/core/sources/venues'
import { livePort, type Publish } from '@ticklake/core/serve/realtime/live'
import { awsPublish } from './realtime'
import type { Exchange } from '@ticklake/core/market'

export type IngestConfig = Omit<IngestOptions, 'budgetMs'>

/** Ingest's adapters, the live path given as a broadcast to subscribers (each channel's update, rate-bounded). */
export type IngestHandlerDeps = Omit<IngestDeps, 'live'> & { publish?: Publish }

/** The handler for given adapters and settings. */
export function createIngestHandler(config: IngestConfig, { publish, ...deps }: IngestHandlerDeps) {
  const live = publish && livePort(publish, { store: deps.store })
  return (_event: ScheduledEvent, context: Pick<Context, 'getRemainingTimeInMillis'>) =>
    runIngest({ ...config, budgetMs: context.getRemainingTimeInMillis() }, { ...deps, live })
}

/** Settings from the function's environment (set by stacks/ in AWS; `TICKLAKE_FEED=exchange` reads Coinbase's legacy ws-feed). */
export function configFromEnv(env = process.env): IngestConfig {
  const exchange = (env.TICKLAKE_EXCHANGE ?? 'binance') as Exchange
  const feed = env.TICKLAKE_FEED as CoinbaseFeed | undefined
  if (feed !== undefined && !COINBASE_FEEDS.includes(feed)) throw new Error(`TICKLAKE_FEED=${feed}: use ${COINBASE_FEEDS.join(' or ')}`)
  const ep = endpointsOf(exchange, feed)
  if (!ep) throw new Error(`TICKLAKE_EXCHANGE=${exchange} has no endpoints; use ${EXCHANGES.join(' or ')}`)
  const c = {
    exchange, restUrl: env.TICKLAKE_REST_URL ?? ep.rest, wsUrl: env.TICKLAKE_WS_URL ?? ep.ws,
    symbols: (env.TICKLAKE_SYMBOLS ?? 'BTC-USDT').split(',').map((s) => s.trim()).filter(Boolean),
  }
  return feed === 'exchange' ? { ...c, venue: venueFor(c, feed) } : c
}

/** AWS entry point: S3 bucket, trades and (optional) quotes delivery streams named by the environment (their SDK clients loaded then, not with the module). */
export const handler = middy<ScheduledEvent>().handler(async (event: ScheduledEvent, context: Context) => {
  const { TICKLAKE_BUCKET, TICKLAKE_FIREHOSE_STREAM } = process.env
  if (!TICKLAKE_BUCKET || !TICKLAKE_FIREHOSE_STREAM) throw new Error('TICKLAKE_BUCKET and TICKLAKE_FIREHOSE_STREAM must be set')
  const quotes = process.env.TICKLAKE_QUOTES_STREAM
  const [{ s3Store }, { firehoseStream }] = await Promise.all([import('@ticklake/core/aws/s3'), import('@ticklake/core/aws/firehose')])
  return createIngestHandler({ ...configFromEnv(), quotes: !!quotes }, {
    store: s3Store(TICKLAKE_BUCKET), stream: firehoseStream(TICKLAKE_FIREHOSE_STREAM),
    quoteStream: quotes ? firehoseStream(quotes) : undefined, publish: awsPublish(), log: console.log,
  })(event, context)
})
