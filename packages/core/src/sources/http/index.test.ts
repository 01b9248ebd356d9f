import { afterEach, describe, expect, it, vi } from 'vitest'
import { backoffMs, HttpError, pacer, rateWindow, request, retryAfterMs, unreachable, weightBudget } from './index'

/** A fetch that answers each call with the next of `answers` (the last one repeated) and records when it was asked. */
function stub(...answers: (() => Response | Promise<Response>)[]) {
  const sent: { url: string; at: number; init?: RequestInit }[] = []
  const fetchImpl = (async (url: string, init?: RequestInit) => { sent.push({ url, at: Date.now(), init }); return answers[Math.min(sent.length - 1, answers.length - 1)]() }) as unknown as typeof fetch
  return { fetchImpl, sent }
}
const answer = (status: number, body = '', headers: Record<string, string> = {}) => () => new Response(body, { status, headers })
/** A fetch that never answers: it rejects with its signal's reason once the signal aborts. */
const hanging = ((_u: string, init: RequestInit) => new Promise((_r, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason)))) as unknown as typeof fetch

afterEach(() => { vi.useRealTimers() })

describe('http helpers', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(retryAfterMs('119', 0)).toBe(119_000)
    expect(retryAfterMs('0', 0)).toBe(0)
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000)
    expect(retryAfterMs(null, 0)).toBeUndefined()
    expect(retryAfterMs('soon', 0)).toBeUndefined()
  })

  it('backs off exponentially with jitter up to a cap', () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(n, 1000, 5000, () => 0))).toEqual([500, 1000, 2000, 2500])
    expect([1, 2, 3, 4].map((n) => backoffMs(n, 1000, 5000, () => 1))).toEqual([1000, 2000, 4000, 5000])
  })

  it('lets no 60 s window hold more than the limit', () => {
    const w = rateWindow(2)
    w.record(0); w.record(10)
    expect(w.waitMs(20)).toBe(59_980)
    expect(w.waitMs(60_000)).toBe(0)
  })
})

describe('request', () => {
  it('returns the text and the JSON of a 2xx answer, and the text alone when it is no JSON', async () => {
    const { fetchImpl, sent } = stub(answer(200, '{"a":1}'), answer(200, '<html>hi</html>'))
    expect(await request('http://x/a', { fetch: fetchImpl, headers: { accept: 'application/json' } })).toMatchObject({ status: 200, text: '{"a":1}', json: { a: 1 } })
    expect(await request('http://x/b', { fetch: fetchImpl })).toMatchObject({ text: '<html>hi</html>', json: undefined })
    expect(sent[0].init?.headers).toEqual({ accept: 'application/json' })
  })

  it('throws one HttpError for an error answer, with its status, url, body snippet, API code and the wait it asked for', async () => {
    const long = JSON.stringify({ code: -1003, msg: 'x'.repeat(500) })
    const { fetchImpl } = stub(answer(429, long, { 'retry-after': '7' }), answer(503, 'down', { 'retry-after': new Date(Date.now() + 60_000).toUTCString() }), answer(404, ''))
    const e = await request('http://x/a?q=1', { fetch: fetchImpl, name: 'Binance', codeOf: (b) => b?.code, explain: (s, b: any, u) => `${s} ${b.msg.length} ${u}` }).catch((x) => x)
    expect(e).toBeInstanceOf(HttpError)
    expect(e).toMatchObject({ status: 429, url: 'http://x/a?q=1', code: -1003, retryAfterMs: 7_000, message: '429 500 http://x/a?q=1' })
    expect(e.body).toBe(long.slice(0, 200))
    const dated = await request('http://x/a', { fetch: fetchImpl }).catch((x) => x)
    expect(dated.status).toBe(503)
    expect(dated.retryAfterMs).toBeGreaterThan(55_000)
    expect(dated.retryAfterMs).toBeLessThanOrEqual(60_000)
    expect((await request('http://x/a', { fetch: fetchImpl, name: 'Coinbase' }).catch((x) => x)).message).toBe('Coinbase answered HTTP 404 for http://x/a')
  })

  it('lets the connector decide the wait of a refusal (a default when Retry-After is missing)', async () => {
    const { fetchImpl } = stub(answer(418))
    const e = await request('http://x/a', { fetch: fetchImpl, waitFor: (s, ms) => ms ?? (s === 418 ? 120_000 : undefined) }).catch((x) => x)
    expect(e.retryAfterMs).toBe(120_000)
  })

  it('turns a request that got no answer into an HttpError of status 0 that says why: refused or timed out', async () => {
    const refused = stub(() => { throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }) })
    const e = await request('http://x/a', { fetch: refused.fetchImpl, name: 'CoinGecko' }).catch((x) => x)
    expect(e).toMatchObject({ status: 0, message: 'CoinGecko request failed (ECONNREFUSED) for http://x/a' })
    expect(unreachable(e)).toBe('ECONNREFUSED')
    const late = await request('http://x/a', { fetch: hanging, timeoutMs: 20, name: 'Binance' }).catch((x) => x)
    expect(late).toMatchObject({ status: 0, message: 'Binance request failed (timed out after 20 ms) for http://x/a' })
    expect(unreachable(late)).toMatch(/timeout/)
    expect(unreachable(new HttpError(500, 'no'))).toBeUndefined()
    expect(unreachable(new Error('no'))).toBeUndefined()
  })

  it('rejects with the caller signal\'s reason when it aborts a request in flight, and sends nothing once aborted', async () => {
    const run = new AbortController()
    const pending = request('http://x/a', { fetch: hanging, signal: run.signal }).catch((x) => x)
    run.abort(new Error('budget ends'))
    expect(await pending).toMatchObject({ message: 'budget ends' })
    const later = stub(answer(200))
    await expect(request('http://x/a', { fetch: later.fetchImpl, signal: run.signal })).rejects.toThrow('budget ends')
    expect(later.sent).toHaveLength(0)
  })

  it('asks again after a retryable failure, after its Retry-After or a backoff, up to `retries` times, and never after a 4xx that needs a fix', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout'] })
    const flaky = stub(answer(503), answer(429, '', { 'retry-after': '2' }), answer(200, '[]'))
    const done = request('http://x/a', { fetch: flaky.fetchImpl, retries: 2, random: () => 0, backoffBaseMs: 1000 })
    await vi.advanceTimersByTimeAsync(2_600)
    expect((await done).json).toEqual([])
    expect(flaky.sent.map((s) => s.at - flaky.sent[0].at)).toEqual([0, 500, 2_500]) // backoff 500 ms (jitter pinned), then the 2 s asked for
    const stubborn = stub(answer(503))
    const failing = request('http://x/a', { fetch: stubborn.fetchImpl, retries: 2, random: () => 0 }).catch((x) => x)
    await vi.advanceTimersByTimeAsync(10_000)
    expect((await failing).status).toBe(503)
    expect(stubborn.sent).toHaveLength(3)
    const wrong = stub(answer(400))
    expect((await request('http://x/a', { fetch: wrong.fetchImpl, retries: 3 }).catch((x) => x)).status).toBe(400)
    expect(wrong.sent).toHaveLength(1)
  })

  it('stops a backoff as soon as the caller\'s signal aborts, asking no more', async () => {
    const { fetchImpl, sent } = stub(answer(429, '', { 'retry-after': '60' }))
    const run = new AbortController()
    const pending = request('http://x/a', { fetch: fetchImpl, retries: 3, signal: run.signal }).catch((x) => x)
    await new Promise((r) => setTimeout(r, 20))
    run.abort(new Error('budget ends'))
    expect(await pending).toMatchObject({ message: 'budget ends' })
    expect(sent).toHaveLength(1)
  })
})

