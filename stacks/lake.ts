// The lake (DESIGN.md sections 3 and 5): one private bucket; the Glue catalog Firehose converts
// with and Athena queries through (tables with partition projection, columns from core's schemas);
// the Athena workgroup with a bytes-scanned limit; the Firehose delivery streams that turn ingest's
// JSON records into Parquet under bronze/, partitioned by each record's own exchange, symbol and hour.
import { CANDLE_COLUMNS, QUOTE_COLUMNS, TRADE_COLUMNS, type Column } from '../packages/core/src/market'
import { firehosePrefix, glueColumns, PARTITION_QUERY } from '../packages/core/src/aws/glue'

// private; CloudFront may read it, and the router exposes only serving/ (stacks/web.ts)
const bucket = new sst.aws.Bucket('Lake', { access: 'cloudfront' })
const database = new aws.glue.CatalogDatabase('Catalog', { name: `ticklake_${$app.stage.replace(/[^a-z0-9]/gi, '_').toLowerCase()}` })

const parquet = {
  inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
  serDeInfo: { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
}
const exchanges = 'binance,binance-us,binance-futures,coinbase'

/** A Parquet table under `folder`, partitioned by exchange/symbol[/dt/hour] with partition projection. */
function table(name: string, folder: string, columns: Column<any>[], hourly: boolean, extra: Record<string, string> = {}) {
  const partitions = ['exchange', 'symbol', ...Object.keys(extra), ...(hourly ? ['dt', 'hour'] : [])]
  const template = partitions.map((p) => `${p}=\${${p}}`).join('/')
  return new aws.glue.CatalogTable(name, {
    databaseName: database.name,
    name: name.replace(/[A-Z]/g, (c, i) => (i ? '_' : '') + c.toLowerCase()),
    tableType: 'EXTERNAL_TABLE',
    parameters: {
      classification: 'parquet', 'parquet.compression': 'SNAPPY', 'projection.enabled': 'true',
      'projection.exchange.type': 'enum', 'projection.exchange.values': exchanges,
      'projection.symbol.type': 'injected',
      ...Object.fromEntries(Object.entries(extra).flatMap(([k, v]) => [[`projection.${k}.type`, 'enum'], [`projection.${k}.values`, v]])),
      ...(hourly ? {
        'projection.dt.type': 'date', 'projection.dt.format': 'yyyy-MM-dd', 'projection.dt.range': '2017-01-01,NOW', 'projection.dt.interval': '1', 'projection.dt.interval.unit': 'DAYS',
        'projection.hour.type': 'integer', 'projection.hour.range': '0,23', 'projection.hour.digits': '2',
      } : {}),
      'storage.location.template': $interpolate`s3://${bucket.name}/${folder}/${template}/`,
    },
    partitionKeys: partitions.map((name) => ({ name, type: 'string' })),
    storageDescriptor: { ...parquet, location: $interpolate`s3://${bucket.name}/${folder}/`, columns: glueColumns(columns, ['exchange', 'symbol', 'tf']) },
  })
}

const tables = {
  bronzeTrades: table('BronzeTrades', 'bronze/trades', TRADE_COLUMNS, true),
  bronzeQuotes: table('BronzeQuotes', 'bronze/quotes', QUOTE_COLUMNS, true),
  // silver keeps one file per hour (`dt=.../hour=HH.parquet`): partitions stop at dt, the hour is in the file name
  silverTrades: table('SilverTrades', 'silver/trades', TRADE_COLUMNS, false),
  // gold candles: 1m-1h one file per hour, 4h per day, 1d per year, all under tf=<tf>/
  candles: table('Candles', 'gold/candles', CANDLE_COLUMNS, false, { tf: '1m,5m,15m,1h,4h,1d' }),
}

const athenaResults = new sst.aws.Bucket('AthenaResults')
const workgroup = new aws.athena.Workgroup('Queries', {
  name: `ticklake-${$app.stage}`,
  forceDestroy: true,
  configuration: {
    enforceWorkgroupConfiguration: true,
    bytesScannedCutoffPerQuery: 10 * 1024 ** 3,
    resultConfiguration: { outputLocation: $interpolate`s3://${athenaResults.name}/results/` },
  },
})

/** A delivery stream converting JSON records to Parquet (snappy) under `folder`, per the Glue table. */
function deliveryStream(name: string, folder: string, glueTable: aws.glue.CatalogTable) {
  const role = new aws.iam.Role(`${name}Role`, {
    assumeRolePolicy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'firehose.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
    inlinePolicies: [{
      name: 'lake',
      policy: $jsonStringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: ['s3:AbortMultipartUpload', 's3:GetBucketLocation', 's3:GetObject', 's3:ListBucket', 's3:ListBucketMultipartUploads', 's3:PutObject'], Resource: [bucket.arn, $interpolate`${bucket.arn}/*`] },
          { Effect: 'Allow', Action: ['glue:GetTable', 'glue:GetTableVersion', 'glue:GetTableVersions'], Resource: ['*'] },
        ],
      }),
    }],
  })
  return new aws.kinesis.FirehoseDeliveryStream(name, {
    destination: 'extended_s3',
    extendedS3Configuration: {
      roleArn: role.arn,
      bucketArn: bucket.arn,
      // Parquet conversion with dynamic partitioning needs at least 64 MiB; the interval bounds lake freshness
      bufferingSize: 64,
      bufferingInterval: 60,
      prefix: firehosePrefix(folder),
      errorOutputPrefix: `dlq/firehose/${folder.replace('/', '-')}/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/`,
      dynamicPartitioningConfiguration: { enabled: true },
      processingConfiguration: {
        enabled: true,
        processors: [{ type: 'MetadataExtraction', parameters: [
          { parameterName: 'MetadataExtractionQuery', parameterValue: PARTITION_QUERY },
          { parameterName: 'JsonParsingEngine', parameterValue: 'JQ-1.6' },
        ] }],
      },
      dataFormatConversionConfiguration: {
        inputFormatConfiguration: { deserializer: { hiveJsonSerDe: {} } },
        outputFormatConfiguration: { serializer: { parquetSerDe: { compression: 'SNAPPY' } } },
        schemaConfiguration: { databaseName: database.name, tableName: glueTable.name, roleArn: role.arn },
      },
    },
  })
}

export const lake = {
  bucket,
  database,
  tables,
  workgroup,
  athenaResults,
  trades: deliveryStream('Trades', 'bronze/trades', tables.bronzeTrades),
  quotes: deliveryStream('Quotes', 'bronze/quotes', tables.bronzeQuotes),
}
