/**
 * Ports: the interfaces through which core reaches every outside thing. AWS adapters live in
 * `core/src/aws/*.ts`; the local stand-ins live in `@ticklake/local`. Handlers get one of each
 * and never know which.
 */

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
  /** Closes a connection (API Gateway's DeleteConnection), where the poster can. */
  deleteConnection?(connectionId: string): Promise<'ok' | 'gone'>
}

export interface Clock { now(): number }
export const systemClock: Clock = { now: () => Date.now() }
