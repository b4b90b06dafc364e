import {parse} from 'yaml'
import {describe, expect, it} from 'vitest'
import {parseDesiredState} from '../../src/config/desired-state.js'
import {exportTenant, lifetimeOf} from '../../src/export/export.js'
import {diff} from '../../src/plan/diff.js'
import {NOW, liveKey, liveState} from '../support/plan-fixtures.js'

const ALL = ['admin@example.com', 'alice@example.com', 'bob@example.com']

/** The exported file, parsed as `validate` would (with a recipient added, so creates could seal). */
function reparsed(yaml: string) {
  return parseDesiredState(yaml, 'exported.yaml', NOW)
}

describe('export writes lifetimes, not dates (issue 19.6)', () => {
  it('a lifetime is creation to expiry in whole days, or hours under a day; unknown without both dates', () => {
    expect(lifetimeOf('2026-01-01T00:00:00Z', '2026-04-01T00:00:00Z')).toBe('90d')
    // A key palette-keys made: the server stamps creation a few milliseconds after the client chose now + 90d.
    expect(lifetimeOf('2026-01-01T00:00:00.040Z', '2026-04-01T00:00:00.000Z')).toBe('90d')
    expect(lifetimeOf('2026-01-01T00:00:00Z', '2026-01-01T12:00:00Z')).toBe('12h')
    expect(lifetimeOf('2026-01-01T00:00:00Z', '2026-01-01T00:10:00Z')).toBe('1h')
    expect(lifetimeOf('', '2026-04-01T00:00:00Z')).toBeUndefined()
    expect(lifetimeOf('2026-01-01T00:00:00Z', '')).toBeUndefined()
    expect(lifetimeOf('2026-04-01T00:00:00Z', '2026-01-01T00:00:00Z')).toBeUndefined()
    expect(lifetimeOf('1970-01-01T00:00:00Z', '9999-01-01T00:00:00Z')).toBe('999999d')
  })

  it('the most common lifetime is defaults.expiresIn, others get their own expiresIn, no key gets expiresAt', () => {
    const keys = [
      liveKey({user: 'alice', name: 'a', age: 10, expires: 80}),
      liveKey({user: 'alice', name: 'b', age: 30, expires: 60}),
      liveKey({user: 'bob', name: 'c', age: 5, expires: 25}),
      liveKey({user: 'bob', name: 'd', age: 1, expires: 89, managed: false}),
    ]
    const out = exportTenant(liveState(keys), ALL, NOW)
    const doc = parse(out.yaml)
    expect(out.defaultExpiresIn).toBe('90d')
    expect(doc.defaults).toEqual({expiresIn: '90d'})
    expect(doc.users['alice@example.com'].keys).toEqual({a: {}, b: {}})
    expect(doc.users['bob@example.com'].keys).toEqual({c: {expiresIn: '30d'}, d: {adopt: true}})
    expect(out.yaml).not.toContain('expiresAt')
    // The file is valid, and planning it against the same tenant changes nothing but the adoption:
    // a lifetime fixes no date, so no live expiry is updated.
    const plan = diff(reparsed(out.yaml), liveState(keys), {force: false, toolVersion: '0.0.0-test', sealFiles: []}, NOW)
    expect(plan.actions.filter((a) => a.kind !== 'no-op').map((a) => [a.kind, a.address])).toEqual([['update', 'bob@example.com/d']])
  })

  it('a tie goes to the shorter lifetime; a key whose creation date is unknown takes the default', () => {
    const unknown = {...liveKey({user: 'bob', name: 'old', expires: 100}), createdAt: ''}
    const keys = [liveKey({user: 'alice', name: 'long', age: 0, expires: 180}), liveKey({user: 'alice', name: 'short', age: 0, expires: 7}), unknown]
    const doc = parse(exportTenant(liveState(keys), ALL, NOW).yaml)
    expect(doc.defaults).toEqual({expiresIn: '7d'})
    expect(doc.users['alice@example.com'].keys).toEqual({long: {expiresIn: '180d'}, short: {}})
    expect(doc.users['bob@example.com'].keys).toEqual({old: {}})
  })

  it('a re-export of an exported, applied tenant keeps rotating: an expired managed key declared by lifetime is rotated', () => {
    const keys = [liveKey({user: 'alice', name: 'a', age: 100, expires: -10})]
    const out = exportTenant(liveState(keys), ALL, NOW)
    const plan = diff(reparsed(out.yaml.replace('recipients: []', 'recipients: [age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c]')), liveState(keys), {force: false, toolVersion: '0.0.0-test', sealFiles: []}, NOW)
    expect(plan.actions.map((a) => [a.kind, a.address])).toEqual([['rotate', 'alice@example.com/a']])
    // The successor gets the key's own lifetime (created 100 days ago, expired 10 days ago: 90d).
    expect(parse(out.yaml).defaults).toEqual({expiresIn: '90d'})
  })

  it('--pin-expiry writes each date as before, and no defaults', () => {
    const keys = [liveKey({user: 'alice', name: 'a', expires: '2027-01-01T00:00:00.000Z'})]
    const out = exportTenant(liveState(keys), ALL, NOW, {pinExpiry: true})
    const doc = parse(out.yaml)
    expect(doc.defaults).toBeUndefined()
    expect(out.defaultExpiresIn).toBeUndefined()
    expect(doc.users['alice@example.com'].keys.a).toEqual({expiresAt: '2027-01-01T00:00:00.000Z'})
    expect(out.yaml).toContain('--pin-expiry')
  })
})

