/**
 * Ports: the interfaces through which core reaches every outside thing. AWS adapters live in
 * `core/src/aws/*.ts`; the local stand-ins live in `@ticklake/local`. Handlers get one of each
 * and never know which.
 */
import type { Exchange, Quote, Trade, TradeSource } from '../market/index'

export interface ObjectInfo { key: string; size: number; etag: string; lastModified: number }

export interface PutOptions {
  /** Write only if the current object has this ETag (optimistic concurrency); no object at the key fails too. */
  ifMatch?: string
  /** `'*'`: write only if no object exists at the key. */
  ifNoneMatch?: '*'
  contentType?: string
}

/**
 * Thrown by `ObjectStore.put` when a condition does not hold, by every adapter alike: `ifNoneMatch`
 * over an object, `ifMatch` with another ETag, and `ifMatch` where there is no object (S3 answers
 * 412 for the first two, 404 NoSuchKey for the last). Callers read the ETag again and retry.
 */
export class PreconditionFailed extends Error {
  constructor(readonly key: string) { super(`precondition failed for ${key}`) }
}

/** An S3-like object store (S3 in AWS, a folder locally). Keys use `/` and no leading slash. */
export interface ObjectStore {
  get(key: string): Promise<Uint8Array | undefined>
  head(key: string): Promise<ObjectInfo | undefined>
  put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<{ etag: string }>
  /** Every object whose key starts with `prefix`, in key order (a local store may leave `etag` empty here: use `head`). */
  list(prefix: string): Promise<ObjectInfo[]>
  delete(key: string): Promise<void>
}

/**
 * Thrown by `updateObject` when another writer changed the object before each of its tries: a
 * `PreconditionFailed` still (callers that handle one handle it), saying how often it tried.
 */
export class UpdateConflict extends PreconditionFailed {
  constructor(key: string, readonly tries: number) {
    super(key)
    this.message = `gave up updating ${key} after ${tries} tries: another writer changed it before each write`
  }
}

/** What one try of `updateObject` writes (`body`; none: nothing is written) and resolves with (`result`). */
export interface Update<R> { body?: Uint8Array | string; result: R; contentType?: string }

/**
 * The optimistic update of one object, the one loop every read-modify-write of the lake uses: reads
 * the object's ETag (`head`; `also` runs alongside it, its result passed on), lets `change` compute
 * what to write from that version (reading what it needs), and writes only over it (`If-Match`, or
 * `If-None-Match: *` where there was none). When another writer got there first, it reads and
 * computes again, at most `retries` (default 5) more times, then throws `UpdateConflict`. Resolves
 * with `change`'s result and the ETag written (undefined when `change` wrote nothing).
 * @example await updateObject(store, key, async (head) => ({ body: next(head && await store.get(key)), result: true }))
 */
export async function updateObject<R, A = undefined>(
  store: ObjectStore, key: string,
  change: (head: ObjectInfo | undefined, also: A) => Promise<Update<R>> | Update<R>,
  o: { retries?: number; contentType?: string; also?: () => Promise<A> } = {},
): Promise<{ result: R; etag?: string }> {
  const retries = o.retries ?? 5
  for (let attempt = 0; ; attempt++) {
    const [head, also] = await Promise.all([store.head(key), o.also?.() as Promise<A>])
    const u = await change(head, also)
    if (u.body === undefined) return { result: u.result }
    const contentType = u.contentType ?? o.contentType
    try {
      const { etag } = await store.put(key, u.body, { ...(head ? { ifMatch: head.etag } : { ifNoneMatch: '*' }), ...(contentType ? { contentType } : {}) })
      return { result: u.result, etag }
    } catch (e) {
      if (!(e instanceof PreconditionFailed)) throw e
      if (attempt >= retries) throw new UpdateConflict(key, attempt + 1)
    }
  }
}

/** The JSON document at `key`, parsed; undefined when there is no object. */
export async function readJson<T>(store: Pick<ObjectStore, 'get'>, key: string): Promise<T | undefined> {
  const b = await store.get(key)
  return b ? JSON.parse(new TextDecoder().decode(b)) : undefined
}

/** Outcome of a record batch sent to a stream: indexes of records that were not accepted. */
export interface PutResult { failed: number[] }

/** A delivery stream of JSON records (Firehose in AWS, the Firehose emulator locally). */
export interface RecordStream {
  /** Sends records; `signal` cuts the request off (the records may or may not have been taken: the caller counts them as not accepted). */
  putRecords(records: object[], options?: { signal?: AbortSignal }): Promise<PutResult>
}

