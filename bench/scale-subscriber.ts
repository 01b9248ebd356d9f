// The subscribers of the scale bench, in their own process: the bench's process runs both fake
// exchanges, whose event loop lags (147 ms p99 at 100 symbols) and would count against ticklake's
// latency. Driven over IPC by bench/scale.ts: `connect` (one connection per exchange, each to its
// symbols' trades channels), then `report`, answered with each trade message's latencies measured
// from `from` on: its newest trade's time at the exchange to receipt, split at ingest's receipt.
import WebSocket from 'ws'

interface Connect { cmd: 'connect'; url: string; exchanges: [string, string[]][]; from: number }
const latencies: number[] = []
const toIngest: number[] = []
const fromIngest: number[] = []
let messages = 0
let from = Infinity
const sockets: WebSocket[] = []

async function connect(m: Connect) {
  from = m.from
  await Promise.all(m.exchanges.map(async ([ex, symbols]) => {
    const ws = new WebSocket(`${m.url.replace('http', 'ws')}ws`)
    await new Promise((r, j) => { ws.once('open', r); ws.once('error', j) })
    ws.on('message', (d) => {
      const msg = JSON.parse(String(d))
      if (msg.type !== 'trade') return
      messages++
      const at = Date.now()
      if (at < from) return
      const newest = msg.trades.reduce((a: { time: number }, b: { time: number }) => (b.time > a.time ? b : a))
      latencies.push(at - newest.time)
      toIngest.push(newest.ingest_time - newest.time)
      fromIngest.push(at - newest.ingest_time)
    })
    // a connection takes at most 50 channels
    ws.send(JSON.stringify({ action: 'subscribe', channels: symbols.slice(0, 50).map((s) => `trades:${ex}:${s}`) }))
    sockets.push(ws)
  }))
}

process.on('message', (m: Connect | { cmd: 'report' }) => {
  if (m.cmd === 'connect') void connect(m).then(() => process.send!({ cmd: 'connected' }), (e) => process.send!({ cmd: 'failed', error: String(e?.message ?? e) }))
  else if (m.cmd === 'report') {
    for (const ws of sockets) ws.close()
    process.send!({ cmd: 'report', messages, latencies, toIngest, fromIngest }, () => process.exit(0))
  }
})