describe('export leaves out the keys of the user it runs as (issue 19.6)', () => {
  const ALL = ['admin@example.com', 'alice@example.com']
  const keys = [liveKey({user: 'admin', name: 'ci', managed: false, description: 'CI'}), liveKey({user: 'alice', name: 'a'})]

  it('they are written commented out with the reason, listed in the result, and not declared', () => {
    const out = exportTenant(liveState(keys), ALL, NOW)
    const doc = parse(out.yaml)
    expect(doc.users['admin@example.com']).toBeUndefined()
    expect(Object.keys(doc.users)).toEqual(['alice@example.com'])
    expect(out.keys).toBe(1)
    expect(out.omitted).toEqual([{address: 'admin@example.com/ci', uid: keys[0]!.uid, why: expect.stringContaining('lock CI out')}])
    expect(out.yaml).toMatch(/# Not declared: the keys of admin@example\.com, the user this export runs as\./)
    // The commented-out lines are the declaration, ready to move under users:.
    const block = out.yaml.split('\n').filter((l) => l.startsWith('#   ')).map((l) => l.slice(4)).join('\n')
    expect(parse(block)).toEqual({'admin@example.com': {keys: {ci: {description: 'CI', adopt: true, expiresIn: '70d'}}}})
    // Not twice: the block says why, the list of keys it cannot declare does not repeat them.
    expect(out.yaml.match(/admin@example\.com\/ci/g)).toBeNull()
  })

  it('naming the caller with --user declares them, with a comment saying what is at stake', () => {
    const out = exportTenant(liveState(keys), ALL, NOW, {includeCaller: true})
    const doc = parse(out.yaml)
    expect(doc.users['admin@example.com'].keys.ci).toEqual({description: 'CI', adopt: true})
    expect(out.yaml).toMatch(/# admin@example\.com is the user this export runs as: .*locks CI out\.\n {2}admin@example\.com:/)
    expect(out.omitted).toEqual([])
  })

  it('a hostile description of the caller\'s key cannot leave the comment it is written into', () => {
    const hostile = [liveKey({user: 'admin', name: 'ci', managed: false, description: 'x\nusers: {mallory@example.com: {keys: {k: {}}}}\n#'})]
    const out = exportTenant(liveState(hostile), ALL, NOW)
    const doc = parse(out.yaml)
    expect(doc.users).toEqual({'alice@example.com': {keys: {}}})
    expect(out.yaml).not.toMatch(/^users: \{mallory/m)
    for (const line of out.yaml.split('\n').slice(out.yaml.split('\n').findIndex((l) => l.startsWith('# Not declared')))) expect(line === '' || line.startsWith('#')).toBe(true)
  })

  it('names the schema of the version that wrote it on the first line, for editors in a team repository', () => {
    const out = exportTenant(liveState([liveKey({user: 'alice', name: 'ci'})]), ALL, NOW, {toolVersion: '1.2.3'})
    expect(out.yaml.split('\n')[0]).toBe('# yaml-language-server: $schema=https://cdn.jsdelivr.net/npm/palette-keys@1.2.3/schemas/desired-state.schema.json')
    expect(exportTenant(liveState([]), ALL, NOW).yaml).not.toContain('yaml-language-server')
  })
})
