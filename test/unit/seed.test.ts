import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {parseSeed} from '../../src/emulator/seed.js'
import {EmulatorState} from '../../src/emulator/state.js'
import {PaletteKeysError} from '../../src/util/errors.js'

function problems(text: string): Array<[string, number, number]> {
  try {
    parseSeed(text, 'seed.yaml')
  } catch (error) {
    expect(error).toBeInstanceOf(PaletteKeysError)
    const e = error as PaletteKeysError
    expect(e.exitCode).toBe(65)
    return e.diagnostics.map((d) => [d.code, d.line, d.col])
  }
  throw new Error('expected the seed to be refused')
}

describe('emulator seed', () => {
  it('accepts examples/tenant.yaml and builds a tenant from it', () => {
    const seed = parseSeed(readFileSync('examples/tenant.yaml', 'utf8'), 'examples/tenant.yaml')
    const state = EmulatorState.fromSeed(seed, new Date('2026-01-01T00:00:00Z'))
    const admin = state.allUsers().find((u) => u.email === 'admin@example.com')!
    expect(state.isAdmin(admin)).toBe(true)
    expect(state.authenticate('demo-admin-key-0001', new Date('2026-01-01T00:00:00Z'))).toMatchObject({ok: true, user: {email: 'admin@example.com'}})
    expect(state.tenant).toEqual({uid: '5f0c4e2a9d1b3c4d5e6f7a8b', orgName: 'demo'})
  })

  it('derives stable uids, so a restart from the same seed keeps them', () => {
    const text = 'users:\n  - email: a@example.com\n    apiKeys: [{name: k, value: aaaaaaaaaaaa}]\n'
    const a = EmulatorState.fromSeed(parseSeed(text, 's'), new Date())
    const b = EmulatorState.fromSeed(parseSeed(text, 's'), new Date())
    expect(a.allUsers()[0]!.uid).toBe(b.allUsers()[0]!.uid)
    expect(a.allKeys()[0]!.uid).toBe(b.allKeys()[0]!.uid)
    expect(a.allUsers()[0]!.uid).toMatch(/^[0-9a-f]{24}$/)
  })

  // [name, text, expected [code, line, col] for every problem]
  const cases: Array<[string, string, Array<[string, number, number]>]> = [
    ['missing users', 'tenant: {orgName: x}\n', [['missing-field', 1, 1]]],
    ['unknown top-level field', 'users:\n  - email: a@example.com\nextra: 1\n', [['unknown-field', 3, 1]]],
    ['bad e-mail', 'users:\n  - email: not-an-email\n', [['invalid-email', 2, 12]]],
    ['bad tenant uid', 'tenant:\n  uid: XYZ\nusers:\n  - email: a@example.com\n', [['invalid-value', 2, 8]]],
    ['key without value', 'users:\n  - email: a@example.com\n    apiKeys:\n      - name: k\n', [['missing-field', 4, 9]]],
    ['short key value', 'users:\n  - email: a@example.com\n    apiKeys:\n      - {name: k, value: abc}\n', [['invalid-value', 4, 26]]],
    ['bad expiry', 'users:\n  - email: a@example.com\n    apiKeys:\n      - {name: k, value: abcdefghij, expiry: soon}\n', [['invalid-date-time', 4, 46]]],
    ['duplicate e-mail (case-insensitive)', 'users:\n  - email: a@example.com\n  - email: A@example.com\n', [['seed.duplicate-email', 3, 12]]],
    [
      'duplicate key value',
      'users:\n  - email: a@example.com\n    apiKeys: [{name: k, value: same-value-1}]\n  - email: b@example.com\n    apiKeys: [{name: k, value: same-value-1}]\n',
      [['seed.duplicate-value', 5, 32]],
    ],
    ['duplicate YAML key', 'users:\n  - email: a@example.com\n    email: b@example.com\n', [['yaml.duplicate-key', 3, 5]]],
    ['syntax error', 'users: [\n', [['yaml.bad-indent', 2, 1]]],
    [
      'every problem at once',
      'users:\n  - email: nope\n    roles: Admin\n  - emial: b@example.com\n',
      [
        ['invalid-email', 2, 12],
        ['wrong-type', 3, 12],
        ['missing-field', 4, 5],
        ['unknown-field', 4, 5],
      ],
    ],
  ]
  it.each(cases)('refuses %s with located diagnostics', (_name, text, expected) => {
    expect(problems(text)).toEqual(expected)
  })

  it('never echoes a key value in a diagnostic', () => {
    try {
      parseSeed('users:\n  - email: a@example.com\n    apiKeys: [{name: k, value: secret-value-1}, {name: j, value: secret-value-1}]\n', 's')
      expect.unreachable()
    } catch (error) {
      expect(JSON.stringify((error as PaletteKeysError).diagnostics)).not.toContain('secret-value-1')
    }
  })

  it('refuses alias bombs and oversized files without hanging', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]', 'users: [*d,*d,*d,*d,*d,*d,*d,*d,*d]'].join('\n')
    expect(problems(bomb).map((p) => p[0])).toEqual(['yaml.alias-limit'])
    expect(problems('#'.repeat(17 * 1024 * 1024)).map((p) => p[0])).toEqual(['yaml.too-large'])
  })
})
