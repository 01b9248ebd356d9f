/**
 * The IAM policy docs/deploy.md tells deploying users to paste is valid JSON and grants a service
 * for every kind of resource `stacks/` creates: a new kind of component (a topic, a state machine)
 * fails here until the policy and its explanation name its service.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..')
const deployDoc = readFileSync(join(root, 'docs/deploy.md'), 'utf8')
const stacks = readdirSync(join(root, 'stacks')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => readFileSync(join(root, 'stacks', f), 'utf8')).join('\n')

/** The IAM service prefixes each resource constructor of stacks/ needs (SST components by what they create). */
const SERVICES: Record<string, string[]> = {
  'sst.aws.Bucket': ['s3'], 'sst.aws.Function': ['lambda', 'iam', 'logs'], 'sst.aws.Cron': ['events', 'lambda'],
  'sst.aws.Dynamo': ['dynamodb'], 'sst.aws.ApiGatewayWebSocket': ['apigateway', 'logs'], 'sst.aws.ApiGatewayV2': ['apigateway', 'logs'],
  'sst.aws.Queue': ['sqs'], 'sst.aws.Router': ['cloudfront', 'cloudfront-keyvaluestore'], 'sst.aws.StaticSite': ['cloudfront', 's3'],
  'sst.Secret': ['ssm'], 'sst.Linkable': [],
  'aws.glue.CatalogDatabase': ['glue'], 'aws.glue.CatalogTable': ['glue'], 'aws.athena.Workgroup': ['athena'],
  'aws.iam.Role': ['iam'], 'aws.kinesis.FirehoseDeliveryStream': ['firehose'], 'aws.lambda.FunctionEventInvokeConfig': ['lambda'],
  'aws.lambda.Invocation': ['lambda'],
}

describe('the deploying user\'s policy in docs/deploy.md', () => {
  const block = deployDoc.match(/## Permissions the deploying user needs[\s\S]*?```json\n([\s\S]*?)```/)?.[1]
  it('is one valid IAM policy document', () => {
    expect(block, 'a json block under "Permissions the deploying user needs"').toBeDefined()
    const policy = JSON.parse(block!)
    expect(policy.Version).toBe('2012-10-17')
    for (const st of policy.Statement) expect(st).toMatchObject({ Effect: 'Allow', Action: expect.anything(), Resource: expect.anything() })
  })

  it('grants a service for every kind of resource stacks/ creates', () => {
    const used = [...new Set([...stacks.matchAll(/new ((?:sst|aws)\.[\w.]+)\(/g)].map((m) => m[1]))]
    const unknown = used.filter((c) => !(c in SERVICES))
    expect(unknown, 'constructors with no known IAM service: add them to SERVICES and the policy').toEqual([])
    const granted = new Set(JSON.parse(block!).Statement.flatMap((st: { Action: string | string[] }) => [st.Action].flat()).map((a: string) => a.split(':')[0]))
    const missing = used.flatMap((c) => SERVICES[c].filter((s) => !granted.has(s)).map((s) => `${s} (for ${c})`))
    expect(missing).toEqual([])
  })
})
