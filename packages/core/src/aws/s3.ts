/**
 * S3 adapter of the `ObjectStore` port, on the real `@aws-sdk/client-s3`: conditional writes use
 * S3's `If-Match` / `If-None-Match`. A condition that does not hold becomes PreconditionFailed, as
 * the port promises of every adapter: 412 PreconditionFailed, 409 ConditionalRequestConflict (a
 * racing write), and 404 NoSuchKey for `If-Match` on a key with no object (S3 User Guide, "How to
 * prevent object overwrites with conditional writes"), so the optimistic loops that read an ETag
 * and write over it retry when the object vanished meanwhile. Any S3-compatible server can stand
 * in by `endpoint` (path-style addressing).
 */
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { PreconditionFailed, type ObjectInfo, type ObjectStore } from '../ports/index'
import { clientConfig } from './config'

const status = (e: any) => e?.$metadata?.httpStatusCode as number | undefined

/**
 * True when a failed PutObject means its condition did not hold: 412, 409, or (with `If-Match`)
 * 404 NoSuchKey. A missing bucket (404 NoSuchBucket) is not a condition, and stays an error.
 */
export function conditionFailed(e: unknown, ifMatch: boolean): boolean {
  const s = status(e)
  return s === 412 || s === 409 || (ifMatch && s === 404 && (e as { name?: string })?.name === 'NoSuchKey')
}

/** An ObjectStore over one bucket. */
export function s3Store(bucket: string, endpoint?: string, client = new S3Client({ ...clientConfig(endpoint), forcePathStyle: !!endpoint })): ObjectStore {
  return {
    async get(key) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
        return await res.Body!.transformToByteArray()
      } catch (e) { if (status(e) === 404) return undefined; throw e }
    },
    async head(key) {
      try {
        const res = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
        return { key, size: res.ContentLength ?? 0, etag: res.ETag ?? '', lastModified: res.LastModified?.getTime() ?? 0 }
      } catch (e) { if (status(e) === 404) return undefined; throw e }
    },
    async put(key, body, options = {}) {
      try {
        const res = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: options.contentType, IfMatch: options.ifMatch, IfNoneMatch: options.ifNoneMatch }))
        return { etag: res.ETag ?? '' }
      } catch (e) { if (conditionFailed(e, !!options.ifMatch)) throw new PreconditionFailed(key); throw e }
    },
    async list(prefix) {
      const out: ObjectInfo[] = []
      let token: string | undefined
      do {
        const res = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }))
        for (const o of res.Contents ?? []) out.push({ key: o.Key!, size: o.Size ?? 0, etag: o.ETag ?? '', lastModified: o.LastModified?.getTime() ?? 0 })
        token = res.NextContinuationToken
      } while (token)
      return out
    },
    async delete(key) { await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })) },
  }
}
