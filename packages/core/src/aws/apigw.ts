/**
 * API Gateway management API adapter of the `ConnectionPoster` port: posts frames to WebSocket
 * connections with the real `@aws-sdk/client-apigatewaymanagementapi`. A 410 Gone is an answer
 * (`'gone'`), throttling is retried with backoff, anything else throws. Locally the same client
 * talks to the gateway emulator's management endpoint.
 */
import { ApiGatewayManagementApiClient, PostToConnectionCommand, DeleteConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi'
import type { ConnectionPoster } from '../ports/index'
import { clientConfig } from './config'

export const defaults = { retries: 3, backoffMs: 50 }

const encoder = new TextEncoder()
const status = (e: any) => e?.$metadata?.httpStatusCode as number | undefined
const throttled = (e: any) => status(e) === 429 || e?.name === 'LimitExceededException' || e?.name === 'TooManyRequestsException'

/** A poster for the management endpoint `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}` (or a local one). */
export function apigwPoster(endpoint: string, client = new ApiGatewayManagementApiClient(clientConfig(endpoint))): ConnectionPoster & { disconnect(id: string): Promise<void> } {
  return {
    async post(connectionId, data) {
      for (let attempt = 0; ; attempt++) {
        try {
          await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: encoder.encode(data) }))
          return 'ok'
        } catch (e: any) {
          if (e?.name === 'GoneException' || status(e) === 410) return 'gone'
          if (!throttled(e) || attempt >= defaults.retries) throw e
          await new Promise((r) => setTimeout(r, defaults.backoffMs * 2 ** attempt))
        }
      }
    },
    async disconnect(connectionId) {
      try { await client.send(new DeleteConnectionCommand({ ConnectionId: connectionId })) } catch (e: any) { if (status(e) !== 410) throw e }
    },
  }
}
