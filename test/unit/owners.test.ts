import {describe, expect, it} from 'vitest'
import {audit} from '../../src/audit/audit.js'
import {type OwnerCheck, readLiveState} from '../../src/live/snapshot.js'
import {PaletteHttpClient} from '../../src/palette/http-client.js'
import {Secret} from '../../src/util/secret.js'
import {startTestEmulator} from '../support/emulator.js'
import {diff} from '../../src/plan/diff.js'
import {actionLines, DAY, desired, findingLines, liveKey, liveState, NOW, USERS} from '../support/plan-fixtures.js'

/** Keys whose owner left (issue 12.5), and owners who are disabled or inactive (12.6). */
const GONE = 'd0d0d0d0d0d0d0d0d0d0d0d0'

function orphan(name: string, active = true) {
  const k = liveKey({user: 'bob', name, managed: false, active})
  return {...k, userUid: GONE}
}

function plan(yaml: string, keys = [orphan('left-behind'), orphan('old', false), liveKey({user: 'alice', name: 'laptop'})], users = liveState([]).users, check: OwnerCheck = {status: 'removed'}) {
  const live = {...liveState(keys, {unlistedOwners: {[GONE]: check}}), users}
  const d = desired(yaml)
  return {plan: diff(d, live, {force: false, toolVersion: 'test'}, NOW), live, d}
}

const FILE = 'users:\n  alice@example.com:\n    keys:\n      laptop: {}\n'

describe('keys of owners who are no longer users (orphaned-owner)', () => {
  it('are reported by plan with owner uid, name, expiry and state, and left alone by default', () => {
    const {plan: p} = plan(FILE)
    expect(findingLines(p)).toEqual([`orphaned-owner ${GONE}/left-behind`, `orphaned-owner ${GONE}/old`])
    const f = p.findings[0]!
    expect(f.uid).toBeDefined()
    expect(f.expiresAt).toBeDefined()
    expect(f.message).toContain(`owner ${GONE} is no longer a user of the tenant`)
    expect(f.message).toContain('active')
    expect(p.changes).toBe(false)
  })

  it('policy.orphanedKeys revoke revokes the active ones; delete deletes them all; both count toward the brakes', () => {
    expect(actionLines(plan(`policy: {orphanedKeys: revoke}\n${FILE}`).plan).filter((l) => !l.startsWith('no-op'))).toEqual([`revoke ${GONE}/left-behind`])
    expect(actionLines(plan(`policy: {orphanedKeys: delete}\n${FILE}`).plan).filter((l) => !l.startsWith('no-op'))).toEqual([`delete ${GONE}/left-behind`, `delete ${GONE}/old`])
    // 12 orphans deleted beside one managed key: the change-ratio brake holds (its base counts them).
    const many = Array.from({length: 12}, (_, i) => orphan(`o${i}`))
    const braked = plan(`policy: {orphanedKeys: delete}\n${FILE}`, [...many, liveKey({user: 'alice', name: 'laptop'})]).plan
    expect(braked.brakes.items.map((b) => b.code)).toEqual(['max-change-ratio'])
    expect(braked.brakes.refused).toBe(true)
    // Below 10 managed keys too: one orphan revoked beside one managed key is 1 of 2, held to the ratio.
    const small = plan(`policy: {orphanedKeys: revoke}\n${FILE}`).plan
    expect(small.brakes.items.map((b) => b.message)).toEqual([expect.stringContaining('1 of 2 managed keys (1 of them keys of removed owners, under policy.orphanedKeys)')])
    expect(plan(`policy: {orphanedKeys: revoke, maxChangeRatio: 0.5}\n${FILE}`).plan.brakes.refused).toBe(false)
  })

  it('an orphan action needs positive evidence: an owner another answer lists, or GET /v1/users/{uid} finds, is no orphan; one unconfirmed is reported, never acted on', () => {
    for (const status of ['listed', 'exists'] as const) {
      const p = plan(`policy: {orphanedKeys: delete}\n${FILE}`, undefined, undefined, {status}).plan
      expect(findingLines(p), status).toEqual([])
      expect(p.changes, status).toBe(false)
    }
    const p = plan(`policy: {orphanedKeys: delete}\n${FILE}`, undefined, undefined, {status: 'unconfirmed', note: 'GET /v1/users/x was answered 403'}).plan
    expect(findingLines(p)).toEqual([`orphaned-owner ${GONE}/left-behind`, `orphaned-owner ${GONE}/old`])
    expect(p.findings[0]!.message).toContain('policy.orphanedKeys delete is not applied: that the owner was removed is unconfirmed (GET /v1/users/x was answered 403)')
    expect(p.changes).toBe(false)
  })

  it('audit reports them as orphaned-owner, not as undeclared keys', () => {
    const {plan: p, live, d} = plan(`policy: {orphanedKeys: delete}\n${FILE}`)
    const report = audit(d, live, p, NOW, 14 * DAY)
    expect(report.findings.map((f) => `${f.kind} ${f.address}`)).toEqual([`orphaned-owner ${GONE}/left-behind`, `orphaned-owner ${GONE}/old`])
    expect(report.clean).toBe(false)
  })
})

