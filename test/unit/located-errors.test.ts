import {describe, expect, it} from 'vitest'
import {parseDesiredState} from '../../src/config/desired-state.js'
import {PaletteKeysError} from '../../src/util/errors.js'

/**
 * Many problems, each located (issue 21.1): a file whose 32,000 users each hold a key with a past
 * expiresAt (an exported file, pinned, once its dates pass) gets 32,000 diagnostics, every one at
 * its own line. Locating used to scan the users mapping for each of them (13 s of CPU at 32k); the
 * bench's "located errors" axis holds the time linear, this test the answers.
 */
describe('located errors at scale', () => {
  it('32,000 past expiries: one diagnostic each, at the line of its expiresAt', () => {
    const n = 32_000
    const lines = ['version: 1', 'users:']
    for (let i = 0; i < n; i++) lines.push(`  u${i}@example.com:`, '    keys:', `      k: {expiresAt: "2020-01-01T00:00:00Z"}`)
    let error: unknown
    try {
      parseDesiredState(lines.join('\n') + '\n', 'big.yaml', new Date('2026-12-06T00:00:00Z'))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(PaletteKeysError)
    const diagnostics = (error as PaletteKeysError).diagnostics
    expect(diagnostics).toHaveLength(n)
    expect(diagnostics.every((d) => d.code === 'expiry-in-past')).toBe(true)
    // User i's key is on line 3 + 3i + 2; its expiresAt value starts after `      k: {expiresAt: `.
    for (const i of [0, 1, 12_345, n - 1]) {
      expect(diagnostics[i]).toMatchObject({line: 5 + 3 * i, col: 22, path: `users["u${i}@example.com"].keys.k.expiresAt`})
    }
  }, 120_000)
})
