import { describe, expect, it } from 'vitest'
import { clockTime, defaults, loadPrefs, parseIndicators, readParams, savePrefs, writeParams, type Prefs } from './prefs'

const { storageKey: _k, ...base } = defaults
const memory = () => { const m = new Map<string, string>(); return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) } }

describe('prefs', () => {
  it('reads every choice of a shared URL', () => {
    const { prefs, problems } = readParams(new URLSearchParams('exchange=coinbase&symbol=eth-usd&tf=4h&theme=light&tz=Asia/Kolkata&up=00ff00&down=%23ff0000&upWick=112233&downWick=445566&ind=sma20,ema50,bb20,vwap,rsi14,macd'), base)
    expect(problems).toEqual([])
    expect(prefs).toEqual({ exchange: 'coinbase', symbol: 'ETH-USD', tf: '4h', theme: 'light', tz: 'Asia/Kolkata', up: '#00ff00', down: '#ff0000', upWick: '#112233', downWick: '#445566', ind: [{ kind: 'sma', period: 20 }, { kind: 'ema', period: 50 }, { kind: 'bb', period: 20 }, { kind: 'vwap', period: 0 }, { kind: 'rsi', period: 14 }, { kind: 'macd', period: 0 }] })
  })

  it('writes a URL that reads back to the same choices', () => {
    const p: Prefs = { ...base, symbol: 'BTC-USDT', tf: '15m', theme: 'light', tz: 'America/New_York', up: '#123456', downWick: '#abcdef', ind: [{ kind: 'ema', period: 9 }, { kind: 'vwap', period: 0 }] }
    const q = writeParams(p)
    expect(q.toString()).toBe('symbol=BTC-USDT&tf=15m&theme=light&tz=America%2FNew_York&up=123456&downWick=abcdef&ind=ema9%2Cvwap')
    expect(readParams(q, base).prefs).toEqual(p)
  })

  it('leaves out bad values, keeps the defaults and names each problem', () => {
    const { prefs, problems } = readParams(new URLSearchParams('tf=2m&theme=pink&tz=Mars/Base&up=green&ind=sma1,foo,vwap20,ema30'), base)
    expect(prefs).toEqual({ ...base, ind: [{ kind: 'ema', period: 30 }] })
    expect(problems).toHaveLength(5)
    expect(problems.join(' ')).toMatch(/tf "2m".*theme "pink".*tz "Mars\/Base".*up "green".*"sma1", "foo", "vwap20"/)
  })

  it('takes indicator periods within 2..500 and drops repeats', () => {
    expect(parseIndicators('sma500,sma501,sma20,SMA20,rsi').ind).toEqual([{ kind: 'sma', period: 500 }, { kind: 'sma', period: 20 }, { kind: 'rsi', period: 14 }])
  })

  it('keeps choices in storage, and the URL wins over them', () => {
    const storage = memory()
    const u = savePrefs({ ...base, theme: 'light', tz: 'Asia/Kolkata' }, storage, { href: 'http://x/?old=1' })
    expect(u.search).toBe('?theme=light&tz=Asia%2FKolkata')
    expect(loadPrefs(storage, '').prefs).toMatchObject({ theme: 'light', tz: 'Asia/Kolkata' })
    expect(loadPrefs(storage, '?theme=dark').prefs).toMatchObject({ theme: 'dark', tz: 'Asia/Kolkata' })
    expect(loadPrefs({ getItem: () => { throw new Error('denied') } }, '').prefs).toEqual(base)
  })

  it('formats times on the wall clock of the zone', () => {
    const t = Date.UTC(2026, 10, 24, 15, 4, 5)
    expect(clockTime(t, 'UTC')).toBe('15:04:05')
    expect(clockTime(t, 'Asia/Kolkata')).toBe('20:34:05')
  })

  it('reads, writes and clears the compared venue, and names a bad one', () => {
    const r = readParams(new URLSearchParams('compare=coinbase:btc-usd'), base)
    expect(r.prefs.compare).toEqual({ exchange: 'coinbase', symbol: 'BTC-USD' })
    expect(writeParams({ ...base, symbol: 'BTC-USDT', compare: r.prefs.compare }).toString()).toBe('symbol=BTC-USDT&compare=coinbase%3ABTC-USD')
    expect(readParams(new URLSearchParams('compare='), r.prefs).prefs.compare).toBeUndefined()
    for (const bad of ['coinbase', 'Coinbase:BTC-USD', 'coinbase:BTCUSD', 'coin base:BTC-USD']) {
      const b = readParams(new URLSearchParams({ compare: bad }), base)
      expect(b.prefs.compare, bad).toBeUndefined()
      expect(b.problems, bad).toEqual([`compare "${bad}" (exchange:SYMBOL, e.g. coinbase:BTC-USD)`])
    }
  })
})
