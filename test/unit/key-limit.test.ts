import {describe, expect, it} from 'vitest'
import type {Action} from '../../src/plan/model.js'
import {lanes} from '../../src/plan/order.js'
import {NAME, RETIRED_AT} from '../../src/plan/ownership.js'
import {parseSeed} from '../../src/emulator/seed.js'
import {EmulatorState} from '../../src/emulator/state.js'
import {readLiveState} from '../../src/live/snapshot.js'
import {PaletteApiError} from '../../src/palette/errors.js'
import {PaletteHttpClient} from '../../src/palette/http-client.js'
import {diff} from '../../src/plan/diff.js'
import {Secret} from '../../src/util/secret.js'
import {ALICE_KEY, startTestEmulator, TEST_SEED} from '../support/emulator.js'
import {MemoryPalette} from '../support/memory-api.js'
import {actionLines, DAY, desired, liveKey, liveState, NOW, planOf, type UserName, USERS} from '../support/plan-fixtures.js'

/** n managed keys of alice named k0.. (declared or not, as the test says). */
function aliceKeys(n: number, extra: Partial<Parameters<typeof liveKey>[0]> = {}) {
  return Array.from({length: n}, (_, i) => liveKey({user: 'alice', name: `k${i}`, ...extra}))
}

/** alice's keys: a name, or [name, flow mapping]. */
function declared(keys: Array<string | [string, string]>): string {
  return `users:\n  alice@example.com:\n    keys:\n${keys.map((k) => (typeof k === 'string' ? `      ${k}: {}\n` : `      ${k[0]}: ${k[1]}\n`)).join('')}`
}

describe('the per-user key cap (issue 12.2)', () => {
  it('a plan that would take a user past the cap is refused before any change, naming the user, the counts and what frees a slot', () => {
    const live = aliceKeys(19)
    const plan = planOf(declared([...live.map((k) => k.name), 'new1', 'new2']), live)
    expect(plan.actions).toEqual([])
    expect(plan.errors.map((e) => e.code)).toEqual(['key-limit'])
    const [e] = plan.errors
    expect(e!.message).toContain('alice@example.com would hold 21 API keys')
    expect(e!.message).toContain('20 per user')
    expect(e!.message).toContain('19 live now')
    expect(e!.hint).toContain('raise the tenant')
    // One fewer fits.
    expect(planOf(declared([...live.map((k) => k.name), 'new1']), live).errors).toEqual([])
  })

  it('revoked keys count (undocumented, so the safe reading), and the hint names them', () => {
    const live = [...aliceKeys(15), ...Array.from({length: 5}, (_, i) => liveKey({user: 'alice', name: `old${i}`, active: false}))]
    const keys = live.map((k): string | [string, string] => (k.isActive ? k.name : [k.name, '{active: false}']))
    expect(planOf(declared(keys), live).errors).toEqual([])
    const plan = planOf(declared([...keys, 'new']), live)
    expect(plan.errors.map((e) => e.code)).toEqual(['key-limit'])
    expect(plan.errors[0]!.message).toContain('5 revoked')
    expect(plan.errors[0]!.hint).toContain('5 revoked keys')
  })

  it('a rotation at the cap fits when the plan deletes a key first: apply runs the delete before the rotation', () => {
    const live = [...aliceKeys(19), liveKey({user: 'alice', name: 'rot', expires: 3})]
    const names = live.map((k) => k.name).filter((n) => n !== 'k0')
    const file = declared(names.map((n) => (n === 'rot' ? ['rot', '{rotateBefore: 7d}'] : n)))
    const plan = planOf(file, live)
    expect(plan.errors).toEqual([])
    expect(actionLines(plan).filter((l) => !l.startsWith('no-op'))).toEqual(['delete alice@example.com/k0', 'rotate alice@example.com/rot'])
    // Without the delete the rotation needs a 21st slot for a moment.
    const full = planOf(declared(live.map((k) => (k.name === 'rot' ? ['rot', '{rotateBefore: 7d}'] : k.name))), live)
    expect(full.errors.map((e) => e.code)).toEqual(['key-limit'])
    // The order apply uses: deletes first in the user's lane.
    const lane = lanes(plan.actions, USERS.admin.uid).others.get(USERS.alice.uid)!
    expect(lane.map((a) => a.kind)).toEqual(['delete', 'rotate'])
  })

  it('expired retired keys are deleted early when the user needs their slot, and only then', () => {
    const retired = (i: number) => liveKey({user: 'alice', name: 'ci', active: false, expires: -1, annotations: {[RETIRED_AT]: new Date(NOW.getTime() - DAY).toISOString()}, uid: `a11ce0000000000000000ff${i}`})
    const live = [...aliceKeys(17), retired(1), retired(2)]
    const file = (extra: string[]) => `policy: {deleteRetiredAfter: 30d}\n${declared([...Array.from({length: 17}, (_, i) => `k${i}`), ...extra])}`
    const roomy = planOf(file(['new1']), live)
    expect(roomy.errors).toEqual([])
    expect(actionLines(roomy).filter((l) => l.startsWith('delete'))).toEqual([])
    const tight = planOf(file(['new1', 'new2']), live)
    expect(tight.errors).toEqual([])
    expect(actionLines(tight).filter((l) => l.startsWith('delete'))).toEqual(['delete alice@example.com/ci', 'delete alice@example.com/ci'])
    expect(tight.actions.filter((a) => a.kind === 'delete').every((a) => a.cleanup === true)).toBe(true)
    expect(tight.findings.filter((f) => f.kind === 'retired')).toEqual([])
  })

  it('an assumed limit is said in the plan', () => {
    const state = {...liveState([]), keyLimit: {perUser: 20, source: 'assumed' as const, note: 'GET /v1/tenants/{uid}/resourceLimits was answered 403; Palette\'s documented default of 20 is assumed'}}
    const plan = diff(desired(declared(['a'])), state, {force: false, toolVersion: 'test'}, NOW)
    expect(plan.live.keyLimit).toEqual(state.keyLimit)
  })

  it('a move out of the caller\'s keys counts toward the new owner\'s cap (it runs in the caller\'s lane, after the others)', () => {
    const live = [liveKey({user: 'admin', name: 'a', managed: false})]
    const file = 'users:\n  bob@example.com:\n    keys:\n      a: {movedFrom: admin@example.com}\n      c: {}\n      d: {}\n'
    expect(planOf(file, live, {keyLimit: 3}).errors).toEqual([])
    const refused = planOf(file, live, {keyLimit: 2})
    expect(refused.errors.map((e) => e.code)).toEqual(['key-limit'])
    expect(refused.errors[0]!.message).toContain('bob@example.com would hold 3 API keys')
  })

  it('a user over the cap already (the limit was lowered) may not add a key even while deleting one', () => {
    const live = aliceKeys(3)
    const plan = planOf(declared(['k0', 'k1', 'new']), live, {keyLimit: 2})
    expect(plan.errors.map((e) => e.code)).toEqual(['key-limit'])
  })

  it('a user already over the cap whose plan adds nothing is not refused', () => {
    const live = aliceKeys(25)
    expect(planOf(declared(live.map((k) => k.name)), live).errors).toEqual([])
  })
})

