// The lake: one private bucket holding bronze, silver, gold, serving, state, quality and dlq
// (DESIGN.md section 3). Firehose, Glue, Athena, the functions and the APIs are the next stacks
// to add here; until then `sst deploy` creates only this bucket.
export const lake = {
  bucket: new sst.aws.Bucket('Lake'),
}
