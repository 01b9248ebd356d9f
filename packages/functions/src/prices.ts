/**
 * Prices function: run by a schedule (EventBridge in AWS, the local scheduler locally); polls
 * CoinGecko's `simple/price` for the configured coins and currencies with core's `pollPrices` for
 * the invocation's remaining time, within the rate limit, into `bronze/prices/`. The CoinGecko key
 * comes from the SST secret `CoinGeckoKey` linked to this function alone (stacks/pipeline.ts; read
 * through SST's `Resource`, decrypted from the bundle, never in the function's environment), or
 * locally from `TICKLAKE_COINGECKO_KEY`.
 */
import { setTimeout as delay } from 'node:timers/promises'
import middy from '@middy/core'
import type { Context, ScheduledEvent } from 'aws-lambda'
import { Resource } from 'sst/resource'
import { pollPrices, type PollOptions } from '@ticklake/core/sources/coingecko'

export type PricesConfig = Omit<PollOptions, 'budgetMs' | 'store' | 'signal' | 'log'>
export interface PricesDeps { store: PollOptions['store']; signal?: AbortSignal; log?: (line: string) => void }

/** Leaves this much of the invocation for writing the last poll and returning. */
const MARGIN_MS = 2_000

/**
 * The handler for given adapters and settings. A refusal no retry can fix (bad key, bad coin ids)
 * fails the invocation with CoinGecko's reason, so it shows as a function error, not as silence.
 */
export const createPricesHandler = (config: PricesConfig, deps: PricesDeps) =>
  async (_event: ScheduledEvent, context: Pick<Context, 'getRemainingTimeInMillis'>) => {
    // a Retry-After that outlasted the last invocation is kept in the lake, so the next one (any container) honours it
    const wait = (await readResume(deps.store)).resumeAt - Date.now()
    if (wait > 0) {
      deps.log?.(`coingecko: asked to wait ${Math.ceil(wait / 1000)} s more before the next request`)
      await sleep(Math.min(wait, Math.max(0, context.getRemainingTimeInMillis() - MARGIN_MS)), deps.signal)
      const { resumeAt } = await readResume(deps.store) // read again: another run may have moved it
      if (Date.now() < resumeAt) return { polls: 0, rows: 0, errors: 0, backoffs: 0, requests: 0, problems: 0, resumeAt }
    }
    // so is when the next poll is due: an invocation that ends between polls, and one that follows
    // it at once (the local scheduler; a retried invocation), do not poll twice in a row
    const { nextAt } = await readResume(deps.store)
    const startAt = nextAt <= Date.now() + 300_000 ? nextAt : 0 // a time far ahead (a clock gone wrong) is not waited for
    const summary = await pollPrices({ ...config, ...deps, startAt, budgetMs: Math.max(0, context.getRemainingTimeInMillis() - MARGIN_MS) })
    if (summary.resumeAt || summary.nextAt) await deps.store.put(RESUME_KEY, JSON.stringify({ resume_at: summary.resumeAt ?? 0, next_at: summary.nextAt ?? 0 }), { contentType: 'application/json' })
    if (summary.stopped) throw new Error(summary.stopped)
    return summary
  }

/** Where a Retry-After that outlasts an invocation is kept, and when the next poll is due. */
export const RESUME_KEY = 'state/prices/coingecko.json'

async function readResume(store: PricesDeps['store']): Promise<{ resumeAt: number; nextAt: number }> {
  try {
    const bytes = await store.get(RESUME_KEY)
    const doc = bytes ? JSON.parse(new TextDecoder().decode(bytes)) : {}
    return { resumeAt: Number(doc.resume_at) || 0, nextAt: Number(doc.next_at) || 0 }
  } catch { return { resumeAt: 0, nextAt: 0 } }
}

/** Sleeps `ms`, or less if `signal` aborts. */
const sleep = (ms: number, signal?: AbortSignal) => delay(Math.max(0, ms), undefined, { signal }).catch(() => {})

/**
 * The key of the SST secret `CoinGeckoKey` when this function is linked to it; undefined when it
 * is not linked (locally) or the secret is left empty (its placeholder: no key, CoinGecko's
 * keyless public API).
 */
export function linkedCoinGeckoKey(resource: object = Resource): string | undefined {
  if (!('CoinGeckoKey' in resource)) return undefined
  const value = (resource as { CoinGeckoKey?: { value?: unknown } }).CoinGeckoKey?.value
  return typeof value === 'string' && value.trim() ? value.trim() : undefined
}

/** Settings from the function's environment (set by stacks/ in AWS); the key from the linked secret first. */
export function configFromEnv(env = process.env, linkedKey = linkedCoinGeckoKey()): PricesConfig {
  const list = (s: string | undefined, d: string) => (s ?? d).split(',').map((x) => x.trim().toLowerCase()).filter(Boolean)
  return { coins: list(env.TICKLAKE_COINS, 'bitcoin,ethereum'), currencies: list(env.TICKLAKE_CURRENCIES, 'usd'), baseUrl: env.TICKLAKE_COINGECKO_URL, apiKey: linkedKey ?? (env.TICKLAKE_COINGECKO_KEY || undefined) }
}

/** AWS entry point: the bucket named by the environment (its S3 client loaded then, not with the module). */
export const handler = middy<ScheduledEvent>().handler(async (event: ScheduledEvent, context: Context) => {
  const bucket = process.env.TICKLAKE_BUCKET
  if (!bucket) throw new Error('TICKLAKE_BUCKET must be set')
  const { s3Store } = await import('@ticklake/core/aws/s3')
  return createPricesHandler(configFromEnv(), { store: s3Store(bucket), log: console.log })(event, context)
})