describe('reading the cap (GET /v1/tenants/{uid}/resourceLimits)', () => {
  const read = async (answer: () => Promise<unknown>) => {
    const state = EmulatorState.fromSeed(parseSeed(TEST_SEED, 'seed.yaml'), NOW)
    const admin = state.allUsers().find((u) => u.email === 'admin@example.com')!
    const api = new MemoryPalette(state, admin.uid, () => NOW)
    api.getResourceLimits = answer as MemoryPalette['getResourceLimits']
    return readLiveState(api, 'mem', {declaredEmails: []})
  }
  const refusal = (status: number) => () => Promise.reject(new PaletteApiError({method: 'GET', path: '/v1/tenants/x/resourceLimits', status, paletteCode: 'X', ambiguous: false, attempts: 1}))

  it('takes the tenant\'s apiKey limit', async () => {
    expect((await read(async () => ({resources: [{kind: 'user', limit: 300}, {kind: 'apiKey', limit: 7}]}))).keyLimit).toEqual({perUser: 7, source: 'tenant'})
  })

  it('assumes the documented 20, and says why, when the read is refused or the answer names no usable limit', async () => {
    for (const answer of [refusal(403), refusal(404), async () => ({resources: []}), async () => ({resources: [{kind: 'apiKey', limit: 0}]}), async () => ({resources: 'no'}), async () => null]) {
      const limit = (await read(answer)).keyLimit
      expect(limit.perUser).toBe(20)
      expect(limit.source).toBe('assumed')
      expect(limit.note).toMatch(/documented default of 20 is assumed/)
    }
  })

  it('stops on a server error (assuming 20 there could plan past a lower cap) and on a refused credential', async () => {
    await expect(read(refusal(500))).rejects.toMatchObject({status: 500})
    await expect(read(() => Promise.reject(new PaletteApiError({method: 'GET', path: '/v1/users/info', status: 401, ambiguous: false, attempts: 1})))).rejects.toMatchObject({credentialRefused: true})
  })

  it('a non-admin caller is refused the read by the emulator: 20 is assumed', async () => {
    const emu = await startTestEmulator()
    const api = new PaletteHttpClient({host: emu.url, apiKey: new Secret(ALICE_KEY), rateLimit: {ratePerSecond: 0, burst: 1}})
    try {
      const live = await readLiveState(api, emu.url, {declaredEmails: ['alice@example.com']})
      expect(live.keyLimit).toMatchObject({perUser: 20, source: 'assumed'})
      expect(live.keyLimit.note).toContain('403')
      expect(live.userStatusNote).toContain('403')
    } finally {
      await api.close()
      await emu.close()
    }
  })
})

