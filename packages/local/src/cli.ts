/**
 * The `ticklake` command line: `start` runs the local cloud (live Binance when reachable, else the
 * clearly labelled simulated exchange), `candles` answers from the lake with DuckDB, `verify`
 * compares the lake's candles with the exchange's klines, `symbols` refreshes `gold/dim_symbols`,
 * `import`, `record` and `replay` bring archives and captures in, and `sql` opens DuckDB over the
 * lake. Every command exits 0 (success), 1 (a problem found), 2 (bad usage or input) or 3 (a source
 * unreachable), its error once on stderr (`cli/errors.ts`). `start` is here; the other commands
 * and the helpers live in `cli/` (`lake.ts`: candles, gaps, verify, sql; `capture.ts`: record and
 * replay; `import.ts`, `symbols.ts`, `keys.ts`).
 */
import { parseArgs } from 'node:util'
import { EXCHANGES } from '@ticklake/core/sources/venues'
import { TIMEFRAMES, simulatedOf } from '@ticklake/core/market'
import { defaults as cloudDefaults } from './cloud/index'
import { EXIT, UsageError, exitCodeOf } from './cli/errors'
import { durationArg, oneOf } from './cli/args'
import { candles, gaps, sql, verify } from './cli/lake'
import { record, replay } from './cli/capture'
import { importFiles } from './cli/import'
import { symbols } from './cli/symbols'
import { keys } from './cli/keys'
import { acquireLock } from './cli/lock'
import { ensurePage } from './cli/web'
import { defaults as terminalDefaults, formatDuration, formatSourcesLine, progress, screen, thousands } from './cli/terminal'
import { COINGECKO, pricesSource, reachable, startConfig, startSources, type SourceMode } from './cli/sources'
import { defaults as configDefaults } from '@ticklake/core/sources/config'

export { parseDuration } from './cli/args'
export { reachable }

