/**
 * API Gateway management API adapter of the `ConnectionPoster` port: posts frames to WebSocket
 * connections with the real `@aws-sdk/client-apigatewaymanagementapi`. A 410 Gone is an answer
 * (`'gone'`), throttling (429 LimitExceededException) is retried with jittered backoff, anything
 * else throws. Locally the same client talks to the gateway emulator's management endpoint, a
 * plain `http://127.0.0.1:PORT` URL (see `clientConfig` for region and dummy credentials).
 * The default client makes one attempt per call (`maxAttempts: 1`), so the retry policy is this
 * file's alone and a broadcast worker is never held by the SDK's own throttling delays.
 */
import { ApiGatewayManagementApiClient, DeleteConnectionCommand, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi'
import type { ConnectionPoster } from '../ports/index'
import { clientConfig } from './config'

export const defaults = {
  /** Retries of a throttled call before it throws. */
  retries: 3,
  /** First backoff; doubled on each retry, with up to 50% jitter. */
  backoffMs: 50,
}

/** A ConnectionPoster that can also close a connection. */
export interface ApigwPoster extends ConnectionPoster {
  /** Closes a connection (`DeleteConnection`); a connection already gone is not an error. */
  deleteConnection(connectionId: string): Promise<'ok' | 'gone'>
}

const encoder = new TextEncoder()
const status = (e: any) => e?.$metadata?.httpStatusCode as number | undefined
const isGone = (e: any) => e?.name === 'GoneException' || status(e) === 410
const isThrottled = (e: any) => status(e) === 429 || e?.name === 'LimitExceededException' || e?.name === 'TooManyRequestsException'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Runs `call`, retrying throttling with backoff; Gone becomes `'gone'`. */
async function withRetry(call: () => Promise<unknown>, o: typeof defaults): Promise<'ok' | 'gone'> {
  for (let attempt = 0; ; attempt++) {
    try {
      await call()
      return 'ok'
    } catch (e) {
      if (isGone(e)) return 'gone'
      if (!isThrottled(e) || attempt >= o.retries) throw e
      const base = o.backoffMs * 2 ** attempt
      await sleep(base + Math.random() * base * 0.5)
    }
  }
}

/**
 * A poster for the management endpoint `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`
 * (or a local one such as `http://127.0.0.1:8750`).
 * @example const poster = apigwPoster(`https://${domainName}/${stage}`); await poster.post(id, '{"type":"pong","time":1}')
 */
export function apigwPoster(endpoint: string, client = new ApiGatewayManagementApiClient({ ...clientConfig(endpoint), maxAttempts: 1 }), options: Partial<typeof defaults> = {}): ApigwPoster {
  const o = { ...defaults, ...options }
  return {
    post: (connectionId, data) => withRetry(() => client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: encoder.encode(data) })), o),
    deleteConnection: (connectionId) => withRetry(() => client.send(new DeleteConnectionCommand({ ConnectionId: connectionId })), o),
  }
}
