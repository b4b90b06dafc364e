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
