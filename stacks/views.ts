// The analyst views (fact_trades, fact_candles) in Athena: a function that runs core's
// `CREATE OR REPLACE VIEW` statements, invoked at deploy time, and again whenever they change.
import { analystViewStatements } from '../packages/core/src/sources/symbols'
import { lake } from './lake'

const fn = new sst.aws.Function('Views', {
  handler: 'packages/functions/src/views.handler',
  timeout: '120 seconds',
  environment: {
    TICKLAKE_ATHENA_WORKGROUP: lake.workgroup.name,
    TICKLAKE_ATHENA_DATABASE: lake.database.name,
    TICKLAKE_ATHENA_OUTPUT: $interpolate`s3://${lake.athenaResults.name}/results/`,
  },
  permissions: [
    { actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults'], resources: [lake.workgroup.arn] },
    { actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:CreateTable', 'glue:UpdateTable'], resources: ['*'] },
    { actions: ['s3:GetObject', 's3:ListBucket', 's3:PutObject', 's3:GetBucketLocation'], resources: [lake.athenaResults.arn, $interpolate`${lake.athenaResults.arn}/*`] },
  ],
})

export const views = new aws.lambda.Invocation('CreateViews', {
  functionName: fn.name,
  input: JSON.stringify({ views: 'create' }),
  triggers: { sql: analystViewStatements().join(';\n') },
}, { dependsOn: Object.values(lake.tables) })
