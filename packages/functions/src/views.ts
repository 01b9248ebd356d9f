/**
 * Views function: invoked once per deploy by `stacks/views.ts` (and again whenever the SQL
 * changes); creates the analyst views (`fact_trades`, `fact_candles`) in Athena from the same
 * `CREATE OR REPLACE VIEW` statements the local DuckDB engine runs.
 */
import middy from '@middy/core'
import { analystViewStatements } from '@ticklake/core/sources/symbols'
import { athenaEngine } from '@ticklake/core/aws/athena'
import type { QueryEngine } from '@ticklake/core/serve/query'

/** The handler for a given engine: runs every statement in turn; the first failure fails the invocation. */
export const createViewsHandler = (engine: QueryEngine) => async () => {
  const created: string[] = []
  for (const sql of analystViewStatements()) {
    await engine.query({ sql, params: [] })
    created.push(/VIEW\s+(\w+)/i.exec(sql)?.[1] ?? sql.slice(0, 40))
  }
  return { created }
}

/** AWS entry point: the workgroup, database and result location named by the environment. */
export const handler = middy().handler(() => {
  const { TICKLAKE_ATHENA_WORKGROUP: workGroup, TICKLAKE_ATHENA_DATABASE: database, TICKLAKE_ATHENA_OUTPUT: outputLocation } = process.env
  if (!workGroup || !database) throw new Error('TICKLAKE_ATHENA_WORKGROUP and TICKLAKE_ATHENA_DATABASE must be set')
  return createViewsHandler(athenaEngine({ workGroup, database, outputLocation }))()
})
