import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { ConnectionStore } from '@ticklake/core/ports'
import { clientConfig } from '@ticklake/core/aws/config'
import { connectionTable, dynamoConnectionStore } from '@ticklake/core/aws/dynamodb'
import { memoryConnectionStore } from './index'
import { startDynamoStandIn, type DynamoStandIn } from '../../test/dynamodb-stand-in'

let dynamo: DynamoStandIn
let tableNo = 0
beforeAll(async () => {
  const tables = Array.from({ length: 20 }, (_, i) => ({ name: `connections-${i}`, partitionKey: 'pk', sortKey: 'sk', indexes: { [connectionTable.channelIndex]: { partitionKey: 'channel' } } }))
  dynamo = await startDynamoStandIn(tables, { pageSize: 7 }) // small pages: every query must follow LastEvaluatedKey
})
afterAll(() => dynamo?.close())

const sdk = () => new DynamoDBClient(clientConfig(dynamo.endpoint))
const adapters: [string, () => ConnectionStore][] = [
  ['memory', () => memoryConnectionStore()],
  ['DynamoDB (real SDK client, local stand-in)', () => dynamoConnectionStore(`connections-${tableNo++}`, sdk(), { backoffMs: 1 })],
]

describe.each(adapters)('ConnectionStore contract: %s', (_name, make) => {
  it('finds the subscribers of a channel and the channels of a connection', async () => {
    const s = make()
    await s.add('a', 1)
    await s.add('b', 2)
    expect(await s.subscribe('a', ['x', 'y'])).toBe(2)
    expect(await s.subscribe('b', ['y'])).toBe(1)
    expect((await s.subscribers('y')).sort()).toEqual(['a', 'b'])
    expect((await s.channelsOf('a')).sort()).toEqual(['x', 'y'])
  })

  it('counts a channel once however often it is subscribed', async () => {
    const s = make()
    await s.add('a', 1)
    await s.subscribe('a', ['x'])
    expect(await s.subscribe('a', ['x', 'x'])).toBe(1)
    expect(await s.subscribers('x')).toEqual(['a'])
  })

  it('unsubscribes only the named channels', async () => {
    const s = make()
    await s.add('a', 1)
    await s.subscribe('a', ['x', 'y'])
    await s.unsubscribe('a', ['x', 'never'])
    expect(await s.channelsOf('a')).toEqual(['y'])
    expect(await s.subscribers('x')).toEqual([])
  })

  it('forgets a removed connection in every channel, and ignores one it never knew', async () => {
    const s = make()
    await s.add('a', 1)
    await s.subscribe('a', ['x', 'y'])
    await s.remove('a')
    await s.remove('ghost')
    expect(await s.subscribers('x')).toEqual([])
    expect(await s.channelsOf('a')).toEqual([])
  })

  it('does not subscribe a connection it does not know (one that already left)', async () => {
    const s = make()
    expect(await s.subscribe('late', ['x'])).toBe(0)
    expect(await s.subscribers('x')).toEqual([])
  })

  it('holds fifty channels on a connection and hundreds of subscribers on a channel', async () => {
    const s = make()
    const channels = Array.from({ length: 50 }, (_, i) => `trades:binance:C${i}-USDT`)
    await s.add('wide', 1)
    expect(await s.subscribe('wide', channels)).toBe(50)
    expect((await s.channelsOf('wide')).sort()).toEqual([...channels].sort())
    const ids = Array.from({ length: 100 }, (_, i) => `L0SM9cOFvHc${String(i).padStart(4, '0')}=`)
    for (const id of ids) { await s.add(id, 1); await s.subscribe(id, ['candles:binance:BTC-USDT:1m']) }
    expect((await s.subscribers('candles:binance:BTC-USDT:1m')).sort()).toEqual([...ids].sort())
    await s.remove('wide')
    expect(await s.subscribers(channels[49])).toEqual([])
  })

  it('tallies events per connection, counter and window, starting again in the next window', async () => {
    const s = make()
    await s.add('t', 1)
    const w = 10_000
    expect([await s.tally('t', 'frames', w, 20_001), await s.tally('t', 'frames', w, 25_000), await s.tally('t', 'strikes', w, 25_000)]).toEqual([1, 2, 1])
    expect(await s.tally('other', 'frames', w, 25_000)).toBe(1)
    expect(await s.tally('t', 'frames', w, 30_000)).toBe(1)
  })
})

describe('dynamoConnectionStore', () => {
  it('keeps one item per connection and per subscription, each with the TTL attribute', async () => {
    const table = `connections-${tableNo++}`
    const s = dynamoConnectionStore(table, sdk())
    const at = Date.UTC(2026, 10, 24, 15)
    await s.add('L0SM9cOFvHcCIhw=', at)
    await s.subscribe('L0SM9cOFvHcCIhw=', ['ticker:binance:BTC-USDT'])
    const expires = String(Math.floor(at / 1000) + 3 * 3600)
    expect(dynamo.items(table).sort((a: any, b: any) => a.sk.S.localeCompare(b.sk.S))).toEqual([
      { pk: { S: 'c#L0SM9cOFvHcCIhw=' }, sk: { S: 'meta' }, connected_at: { N: String(at) }, expires_at: { N: expires } },
      { pk: { S: 'c#L0SM9cOFvHcCIhw=' }, sk: { S: 's#ticker:binance:BTC-USDT' }, channel: { S: 'ticker:binance:BTC-USDT' }, expires_at: { N: expires } },
    ])
  })

  it('retries batch writes that DynamoDB leaves unprocessed, and gives up with a clear error when it keeps doing so', async () => {
    const table = `connections-${tableNo++}`
    const s = dynamoConnectionStore(table, sdk(), { backoffMs: 1, retries: 2 })
    await s.add('a', 1)
    dynamo.throttleBatches(2, 3)
    expect(await s.subscribe('a', Array.from({ length: 30 }, (_, i) => `trades:binance:C${i}-USDT`))).toBe(30)
    expect(await s.channelsOf('a')).toHaveLength(30)
    dynamo.throttleBatches(10, 1)
    await expect(s.unsubscribe('a', ['trades:binance:C0-USDT'])).rejects.toThrow(/unprocessed 3 times/)
    dynamo.throttleBatches(0)
  })

  it("is what the AWS realtime handlers use: $connect registers the connection in the table named by the environment", async () => {
    const { connect } = await import('@ticklake/functions/realtime')
    const saved = { ...process.env }
    const connectionId = 'L0SM9cOFvHcCIhw='
    try {
      Object.assign(process.env, { TICKLAKE_BUCKET: 'lake', TICKLAKE_CONNECTIONS_TABLE: 'connections-19', TICKLAKE_DYNAMODB_ENDPOINT: dynamo.endpoint, AWS_REGION: 'us-east-1' })
      const event = { requestContext: { routeKey: '$connect', eventType: 'CONNECT', connectionId, connectedAt: 1_795_000_000_000, domainName: 'abc123.execute-api.us-east-1.amazonaws.com', stage: 'prod' }, isBase64Encoded: false }
      expect(await connect(event as any, {} as any)).toEqual({ statusCode: 200 })
      expect(dynamo.items('connections-19')).toEqual([expect.objectContaining({ pk: { S: `c#${connectionId}` }, sk: { S: 'meta' }, connected_at: { N: '1795000000000' } })])
    } finally { process.env = saved }
  })

  it('fails loudly for a table that does not exist', async () => {
    await expect(dynamoConnectionStore('nope', sdk()).add('a', 1)).rejects.toMatchObject({ name: 'ResourceNotFoundException' })
  })
})
