/**
 * Firehose adapter of the `RecordStream` port: JSON records, newline-delimited, through the real
 * `@aws-sdk/client-firehose` PutRecordBatch. Locally the same client talks to the Firehose emulator
 * of `@ticklake/local` by endpoint.
 */
import { FirehoseClient, PutRecordBatchCommand } from '@aws-sdk/client-firehose'
import type { PutResult, RecordStream } from '../ports/index'
import { clientConfig } from './config'

const encoder = new TextEncoder()

/** A RecordStream writing to the delivery stream `name` (`endpoint` for a local emulator). */
export function firehoseStream(name: string, endpoint?: string, client = new FirehoseClient(clientConfig(endpoint))): RecordStream {
  return {
    async putRecords(records: object[], options: { signal?: AbortSignal } = {}): Promise<PutResult> {
      const res = await client.send(new PutRecordBatchCommand({
        DeliveryStreamName: name,
        Records: records.map((r) => ({ Data: encoder.encode(JSON.stringify(r) + '\n') })),
      }), { abortSignal: options.signal })
      const failed: number[] = []
      res.RequestResponses?.forEach((r, i) => { if (r.ErrorCode) failed.push(i) })
      return { failed }
    },
  }
}
