/**
 * WebSocket API functions: `$connect`, `$disconnect` and the message routes (`$default`,
 * `subscribe`, `unsubscribe`, `ping`) of API Gateway's WebSocket API, handed to core's
 * realtime server logic.
 */
import middy from '@middy/core'
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda'
import { onConnect, onDisconnect, onMessage } from '@ticklake/core/realtime/server'
import type { ConnectionPoster, ConnectionStore, ObjectStore } from '@ticklake/core/ports'

export interface RealtimeDeps { store: ConnectionStore; poster: ConnectionPoster; objects: ObjectStore }
type Event = APIGatewayProxyWebsocketEventV2

const ok = { statusCode: 200 }

/** The three handlers for given adapters. */
export const createRealtimeHandlers = (deps: RealtimeDeps) => ({
  connect: async (e: Event) => { await onConnect(deps.store, e.requestContext.connectionId, e.requestContext.connectedAt); return ok },
  disconnect: async (e: Event) => { await onDisconnect(deps.store, e.requestContext.connectionId); return ok },
  message: async (e: Event) => { await onMessage({ ...deps, connectionId: e.requestContext.connectionId, body: e.body }); return ok },
})

/**
 * AWS entry points. The DynamoDB ConnectionStore adapter (`core/src/aws/dynamo.ts`) is the missing
 * seam: until it exists they refuse to run rather than pretend.
 */
function awsDeps(_e: Event): RealtimeDeps {
  throw new Error('not configured: the DynamoDB ConnectionStore adapter is not written yet; the realtime API runs locally only')
}
export const connect = middy<Event>().handler((e: Event) => createRealtimeHandlers(awsDeps(e)).connect(e))
export const disconnect = middy<Event>().handler((e: Event) => createRealtimeHandlers(awsDeps(e)).disconnect(e))
export const message = middy<Event>().handler((e: Event) => createRealtimeHandlers(awsDeps(e)).message(e))