const HELP = `ticklake — near-real-time crypto market data, locally

Usage:
  ticklake start [options]        run the whole pipeline and serve the page
  ticklake candles [options]      print candles from the lake (DuckDB)
  ticklake gaps [options]         list trade-id gaps, stream disconnects and stalls recorded by ingest
  ticklake record [options]       capture an exchange stream's raw frames to a file
  ticklake replay CAPTURE [opts]  play a capture through the fake exchange and the real ingest
  ticklake verify [options]       compare the lake's candles with the exchange's own klines
  ticklake symbols [options]      refresh gold/dim_symbols from exchangeInfo / Coinbase products
  ticklake import FILE... [opts]  import Binance public-data archives (trades, aggTrades) and build their candles
  ticklake keys add NAME --exchange X[,Y] [--data DIR]  make an API key for POST /api/ingest that may write
                                  exchange X (never a built-in venue's name; printed once; stored hashed)
  ticklake keys list [--data DIR]      list API key names (never the keys)
  ticklake sql ["SELECT …"] [opts]  DuckDB over the lake with the analyst views (a prompt without a statement)
  ticklake help                   this text

From a checkout, npm start runs ticklake start; pass flags after --: npm start -- --port 8760 --source sim

Exit codes (every command):
  0  success
  1  the work found a problem (verify found differences, an archive failed its checksum)
  2  bad usage or input (unknown flag or value, a file or --data folder that does not exist,
     a port in use, a data folder another start or replay is using, a bad SQL statement)
  3  a source unreachable (the exchange, CoinGecko)
Errors go to stderr, once. Symbols are accepted in any case (btc-usdt is BTC-USDT).

start:
  --sources LIST         every source at once into one lake, e.g.
                         "binance:BTC-USDT,ETH-USDT;coinbase:BTC-USD,ETH-USD;coingecko:bitcoin,ethereum"
                         (default: those three, or ticklake.config.json in the working directory)
  --config FILE          the sources as JSON: {"exchanges":[{"exchange":"coinbase","feed":"exchange",
                         "symbols":["BTC-USD"]}],"coingecko":{"coins":["bitcoin"],"currencies":["usd"]}}
  --source sim|live      where trades come from (default: each exchange live if reachable within
                         a few seconds, else its simulated twin, labelled SIMULATED; live insists
                         on the live exchanges; binance and coinbase are accepted for live)
  --symbols LIST         one exchange's symbols, comma-separated, e.g. BTC-USDT,ETH-USDT (default ${cloudDefaults.symbols.join(',')});
                         --exchange, --symbols, --rest-url or --source alone run that one exchange
  --port N               port of the page, API and WebSocket (default ${cloudDefaults.port}; 0 = any free port)
  --data DIR             lake folder (default ./${cloudDefaults.dataDir}); one start per folder
                         (ticklake.lock in it holds the pid; a crashed run's lock is taken over)
  --backfill DURATION    history to backfill on a first run, e.g. 30m, 3h, 0 (default 3h)
  --keep-bronze DURATION delete compacted bronze of hours older than this, e.g. 7d (default: keep;
                         gold and silver always stay; closed hours are compacted every 10 min)
  --exchange NAME        binance, binance-us, binance-futures or coinbase (default binance);
                         coinbase symbols are product ids like BTC-USD (default BTC-USD,ETH-USD)
  --rest-url URL         Binance-compatible REST endpoint (default https://api.binance.com;
                         e.g. https://api.binance.us; with --source sim, a fake exchange run
                         elsewhere, labelled SIMULATED)
  --ws-url URL           its WebSocket endpoint (default wss://stream.binance.com:9443)
  --coins LIST           CoinGecko coin ids polled into bronze/prices, e.g. bitcoin,ethereum
                         (default bitcoin,ethereum; none turns polling off)
  --currencies LIST      vs_currencies for them (default usd,brl)
  --coingecko-url URL    CoinGecko host (default https://api.coingecko.com; the simulated one when
                         the source is sim or CoinGecko is unreachable). A Demo key is read from
                         TICKLAKE_COINGECKO_KEY

candles:
  --exchange NAME        default binance
  --symbol SYMBOL        e.g. BTC-USDT (required)
  --tf TF                ${Object.keys(TIMEFRAMES).join(' ')} (default 1m)
  --from ISO             open time, inclusive (e.g. 2026-11-24T15:00:00Z)
  --to ISO               open time, exclusive
  --limit N              at most N candles (default 100000)
  --format csv|json      default csv
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})

record:
  --symbols LIST         e.g. BTC-USDT,ETH-USDT, or Coinbase product ids BTC-USD,ETH-USD (required)
  --out FILE             capture file (default capture-<time>.jsonl), JSON lines appended
  --duration DURATION    stop after this long (default: at Ctrl+C)
  --exchange NAME        binance, binance-us, binance-futures or coinbase (default binance;
                         coinbase records Advanced Trade market_trades and heartbeats)
  --ws-url URL           another stream endpoint speaking the same protocol

replay:
  CAPTURE                ticklake's own capture, or a cryptofeed recording (*.0, *.jsonl.zst),
                         Binance or Coinbase (told from the capture; Coinbase trades land
                         under --exchange coinbase with the recorded trade ids)
  --speed N|max          N times as fast as recorded, or all at once (default max)
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})

import:
  FILE...                daily or monthly trades/aggTrades archives from data.binance.vision,
                         .csv or .zip, e.g. BTCUSDT-aggTrades-2025-01-01.zip; checked against
                         FILE.CHECKSUM when it lies beside the file
  --exchange NAME        binance, binance-us or binance-futures (default binance)
  --symbol SYMBOL        BTC-USDT or BTCUSDT, when the file name does not say (or says otherwise)
  --kind trades|aggTrades  when the file name does not say
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})

verify:
  --exchange NAME        binance, binance-us or binance-futures (default binance)
  --symbol SYMBOL        e.g. BTC-USDT (required)
  --from ISO, --to ISO   open times, from inclusive, to exclusive (required)
  --tf TF                ${Object.keys(TIMEFRAMES).join(' ')} (default 1m)
  --rest-url URL         the exchange's REST host (default: the venue's public one)
  --format text|json     default text; exit code 0 when all candles match, 1 when any differs,
                         3 when the exchange cannot be reached
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})

symbols:
  --exchange LIST        comma-separated: binance, binance-us, binance-futures, coinbase (default binance)
  --rest-url URL         REST host for a single exchange (default: its public one)
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})

gaps:
  --exchange NAME        only this exchange
  --symbol SYMBOL        only this symbol
  --format text|json     default text
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})

sql:
  "SELECT …"             one statement (in quotes); without it, a prompt (statements end in ;,
                         .tables lists the views, .quit leaves) or statements piped on stdin
  --format table|csv|json  default table
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})
  views: candles, trades (silver), bronze_trades, quotes, dim_symbols, features_trades,
         features_candles, and the analyst views fact_trades, fact_candles (facts with dim_symbols)

start shows one progress line (the backfill: trades, ids/s, time left; then trades/s, lake lag,
subscribers), redrawn in place on a terminal and printed now and then otherwise, and a last line
saying what was flushed. Reading commands (candles, gaps, verify, sql, keys list) refuse a --data
folder that does not exist.
`


