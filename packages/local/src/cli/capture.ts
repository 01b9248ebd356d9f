/**
 * `record` (a capture of an exchange's WebSocket frames into a JSON-lines file) and `replay` (a
 * capture run through ingest into the lake of --data, never beside a `start` on the same folder).
 */
import { parseArgs } from 'node:util'
import { EXCHANGES, endpointsOf } from '@ticklake/core/sources/venues'
import { defaults as cloudDefaults } from '../cloud/index'
import { EXIT, UnreachableError, UsageError, isUnreachable } from './errors'
import { durationArg, inputFile, oneOf, symbolArg } from './args'
import { acquireLock } from './lock'

export async function record(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { symbols: { type: 'string' }, out: { type: 'string' }, duration: { type: 'string' }, exchange: { type: 'string', default: 'binance' }, 'ws-url': { type: 'string' } } })
  if (!values.symbols) throw new UsageError('--symbols is required, e.g. --symbols BTC-USDT')
  const exchange = oneOf('exchange', values.exchange!, EXCHANGES)
  const coinbase = exchange === 'coinbase'
  const venue = endpointsOf(exchange)!
  const symbols = values.symbols.split(',').filter((x) => x.trim()).map((x) => symbolArg('symbols', x, coinbase ? 'BTC-USD' : 'BTC-USDT'))
  const durationMs = values.duration ? durationArg('duration', values.duration) : undefined
  const out = values.out ?? `capture-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`
  const stop = new AbortController()
  process.once('SIGINT', () => stop.abort())
  const { recordCapture } = await import('../replay/index')
  const wsUrl = values['ws-url'] ?? venue.ws
  const frames = await recordCapture({ exchange, wsUrl, symbols, out, durationMs, signal: stop.signal, onOpen: () => console.log(`recording ${symbols.join(',')} into ${out}${values.duration ? ` for ${values.duration}` : ' until Ctrl+C'}`) })
    .catch((e) => { throw isUnreachable(e) ? new UnreachableError(`cannot reach ${wsUrl} (${e?.code ?? e?.message ?? e}); nothing recorded`) : e })
  console.log(`${frames} frames recorded in ${out}`)
  return EXIT.ok
}

export async function replay(argv: string[]) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { speed: { type: 'string', default: 'max' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  if (positionals.length !== 1) throw new UsageError('name one capture file: ticklake replay CAPTURE')
  const speed = values.speed === 'max' ? 'max' : Number(values.speed)
  if (speed !== 'max' && !(speed > 0)) throw new UsageError(`--speed is a positive number or max (got ${JSON.stringify(values.speed)})`)
  inputFile(positionals[0])
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const { replayCapture } = await import('../replay/index')
  // the replay runs ingest with checkpoints and the Firehose spool of the folder: never beside a start
  const lock = acquireLock(values.data!, 'replay')
  try {
    const counts = await replayCapture({ file: positionals[0], speed, dataDir: values.data! })
    for (const [symbol, n] of Object.entries(counts)) console.log(`replayed ${n} trades of ${symbol} into ${values.data}`)
  } finally { lock.release() }
  return EXIT.ok
}
