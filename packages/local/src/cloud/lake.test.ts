import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { firehoseStream } from '@ticklake/core/aws/firehose'
import type { ServerMessage } from '@ticklake/core/serve/realtime'
import { fileStore } from '../store/index'
import { LAKE_NICE, startLakeThread, type Lake } from './lake'

const cleanups: (() => Promise<unknown> | void)[] = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

describe('the lake path in its own thread', () => {
  it('turns records sent to its Firehose endpoint into bronze, candle state and gold, and hands final candles back to the main thread', async () => {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
    const dir = mkdtempSync(join(tmpdir(), 'ticklake-lake-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const published: ServerMessage[] = []
    const logs: string[] = []
    const lake: Lake = await startLakeThread({ dataDir: dir, firehoseBufferMs: 100, features: false }, async (_ch, m) => { published.push(m) }, (l) => logs.push(l))
    cleanups.push(() => lake.close())
    // 60 trades in the minute before this one, and one at this minute's start: that minute is final
    // (it closes before the last trade) and closed less than two minutes ago, so it is announced
    const m0 = Math.floor(Date.now() / 60_000) * 60_000
    const start = m0 - 60_000
    const trade = (id: number, ms: number, price: number) => ({
      exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: id, last_trade_id: id,
      ts: ms * 1000, price, qty: 0.5, side: id % 2 ? 'buy' : 'sell', trades: 1, ingest_ts: (ms + 5) * 1000, source: 'ws',
    })
    // and one trade in the minute before: the first traded minute of a symbol's history is never final (it may hold part of its trades)
    const trades = [trade(999, start - 30_000, 99), ...Array.from({ length: 61 }, (_, i) => trade(1_000 + i, start + i * 1_000, 100 + (i % 7)))]
    const { failed } = await firehoseStream(lake.streamName, lake.endpoint).putRecords(trades)
    expect(failed).toEqual([])
    const store = fileStore(dir)
    const until = async (ok: () => Promise<boolean>) => { for (const end = Date.now() + 20_000; !(await ok());) { if (Date.now() > end) throw new Error(`not in time; logs: ${logs.join('; ')}`); await new Promise((r) => setTimeout(r, 50)) } }
    await until(async () => (await store.list('gold/candles/exchange=binance/symbol=BTC-USDT/tf=1m/')).length > 0)
    await lake.idle()
    expect((await lake.stats()).received).toBe(62)
    expect((await store.list('bronze/trades/')).length).toBeGreaterThan(0)
    expect((await store.list('state/candles/binance/BTC-USDT/')).length).toBeGreaterThan(0)
    // (an hour's last minute is final only once the next hour's trades are known: the 61st trade is of another hour then)
    if (m0 % 3_600_000 === 0) return
    await until(async () => published.some((m) => m.type === 'candle' && m.final))
    const finals = published.flatMap((m) => (m.type === 'candle' && m.final ? [m.candle] : []))
    expect(finals.find((c) => c.tf === '1m' && c.open_time === start)).toMatchObject({ trades: 60, open: 100, first_trade_id: 1_000, last_trade_id: 1_059 })
  }, 60_000)
})

describe('the lake thread\'s priority', () => {
  it.skipIf(process.platform !== 'linux')('is nice 10 for that thread alone, so the live path gets the CPU first', async () => {
    const niceOf = () => readdirSync('/proc/self/task').map((tid) => [Number(tid), Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ')[16])] as const)
    const mainNice = niceOf().find(([tid]) => tid === process.pid)![1]
    const before = new Set(niceOf().filter(([, n]) => n === LAKE_NICE).map(([tid]) => tid))
    const dir = mkdtempSync(join(tmpdir(), 'ticklake-lake-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const lake = await startLakeThread({ dataDir: dir, features: false }, async () => {}, () => {})
    cleanups.push(() => lake.close())
    expect(niceOf().filter(([tid, n]) => n === LAKE_NICE && !before.has(tid)).length).toBeGreaterThanOrEqual(1)
    expect(niceOf().find(([tid]) => tid === process.pid)![1]).toBe(mainNice)
  })
})
