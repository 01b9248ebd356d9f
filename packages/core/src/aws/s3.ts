/**
 * S3 adapter of the `ObjectStore` port, on the real `@aws-sdk/client-s3`: conditional writes use
 * S3's `If-Match` / `If-None-Match` (412 becomes PreconditionFailed). Any S3-compatible server can
 * stand in by `endpoint` (path-style addressing).
 */
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { PreconditionFailed, type ObjectInfo, type ObjectStore } from '../ports/index'
import { clientConfig } from './config'

const status = (e: any) => e?.$metadata?.httpStatusCode as number | undefined

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
      } catch (e) { if (status(e) === 412 || status(e) === 409) throw new PreconditionFailed(key); throw e }
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
