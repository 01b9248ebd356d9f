/**
 * `ticklake sql`: DuckDB over the lake with the analyst's views already defined (`candles`,
 * `trades`, `bronze_trades`, `quotes`, `dim_symbols`, `features_trades`, `features_candles`,
 * `fact_trades`, `fact_candles`: those of `duckdbEngine`, Athena's tables), so an analyst needs
 * nothing else installed. One statement from the command line, or statements ending in `;` from an
 * interactive prompt (or piped in), with `.tables` and `.quit`. Results print as an aligned table,
 * CSV or JSON. A statement DuckDB refuses (parse, bind, unknown table) is bad input (exit 2).
 */
import { createInterface } from 'node:readline'
import type { DuckEngine } from '../duckdb/index'
import { EXIT, UsageError } from './errors'

export const defaults = {
  /** Widest a table cell is shown (longer ones end in `…`); CSV and JSON are never cut. */
  maxCellWidth: 60,
  prompt: 'ticklake> ',
  continuation: '     ...> ',
}

export type SqlFormat = 'table' | 'csv' | 'json'

export interface SqlResult { columns: string[]; rows: unknown[][] }

/** A DuckDB value as text: NULL as empty, times and decimals as DuckDB prints them. */
function text(v: unknown): string {
  if (v === null || v === undefined) return ''
  return String(v)
}

const csvCell = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s)

/**
 * A result as text in `format`: `table` pads columns (numbers to the right) under a header and a
 * rule and ends with the row count; `csv` has a header line; `json` is an array of objects.
 * @example formatResult({ columns: ['tf', 'n'], rows: [['1m', 3n]] }, 'csv') // 'tf,n\n1m,3\n'
 */
export function formatResult(r: SqlResult, format: SqlFormat, maxCellWidth = defaults.maxCellWidth): string {
  if (format === 'json') {
    const json = (v: unknown) => (typeof v === 'bigint' ? (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v === null || v === undefined || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' ? v ?? null : String(v))
    return JSON.stringify(r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, json(row[i])]))), null, 1) + '\n'
  }
  const cells = r.rows.map((row) => row.map(text))
  if (format === 'csv') return [r.columns.map(csvCell).join(','), ...cells.map((row) => row.map(csvCell).join(','))].join('\n') + '\n'
  const cut = (s: string) => (s.length > maxCellWidth ? s.slice(0, maxCellWidth - 1) + '…' : s)
  const shown = cells.map((row) => row.map(cut))
  const numeric = r.columns.map((_, i) => r.rows.length > 0 && r.rows.every((row) => row[i] === null || typeof row[i] === 'number' || typeof row[i] === 'bigint'))
  const width = r.columns.map((c, i) => Math.max(c.length, ...shown.map((row) => row[i].length)))
  const line = (row: string[]) => row.map((s, i) => (numeric[i] ? s.padStart(width[i]) : s.padEnd(width[i]))).join('  ').trimEnd()
  const out = [line(r.columns), width.map((w) => '-'.repeat(w)).join('  '), ...shown.map(line)]
  return out.join('\n') + `\n(${r.rows.length} row${r.rows.length === 1 ? '' : 's'})\n`
}

/** DuckDB's errors about the statement itself (not about the files it read). */
const STATEMENT_ERRORS = /^(Parser|Binder|Catalog|Conversion|Invalid Input|Not implemented|Syntax) Error/i

/** Runs one statement (or several, the last one's result) on the engine's connection. */
export async function runSql(engine: DuckEngine, sql: string): Promise<SqlResult> {
  // a query through the engine first makes views whose folders appeared since real
  await engine.query({ sql: 'SELECT 1', params: [] })
  try {
    const reader = await engine.connection.runAndReadAll(sql)
    return { columns: reader.columnNames(), rows: reader.getRows() as unknown[][] }
  } catch (e: any) {
    throw STATEMENT_ERRORS.test(e?.message ?? '') ? new UsageError(e.message) : e
  }
}

/** The views an analyst can query, by name. */
export async function viewNames(engine: DuckEngine): Promise<string[]> {
  const r = await runSql(engine, 'SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1')
  return r.rows.map((row) => String(row[0]))
}

export interface ReplOptions {
  engine: DuckEngine
  input: NodeJS.ReadableStream
  write(s: string): void
  writeError(s: string): void
  format: SqlFormat
  /** Show prompts (an interactive terminal); off when statements are piped in. */
  interactive: boolean
}

/**
 * The prompt: reads statements ending in `;` (over as many lines as they take), runs each, prints
 * its result or its error (and goes on); `.tables` lists the views, `.quit` or end of input ends it.
 * Resolves with the exit code: 0, or that of the last failed statement when input was piped.
 */
export async function sqlRepl(o: ReplOptions): Promise<number> {
  const rl = createInterface({ input: o.input, terminal: false })
  let buffer = ''
  let code: number = EXIT.ok
  const prompt = () => { if (o.interactive) o.write(buffer ? defaults.continuation : defaults.prompt) }
  if (o.interactive) o.write(`DuckDB over the lake; views: ${(await viewNames(o.engine)).join(', ')}\nEnd statements with ; — .tables lists the views, .quit leaves.\n`)
  prompt()
  for await (const raw of rl) {
    const line = raw.trim()
    if (!buffer && (line === '.quit' || line === '.exit')) break
    if (!buffer && line === '.tables') { o.write((await viewNames(o.engine)).join('\n') + '\n'); prompt(); continue }
    if (!buffer && line.startsWith('.')) { o.writeError(`unknown command ${line}: .tables, .quit\n`); prompt(); continue }
    if (line) buffer += (buffer ? '\n' : '') + raw
    if (buffer && line.endsWith(';')) {
      const sql = buffer
      buffer = ''
      try { o.write(formatResult(await runSql(o.engine, sql), o.format)) } catch (e: any) {
        o.writeError(`${e?.message ?? e}\n`)
        code = e instanceof UsageError ? EXIT.usage : EXIT.problem
      }
    }
    prompt()
  }
  rl.close()
  if (buffer.trim()) {
    try { o.write(formatResult(await runSql(o.engine, buffer), o.format)) } catch (e: any) { o.writeError(`${e?.message ?? e}\n`); code = e instanceof UsageError ? EXIT.usage : EXIT.problem }
  }
  if (o.interactive) o.write('\n')
  return o.interactive ? EXIT.ok : code
}
