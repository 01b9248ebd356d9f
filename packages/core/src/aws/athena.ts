/**
 * Athena adapter of the `QueryEngine` port, on the real `@aws-sdk/client-athena`: core's SQL is
 * started with StartQueryExecution in a workgroup, its `?` values passed as ExecutionParameters
 * (never spliced into the text; Athena reads each as a SQL literal, so strings travel quoted),
 * polled with GetQueryExecution under exponential backoff, and read back with GetQueryResults page
 * by page, each value converted by its column type so rows look like the DuckDB adapter's:
 * numbers as numbers, booleans as booleans, times as ISO-8601 strings, NULL as null.
 */
import { AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, StartQueryExecutionCommand, StopQueryExecutionCommand, type ColumnInfo, type Row as AthenaRow } from '@aws-sdk/client-athena'
import { placeholders, type QueryEngine, type Row, type Statement } from '../serve/query/index'
import { clientConfig } from './config'

export const defaults = {
  workGroup: 'primary',
  database: 'ticklake',
  /** First wait before polling again; doubles up to `maxPollMs`. */
  firstPollMs: 100,
  maxPollMs: 2_000,
  /** Gives up (and stops the query) after this long. */
  timeoutMs: 120_000,
  pageSize: 1000,
}

export interface AthenaOptions extends Partial<typeof defaults> {
  /** `s3://bucket/prefix/` for results; omit when the workgroup enforces its own. */
  outputLocation?: string
  endpoint?: string
  client?: AthenaClient
  sleep?: (ms: number) => Promise<void>
}

/** Thrown when a query fails or is cancelled in Athena: carries Athena's reason. */
export class AthenaQueryError extends Error {
  constructor(readonly queryExecutionId: string, readonly state: string, reason: string) { super(`Athena query ${queryExecutionId} ${state}: ${reason}`) }
}

/**
 * One ExecutionParameters entry: Athena reads it as a SQL literal, so a string is single-quoted
 * with its quotes doubled and a number is its plain decimal text.
 * @example executionParameter("O'Brien") === "'O''Brien'"
 */
export function executionParameter(v: string | number): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`parameter ${v} is not a finite number`)
    return String(v)
  }
  return `'${String(v).replace(/'/g, "''")}'`
}

/** `2026-11-24 15:00:00.000` (Athena's text) -> `2026-11-24T15:00:00.000Z`. */
export function isoOfAthenaTime(s: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d+))?/.exec(s)
  if (!m) return s
  const frac = (m[3] ?? '').padEnd(3, '0')
  const trimmed = frac.length > 3 && /^0+$/.test(frac.slice(3)) ? frac.slice(0, 3) : frac
  return `${m[1]}T${m[2]}.${trimmed}Z`
}

/** One Athena value (always text, absent for NULL) converted by its column's type. */
export function convertValue(text: string | undefined, type: string): unknown {
  if (text === undefined) return null
  switch (type.toLowerCase().replace(/\(.*$/, '')) {
    case 'tinyint': case 'smallint': case 'integer': case 'int': case 'bigint': case 'double': case 'float': case 'real': case 'decimal':
      return Number(text)
    case 'boolean': return text === 'true'
    case 'timestamp': case 'timestamp with time zone': return isoOfAthenaTime(text)
    case 'date': return text
    default: return text
  }
}

const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/**
 * A QueryEngine running statements in Athena.
 * @example const engine = athenaEngine({ workGroup: 'ticklake', database: 'ticklake', outputLocation: 's3://lake/athena/' })
 */
export function athenaEngine(options: AthenaOptions = {}): QueryEngine {
  const o = { ...defaults, ...options }
  const client = options.client ?? new AthenaClient(clientConfig(options.endpoint))
  const sleep = options.sleep ?? wait

  async function waitFor(id: string) {
    const started = Date.now()
    for (let delay = o.firstPollMs; ; delay = Math.min(delay * 2, o.maxPollMs)) {
      const res = await client.send(new GetQueryExecutionCommand({ QueryExecutionId: id }))
      const status = res.QueryExecution?.Status
      const state = status?.State ?? 'UNKNOWN'
      if (state === 'SUCCEEDED') return
      if (state === 'FAILED' || state === 'CANCELLED') throw new AthenaQueryError(id, state, status?.StateChangeReason ?? status?.AthenaError?.ErrorMessage ?? 'no reason given')
      if (Date.now() - started > o.timeoutMs) {
        await client.send(new StopQueryExecutionCommand({ QueryExecutionId: id })).catch(() => {})
        throw new AthenaQueryError(id, 'TIMEOUT', `still ${state} after ${o.timeoutMs} ms; stopped`)
      }
      await sleep(delay)
    }
  }

  async function results(id: string): Promise<Row[]> {
    const rows: Row[] = []
    let columns: ColumnInfo[] | undefined
    let token: string | undefined
    let first = true
    do {
      const res = await client.send(new GetQueryResultsCommand({ QueryExecutionId: id, NextToken: token, MaxResults: o.pageSize }))
      columns ??= res.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []
      let page: AthenaRow[] = res.ResultSet?.Rows ?? []
      if (first) page = page.slice(1) // a SELECT's first page opens with the column names
      first = false
      for (const r of page) {
        const out: Row = {}
        columns.forEach((c, i) => { out[c.Name ?? `_col${i}`] = convertValue(r.Data?.[i]?.VarCharValue, c.Type ?? 'varchar') })
        rows.push(out)
      }
      token = res.NextToken
    } while (token)
    return rows
  }

  return {
    async query(st: Statement) {
      const expected = placeholders(st.sql)
      if (expected !== st.params.length) throw new Error(`statement has ${expected} placeholders but ${st.params.length} parameters`)
      const start = await client.send(new StartQueryExecutionCommand({
        QueryString: st.sql,
        ExecutionParameters: st.params.length ? st.params.map(executionParameter) : undefined,
        QueryExecutionContext: { Database: o.database },
        WorkGroup: o.workGroup,
        ResultConfiguration: options.outputLocation ? { OutputLocation: options.outputLocation } : undefined,
      }))
      const id = start.QueryExecutionId
      if (!id) throw new Error('Athena returned no QueryExecutionId')
      await waitFor(id)
      return results(id)
    },
  }
}
