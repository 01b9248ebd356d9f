/**
 * HTTP API function: API Gateway HTTP API (payload v2) events handed to core's `createApi`, under
 * middy with `@middy/http-cors` and `@middy/http-error-handler`. `createApiHandler` takes the
 * adapters (the local cloud passes DuckDB, its file lake and its Firehose emulator); the default
 * `handler` builds the AWS ones from the environment on first use: Athena (`TICKLAKE_ATHENA_WORKGROUP`,
 * `TICKLAKE_ATHENA_DATABASE`, `TICKLAKE_ATHENA_OUTPUT`), the lake bucket (`TICKLAKE_BUCKET`), the
 * trades delivery stream (`TICKLAKE_FIREHOSE_STREAM`) and the hashed API keys (`TICKLAKE_API_KEYS`,
 * the JSON of the SST Secret `ApiKeys`, see stacks/api.ts). Core's API is a Hono app, but its
 * `handle` (core's request in, core's response out) is what this handler and the local cloud
 * share, so the event is read by `requestOf` rather than `hono/aws-lambda`; middy keeps CORS and
 * the JSON 500 for adapters that cannot be built (before there is an app to answer).
 */
import middy from '@middy/core'
import httpCors from '@middy/http-cors'
import httpErrorHandler from '@middy/http-error-handler'
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda'
import { createApi, jsonKeyStore, type ApiDeps } from '@ticklake/core/serve/api'
import { athenaEngine } from '@ticklake/core/aws/athena'
import { s3Store } from '@ticklake/core/aws/s3'
import { firehoseStream } from '@ticklake/core/aws/firehose'

type Result = APIGatewayProxyStructuredResultV2

/** Core's request from an HTTP API v2 event (a base64 body decoded). */
export function requestOf(event: APIGatewayProxyEventV2) {
  const body = event.body === undefined ? undefined : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body
  return { method: event.requestContext.http.method, path: event.rawPath, rawQuery: event.rawQueryString ?? '', headers: event.headers ?? {}, body }
}

/** The middy handler for given adapters. */
export function createApiHandler(deps: ApiDeps | (() => ApiDeps)) {
  let api: ReturnType<typeof createApi> | undefined
  return middy<APIGatewayProxyEventV2, Result>()
    .use(httpErrorHandler({ logger: (e: any) => console.error(`api error: ${String(e?.message ?? e).slice(0, 300)}`), fallbackMessage: JSON.stringify({ error: 'internal error' }) }))
    .use(httpCors({ origin: '*', headers: 'content-type,x-api-key', methods: 'GET,POST,OPTIONS' }))
    .handler(async (event: APIGatewayProxyEventV2): Promise<Result> => {
      api ??= createApi(typeof deps === 'function' ? deps() : deps)
      const res = await api.handle(requestOf(event))
      return { statusCode: res.status, headers: res.headers, body: res.body }
    })
}

/** The AWS adapters from the environment (set by stacks/). */
export function awsApiDeps(env = process.env): ApiDeps {
  const bucket = env.TICKLAKE_BUCKET
  if (!bucket) throw new Error('TICKLAKE_BUCKET must be set')
  return {
    engine: athenaEngine({ workGroup: env.TICKLAKE_ATHENA_WORKGROUP, database: env.TICKLAKE_ATHENA_DATABASE, outputLocation: env.TICKLAKE_ATHENA_OUTPUT }),
    store: s3Store(bucket),
    stream: env.TICKLAKE_FIREHOSE_STREAM ? firehoseStream(env.TICKLAKE_FIREHOSE_STREAM) : undefined,
    keys: jsonKeyStore(env.TICKLAKE_API_KEYS),
    exchange: env.TICKLAKE_EXCHANGE,
    // Lambda answers at most 6 MB (6,291,456 bytes) synchronously, headers and envelope included
    maxAnswerBytes: 6_000_000,
    log: (line) => console.log(line),
    // what the page asks first: the exchange, its symbols and where the WebSocket API is
    health: () => ({
      source: 'live', simulated: false, exchange: env.TICKLAKE_EXCHANGE ?? 'binance',
      symbols: (env.TICKLAKE_SYMBOLS ?? 'BTC-USDT').split(',').map((s) => s.trim()).filter(Boolean), ws: env.TICKLAKE_WS_URL,
    }),
  }
}

/** AWS entry point. */
export const handler = createApiHandler(() => awsApiDeps())
