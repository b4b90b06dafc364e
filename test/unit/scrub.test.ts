import {describe, expect, it} from 'vitest'
import {registerSecret, scrub} from '../../src/util/scrub.js'

describe('the scrubber', () => {
  const value = 'Scrub-Me_7xQ2-value/+='
  registerSecret(value)
  it.each([
    ['as it is', value],
    ['upper-cased', value.toUpperCase()],
    ['lower-cased', value.toLowerCase()],
    ['URL-encoded', encodeURIComponent(value)],
    ['URL-encoded, lower-case escapes', encodeURIComponent(value).toLowerCase()],
    ['JSON-escaped', JSON.stringify(value).slice(1, -1)],
    ['base64', Buffer.from(value).toString('base64')],
    ['base64url', Buffer.from(value).toString('base64url')],
  ])('redacts a registered value %s, wherever it stands', (_form, shown) => {
    const out = scrub(`code: ${shown}; message: "x${shown}y"`)
    expect(out).toBe('code: (redacted); message: "x(redacted)y"')
  })
  it('leaves other text alone, and does not register values too short to be keys', () => {
    registerSecret('abc')
    expect(scrub('abc Scrub-Me and the rest')).toBe('abc Scrub-Me and the rest')
  })
})

describe('the scrubber at scale', () => {
  // The regex of every form that the scrubber used to rebuild: the reference its index must agree with.
  const reference = (text: string, secrets: string[]) => {
    const all = [...new Set(secrets.flatMap((v) => {
      const b = Buffer.from(v)
      return [v, encodeURIComponent(v), JSON.stringify(v).slice(1, -1), b.toString('base64'), b.toString('base64url')]
    }))].filter((f) => f.length >= 6).sort((a, b) => b.length - a.length)
    return text.replace(new RegExp(all.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gi'), '(redacted)')
  }
  let seed = 7
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32)
  const token = (n: number) => Array.from({length: n}, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[Math.floor(random() * 64)]).join('')

  it('finds every form of 3,000 registered values, adjacent, overlapping and in any case, as the regex of all of them would', () => {
    const secrets = Array.from({length: 3000}, () => token(43))
    // Values sharing a long prefix, and one inside another: the longest wins, leftmost first.
    secrets.push('Shared-prefix-value-one', 'Shared-prefix-value-one-longer', 'ünïcode-välue-42')
    for (const s of secrets) registerSecret(s)
    const pick = () => secrets[Math.floor(random() * secrets.length)]!
    const form = (v: string) => {
      const b = Buffer.from(v)
      return [v, v.toUpperCase(), encodeURIComponent(v).toLowerCase(), b.toString('base64'), b.toString('base64url')][Math.floor(random() * 5)]!
    }
    for (let round = 0; round < 300; round++) {
      const parts = Array.from({length: 1 + Math.floor(random() * 6)}, () => (random() < 0.5 ? form(pick()) : token(Math.floor(random() * 12)) + [' ', '"', '=', ''][Math.floor(random() * 4)]))
      const text = parts.join('')
      const all = [...secrets, 'Scrub-Me_7xQ2-value/+=']
      expect(scrub(text)).toBe(reference(text, all))
    }
    expect(scrub('x Shared-prefix-value-one-longer y Shared-prefix-value-one z ÜNÏCODE-VÄLUE-42')).toBe('x (redacted) y (redacted) z (redacted)')
    expect(scrub(secrets[0]!.slice(0, 42))).toBe(secrets[0]!.slice(0, 42))
  })
})
