/**
 * WebSocket API functions: `$connect`, `$disconnect` and the message routes (`$default`,
 * `subscribe`, `unsubscribe`, `ping`) of API Gateway's WebSocket API, handed to core's realtime
 * server logic. `createRealtimeHandlers` takes the adapters (the local cloud passes its own); the
 * default exports build the AWS ones from the environment on first use.
 */
import middy from '@middy/core'
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda'
import { onConnect, onDisconnect, onMessage } from '@ticklake/core/realtime/server'
import type { ConnectionPoster, ConnectionStore, ObjectStore } from '@ticklake/core/ports'
import { apigwPoster } from '@ticklake/core/aws/apigw'
import { s3Store } from '@ticklake/core/aws/s3'

export interface RealtimeDeps { store: ConnectionStore; poster: ConnectionPoster; objects: ObjectStore }
type Event = APIGatewayProxyWebsocketEventV2
export interface WsResult { statusCode: number; body?: string }

const ok: WsResult = { statusCode: 200 }

/** The three handlers for given adapters. */
export const createRealtimeHandlers = (deps: RealtimeDeps) => ({
  /** `$connect`: registers the connection. */
  connect: async (e: Event): Promise<WsResult> => {
    await onConnect(deps.store, e.requestContext.connectionId, e.requestContext.connectedAt)
    return ok
  },
  /** `$disconnect`: forgets the connection and its subscriptions. */
  disconnect: async (e: Event): Promise<WsResult> => {
    await onDisconnect(deps.store, e.requestContext.connectionId)
    return ok
  },
  /** `$default`, `subscribe`, `unsubscribe`, `ping`: answers go back through the poster. */
  message: async (e: Event): Promise<WsResult> => {
    await onMessage({ ...deps, connectionId: e.requestContext.connectionId, body: e.body })
    return ok
  },
})

/** The management endpoint to post to: `TICKLAKE_WS_ENDPOINT`, else the API the event came through. */
export const endpointOf = (e: Event, env = process.env) => env.TICKLAKE_WS_ENDPOINT ?? `https://${e.requestContext.domainName}/${e.requestContext.stage}`

const posters = new Map<string, ConnectionPoster>()
let objects: ObjectStore | undefined

/**
 * The AWS adapters, built once per container from the environment. The seam: the DynamoDB
 * `ConnectionStore` adapter (`core/src/aws/dynamo.ts`, table in `TICKLAKE_CONNECTIONS_TABLE`) is
 * not written yet, so these entry points refuse to run rather than pretend.
 */
export function awsDeps(e: Event, env = process.env): RealtimeDeps {
  const bucket = env.TICKLAKE_BUCKET
  if (!bucket) throw new Error('realtime handlers not configured: TICKLAKE_BUCKET (the lake holding serving/ windows) must be set')
  objects ??= s3Store(bucket)
  const endpoint = endpointOf(e, env)
  const poster = posters.get(endpoint) ?? apigwPoster(endpoint)
  posters.set(endpoint, poster)
  throw new Error('realtime handlers not configured: the DynamoDB ConnectionStore adapter (core/src/aws/dynamo.ts, TICKLAKE_CONNECTIONS_TABLE) does not exist yet; the WebSocket API runs in the local cloud only')
  // return { store: dynamoConnectionStore(env.TICKLAKE_CONNECTIONS_TABLE), poster, objects }
}

/** AWS entry points. */
export const connect = middy<Event, WsResult>().handler((e: Event) => createRealtimeHandlers(awsDeps(e)).connect(e))
export const disconnect = middy<Event, WsResult>().handler((e: Event) => createRealtimeHandlers(awsDeps(e)).disconnect(e))
export const message = middy<Event, WsResult>().handler((e: Event) => createRealtimeHandlers(awsDeps(e)).message(e))
