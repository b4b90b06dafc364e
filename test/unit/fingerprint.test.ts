import {describe, expect, it} from 'vitest'
import type {LiveKey} from '../../src/live/snapshot.js'
import {keyFingerprint, liveFingerprint} from '../../src/plan/fingerprint.js'
import {CUSTODY, PENDING, RETIRED_AT, RETIRING, SUCCEEDS} from '../../src/plan/ownership.js'
import {liveKey} from '../support/plan-fixtures.js'

const keys = (): LiveKey[] => [
  liveKey({user: 'alice', name: 'ci', uid: 'k1'.padEnd(24, '0')}),
  liveKey({user: 'bob', name: 'deploy', uid: 'k2'.padEnd(24, '0'), description: 'deploys'}),
  liveKey({user: 'carol', name: 'mon', uid: 'k3'.padEnd(24, '0'), managed: false}),
]

describe('the stale-plan fingerprints', () => {
  it('do not depend on the order Palette lists keys in', () => {
    const k = keys()
    expect(liveFingerprint([k[2]!, k[0]!, k[1]!])).toBe(liveFingerprint(k))
    expect(liveFingerprint(k)).toMatch(/^[0-9a-f]{64}$/)
  })

  const changes: Array<[string, (k: LiveKey) => LiveKey]> = [
    ['name', (k) => ({...k, name: 'renamed'})],
    ['owner', (k) => ({...k, userUid: 'someone-else'})],
    ['expiry', (k) => ({...k, expiry: '2030-01-01T00:00:00.000Z'})],
    ['state', (k) => ({...k, isActive: !k.isActive})],
    ['description', (k) => ({...k, description: 'changed'})],
    ['ownership mark removed', (k) => ({...k, annotations: {}})],
    ['pending mark', (k) => ({...k, annotations: {...k.annotations, [PENDING]: 'nonce'}})],
    ['retired mark', (k) => ({...k, annotations: {...k.annotations, [RETIRED_AT]: '2026-01-01T00:00:00.000Z'}})],
    ['successor mark', (k) => ({...k, annotations: {...k.annotations, [SUCCEEDS]: 'k2'.padEnd(24, '0')}})],
    ['custody mark', (k) => ({...k, annotations: {...k.annotations, [CUSTODY]: 'folder'}})],
    ['retiring mark (a rotation stepped it aside)', (k) => ({...k, annotations: {...k.annotations, [RETIRING]: '2026-01-01T00:00:00.000Z'}})],
  ]
  for (const [what, change] of changes) {
    it(`change when a key's ${what} changes`, () => {
      const k = keys()
      const changed = [change(k[0]!), k[1]!, k[2]!]
      expect(keyFingerprint(changed[0]!)).not.toBe(keyFingerprint(k[0]!))
      expect(liveFingerprint(changed)).not.toBe(liveFingerprint(k))
    })
  }

  it('change when a key appears or disappears', () => {
    const k = keys()
    expect(liveFingerprint(k.slice(1))).not.toBe(liveFingerprint(k))
    // A key listed twice is not the same set as listed once.
    expect(liveFingerprint([...k, k[0]!])).not.toBe(liveFingerprint(k))
    expect(liveFingerprint([...k, liveKey({user: 'alice', name: 'new', uid: 'k4'.padEnd(24, '0')})])).not.toBe(liveFingerprint(k))
  })

  it("ignore annotations no plan depends on (Palette's own, other tools')", () => {
    const k = keys()
    const annotated = k.map((x) => ({...x, annotations: {...x.annotations, permissions: 'apiKey.get', scope: 'tenant', team: 'payments'}}))
    expect(liveFingerprint(annotated)).toBe(liveFingerprint(k))
    expect(keyFingerprint(annotated[0]!)).toBe(keyFingerprint(k[0]!))
  })
})
