/** The candle job's settings (`recomputeHour`'s `options` override them). */
import { availableParallelism } from 'node:os'

export const defaults = {
  /**
   * How long the delivery stream may hold records: a minute is final once a later trade is in the
   * lake, or once ingest's checkpoint has passed it and this long has gone by since.
   */
  finalAfterMs: 10_000,
  /** Candles kept in each `serving/<exchange>/<symbol>/<tf>.json`. */
  servingCandles: 720,
  /** Conditional-write retries when another run wrote the same key meanwhile. */
  writeRetries: 20,
  /**
   * Threads that decode the hour's bronze columns (worker threads, kept between runs): two where
   * the machine has two cores (a Lambda function gets its second vCPU from 3,538 MB of memory).
   */
  decodeThreads: Math.min(2, availableParallelism()),
  /** Hours of at least this many records have their minutes summed on two threads as well (where decoded on two). */
  parallelRows: 20_000,
}