/** WebSocket connections and their subscriptions (DynamoDB in AWS, memory locally). */
export interface ConnectionStore {
  add(connectionId: string, connectedAt: number): Promise<void>
  remove(connectionId: string): Promise<void>
  /** Adds channels; returns the connection's channel count afterwards. */
  subscribe(connectionId: string, channels: string[]): Promise<number>
  unsubscribe(connectionId: string, channels: string[]): Promise<void>
  subscribers(channel: string): Promise<string[]>
  channelsOf(connectionId: string): Promise<string[]>
  /**
   * Counts one event of `counter` (`frames`, `strikes`) for a connection in the fixed window of
   * `windowMs` holding `now`; returns the window's count so far, this one included.
   */
  tally(connectionId: string, counter: string, windowMs: number, now: number): Promise<number>
}

/** Sends one frame to a WebSocket connection: `'gone'` when the connection no longer exists. */
export interface ConnectionPoster {
  post(connectionId: string, data: string): Promise<'ok' | 'gone'>
  /**
   * Posts one frame to many connections in one synchronous pass, for a poster whose sends cannot
   * hang (the local gateway in the same process): a broadcast then costs no promise and no timer
   * per connection. API Gateway's management API has no such call; without it each post is awaited.
   */
  postMany?(connectionIds: readonly string[], data: string): ('ok' | 'gone')[]
  /** Closes a connection (API Gateway's DeleteConnection), where the poster can. */
  deleteConnection?(connectionId: string): Promise<'ok' | 'gone'>
}

export interface Clock { now(): number }
export const systemClock: Clock = { now: () => Date.now() }

/**
 * One frame's outcome, venue-neutral. `sequence` is set only by venues with `sequenced: true`;
 * `latest` is the exchange saying which trade id of a symbol is the newest (a heartbeat), so a loss
 * shows even when no later trade comes.
 */
export interface VenueFrame { trades?: Trade[]; quotes?: Quote[]; error?: string; sequence?: number; latest?: { symbol: string; id: number } }

/**
 * An exchange's protocol as ingest needs it, so one ingest loop (REST catch-up, id continuity, gap
 * fill, checkpoints, watchdog, rotation, DLQ, live publish) serves every exchange: the stream URL
 * and the messages to send on open, a frame parsed into trades and quotes (plus a per-connection
 * sequence number where the venue has one), REST trades paged by id, and where a first run's
 * backfill starts. Each source exports its own (`binanceVenue`, `coinbaseVenue`); the registry of
 * venues by exchange name is `sources/venues`.
 */
export interface Venue {
  exchange: Exchange
  /** The WebSocket URL to open for these symbols. */
  streamUrl(): string
  /** Messages sent as soon as a connection opens (subscriptions); none for Binance's combined streams. */
  subscribe(): string[]
  /** True when every frame of a connection carries a number that rises by one (Coinbase `sequence_num`): a jump means lost frames. */
  sequenced: boolean
  /** Parses one frame; never throws. */
  parse(raw: string, ingestTs: number, source: TradeSource): VenueFrame
  /**
   * Trades of `symbol` with ids `fromId..untilId` (inclusive; Infinity: up to the newest) over REST,
   * oldest first, page by page. `signal` (the run's deadline) ends a rate-limit wait early.
   */
  pages(symbol: string, fromId: number, untilId: number, fetchImpl: typeof fetch, signal?: AbortSignal): AsyncIterable<Trade[]>
  /** Id of the first trade at or after `sinceMs`, where a first run's backfill starts; undefined when none. */
  firstIdAfter(symbol: string, sinceMs: number, nowMs: number, fetchImpl: typeof fetch): Promise<number | undefined>
  /**
   * The exchange's newest trade id of `symbol` over REST (undefined when it has none): asked when
   * the stream has brought nothing for a while, to tell a stalled stream (newer trades exist) from
   * a quiet market (none). Venues without it get no stall check.
   */
  latestId?(symbol: string, fetchImpl: typeof fetch, signal?: AbortSignal): Promise<number | undefined>
}

/** What a venue is made for: the exchange, its endpoints and the symbols (and quotes) to stream. */
export interface VenueOptions { exchange: Exchange; restUrl: string; wsUrl: string; symbols: string[]; quotes?: boolean }

/**
 * The live path as one ingest run sees it: trades and quotes offered as they arrive, never
 * blocking and never failing the run (the other side turns them into partial candles, tickers and
 * stats for subscribers, rate-bounded). `drain` sends what is pending; `close` ends it.
 */
export interface LiveSink {
  trade(t: Trade): void
  quote(q: Quote): void
  /**
   * The highest trade id of `symbol` an earlier run published live (what its `live.json` last
   * held), so that a run taking over does not send those trades again; undefined when unknown.
   */
  published?(symbol: string): Promise<number | undefined>
  /** Sends the last updates; resolves once they are out. */
  drain(): Promise<void>
  /** Ends the run's live path now: nothing more is sent and no timer outlives the run. */
  close(): void
}

/** Opens the live path of one ingest run of `exchange`, on the run's clock and log (see `livePort` in serve/realtime/live). */
export type LivePort = (run: { exchange: string; now: () => number; log: (line: string) => void }) => LiveSink
