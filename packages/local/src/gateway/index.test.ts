import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { apigwPoster } from '@ticklake/core/aws/apigw'
import { broadcast } from '@ticklake/core/realtime/server'
import type { ObjectStore } from '@ticklake/core/ports'
import { createRealtimeHandlers } from '@ticklake/functions/realtime'
import { memoryConnectionStore } from '../connections/index'
import { memoryStore } from '../store/index'
import { createGateway, type Gateway } from './index'

/** A store holding one serving window. */
function objects(): ObjectStore {
  const store = memoryStore()
  void store.put('serving/binance/BTC-USDT/1m.json', JSON.stringify({ candles: [{ open_time: 1, close: 5 }] }))
  return store
}

let server: Server
let gateway: Gateway
let port: number
const store = memoryConnectionStore()
const clients: WebSocket[] = []

beforeEach(async () => {
  server = createServer((req, res) => { void gateway.handleManagement(req, res).then((done) => { if (!done) { res.statusCode = 404; res.end() } }) })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  port = (server.address() as AddressInfo).port
  const h = createRealtimeHandlers({ store, poster: apigwPoster(`http://127.0.0.1:${port}`), objects: objects() })
  gateway = createGateway({ routes: { $connect: h.connect, $disconnect: h.disconnect, $default: h.message } })
  server.on('upgrade', (req, socket, head) => { if (!gateway.handleUpgrade(req, socket, head)) socket.destroy() })
})

afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  await gateway.close()
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
})

/** A connected client with a queue of parsed frames and `next()` to await the next one. */
async function client() {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`)
  clients.push(ws)
  const frames: any[] = []
  const waiters: ((m: any) => void)[] = []
  ws.on('message', (d) => { const m = JSON.parse(d.toString()); const w = waiters.shift(); if (w) w(m); else frames.push(m) })
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j) })
  const next = () => (frames.length ? Promise.resolve(frames.shift()) : new Promise<any>((r) => waiters.push(r)))
  return { ws, next, send: (s: string) => ws.send(s) }
}

describe('WebSocket gateway emulator with the real realtime handlers', () => {
  it('subscribes a client, sends the snapshot from the serving window, and delivers broadcasts through the real management API client', async () => {
    const c = await client()
    c.send(JSON.stringify({ action: 'subscribe', channels: ['candles:binance:BTC-USDT:1m'] }))
    expect(await c.next()).toEqual({ type: 'subscribed', channels: ['candles:binance:BTC-USDT:1m'] })
    expect(await c.next()).toEqual({ type: 'snapshot', channel: 'candles:binance:BTC-USDT:1m', candles: [{ open_time: 1, close: 5 }] })
    const r = await broadcast({ store, poster: apigwPoster(`http://127.0.0.1:${port}`), channel: 'candles:binance:BTC-USDT:1m', message: { type: 'pong', time: 7 } })
    expect(r).toEqual({ sent: 1, gone: 0, failed: 0 })
    expect(await c.next()).toEqual({ type: 'pong', time: 7 })
  })

  it('answers hostile input with error codes and keeps serving everyone', async () => {
    const bad = await client()
    const good = await client()
    const cases: [string, string][] = [
      ['{nope', 'bad_json'], ['{"action":"dance"}', 'unknown_action'], ['{"action":"subscribe","channels":["candles:binance:BTC-USDT"]}', 'bad_channel'],
      [JSON.stringify({ action: 'subscribe', channels: Array.from({ length: 51 }, (_, i) => `trades:binance:C${i}-USDT`) }), 'too_many_subscriptions'],
      ['x'.repeat(40_000), 'too_large'], ['[]', 'bad_message'],
    ]
    for (const [frame, code] of cases) {
      bad.send(frame)
      expect(await bad.next()).toMatchObject({ type: 'error', code })
    }
    good.send('{"action":"ping"}')
    expect(await good.next()).toMatchObject({ type: 'pong' })
  })

  it('answers Gone for an unknown connection, and broadcast forgets connections that are gone', async () => {
    const poster = apigwPoster(`http://127.0.0.1:${port}`)
    expect(await poster.post('bm9uZQ==', 'x')).toBe('gone')
    await store.add('ghost', 0)
    await store.subscribe('ghost', ['trades:binance:BTC-USDT'])
    expect(await broadcast({ store, poster, channel: 'trades:binance:BTC-USDT', message: { type: 'pong', time: 1 } })).toEqual({ sent: 0, gone: 1, failed: 0 })
    expect(await store.subscribers('trades:binance:BTC-USDT')).toEqual([])
  })

  it('selects the route by the body\'s action like API Gateway, with $default for the rest', async () => {
    const seen: string[] = []
    const record = async (e: any) => { seen.push(`${e.requestContext.routeKey}:${e.requestContext.eventType}`); return { statusCode: 200 } }
    const g = createGateway({ routes: { $connect: record, ping: record, $default: record } })
    const own = createServer()
    own.on('upgrade', (req, socket, head) => { g.handleUpgrade(req, socket, head) })
    await new Promise<void>((r) => own.listen(0, '127.0.0.1', r))
    const ws = new WebSocket(`ws://127.0.0.1:${(own.address() as AddressInfo).port}/ws`)
    await new Promise((r) => ws.once('open', r))
    ws.send('{"action":"ping"}'); ws.send('{"action":"subscribe"}'); ws.send('not json')
    await new Promise((r) => setTimeout(r, 100))
    expect(seen).toEqual(['$connect:CONNECT', 'ping:MESSAGE', '$default:MESSAGE', '$default:MESSAGE'])
    ws.close()
    await g.close()
    own.closeAllConnections()
    await new Promise((r) => own.close(r))
  })

  it('runs $disconnect when a client goes, removing its subscriptions', async () => {
    const c = await client()
    c.send(JSON.stringify({ action: 'subscribe', channels: ['trades:binance:ETH-USDT'] }))
    await c.next()
    expect(await store.subscribers('trades:binance:ETH-USDT')).toHaveLength(1)
    c.ws.close()
    await new Promise((r) => setTimeout(r, 100))
    expect(await store.subscribers('trades:binance:ETH-USDT')).toEqual([])
    expect(gateway.connections()).toBe(0)
  })
})
