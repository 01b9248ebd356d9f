/**
 * DynamoDB adapter of the `ConnectionStore` port: WebSocket connections and their subscriptions in
 * one table, with the real `@aws-sdk/client-dynamodb`. Table design (see docs/realtime.md):
 *
 * | item | pk | sk | other attributes |
 * |---|---|---|---|
 * | connection | `c#<connectionId>` | `meta` | `connected_at` (ms), `expires_at` |
 * | subscription | `c#<connectionId>` | `s#<channel>` | `channel`, `expires_at` |
 *
 * Global secondary index `byChannel` (partition key `channel`, sort key `pk`, keys only) answers "who listens to
 * this channel" with one Query; the table's `pk` answers "what does this connection hold" and lets
 * `$disconnect` delete a connection with all its items. `expires_at` (epoch seconds) is the table's
 * TTL attribute: API Gateway ends a connection after 2 hours, so items of a connection whose
 * `$disconnect` never ran vanish by themselves.
 */
import { BatchWriteItemCommand, DynamoDBClient, PutItemCommand, QueryCommand, UpdateItemCommand, type AttributeValue, type WriteRequest } from '@aws-sdk/client-dynamodb'
import type { ConnectionStore } from '../ports/index'
import { clientConfig } from './config'

export const defaults = {
  /** Name of the channel index. */
  channelIndex: 'byChannel',
  /** Items expire this long after the connection opened (API Gateway's limit is 2 h). */
  ttlMs: 3 * 3_600_000,
  /** BatchWriteItem takes at most 25 requests. */
  batchSize: 25,
  /** Rounds of retrying unprocessed batch items before giving up. */
  retries: 5,
  backoffMs: 50,
}

/** The table's attribute and key names, for stacks/ and tests. */
export const connectionTable = {
  partitionKey: 'pk', sortKey: 'sk', channelAttribute: 'channel', ttlAttribute: 'expires_at', channelIndex: defaults.channelIndex,
} as const

const pk = (id: string) => `c#${id}`
const subKey = (channel: string) => `s#${channel}`
const S = (s: string): AttributeValue => ({ S: s })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * A ConnectionStore on the table `table`.
 * @example const store = dynamoConnectionStore(process.env.TICKLAKE_CONNECTIONS_TABLE!); await store.subscribers('trades:binance:BTC-USDT')
 */
export function dynamoConnectionStore(table: string, client = new DynamoDBClient(clientConfig(process.env.TICKLAKE_DYNAMODB_ENDPOINT)), options: Partial<typeof defaults> = {}): ConnectionStore {
  // Long by design: one object of the ConnectionStore's methods over one client; each method is a few lines.
  const o = { ...defaults, ...options }

  /** Every item (sort keys and attributes) of one connection, following pages. */
  async function itemsOf(id: string, prefix?: string) {
    const out: Record<string, AttributeValue>[] = []
    let start: Record<string, AttributeValue> | undefined
    do {
      const r = await client.send(new QueryCommand({
        TableName: table, ConsistentRead: true, ExclusiveStartKey: start,
        KeyConditionExpression: prefix ? '#pk = :pk AND begins_with(#sk, :prefix)' : '#pk = :pk',
        ExpressionAttributeNames: { '#pk': 'pk', ...(prefix ? { '#sk': 'sk' } : {}) },
        ExpressionAttributeValues: { ':pk': S(pk(id)), ...(prefix ? { ':prefix': S(prefix) } : {}) },
      }))
      out.push(...(r.Items ?? []))
      start = r.LastEvaluatedKey
    } while (start)
    return out
  }

  /** Writes requests in batches of 25, retrying what DynamoDB leaves unprocessed (throttling) with backoff. */
  async function batchWrite(requests: WriteRequest[]) {
    for (let i = 0; i < requests.length; i += o.batchSize) {
      let pending = requests.slice(i, i + o.batchSize)
      for (let attempt = 0; pending.length; attempt++) {
        if (attempt > o.retries) throw new Error(`DynamoDB left ${pending.length} writes to ${table} unprocessed ${o.retries + 1} times`)
        if (attempt) await sleep(o.backoffMs * 2 ** (attempt - 1) * (1 + Math.random() / 2))
        const r = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }))
        pending = r.UnprocessedItems?.[table] ?? []
      }
    }
  }

  const expiresAt = (ms: number) => ({ N: String(Math.floor((ms + o.ttlMs) / 1000)) })

  return {
    async add(id, connectedAt) {
      await client.send(new PutItemCommand({ TableName: table, Item: { pk: S(pk(id)), sk: S('meta'), connected_at: { N: String(connectedAt) }, expires_at: expiresAt(connectedAt) } }))
    },

    async remove(id) {
      const items = await itemsOf(id)
      await batchWrite(items.map((it) => ({ DeleteRequest: { Key: { pk: it.pk, sk: it.sk } } })))
    },

    async subscribe(id, channels) {
      // the meta item and the subscriptions only: the connection's tally counters are not read
      const [[meta], subs] = await Promise.all([itemsOf(id, 'meta'), itemsOf(id, 's#')])
      if (!meta) return 0
      const held = new Set(subs.map((it) => it.channel?.S))
      const added = [...new Set(channels)].filter((ch) => !held.has(ch))
      const expires = meta.expires_at ?? expiresAt(Number(meta.connected_at?.N ?? Date.now()))
      await batchWrite(added.map((ch) => ({ PutRequest: { Item: { pk: S(pk(id)), sk: S(subKey(ch)), channel: S(ch), expires_at: expires } } })))
      return held.size + added.length
    },

    async unsubscribe(id, channels) {
      await batchWrite([...new Set(channels)].map((ch) => ({ DeleteRequest: { Key: { pk: S(pk(id)), sk: S(subKey(ch)) } } })))
    },

    async subscribers(channel) {
      const ids: string[] = []
      let start: Record<string, AttributeValue> | undefined
      do {
        const r = await client.send(new QueryCommand({
          TableName: table, IndexName: o.channelIndex, ExclusiveStartKey: start,
          KeyConditionExpression: '#ch = :ch', ExpressionAttributeNames: { '#ch': 'channel' }, ExpressionAttributeValues: { ':ch': S(channel) },
        }))
        for (const it of r.Items ?? []) if (it.pk?.S) ids.push(it.pk.S.slice(2))
        start = r.LastEvaluatedKey
      } while (start)
      return ids
    },

    async channelsOf(id) {
      return (await itemsOf(id, 's#')).map((it) => it.channel?.S).filter((c): c is string => !!c)
    },

    /** One item per connection, counter and window (`n#frames#<window>`), atomically incremented, expiring with the window. */
    async tally(id, counter, windowMs, now) {
      const window = Math.floor(now / windowMs)
      const r = await client.send(new UpdateItemCommand({
        TableName: table, Key: { pk: S(pk(id)), sk: S(`n#${counter}#${window}`) },
        UpdateExpression: 'ADD #n :one SET #e = :e', ExpressionAttributeNames: { '#n': 'n', '#e': 'expires_at' },
        ExpressionAttributeValues: { ':one': { N: '1' }, ':e': { N: String(Math.ceil(((window + 2) * windowMs) / 1000)) } },
        ReturnValues: 'UPDATED_NEW',
      }))
      return Number(r.Attributes?.n?.N ?? 1)
    },
  }
}