describe('owners that are disabled or have not signed in (owner-disabled, owner-inactive)', () => {
  const users = liveState([]).users.map((u) =>
    u.uid === USERS.alice.uid ? {...u, active: false, lastSignIn: ''} : u.uid === USERS.bob.uid ? {...u, active: true, lastSignIn: new Date(NOW.getTime() - 200 * DAY).toISOString()} : {...u, active: true, lastSignIn: NOW.toISOString()},
  )
  const keys = [liveKey({user: 'alice', name: 'laptop'}), liveKey({user: 'alice', name: 'off', active: false, managed: false}), liveKey({user: 'bob', name: 'ci', managed: false}), liveKey({user: 'carol', name: 'x', managed: false})]

  it('an active key of a disabled user is owner-disabled, declared or not; a revoked one is not', () => {
    const {plan: p} = plan(FILE, keys, users)
    expect(findingLines(p).filter((l) => l.startsWith('owner-'))).toEqual(['owner-disabled alice@example.com/laptop'])
  })

  it('with policy.ownerInactiveAfter, active keys of owners not signed in within it (or never) are owner-inactive', () => {
    const {plan: p} = plan(`policy: {ownerInactiveAfter: 90d}\n${FILE}`, keys, users)
    expect(findingLines(p).filter((l) => l.startsWith('owner-'))).toEqual(['owner-disabled alice@example.com/laptop', 'owner-inactive alice@example.com/laptop', 'owner-inactive bob@example.com/ci'])
    expect(p.findings.find((f) => f.kind === 'owner-inactive' && f.address.startsWith('alice'))?.message).toContain('never signed in')
    expect(p.policy.ownerInactiveAfter).toBe('90d')
  })

  it('when the status could not be read, nothing is guessed', () => {
    const {plan: p} = plan(`policy: {ownerInactiveAfter: 90d}\n${FILE}`, keys)
    expect(findingLines(p).filter((l) => l.startsWith('owner-'))).toEqual([])
  })
})

describe('admin rights from what the caller may do (issue 12.6)', () => {
  const seed = (role: string) => `tenant: {orgName: roles}
roles:
  Key Admins: [apiKey.create, apiKey.delete, apiKey.get, apiKey.list, apiKey.update]
  Key Readers: [apiKey.get, apiKey.list]
users:
  - email: me@example.com
    roles: [${role}]
    apiKeys:
      - {name: mine, value: roles-caller-key-0001, expiry: 2099-01-01T00:00:00Z}
  - email: other@example.com
`
  for (const [role, admin] of [['Key Admins', true], ['Key Readers', false], ['Tenant Admin', true]] as const) {
    it(`a caller whose only role is ${role} ${admin ? 'is' : 'is not'} an admin (roles, then the role list's permissions when the name is not a built-in one)`, async () => {
      const emu = await startTestEmulator({}, seed(role))
      const api = new PaletteHttpClient({host: emu.url, apiKey: new Secret('roles-caller-key-0001'), rateLimit: {ratePerSecond: 0, burst: 1}})
      try {
        const live = await readLiveState(api, emu.url, {declaredEmails: ['other@example.com']})
        expect(live.callerIsAdmin).toBe(admin)
        // info, meta, keys, users/summary, resourceLimits, the caller's roles, and the role list for a custom role.
        expect(live.requests).toBe(role === 'Tenant Admin' ? 6 : 7)
      } finally {
        await api.close()
        await emu.close()
      }
    })
  }
})

describe('an owner uid from Palette is shown inertly (it is server text)', () => {
  it('a removed owner\'s uid holding terminal escapes and Markdown reaches neither raw', async () => {
    const {renderText} = await import('../../src/render/text.js')
    const {renderMarkdown} = await import('../../src/render/markdown.js')
    const hostile = '\u001b[2J\u001b]8;;http://evil\u0007x|<b>'
    const k = {...liveKey({user: 'bob', name: 'left', managed: false}), userUid: hostile}
    const live = {...liveState([k, liveKey({user: 'alice', name: 'laptop'})])}
    const p = diff(desired(FILE), live, {force: false, toolVersion: 'test'}, NOW)
    expect(p.findings.map((f) => f.kind)).toContain('orphaned-owner')
    const text = renderText(p, {color: false})
    expect(text).not.toMatch(/[\u001b\u0007]/)
    expect(renderMarkdown(p).join('\n')).not.toContain('<b>')
  })
})