describe('gates', () => {
  it('paces requests to one host a gap apart, all callers sharing the slots, and holds the host for a 429\'s wait', async () => {
    vi.useFakeTimers({ now: 1_000_000, toFake: ['Date', 'setTimeout'] })
    const hosts = pacer()
    const { fetchImpl, sent } = stub(answer(200, '[]'), answer(200, '[]'), answer(429, '', { 'retry-after': '3' }), answer(200, '[]'))
    const go = (url: string) => request(url, { fetch: fetchImpl, gate: hosts.every(100), key: 'x' }).catch((e) => e)
    const three = Promise.all([go('http://x/1'), go('http://x/2'), go('http://x/3')])
    await vi.advanceTimersByTimeAsync(300)
    expect((await three)[2].status).toBe(429)
    await Promise.all([go('http://x/4'), vi.advanceTimersByTimeAsync(3_100)])
    expect(sent.map((s) => [s.url.slice(9), s.at - 1_000_000])).toEqual([['1', 0], ['2', 100], ['3', 200], ['4', 3_200]])
  })

  it('refuses without sending while a 429 or 418 wait runs, and lets requests go again after it', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 10, 30, 12, 0, 0), toFake: ['Date', 'setTimeout'] })
    const weights = weightBudget({ name: 'Binance', header: 'x-mbx-used-weight-1m', limit: () => 6000, share: () => 0.8 })
    const { fetchImpl, sent } = stub(answer(418, '', { 'retry-after': '30', 'x-mbx-used-weight-1m': '12' }), answer(200, '[]'))
    const go = () => request('http://x/api/v3/t', { fetch: fetchImpl, gate: weights, key: 'http://x/api/v3' })
    await expect(go()).rejects.toMatchObject({ status: 418, retryAfterMs: 30_000 })
    expect(weights.state.get('http://x/api/v3')).toMatchObject({ usedWeight: 12, status: 418 })
    await vi.advanceTimersByTimeAsync(10_000)
    await expect(go()).rejects.toMatchObject({ status: 418, retryAfterMs: 20_000, message: 'Binance asked to wait (HTTP 418); 20 s left' })
    expect(sent).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(20_000)
    expect((await go()).json).toEqual([])
    expect(sent).toHaveLength(2)
  })
})
