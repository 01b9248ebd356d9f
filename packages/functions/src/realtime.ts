/**
 * WebSocket API functions: `$connect`, `$disconnect` and the message routes (`$default`,
 * `subscribe`, `unsubscribe`, `ping`) of API Gateway's WebSocket API, handed to core's realtime
 * server logic. `createRealtimeHandlers` takes the adapters (the local cloud passes its own); the
 * default exports build the AWS ones from the environment on first use, and load their SDK clients
 * then (`aws`): the local cloud imports this module for its handlers and never loads a client of
 * DynamoDB or S3 (about 1 MB of code and 5 MB of heap per thread for the three clients).
 */
import middy from '@middy/core'
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda'
import { broadcast, onConnect, onDisconnect, onMessage } from '@ticklake/core/serve/realtime/server'
import type { ServerMessage } from '@ticklake/core/serve/realtime'
import type { ConnectionPoster, ConnectionStore, ObjectStore } from '@ticklake/core/ports'

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

/** The AWS adapters' modules, loaded once, on the first event of a container. */
let adapters: Promise<typeof import('@ticklake/core/aws/apigw') & typeof import('@ticklake/core/aws/s3') & typeof import('@ticklake/core/aws/dynamodb')> | undefined
const aws = () => (adapters ??= Promise.all([import('@ticklake/core/aws/apigw'), import('@ticklake/core/aws/s3'), import('@ticklake/core/aws/dynamodb')]).then(([apigw, s3, dynamodb]) => ({ ...apigw, ...s3, ...dynamodb })))

const posters = new Map<string, ConnectionPoster>()
let objects: ObjectStore | undefined
let store: ConnectionStore | undefined

/**
 * The AWS adapters, built once per container from the environment: the lake bucket
 * (`TICKLAKE_BUCKET`, for snapshots), the connections table (`TICKLAKE_CONNECTIONS_TABLE`, see
 * `core/src/aws/dynamodb.ts` for its design) and the management API poster.
 */
export async function awsDeps(e: Event, env = process.env): Promise<RealtimeDeps> {
  const bucket = env.TICKLAKE_BUCKET
  const table = env.TICKLAKE_CONNECTIONS_TABLE
  if (!bucket) throw new Error('realtime handlers not configured: TICKLAKE_BUCKET (the lake holding serving/ windows) must be set')
  if (!table) throw new Error('realtime handlers not configured: TICKLAKE_CONNECTIONS_TABLE (the DynamoDB connections table) must be set')
  const { s3Store, dynamoConnectionStore, apigwPoster } = await aws()
  objects ??= s3Store(bucket)
  store ??= dynamoConnectionStore(table)
  return { store, poster: posterFor(endpointOf(e, env), apigwPoster), objects }
}

/** One management-API poster (and SDK client) per endpoint for the container's life. */
function posterFor(endpoint: string, make: (endpoint: string) => ConnectionPoster) {
  let poster = posters.get(endpoint)
  if (!poster) posters.set(endpoint, (poster = make(endpoint)))
  return poster
}

/**
 * The live path's publish for functions that push to subscribers (ingest, candles) in AWS: a
 * broadcast over the connections table and the management API named by the environment
 * (`TICKLAKE_CONNECTIONS_TABLE`, `TICKLAKE_WS_ENDPOINT`); undefined (no live path) without them.
 */
export function awsPublish(env = process.env): ((channel: string, message: ServerMessage) => Promise<unknown>) | undefined {
  const table = env.TICKLAKE_CONNECTIONS_TABLE
  const endpoint = env.TICKLAKE_WS_ENDPOINT
  if (!table || !endpoint) return undefined
  // the adapters once, at the first broadcast; every broadcast after it only awaits them
  let deps: Promise<{ store: ConnectionStore; poster: ConnectionPoster }> | undefined
  return async (channel, message) => {
    deps ??= aws().then(({ dynamoConnectionStore, apigwPoster }) => ({ store: (store ??= dynamoConnectionStore(table)), poster: posterFor(endpoint, apigwPoster) }))
    return broadcast({ ...(await deps), channel, message })
  }
}

/** AWS entry points. */
export const connect = middy<Event, WsResult>().handler(async (e: Event) => createRealtimeHandlers(await awsDeps(e)).connect(e))
export const disconnect = middy<Event, WsResult>().handler(async (e: Event) => createRealtimeHandlers(await awsDeps(e)).disconnect(e))
export const message = middy<Event, WsResult>().handler(async (e: Event) => createRealtimeHandlers(await awsDeps(e)).message(e))
