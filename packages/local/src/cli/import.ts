/**
 * `import`: exchange archive files into the lake (progress on stderr), then the candles of the hours
 * they filled. Exits 2 for a file that could not be used as given, 1 for one that failed its
 * checksum or part way.
 */
import { parseArgs } from 'node:util'
import { basename } from 'node:path'
import { defaults as cloudDefaults } from '../cloud/index'
import { EXIT, UsageError } from './errors'
import { oneOf } from './args'
import { upgradeLake } from './lake'
import { thousands } from './terminal'

export async function importFiles(argv: string[]) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { exchange: { type: 'string' }, symbol: { type: 'string' }, kind: { type: 'string' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  if (!positionals.length) throw new UsageError('name one or more archive files: ticklake import BTCUSDT-aggTrades-2025-01-01.zip')
  const kind = values.kind === undefined ? undefined : oneOf('kind', values.kind, ['trades', 'aggTrades'])
  const { importArchives, buildCandles, progressBar, ARCHIVE_EXCHANGES } = await import('../import/index')
  if (values.exchange !== undefined) oneOf('exchange', values.exchange, ARCHIVE_EXCHANGES)
  const { fileStore } = await import('../store/index')
  const store = fileStore(values.data!)
  await upgradeLake(values.data!)
  const tty = process.stderr.isTTY
  let last = 0
  const summaries = await importArchives(positionals, {
    store, exchange: values.exchange, symbol: values.symbol, kind,
    onProgress(p) {
      const now = Date.now()
      if (now - last < (tty ? 100 : 5_000) && p.bytes < p.totalBytes) return
      last = now
      process.stderr.write(tty ? `\r${progressBar(p)}` : `${progressBar(p)}\n`)
    },
  })
  if (tty && last) process.stderr.write('\n')
  for (const s of summaries) {
    // what went wrong goes to stderr, what was imported to stdout
    const say = s.status === 'imported' ? (l: string) => console.log(l) : (l: string) => process.stderr.write(l + '\n')
    const reason = (s.reason ?? '').replace(`${basename(s.file)}: `, '')
    say(`${s.file}: ${s.status === 'imported' ? `imported ${thousands(s.trades)} trades of ${s.symbol} (${s.kind}) into ${s.hours} hour(s), checksum ${s.checksum}` : `${s.status}: ${reason}`}`)
    if (s.errors.count && s.trades) say(`  ${thousands(s.errors.count)} bad row(s), e.g. line ${s.errors.first[0]?.line}: ${s.errors.first[0]?.reason}${s.dlq ? ` (all in ${s.dlq})` : ''}`)
    for (const w of s.warnings) say(`  warning: ${w}`)
  }
  const files = summaries.flatMap((s) => s.files)
  if (files.length) {
    const hours = await buildCandles(store, files, (h, done, total) => { if (tty) process.stderr.write(`\rcandles: ${done}/${total} hours (${h})`) })
    if (tty) process.stderr.write('\n')
    console.log(`candles built for ${hours} hour(s) in ${values.data}`)
  }
  // a file that could not be used as given is bad input (2); one that failed its checksum or part way, a problem found (1)
  if (summaries.some((s) => s.status === 'refused' && s.checksum !== 'mismatch')) return EXIT.usage
  return summaries.every((s) => s.status === 'imported') ? EXIT.ok : EXIT.problem
}
