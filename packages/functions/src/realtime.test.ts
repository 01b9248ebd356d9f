import { describe, expect, it } from 'vitest'
import type { APIGatewayProxyWebsocketEventV2, Context } from 'aws-lambda'
import type { ConnectionPoster, ConnectionStore, ObjectStore } from '@ticklake/core/ports'
import { awsDeps, awsPublish, connect, createRealtimeHandlers, endpointOf } from './realtime'

/** An API Gateway WebSocket event as AWS sends it. */
function event(eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT', routeKey: string, body?: string): APIGatewayProxyWebsocketEventV2 {
  return {
    requestContext: {
      routeKey, eventType, messageId: 'bWVzc2FnZQ=', extendedRequestId: 'L0SM9Ee-vHcFe9g=', requestTime: '24/Nov/2026:15:00:00 +0000',
      messageDirection: 'IN', stage: 'prod', connectedAt: 1_795_000_000_000, requestTimeEpoch: 1_795_000_000_100,
      requestId: 'L0SM9Ee-vHcFe9g=', domainName: 'abc123.execute-api.us-east-1.amazonaws.com', connectionId: 'L0SM9cOFvHcCIhw=', apiId: 'abc123',
    },
    body, isBase64Encoded: false,
  }
}

function fakes() {
  const calls: string[] = []
  const store = {
    add: async (id: string, at: number) => { calls.push(`add ${id} ${at}`) },
    remove: async (id: string) => { calls.push(`remove ${id}`) },
    subscribe: async () => 1, unsubscribe: async () => {}, subscribers: async () => [], channelsOf: async () => [], tally: async () => 1,
  } as ConnectionStore
  const poster: ConnectionPoster = { post: async (id, data) => { calls.push(`post ${id} ${data}`); return 'ok' } }
  const objects = { get: async () => undefined } as unknown as ObjectStore
  return { calls, deps: { store, poster, objects } }
}

describe('realtime handlers', () => {
  it('registers the connection on $connect with its connectedAt, and removes it on $disconnect', async () => {
    const { calls, deps } = fakes()
    const h = createRealtimeHandlers(deps)
    expect(await h.connect(event('CONNECT', '$connect'))).toEqual({ statusCode: 200 })
    expect(await h.disconnect(event('DISCONNECT', '$disconnect'))).toEqual({ statusCode: 200 })
    expect(calls).toEqual(['add L0SM9cOFvHcCIhw= 1795000000000', 'remove L0SM9cOFvHcCIhw='])
  })

  it('answers a message through the poster to the connection it came from', async () => {
    const { calls, deps } = fakes()
    expect(await createRealtimeHandlers(deps).message(event('MESSAGE', 'ping', '{"action":"ping"}'))).toEqual({ statusCode: 200 })
    expect(calls).toEqual([expect.stringMatching(/^post L0SM9cOFvHcCIhw= \{"type":"pong","time":\d+\}$/)])
  })

  it('answers a bad message with an error frame and still returns 200', async () => {
    const { calls, deps } = fakes()
    expect(await createRealtimeHandlers(deps).message(event('MESSAGE', '$default', 'not json'))).toEqual({ statusCode: 200 })
    expect(calls[0]).toContain('"code":"bad_json"')
  })

  it('posts to the API the event came through, unless TICKLAKE_WS_ENDPOINT says otherwise', () => {
    expect(endpointOf(event('MESSAGE', '$default'), {})).toBe('https://abc123.execute-api.us-east-1.amazonaws.com/prod')
    expect(endpointOf(event('MESSAGE', '$default'), { TICKLAKE_WS_ENDPOINT: 'http://127.0.0.1:8750' })).toBe('http://127.0.0.1:8750')
  })

  it('gives the live path no publish in AWS unless the connections table and the management endpoint are named', () => {
    expect(awsPublish({})).toBeUndefined()
    expect(awsPublish({ TICKLAKE_CONNECTIONS_TABLE: 't' })).toBeUndefined()
    expect(awsPublish({ TICKLAKE_CONNECTIONS_TABLE: 't', TICKLAKE_WS_ENDPOINT: 'https://abc123.execute-api.us-east-1.amazonaws.com/prod' })).toBeTypeOf('function')
  })

  it('refuses to run in AWS with a clear "not configured" error while settings are missing', async () => {
    await expect(awsDeps(event('CONNECT', '$connect'), {})).rejects.toThrow(/not configured: TICKLAKE_BUCKET/)
    await expect(awsDeps(event('CONNECT', '$connect'), { TICKLAKE_BUCKET: 'lake' })).rejects.toThrow(/not configured: TICKLAKE_CONNECTIONS_TABLE/)
    await expect(connect(event('CONNECT', '$connect'), {} as Context)).rejects.toThrow(/not configured/)
  })
})