describe('lanes hand a name over across users (issue 16.1, tenant-unique names)', () => {
  const ref = (user: UserName, name: string, uid: string) => ({email: USERS[user].email, userUid: USERS[user].uid, uid, name})
  const oldMon = ref('carol', 'mon', 'ca7010000000000000000001')
  const newMon = ref('bob', 'mon-next-ca701000', 'b0b000000000000000000001')
  const deleteOld: Action = {kind: 'delete', address: 'bob@example.com/mon', key: oldMon, cleanup: true, reason: 'the old key of carol'}
  const rename: Action = {kind: 'update', address: 'bob@example.com/mon', key: newMon, changes: [{field: 'name', before: newMon.name, after: 'mon'}], reason: 'renamed'}
  const carolOther: Action = {kind: 'revoke', address: 'carol@example.com/other', key: ref('carol', 'other', 'ca7010000000000000000002'), reason: 'declared active: false'}

  it('the delete of another user\'s key holding the name runs first in the lane that takes the name', () => {
    const {others, own} = lanes([rename, carolOther, deleteOld], USERS.admin.uid)
    expect(others.get(USERS.bob.uid)).toEqual([deleteOld, rename])
    expect(others.get(USERS.carol.uid)).toEqual([carolOther])
    expect(own).toEqual([])
    // A lane left empty is gone.
    expect([...lanes([rename, deleteOld], USERS.admin.uid).others.keys()]).toEqual([USERS.bob.uid])
  })

  it('a delete of another name stays in its owner\'s lane, and the caller\'s deletes stay at the end of its own', () => {
    const elsewhere: Action = {...deleteOld, key: {...oldMon, name: 'mon-old'}}
    expect(lanes([rename, elsewhere], USERS.admin.uid).others.get(USERS.carol.uid)).toEqual([elsewhere])
    const callerKey: Action = {...deleteOld, key: {...oldMon, email: USERS.admin.email, userUid: USERS.admin.uid}}
    const {others, own} = lanes([rename, callerKey], USERS.admin.uid)
    expect(others.get(USERS.bob.uid)).toEqual([rename])
    expect(own).toEqual([callerKey])
  })
})

describe('a name another user holds (issue 16.1)', () => {
  const successor = () => liveKey({user: 'bob', name: 'mon-next-ca701000', annotations: {[NAME]: 'mon'}})
  const file = 'users:\n  bob@example.com:\n    keys:\n      mon: {}\n'

  it('a key under a transient name is renamed, and the plan warns when another user\'s key keeps the name', () => {
    const plan = planOf(file, [successor(), liveKey({user: 'carol', name: 'mon'})])
    const update = plan.actions.find((a) => a.kind === 'update')!
    expect(update.reason).toMatch(/^renamed from "mon-next-ca701000"; another user's key has the name "mon" too: .*refuses this rename \(409\)/)
  })

  it('no warning when the other key holding the name is deleted by the plan (its delete runs first)', () => {
    const old = liveKey({user: 'carol', name: 'mon'})
    const plan = planOf(`${file}  carol@example.com:\n    exclusive: true\n    keys: {}\n`, [successor(), old])
    expect(plan.actions.find((a) => a.kind === 'delete')?.key.uid).toBe(old.uid)
    expect(plan.actions.find((a) => a.kind === 'update')!.reason).toBe('renamed from "mon-next-ca701000"')
  })
})

describe('a declared rename into a name the owner\'s retired key holds (issue 16.1)', () => {
  const retired = (user: UserName, days: number) => liveKey({user, name: 'b', active: false, annotations: {[RETIRED_AT]: new Date(NOW.getTime() - days * DAY).toISOString()}})
  const file = (user: UserName, after: string) => `policy: {deleteRetiredAfter: ${after}}\nusers:\n  ${USERS[user].email}:\n    keys:\n      b: {renamedFrom: c}\n`

  it('waits while the retired key is kept, with a finding; nothing is renamed into a held name', () => {
    const old = retired('alice', 1)
    const plan = planOf(file('alice', '30d'), [liveKey({user: 'alice', name: 'c'}), old])
    expect(plan.actions.filter((a) => a.kind !== 'no-op')).toEqual([])
    expect(plan.findings.find((f) => f.kind === 'transient-name')!.message).toBe(`keeps its name "c" while key ${old.uid} holds "b" (Palette may refuse two keys of one name); it takes "b" once that key is gone`)
  })

  it('the caller\'s own: the retired key\'s clean-up delete runs before the rename, at the head of the caller\'s lane', () => {
    const old = retired('admin', 10)
    const plan = planOf(file('admin', '7d'), [liveKey({user: 'admin', name: 'c'}), old])
    const {own} = lanes(plan.actions, USERS.admin.uid)
    expect(own.map((a) => `${a.kind} ${a.kind === 'update' ? a.changes.map((c) => c.after).join(',') : touchedUid(a)}`)).toEqual([`delete ${old.uid}`, 'update b'])
  })
})

function touchedUid(a: Action): string {
  return 'key' in a ? a.key.uid : ''
}
