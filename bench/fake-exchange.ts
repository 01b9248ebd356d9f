// Runs the fake exchange in its own process (so a benchmark measures only the process under test)
// and prints its URLs as one JSON line. Arguments: ratePerSec, historyMs.
import { startFakeExchange } from '../packages/local/src/exchange/index'

const [rate = '5000', history = '0'] = process.argv.slice(2)
const fx = await startFakeExchange({ symbols: ['BTC-USDT'], ratePerSec: Number(rate), historyMs: Number(history), seed: 5, bursts: false, maxTrades: 1_000_000 })
console.log(JSON.stringify({ restUrl: fx.restUrl, wsUrl: fx.wsUrl }))
process.on('SIGTERM', () => { void fx.close().then(() => process.exit(0)) })