describe('keys palette-keys made for users the file no longer names (undeclared-user, issue 19.5)', () => {
  // bob left: taken out of the file. His keys: two made by palette-keys (one revoked), one made by hand.
  const keys = () => [
    liveKey({user: 'alice', name: 'laptop'}),
    liveKey({user: 'bob', name: 'ci'}),
    liveKey({user: 'bob', name: 'old', active: false}),
    liveKey({user: 'bob', name: 'by-hand', managed: false}),
    liveKey({user: 'admin', name: 'pipeline'}),
  ]
  const run = (yaml: string, ks = keys()) => plan(yaml, ks)

  it('are reported by plan and audit (never as "No changes" / "Clean"), and left alone by default; a hand-made key is not mentioned', () => {
    const {plan: p, live, d} = run(FILE)
    expect(findingLines(p).filter((l) => l.startsWith('undeclared-user'))).toEqual(['undeclared-user admin@example.com/pipeline', 'undeclared-user bob@example.com/ci', 'undeclared-user bob@example.com/old'])
    const ci = p.findings.find((f) => f.address === 'bob@example.com/ci')!
    expect(ci.message).toContain('whom the file no longer names (active until')
    expect(ci.message).toContain('it still authenticates')
    expect(p.changes).toBe(false)
    expect(p.policy.undeclaredUsers).toBe('report')
    const report = audit(d, live, p, NOW, 14 * DAY)
    expect(report.findings.filter((f) => f.kind === 'undeclared-user').map((f) => f.address)).toEqual(['admin@example.com/pipeline', 'bob@example.com/ci', 'bob@example.com/old'])
    expect(report.clean).toBe(false)
  })

  it('policy.undeclaredUsers revoke revokes the active ones, delete deletes them all; never a hand-made key, never the caller\'s own', () => {
    const lines = (yaml: string) => actionLines(run(yaml).plan).filter((l) => !l.startsWith('no-op'))
    expect(lines(`policy: {undeclaredUsers: revoke, maxChangeRatio: 1}\n${FILE}`)).toEqual(['revoke bob@example.com/ci'])
    expect(lines(`policy: {undeclaredUsers: delete, maxChangeRatio: 1}\n${FILE}`)).toEqual(['delete bob@example.com/ci', 'delete bob@example.com/old'])
    const own = run(`policy: {undeclaredUsers: delete, maxChangeRatio: 1}\n${FILE}`).plan.findings.find((f) => f.address === 'admin@example.com/pipeline')!
    expect(own.message).toContain("not applied to the caller's own keys")
    // Declared again (any case): nothing about them.
    expect(findingLines(run(`${FILE}  BOB@example.com:\n    keys:\n      ci: {}\n      old: {active: false}\n`).plan).filter((l) => l.includes('bob'))).toEqual([])
    // Named again (any case) with none of those keys: they are his undeclared keys, not a leaver's.
    expect(findingLines(run(`${FILE}  BOB@example.com:\n    keys: {}\n`).plan).filter((l) => l.startsWith('undeclared-user') && l.includes('bob'))).toEqual([])
  })

  it('count toward the change-ratio brake, at its base too', () => {
    // 9 declared keys and 3 of a leaver: 3 of 12 (25%) passes the 30% default; 5 of 14 (35.7%) does not.
    const declared = Array.from({length: 9}, (_, i) => liveKey({user: 'alice', name: `k${i}`}))
    const leaver = (n: number) => Array.from({length: n}, (_, i) => liveKey({user: 'bob', name: `b${i}`}))
    const file = `policy: {undeclaredUsers: delete}\nusers:\n  alice@example.com:\n    keys:\n${declared.map((k) => `      ${k.name}: {}\n`).join('')}`
    expect(run(file, [...declared, ...leaver(3)]).plan.brakes.refused).toBe(false)
    const p = run(file, [...declared, ...leaver(5)]).plan
    expect(p.brakes.refused).toBe(true)
    expect(p.brakes.items.map((b) => b.message)).toEqual([expect.stringContaining('5 of 14 managed keys (5 of them keys of users the file no longer names, under policy.undeclaredUsers)')])
  })

  it('in audit, their revoke or delete is said by the undeclared-user finding, not as an undeclared key', () => {
    const {plan: p, live, d} = run(`policy: {undeclaredUsers: delete, maxChangeRatio: 1}\n${FILE}`)
    const report = audit(d, live, p, NOW, 14 * DAY)
    expect(report.counts.undeclared).toBe(0)
    expect(report.counts['undeclared-user']).toBe(3)
    expect(report.findings.find((f) => f.address === 'bob@example.com/ci')!.message).toContain('policy.undeclaredUsers delete: deleted')
  })
})

describe('undeclared-user and hostile marks', () => {
  it("a leaver's key whose marks name a declared user's key (SUCCEEDS, REPLACES) gets only itself acted on", () => {
    const victim = liveKey({user: 'alice', name: 'laptop', managed: false})
    const evil = liveKey({user: 'bob', name: 'evil', annotations: {paletteKeysSucceeds: victim.uid, paletteKeysReplaces: victim.uid, paletteKeysName: 'laptop'}})
    const p = plan(`policy: {undeclaredUsers: delete, maxChangeRatio: 1}\nusers:\n  alice@example.com:\n    keys:\n      laptop: {adopt: true}\n`, [victim, evil]).plan
    const touched = p.actions.filter((a) => a.kind !== 'no-op' && a.kind !== 'update')
    expect(touched.map((a) => `${a.kind} ${a.address}`)).toEqual(['delete bob@example.com/evil'])
    expect(p.actions.some((a) => 'key' in a && a.key.uid === victim.uid && a.kind !== 'update' && a.kind !== 'no-op')).toBe(false)
  })
})
