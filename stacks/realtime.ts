// Live path (DESIGN.md sections 5 and 7): the WebSocket API and the DynamoDB table of connections and
// subscriptions (key and index design in docs/realtime.md), with the realtime handlers of
// packages/functions/src/realtime.ts on $connect, $disconnect and the action routes.
import { lake } from './lake'

export const connections = new sst.aws.Dynamo('Connections', {
  fields: { pk: 'string', sk: 'string', channel: 'string' },
  primaryIndex: { hashKey: 'pk', rangeKey: 'sk' },
  globalIndexes: { byChannel: { hashKey: 'channel', rangeKey: 'pk' } },
  ttl: 'expires_at',
})

export const ws = new sst.aws.ApiGatewayWebSocket('Realtime')

const handler = (name: 'connect' | 'disconnect' | 'message') => ({
  handler: `packages/functions/src/realtime.${name}`,
  link: [connections, lake.bucket],
  environment: { TICKLAKE_BUCKET: lake.bucket.name, TICKLAKE_CONNECTIONS_TABLE: connections.name, TICKLAKE_WS_ENDPOINT: ws.managementEndpoint },
  permissions: [{ actions: ['execute-api:ManageConnections'], resources: ['*'] }],
})

ws.route('$connect', handler('connect'))
ws.route('$disconnect', handler('disconnect'))
for (const action of ['subscribe', 'unsubscribe', 'ping', '$default']) ws.route(action, handler('message'))

export const realtime = { connections, ws }
