/**
 * One scheduled ingest function per configured exchange: the test sets the deployment's sources
 * (TICKLAKE_SOURCES, the `ticklake start --sources` string), evaluates stacks/pipeline.ts with
 * stand-ins for SST's globals (each component keeps its id and arguments) and reads the ingest crons.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest'

class Component {
  arn: string
  name: string
  constructor(readonly id: string, readonly args: Record<string, any> = {}) { this.arn = `arn:${id}`; this.name = id }
  get properties() { return this.args.properties }
}
/** A queue: the features function subscribes to one (stacks/pipeline.ts). */
class Queue extends Component { subscribe() {} }
vi.mock('./lake', () => ({ lake: { bucket: { name: 'Lake', notify: () => {} }, trades: new Component('Trades'), quotes: new Component('Quotes') } }))
vi.mock('./realtime', () => ({ realtime: { connections: new Component('Connections'), ws: { managementEndpoint: 'https://ws' } } }))

const crons: Component[] = []
let pipeline: typeof import('./pipeline')
beforeAll(async () => {
  const g = globalThis as Record<string, unknown>
  g.sst = { Linkable: Component, Secret: Component, aws: { Cron: class { constructor(id: string, args: Record<string, any>) { const c = new Component(id, args); crons.push(c); return c } }, Queue, Function: Component } }
  g.aws = { lambda: { FunctionEventInvokeConfig: Component } }
  vi.stubEnv('TICKLAKE_SOURCES', 'binance:BTC-USDT,ETH-USDT;coinbase:BTC-USD;binance-us:SOL-USDT;coingecko:bitcoin')
  vi.stubEnv('TICKLAKE_CURRENCIES', 'eur')
  pipeline = await import('./pipeline')
  vi.unstubAllEnvs()
})

describe('the ingest functions of a deployment', () => {
  it('are one scheduled function per configured exchange, each with reserved concurrency 1 and its symbols in its environment', () => {
    const ingest = crons.filter((c) => c.args.function.handler === 'packages/functions/src/ingest.handler')
    expect(ingest.map((c) => [c.id, c.args.schedule, c.args.function.concurrency, c.args.function.environment.TICKLAKE_EXCHANGE, c.args.function.environment.TICKLAKE_SYMBOLS])).toEqual([
      ['IngestBinance', 'rate(1 minute)', { reserved: 1 }, 'binance', 'BTC-USDT,ETH-USDT'],
      ['IngestCoinbase', 'rate(1 minute)', { reserved: 1 }, 'coinbase', 'BTC-USD'],
      ['IngestBinanceUs', 'rate(1 minute)', { reserved: 1 }, 'binance-us', 'SOL-USDT'],
    ])
    expect(Object.keys(pipeline.ingest)).toEqual(['binance', 'coinbase', 'binance-us'])
    for (const c of ingest) expect(c.args.function.environment, c.id).toMatchObject({ TICKLAKE_BUCKET: 'Lake', TICKLAKE_FIREHOSE_STREAM: 'Trades', TICKLAKE_QUOTES_STREAM: 'Quotes' })
  })

  it('polls the configured CoinGecko coins, and tells the API the first exchange and every source', () => {
    const prices = crons.find((c) => c.id === 'Prices')!
    expect(prices.args.function.environment).toMatchObject({ TICKLAKE_COINS: 'bitcoin', TICKLAKE_CURRENCIES: 'eur' })
    expect(pipeline.config.properties).toEqual({ exchange: 'binance', symbols: 'BTC-USDT,ETH-USDT', sources: 'binance:BTC-USDT,ETH-USDT;coinbase:BTC-USD;binance-us:SOL-USDT;coingecko:bitcoin' })
  })
})
