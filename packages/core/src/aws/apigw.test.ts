import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { apigwPoster } from './apigw'

type Reply = (req: IncomingMessage, res: ServerResponse, body: string) => void
let server: Server | undefined

/** A management endpoint on loopback that answers each request with the next reply (the last repeats). */
async function endpoint(...replies: Reply[]) {
  const seen: { method: string; path: string; body: string; auth: string }[] = []
  server = createServer(async (req, res) => {
    let body = ''
    for await (const chunk of req) body += chunk
    seen.push({ method: req.method!, path: req.url!, body, auth: String(req.headers.authorization ?? '') })
    replies[Math.min(seen.length, replies.length) - 1](req, res, body)
  })
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}

const answer = (status: number, type?: string): Reply => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...(type ? { 'x-amzn-errortype': type } : {}) })
  res.end(type ? JSON.stringify({ message: type }) : '{}')
}

afterEach(async () => {
  server?.closeAllConnections()
  await new Promise((r) => server ? server.close(r) : r(undefined))
  server = undefined
})

describe('apigwPoster', () => {
  it('posts the frame to /@connections/{id}, signed with SigV4 even without AWS credentials in the environment', async () => {
    const ep = await endpoint(answer(200))
    expect(await apigwPoster(ep.url).post('L0SM9cOFvHcCIhw=', '{"type":"pong","time":1}')).toBe('ok')
    expect(ep.seen).toHaveLength(1)
    expect(ep.seen[0]).toMatchObject({ method: 'POST', path: '/@connections/L0SM9cOFvHcCIhw%3D', body: '{"type":"pong","time":1}' })
    expect(ep.seen[0].auth).toMatch(/^AWS4-HMAC-SHA256 /)
  })

  it("answers 'gone' for a 410 GoneException instead of throwing", async () => {
    const ep = await endpoint(answer(410, 'GoneException'))
    expect(await apigwPoster(ep.url).post('abc', 'x')).toBe('gone')
  })

  it('retries throttling with backoff until the post goes through', async () => {
    const ep = await endpoint(answer(429, 'LimitExceededException'), answer(429, 'LimitExceededException'), answer(200))
    expect(await apigwPoster(ep.url, undefined, { backoffMs: 1 }).post('abc', 'x')).toBe('ok')
    expect(ep.seen).toHaveLength(3)
  })

  it('gives up on throttling after the configured retries and throws', async () => {
    const ep = await endpoint(answer(429, 'LimitExceededException'))
    await expect(apigwPoster(ep.url, undefined, { backoffMs: 1, retries: 2 }).post('abc', 'x')).rejects.toMatchObject({ name: 'LimitExceededException' })
    expect(ep.seen).toHaveLength(3)
  })

  it('throws other errors at once', async () => {
    const ep = await endpoint(answer(403, 'ForbiddenException'))
    await expect(apigwPoster(ep.url).post('abc', 'x')).rejects.toMatchObject({ name: 'ForbiddenException' })
    expect(ep.seen).toHaveLength(1)
  })

  it('deletes a connection, and a connection already gone is an answer, not an error', async () => {
    const ep = await endpoint(answer(204), answer(410, 'GoneException'))
    const poster = apigwPoster(ep.url)
    expect(await poster.deleteConnection('abc')).toBe('ok')
    expect(await poster.deleteConnection('abc')).toBe('gone')
    expect(ep.seen.map((s) => s.method)).toEqual(['DELETE', 'DELETE'])
  })
})