/** Throws a `UsageError` at once when `port` is taken on `host` (before anything else starts). */
async function assertPortFree(port: number, host: string) {
  const { createServer } = await import('node:net')
  await new Promise<void>((resolve, reject) => {
    const probe = createServer()
    probe.once('error', (e: any) => reject(e?.code === 'EADDRINUSE' ? portInUse(port) : e))
    probe.listen(port, host, () => probe.close(() => resolve()))
  })
}
const portInUse = (port: number) => new UsageError(`port ${port} is in use: pass --port with another number (npm start -- --port 8760), or --port 0 for any free one`)

/**
 * `start`: the flags, the sources (cli/sources.ts), the lock, the cloud, the progress line and the
 * flush at Ctrl+C. Long because the run's lifetime (what to close on each failure) shares its scope.
 */
async function start(argv: string[]) {
  // The SDK clients here talk to local emulators; its Node-version notice is for Lambda's runtime
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const { values } = parseArgs({ args: argv, options: { sources: { type: 'string' }, config: { type: 'string' }, source: { type: 'string' }, symbols: { type: 'string' }, port: { type: 'string' }, data: { type: 'string' }, backfill: { type: 'string' }, exchange: { type: 'string' }, 'rest-url': { type: 'string' }, 'ws-url': { type: 'string' }, coins: { type: 'string' }, currencies: { type: 'string' }, 'coingecko-url': { type: 'string' }, 'keep-bronze': { type: 'string' } } })
  if (values.exchange !== undefined) oneOf('exchange', values.exchange, EXCHANGES)
  if (values.source) oneOf('source', values.source, ['sim', 'live', 'binance', 'coinbase'])
  const { config, single } = startConfig(values)
  const port = values.port !== undefined ? Number(values.port) : cloudDefaults.port
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: ${values.port} is not a port number`)
  const backfillMs = values.backfill !== undefined ? durationArg('backfill', values.backfill) : cloudDefaults.backfillMs
  const keepBronzeMs = values['keep-bronze'] !== undefined ? durationArg('keep-bronze', values['keep-bronze']) : undefined
  const dataDir = values.data ?? cloudDefaults.dataDir
  const mode: SourceMode = values.source === 'sim' ? 'sim' : values.source ? 'live' : 'auto'
  // CoinGecko: --coins when given, else the configuration's (the one-exchange start polls bitcoin,ethereum as before)
  const cg = config.coingecko ?? (single ? configDefaults.config.coingecko : undefined)
  const coins = values.coins ?? cg?.coins.join(',') ?? 'none'
  const currencies = values.currencies ?? cg?.currencies.join(',') ?? 'usd,brl'
  // refused at once, before any probe or fake exchange: a port in use, a folder another start holds
  if (port !== 0) await assertPortFree(port, cloudDefaults.host)
  const lock = acquireLock(dataDir, 'start')
  try { return await run() } finally { lock.release() }

  async function run() {
    // CoinGecko is probed beside the exchanges, so an offline start waits for one timeout, not two
    const cgProbe = mode === 'sim' || coins === 'none' ? undefined : reachable(`${values['coingecko-url'] ?? COINGECKO}/api/v3/ping`)
    const started = await startSources(config, { mode, dataDir, single, log: (l) => console.log(l) })
    const prices = await ensurePage(cloudDefaults.webDist, (l) => console.log(l))
      .then(() => pricesSource(coins, currencies, values['coingecko-url'], mode === 'sim' ? undefined : cgProbe))
      .catch(async (e) => { await started.close(); throw e })
    const [{ startCloud }, { fileStore }, { readCheckpoint }] = await Promise.all([import('./cloud/index'), import('./store/index'), import('@ticklake/core/sources/checkpoint')])
    const sources = started.sources
    // simulated trades go under their own venue name (sim-binance, sim-coinbase, ...), never a market's
    const names = sources.map((s) => (s.source === 'sim' ? simulatedOf(s.exchange) : s.exchange))
    const store = fileStore(dataDir)
    /** Each symbol's checkpoint of the `i`th source (under the exchange the cloud says it writes under). */
    const checkpoints = async (i: number) => Object.fromEntries(await Promise.all(sources[i].symbols.map(async (sym) => {
      const cp = await readCheckpoint(store, names[i], sym).catch(() => undefined)
      return [sym, cp && { id: cp.checkpoint.last_trade_id, tsMs: cp.checkpoint.ts / 1000 }] as const
    })))
    const allCheckpoints = () => Promise.all(sources.map((_, i) => checkpoints(i)))
    const initial = await allCheckpoints()
    const term = screen({ write: (x) => process.stdout.write(x), tty: !!process.stdout.isTTY })
    const cloud = await startCloud({ sources, port, dataDir, backfillMs, keepBronzeMs, prices: prices?.config, lakeThread: true, log: (l) => term.log(l) }).catch(async (e) => {
      await started.close()
      await prices?.close()
      throw e?.code === 'EADDRINUSE' ? portInUse(port) : e
    })
    const running = single ? `${sources[0].label}: ${sources[0].symbols.join(', ')}` : `${sources.length} exchanges:\n${sources.map((s, i) => `  ${names[i]}:  ${s.label}: ${s.symbols.join(', ')}`).join('\n')}${prices ? `\n  coingecko:  ${coins} in ${currencies}` : ''}`
    console.log(`\nTicklake is running on ${running}\n  page:  ${cloud.url}\n  lake:  ${cloud.dataDir}\n  stop:  Ctrl+C\n`)

    // the one progress line: backfill, then live status, from the checkpoints and /api/health (one part per exchange)
    const follows = initial.map((cps) => progress(Object.fromEntries(Object.entries(cps).map(([k, v]) => [k, v?.id]))))
    const tty = !!process.stdout.isTTY
    const phases = sources.map(() => '')
    const backfillStarted = sources.map(() => 0)
    let phase = ''
    let printed = 0
    let refreshing = false
    const refresh = async () => {
      if (refreshing) return
      refreshing = true
      try {
        const health: any = await fetch(`${cloud.url}api/health`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.json()).catch(() => ({}))
        const now = Date.now()
        const subscribers = Number(health.connections) || 0
        const cps = await allCheckpoints()
        const ps = follows.map((f, i) => f.update({ at: now, symbols: cps[i], subscribers }))
        ps.forEach((p, i) => {
          if (p.phase === 'backfill' && phases[i] !== 'backfill') backfillStarted[i] = now
          if (phases[i] === 'backfill' && p.phase === 'live') { term.end(); console.log(`${single ? '' : `${names[i]} `}backfill done: ${thousands(p.trades)} trades in ${formatDuration(now - backfillStarted[i])}`); printed = 0 }
          phases[i] = p.phase
        })
        const now_ = ps.some((p) => p.phase === 'backfill') ? 'backfill' : ps.every((p) => p.phase === 'live') ? 'live' : 'starting'
        const line = single ? ps[0].line : formatSourcesLine(ps.map((p, i) => ({ name: names[i], line: p.line })), subscribers)
        const every = now_ === 'backfill' ? terminalDefaults.plainBackfillEveryMs : terminalDefaults.plainStatusEveryMs
        if (tty || now_ !== phase || now - printed >= every) { term.status(line); printed = now }
        phase = now_
      } finally { refreshing = false }
    }
    const timer = setInterval(() => void refresh(), terminalDefaults.refreshMs)
    await new Promise<void>((resolve) => {
      const stop = () => { resolve() }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
    clearInterval(timer)
    term.end()
    console.log(`${tty ? '\n' : ''}stopping: flushing records and checkpoints…`)
    await cloud.close()
    await started.close()
    await prices?.close()
    const last = await allCheckpoints()
    const saved = sources.flatMap((s, i) => s.symbols.filter((sym) => last[i][sym]).map((sym) => `${single ? '' : `${names[i]} `}${sym} at trade id ${last[i][sym]!.id} (${new Date(last[i][sym]!.tsMs).toISOString()})`))
    const moved = follows.reduce((n, f, i) => n + f.update({ at: Date.now(), symbols: last[i], subscribers: 0 }).trades, 0)
    console.log(`stopped: records flushed to the lake in ${cloud.dataDir}${saved.length ? `; checkpoints saved: ${saved.join(', ')}; ${thousands(moved)} trade ids checkpointed this run` : '; no checkpoint written yet'}`)
    return 0
  }
}

/** Runs the CLI with its arguments; resolves with the exit code (see `EXIT`: 0 ok, 1 a problem found, 2 bad usage or input, 3 a source unreachable). */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  if (rest.includes('--help') || rest.includes('-h')) { process.stdout.write(HELP); return 0 }
  try {
    if (cmd === 'start') return await start(rest)
    if (cmd === 'candles') return await candles(rest)
    if (cmd === 'gaps') return await gaps(rest)
    if (cmd === 'record') return await record(rest)
    if (cmd === 'replay') return await replay(rest)
    if (cmd === 'verify') return await verify(rest)
    if (cmd === 'symbols') return await symbols(rest)
    if (cmd === 'import') return await importFiles(rest)
    if (cmd === 'keys') return await keys(rest)
    if (cmd === 'sql') return await sql(rest)
    if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') { process.stdout.write(HELP); return 0 }
    process.stderr.write(`ticklake: unknown command ${JSON.stringify(cmd)} (ticklake help lists them)\n`)
    return EXIT.usage
  } catch (e: any) {
    process.stderr.write(`ticklake ${cmd}: ${e?.message ?? e}\n`)
    return exitCodeOf(e)
  }
}

