/** `symbols`: refreshes `gold/dim_symbols` from each named exchange's symbol list. */
import { parseArgs } from 'node:util'
import { defaults as cloudDefaults } from '../cloud/index'
import { UsageError } from './errors'
import { oneOf } from './args'

export async function symbols(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { exchange: { type: 'string', default: 'binance' }, 'rest-url': { type: 'string' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  const exchanges = values.exchange!.split(',').map((s) => s.trim()).filter(Boolean)
  if (values['rest-url'] && exchanges.length !== 1) throw new UsageError('--rest-url goes with one --exchange')
  const { refreshDimSymbols, DIM_EXCHANGES } = await import('@ticklake/core/sources/symbols')
  for (const x of exchanges) oneOf('exchange', x, DIM_EXCHANGES)
  const { fileStore } = await import('../store/index')
  const store = fileStore(values.data!)
  for (const x of exchanges) {
    const r = await refreshDimSymbols(store, x, values['rest-url'])
    console.log(`${x}: ${r.rows} symbol${r.rows === 1 ? "" : "s"} written to gold/dim_symbols (${r.total} in all)${r.rejected.length ? `; ${r.rejected.length} left out, e.g. ${r.rejected[0]}` : ''}`)
  }
  return 0
}
