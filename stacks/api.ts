// The HTTP API (DESIGN.md section 5): one function behind `GET /api/*` and `POST /api/ingest`,
// querying the lake through Athena, with the hashed API keys of POST /api/ingest in an SST secret
// (`sst secret set ApiKeys '<json from ticklake keys add>'`).
import { lake } from './lake'
import { realtime } from './realtime'
import { config } from './pipeline'

export const apiKeys = new sst.Secret('ApiKeys', '[]')

export const api = new sst.aws.ApiGatewayV2('Api', { cors: { allowOrigins: ['*'], allowMethods: ['GET', 'POST'], allowHeaders: ['content-type', 'x-api-key'] } })

const fn = {
  handler: 'packages/functions/src/api.handler',
  timeout: '30 seconds' as const,
  link: [lake.bucket, lake.trades, apiKeys],
  environment: {
    TICKLAKE_BUCKET: lake.bucket.name,
    TICKLAKE_ATHENA_WORKGROUP: lake.workgroup.name,
    TICKLAKE_ATHENA_DATABASE: lake.database.name,
    TICKLAKE_ATHENA_OUTPUT: $interpolate`s3://${lake.athenaResults.name}/results/`,
    TICKLAKE_FIREHOSE_STREAM: lake.trades.name,
    TICKLAKE_API_KEYS: apiKeys.value,
    TICKLAKE_WS_URL: realtime.ws.url,
    TICKLAKE_EXCHANGE: config.properties.exchange,
    TICKLAKE_SYMBOLS: config.properties.symbols,
  },
  permissions: [
    { actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution'], resources: [lake.workgroup.arn] },
    { actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartitions'], resources: ['*'] },
    { actions: ['s3:GetObject', 's3:ListBucket', 's3:PutObject', 's3:GetBucketLocation'], resources: [lake.athenaResults.arn, $interpolate`${lake.athenaResults.arn}/*`] },
    { actions: ['firehose:PutRecordBatch'], resources: [lake.trades.arn] },
  ],
}

api.route('GET /api/{proxy+}', fn)
api.route('POST /api/ingest', fn)
