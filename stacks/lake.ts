// The lake (DESIGN.md sections 3 and 5): one private bucket; the Glue catalog Firehose converts
// with and Athena queries through (tables with partition projection, columns from core's schemas);
// the Athena workgroup with a bytes-scanned limit; the Firehose delivery streams that turn ingest's
// JSON records into Parquet under bronze/, partitioned by each record's own exchange, symbol and hour.
import { CANDLE_COLUMNS, TRADE_COLUMNS, type Column } from '../packages/core/src/market'
import { CANDLE_FEATURE_COLUMNS, FEATURE_COLUMNS } from '../packages/core/src/lake/features/schema'
import { DIM_SYMBOL_COLUMNS } from '../packages/core/src/sources/symbols'
import { ERROR_OUTPUT_PREFIX, FIREHOSE_BUFFERING, FIREHOSE_PARTITIONS, FIREHOSE_TABLES, PARQUET_SERDE, firehosePrefix, glueColumns, PARTITION_QUERY, type GlueColumn } from '../packages/core/src/aws/glue'

// private; CloudFront may read it, and the router exposes only serving/ (stacks/web.ts)
const bucket = new sst.aws.Bucket('Lake', { access: 'cloudfront' })
const database = new aws.glue.CatalogDatabase('Catalog', { name: `ticklake_${$app.stage.replace(/[^a-z0-9]/gi, '_').toLowerCase()}` })

const parquet = {
  inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
  serDeInfo: { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
}

/**
 * A Parquet table under `folder`, partitioned (with partition projection) by `partitions` among
 * exchange, symbol, tf, dt and hour. Named as the local DuckDB engine names its views, so core's
 * SQL runs unchanged on both.
 */
function table(id: string, name: string, folder: string, columns: Column<any>[], partitions: string[]) {
  return catalogTable(id, name, folder, glueColumns(columns, partitions), partitions)
}

/** The same with its Glue columns given: Firehose's tables, from core's FIREHOSE_TABLES, which the local emulator writes too. */
function catalogTable(id: string, name: string, folder: string, columns: readonly GlueColumn[], partitions: string[]) {
  const projection: Record<string, Record<string, string>> = {
    // injected, not an enum: POST /api/ingest takes any exchange name, and every query pins exchange = ?
    exchange: { type: 'injected' },
    symbol: { type: 'injected' },
    tf: { type: 'enum', values: '1m,5m,15m,1h,4h,1d' },
    dt: { type: 'date', format: 'yyyy-MM-dd', range: '2017-01-01,NOW', interval: '1', 'interval.unit': 'DAYS' },
    hour: { type: 'integer', range: '0,23', digits: '2' },
  }
  const template = partitions.map((p) => `${p}=\${${p}}`).join('/')
  return new aws.glue.CatalogTable(id, {
    databaseName: database.name,
    name,
    tableType: 'EXTERNAL_TABLE',
    parameters: {
      classification: 'parquet',
      ...(partitions.length ? {
        'projection.enabled': 'true',
        ...Object.fromEntries(partitions.flatMap((p) => Object.entries(projection[p]).map(([k, v]) => [`projection.${p}.${k}`, v]))),
        'storage.location.template': $interpolate`s3://${bucket.name}/${folder}/${template}/`,
      } : {}),
    },
    partitionKeys: partitions.map((p) => ({ name: p, type: 'string' })),
    storageDescriptor: { ...parquet, location: $interpolate`s3://${bucket.name}/${folder}/`, columns: [...columns] },
  })
}

// Files sit in the last partition folder, where Athena reads every object: silver's hour files
// (`dt=D/hour=HH.parquet`), and gold candles of every timeframe (`tf=T/dt=D/` holding one hour,
// 4h's day or 1d's year file, `dt` the first day of the file's span: core/lake `goldCandleFileKey`).
// Partitioned by date, so a query bounded by dt (core/query does it) reads only those days' files.
const tables = {
  bronzeTrades: catalogTable('BronzeTrades', FIREHOSE_TABLES.trades.table, FIREHOSE_TABLES.trades.folder, FIREHOSE_TABLES.trades.columns, FIREHOSE_PARTITIONS),
  quotes: catalogTable('Quotes', FIREHOSE_TABLES.quotes.table, FIREHOSE_TABLES.quotes.folder, FIREHOSE_TABLES.quotes.columns, FIREHOSE_PARTITIONS),
  trades: table('Trades', 'trades', 'silver/trades', TRADE_COLUMNS, ['exchange', 'symbol', 'dt']),
  candles: table('Candles', 'candles', 'gold/candles', CANDLE_COLUMNS, ['exchange', 'symbol', 'tf', 'dt']),
  featuresTrades: table('FeaturesTrades', 'features_trades', 'gold/features/trades', FEATURE_COLUMNS as Column<any>[], ['exchange', 'symbol', 'dt']),
  featuresCandles: table('FeaturesCandles', 'features_candles', 'gold/features/candles', CANDLE_FEATURE_COLUMNS as Column<any>[], ['exchange', 'symbol', 'tf', 'dt']),
  dimSymbols: table('DimSymbols', 'dim_symbols', 'gold/dim_symbols', DIM_SYMBOL_COLUMNS, []),
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
      // Parquet conversion with dynamic partitioning needs at least 64 MiB; the interval bounds lake
      // freshness (the local Firehose emulator buffers as long by default)
      bufferingSize: FIREHOSE_BUFFERING.sizeMiB,
      bufferingInterval: FIREHOSE_BUFFERING.intervalSeconds,
      prefix: firehosePrefix(folder),
      // Firehose's default with Parquet conversion, said here so the bucket notifications' `.parquet` filter holds
      fileExtension: '.parquet',
      // where the local Firehose emulator puts them too, and what /api/status counts as conversion errors
      errorOutputPrefix: ERROR_OUTPUT_PREFIX,
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
        // the settings the local emulator writes with (core's PARQUET_SERDE)
        outputFormatConfiguration: { serializer: { parquetSerDe: PARQUET_SERDE } },
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
  trades: deliveryStream('TradesStream', 'bronze/trades', tables.bronzeTrades),
  quotes: deliveryStream('QuotesStream', 'bronze/quotes', tables.quotes),
}
