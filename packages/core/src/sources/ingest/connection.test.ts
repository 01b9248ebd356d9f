import { afterEach, describe, expect, it } from 'vitest'
import { WebSocketServer, type WebSocket } from 'ws'
import type { AddressInfo } from 'node:net'
import type { Venue, VenueFrame } from '../../ports/index'
import { countingStore } from '../../../test/counting-store'
import { defaults } from './index'
import { streamConnection, type ConnectionOptions } from './connection'

/** A loopback WebSocket server that records its connections, the messages each got, and how each closed. */
async function server() {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise((r) => wss.once('listening', r))
  const conns: { ws: WebSocket; got: string[]; closed?: number }[] = []
  wss.on('connection', (ws) => {
    const c: (typeof conns)[number] = { ws, got: [] }
    conns.push(c)
    ws.on('message', (d) => c.got.push(d.toString()))
    ws.on('close', (code) => { c.closed = code })
  })
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, conns, close: () => new Promise((r) => { for (const c of conns) c.ws.terminate(); wss.close(r) }) }
}

/** A venue whose frames are `{"seq": n}` (or not JSON: an error). */
const venue = (url: string): Venue => ({
  exchange: 'binance', sequenced: true, streamUrl: () => url, subscribe: () => ['{"subscribe":true}'],
  parse: (raw) => { try { return { sequence: JSON.parse(raw).seq } } catch { return { error: 'not JSON' } } },
  pages: async function* () {}, firstIdAfter: async () => undefined,
})

async function until(check: () => boolean, ms = 5_000) {
  for (const t0 = Date.now(); !check() && Date.now() - t0 < ms;) await new Promise((r) => setTimeout(r, 10))
  expect(check()).toBe(true)
}

const cleanup: (() => unknown)[] = []
afterEach(async () => { for (const f of cleanup.splice(0)) await f() })

async function setup(settings: Partial<ConnectionOptions['settings']> = {}) {
  const srv = await server()
  const store = countingStore()
  const events: string[] = []
  const sum = { reconnects: 0, sequenceGaps: 0 }
  const c = streamConnection({
    exchange: 'binance', venue: venue(srv.url), symbols: ['BTC-USDT'], store, source: 'ws', now: Date.now, log: () => {}, sum,
    settings: { ...defaults, reconnectMinMs: 20, ...settings },
    onFrame: (f: VenueFrame) => events.push(f.error ? `error ${f.error}` : `frame ${f.sequence}`),
    onLostFrames: () => events.push('lost'),
  })
  cleanup.push(() => c.close(), srv.close)
  return { c, srv, store, events, sum }
}

describe('the stream connection of an ingest run', () => {
  it('sends the venue\'s subscriptions on open and hands every frame over parsed, reporting lost frames before the frame after them', async () => {
    const { c, srv, events, sum } = await setup()
    c.open()
    await c.opened
    expect(c.status().open).toBe(true)
    await until(() => srv.conns[0]?.got.length === 1)
    expect(srv.conns[0].got).toEqual(['{"subscribe":true}'])
    for (const m of ['{"seq":0}', '{"seq":1}', '{"seq":3}', 'nope']) srv.conns[0].ws.send(m)
    await until(() => events.length === 5)
    expect(events).toEqual(['frame 0', 'frame 1', 'lost', 'frame 3', 'error not JSON'])
    expect(sum.sequenceGaps).toBe(1)
  })

  it('replaces a connection silent for staleMs, and records the time it was down', async () => {
    const { c, srv, store, sum } = await setup({ staleMs: 100 })
    c.open()
    await until(() => srv.conns.length === 2 && srv.conns[1].got.length === 1)
    expect(sum.reconnects).toBeGreaterThanOrEqual(1)
    await until(() => c.status().open)
    let disconnects: unknown[] = []
    for (let i = 0; i < 100 && !disconnects.length; i++) disconnects = await store.list('quality/disconnects/exchange=binance/')
    expect(disconnects).toHaveLength(1)
  })

  it('reconnects after the exchange closes it, and tells the stall check it was down meanwhile', async () => {
    const { c, srv, sum } = await setup({ reconnectMinMs: 1_000 })
    c.open()
    await until(() => srv.conns.length === 1 && c.status().open)
    srv.conns[0].ws.close(1001, 'going away')
    await until(() => !c.status().open)
    expect(c.status().down?.reason).toBe('closed with code 1001: going away')
    await until(() => srv.conns.length === 2 && c.status().open)
    expect([sum.reconnects, c.status().down]).toEqual([1, undefined])
  })

  it('opens the next connection before rotating the old one out, which closes after the overlap without a reconnect', async () => {
    const { c, srv, sum } = await setup({ rotateAfterMs: 200, rotateOverlapMs: 100 })
    c.open()
    await until(() => srv.conns.length >= 2)
    expect(srv.conns[0].closed).toBeUndefined() // both run during the overlap
    await until(() => srv.conns[0].closed === 1000)
    expect(sum.reconnects).toBe(0)
  })

  it('opens nothing again once closed', async () => {
    const { c, srv } = await setup()
    c.open()
    await until(() => srv.conns.length === 1 && c.status().open)
    c.close()
    await until(() => srv.conns[0].closed !== undefined)
    await new Promise((r) => setTimeout(r, 100))
    expect(srv.conns).toHaveLength(1)
  })
})
