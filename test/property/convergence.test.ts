import fc from 'fast-check'
import {stringify} from 'yaml'
import {describe, expect, it} from 'vitest'
import {execute} from '../../src/apply/executor.js'
import {SERVER_ANNOTATIONS} from '../../src/contract/palette.js'
import {makePlan} from '../../src/cli/planning.js'
import {parseDesiredState} from '../../src/config/desired-state.js'
import type {Seed} from '../../src/emulator/seed.js'
import {apiKeyView, EmulatorState} from '../../src/emulator/state.js'
import {diff} from '../../src/plan/diff.js'
import {CUSTODY, CUSTODY_FOLDER, intendedName, MANAGED_BY, MANAGED_BY_VALUE, ownershipOf, PENDING, REPLACES, RETIRED_AT, SUCCEEDS} from '../../src/plan/ownership.js'
import type {Sealer} from '../../src/seal/seal-dir.js'
import {safeName, sealedRelativePath} from '../../src/seal/sealed-file.js'
import {MemoryPalette} from '../support/memory-api.js'
import {fidelityFromEnv} from '../support/fidelity.js'
import type {LiveKey} from '../../src/live/snapshot.js'
import type {Plan} from '../../src/plan/model.js'

/**
 * For random desired files and random live tenants (unmanaged keys, twins, revoked, expired,
 * pending and retired keys, interrupted rotations, exclusive users, renames, moves) and a random
 * seal folder (keys with and without their sealed file, stale files of keys that are gone):
 * whenever the plan is not refused, it is deterministic, applying it to an in-memory model of
 * the API succeeds, every created value is sealed exactly once, and planning again yields no
 * change. Then, past seal.custodyGrace, with a created file lost or an apply killed between a
 * create and its seal, one more apply converges: no duplicate key, no declared value without its
 * sealed file, no stale file. PROPERTY_RUNS sets the number of cases (`npm run test:property` runs 10,000).
 */
const RUNS = Number(process.env.PROPERTY_RUNS ?? 300)
const NOW = new Date('2026-06-01T00:00:00.000Z')
/** Past the default seal.custodyGrace (1h): keys without their sealed file are value-lost by then. */
const LATER = new Date(NOW.getTime() + 2 * 3_600_000)
const DAY = 86_400_000
const NAMES = ['a', 'b', 'c', 'd']
const ADMIN = 'admin@example.com'
const USERS = [ADMIN, 'alice@example.com', 'bob@example.com', 'carol@example.com']

const liveKeyArb = fc.record({
  user: fc.constantFrom(...USERS),
  name: fc.constantFrom(...NAMES),
  managed: fc.boolean(),
  mark: fc.constantFrom('none', 'none', 'none', 'none', 'pending', 'retired', 'succeeds', 'forged-succeeds', 'forged-replaces'),
  /** Which other key a forged mark names (an index into the tenant's keys). */
  victim: fc.nat(20),
  active: fc.boolean(),
  expiryDays: fc.constantFrom(-5, 3, 10, 60, 400),
  /** A managed key made under seal custody folder (with or without its sealed file), or before custody existed. */
  custody: fc.constantFrom('legacy', 'sealed', 'sealed', 'lost'),
})

const declArb = fc.record(
  {
    description: fc.constantFrom('', 'x', 'y'),
    active: fc.boolean(),
    expiry: fc.constantFrom('in30', 'in90', 'at-far', 'at-near'),
    rotateBefore: fc.constantFrom('7d', '14d'),
    adopt: fc.boolean(),
  },
  {requiredKeys: []},
).chain((k) =>
  // Renames and moves are rarer (and collide more): one key in six.
  fc.constantFrom<Record<string, unknown>>({}, {}, {}, {}, {renamedFrom: 'x'}, {movedFrom: 'x'}).chain((extra) =>
    fc.record({src: fc.constantFrom(...NAMES), from: fc.constantFrom(...USERS)}).map(({src, from}) => ({
      ...k,
      ...('renamedFrom' in extra ? {renamedFrom: src} : {}),
      ...('movedFrom' in extra ? {movedFrom: from} : {}),
    })),
  ),
)

const desiredArb = fc.record({
  users: fc.dictionary(fc.constantFrom(...USERS), fc.record({exclusive: fc.boolean(), keys: fc.dictionary(fc.constantFrom(...NAMES), declArb, {maxKeys: 3})}), {maxKeys: 3}),
  adopt: fc.boolean(),
  deleteRetiredAfter: fc.constantFrom('0d', '7d'),
})

type LiveSpec = {user: string; name: string; managed: boolean; mark: string; victim: number; active: boolean; expiryDays: number; custody: string}
type DesiredSpec = {users: Record<string, {exclusive: boolean; keys: Record<string, Record<string, unknown>>}>; adopt: boolean; deleteRetiredAfter: string}

function tenant(keys: LiveSpec[]): EmulatorState {
  const seed: Seed = {
    tenant: {orgName: 'prop'},
    users: USERS.map((email, u) => ({
      email,
      roles: email === ADMIN ? ['Tenant Admin'] : [],
      apiKeys: [
        ...(email === ADMIN ? [{name: 'bootstrap', value: 'property-admin-key-1'}] : []),
        ...keys
          .map((k, i) => ({k, i}))
          .filter(({k}) => k.user === email)
          .map(({k, i}) => ({
            name: k.name,
            value: `property-value-${u}-${i}`,
            active: k.active,
            expiry: new Date(NOW.getTime() + k.expiryDays * DAY).toISOString(),
            annotations: {
              ...(k.managed || k.mark === 'pending' || k.mark === 'retired' || k.mark === 'succeeds' ? {[MANAGED_BY]: MANAGED_BY_VALUE} : {}),
              ...(k.mark.startsWith('forged') ? {[MANAGED_BY]: MANAGED_BY_VALUE, forged: `${k.mark}:${k.victim}`} : {}),
              ...(k.mark === 'pending' ? {[PENDING]: 'x'} : {}),
              ...(k.mark === 'retired' ? {[RETIRED_AT]: new Date(NOW.getTime() - 3 * DAY).toISOString()} : {}),
              ...(k.custody !== 'legacy' ? {[CUSTODY]: CUSTODY_FOLDER, file: k.custody} : {}),
            },
          })),
      ],
    })),
  }
  const state = EmulatorState.fromSeed(seed, NOW)
  // An interrupted rotation: a successor naming an earlier key as its predecessor.
  const all = state.allKeys()
  keys.forEach((k) => {
    if (k.mark !== 'succeeds') return
    const successor = all.find((x) => x.name === k.name && x.annotations[SUCCEEDS] === undefined && x.annotations[MANAGED_BY] === MANAGED_BY_VALUE)
    const predecessor = all.find((x) => x !== successor && x.userUid === successor?.userUid)
    if (successor && predecessor) state.updateKey(successor.uid, {annotations: {...successor.annotations, [SUCCEEDS]: predecessor.uid}}, NOW)
  })
  // Forged marks: a key claiming any other key (of any user, managed or not) as its predecessor or its moved-from original.
  for (const k of state.allKeys()) {
    const forged = k.annotations.forged
    if (forged === undefined) continue
    const [kind, index] = forged.split(':')
    const victim = all[Number(index) % all.length]!
    const {forged: _f, ...rest} = k.annotations
    const mark = kind === 'forged-replaces' ? REPLACES : SUCCEEDS
    state.updateKey(k.uid, {annotations: {...rest, [mark]: victim.uid}}, NOW)
  }
  return state
}

/** The seal folder as the plan reads it: relative paths, one per sealed file; the live keys' files, as the specs say. */
function sealFolder(state: EmulatorState, emails: Map<string, string>): Map<string, string> {
  const files = new Map<string, string>()
  for (const k of state.allKeys()) {
    const {file, ...rest} = k.annotations
    if (file === undefined) continue
    if (file === 'sealed') files.set(sealedRelativePath({user: emails.get(k.userUid)!, name: k.name, uid: k.uid}), k.uid)
    state.updateKey(k.uid, {annotations: rest}, NOW)
  }
  return files
}

/** An in-memory seal folder: what apply's Sealer writes and removes. */
function memorySealer(files: Map<string, string>, sealed: string[], killAt: number | undefined, kill: () => void): Sealer {
  return {
    seal: async (r) => {
      if (killAt !== undefined && sealed.length === killAt) {
        kill()
        throw new Error('killed')
      }
      sealed.push(r.uid)
      const path = sealedRelativePath(r)
      files.set(path, r.uid)
      return `mem/${path}`
    },
    removeFor: async (uid) => {
      const gone = [...files].filter(([, u]) => u === uid).map(([path]) => path)
      for (const path of gone) files.delete(path)
      return gone
    },
  }
}

/** The API as a killed process leaves it: after `killed()`, nothing more reaches it. */
function killable(api: MemoryPalette): {api: MemoryPalette; kill: () => void; killed: () => boolean} {
  let dead = false
  const proxy = new Proxy(api, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown
      if (typeof v !== 'function') return v
      return (...args: unknown[]) => (dead ? Promise.reject(new Error('killed')) : (v as (...a: unknown[]) => unknown).apply(target, args))
    },
  })
  return {api: proxy, kill: () => (dead = true), killed: () => dead}
}

function desiredText(d: DesiredSpec): string {
  const users: Record<string, unknown> = {}
  for (const [email, u] of Object.entries(d.users)) {
    const keys: Record<string, unknown> = {}
    for (const [name, k] of Object.entries(u.keys)) {
      const out: Record<string, unknown> = {}
      if (k.description) out.description = k.description
      if (k.active !== undefined) out.active = k.active
      if (k.expiry === 'in30') out.expiresIn = '30d'
      if (k.expiry === 'in90') out.expiresIn = '90d'
      if (k.expiry === 'at-far') out.expiresAt = '2027-06-01T00:00:00Z'
      if (k.expiry === 'at-near') out.expiresAt = '2026-06-05T00:00:00Z'
      for (const f of ['rotateBefore', 'adopt', 'renamedFrom', 'movedFrom']) if (k[f] !== undefined) out[f] = k[f]
      keys[name] = out
    }
    users[email] = {exclusive: u.exclusive, keys}
  }
  return stringify({version: 1, seal: {recipients: ['age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c']}, policy: {adopt: d.adopt, deleteRetiredAfter: d.deleteRetiredAfter, maxChangeRatio: 1}, users})
}

export const stats = {cases: 0, applied: 0, refused: 0, invalidFile: 0, planErrors: 0, keyLimited: 0, actions: 0, creates: 0, forged: 0, blocked: 0, sharedNames: 0, killed: 0, valueLost: 0, laterRefused: 0, converged: 0}

/** What happens to the seal folder: stale files planted before the plan, a kill at the n-th seal, a created file lost after. */
const folderArb = fc.record({
  stale: fc.array(fc.record({user: fc.constantFrom(...USERS), n: fc.nat()}), {maxLength: 2}),
  killAt: fc.constantFrom<number | undefined>(undefined, undefined, undefined, 0, 1, 2),
  lose: fc.boolean(),
})

const TENANT_UNIQUE = fidelityFromEnv().some(([name, value]) => name === 'unique-key-names' && value === 'tenant')

/** Whether the plan gives a user's key a name another user's key holds (the old key of a move aside), or two users' new keys one name. */
function namesSharedAcrossUsers(plan: Plan, keys: LiveKey[]): boolean {
  const produced: Array<{user: string; name: string; except?: string}> = []
  for (const a of plan.actions) {
    if (a.kind === 'create' || a.kind === 'rotate') produced.push({user: a.target.userUid, name: a.target.name})
    else if (a.kind === 'replace') produced.push({user: a.target.userUid, name: a.target.name, except: a.from.uid})
    else if (a.kind === 'update') for (const c of a.changes) if (c.field === 'name') produced.push({user: a.key.userUid, name: c.after})
  }
  return produced.some((p) => keys.some((k) => k.name === p.name && k.userUid !== p.user && k.uid !== p.except) || produced.some((q) => q.name === p.name && q.user !== p.user))
}

describe('property: plan → apply → plan converges', () => {
  it(`holds for ${RUNS} random tenants and files`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(liveKeyArb, {maxLength: 8}), desiredArb, fc.integer({min: 2, max: 9}), folderArb, async (liveSpec, desiredSpec, keyCap, events) => {
        stats.cases++
        const state = tenant(liveSpec as LiveSpec[])
        const emails = new Map(state.allUsers().map((u) => [u.uid, u.email]))
        const folder = sealFolder(state, emails)
        // Planted stale files: sealed files of keys that are not in Palette.
        for (const {user, n} of events.stale) folder.set(`${safeName(user)}/x--${n.toString(16).padStart(24, 'f')}.age`, n.toString(16).padStart(24, 'f'))
        const files = () => [...folder.keys()]
        let clock = NOW
        // Palette's per-user key cap, small enough to bind: a plan that passes the key-limit check
        // must never meet the cap during its apply (the check counts in apply's own order).
        state.limits = {apiKeysPerUser: keyCap}
        const admin = state.allUsers().find((u) => u.email === ADMIN)!
        const api = new MemoryPalette(state, admin.uid, () => clock)
        let desired
        try {
          desired = parseDesiredState(desiredText(desiredSpec as DesiredSpec), 'keys.yaml', NOW)
        } catch {
          stats.invalidFile++
          return // a file `validate` refuses is not planned
        }
        const first = await makePlan({desired, api, host: 'mem', force: true, toolVersion: 'p', now: NOW, sealFiles: files()})
        // Whatever order Palette lists the keys in, the plan (errors and brakes included) is the same.
        const reversed = {...first.live, keys: [...first.live.keys].reverse()}
        expect(JSON.stringify(diff(desired, reversed, {force: true, toolVersion: 'p', sealFiles: files()}, NOW))).toBe(JSON.stringify(first.plan))
        if (first.plan.errors.length > 0) {
          if (first.plan.errors.every((e) => e.code === 'key-limit')) stats.keyLimited++
          else stats.planErrors++
          return
        }
        if (first.plan.blocked.length > 0) stats.blocked++
        if (first.plan.brakes.refused) {
          stats.refused++
          return
        }
        // Under a reading where key names are unique in the whole tenant, a file that gives two users'
        // keys one name cannot be met (Palette refuses the second): such cases are counted, not applied.
        if (TENANT_UNIQUE && namesSharedAcrossUsers(first.plan, first.live.keys)) {
          stats.sharedNames++
          return
        }
        // Deterministic: the same inputs give the same plan, byte for byte.
        expect(JSON.stringify(diff(desired, first.live, {force: true, toolVersion: 'p', sealFiles: files()}, NOW))).toBe(JSON.stringify(first.plan))

        // A mark never decides for another user's key or a hand-made one: every key a
        // destructive action touches belongs to a user the file names, and a hand-made key is
        // deleted only for an exclusive user, or as the old key of a move the file declares.
        const named = new Map(desired.users.map((u) => [u.email.toLowerCase(), u]))
        const moveSources = new Set(desired.users.flatMap((u) => u.keys.flatMap((k) => (k.movedFrom ? [k.movedFrom.toLowerCase()] : []))))
        const emailOf = new Map(first.live.users.map((u) => [u.uid, u.email.toLowerCase()]))
        for (const a of first.plan.actions) {
          const k = a.kind === 'replace' ? a.from : a.kind === 'create' || a.kind === 'no-op' ? undefined : a.key
          if (!k) continue
          const owner = emailOf.get(k.userUid)!
          expect(named.has(owner) || moveSources.has(owner), `${a.kind} ${a.address} touches ${owner}`).toBe(true)
          const liveKey = first.live.keys.find((x) => x.uid === k.uid)!
          if (a.kind === 'delete' && ownershipOf(liveKey.annotations) === 'unmanaged') {
            expect(named.get(owner)?.exclusive === true || (a.cleanup === true && moveSources.has(owner)), `delete of hand-made ${owner}/${liveKey.name}: ${a.reason}`).toBe(true)
          }
        }
        stats.forged += liveSpec.filter((k) => (k as LiveSpec).mark.startsWith('forged')).length

        const sealed: string[] = []
        const run = killable(api)
        const outcomes = await execute(first.plan.actions, {api: run.api, sealer: memorySealer(folder, sealed, events.killAt, run.kill), live: first.live, parallelism: 3, now: () => NOW})
        if (run.killed()) {
          // Killed between a create and its seal: the next apply, past seal.custodyGrace, must converge all the same.
          stats.killed++
          await converges(events, 'after the kill')
          return
        }
        expect(outcomes.filter((o) => o.status !== 'done')).toEqual([])
        for (const f of first.plan.seal.stale) folder.delete(f.file)
        stats.applied++
        stats.actions += outcomes.length
        stats.creates += sealed.length
        // No update loses an annotation Palette set, however the server treats the map it is sent.
        for (const k of state.allKeys()) {
          const shown = (apiKeyView(state, k) as {metadata: {annotations: Record<string, string>}}).metadata.annotations
          for (const name of SERVER_ANNOTATIONS) expect(shown[name], `${k.name} lost ${name}`).toBeDefined()
        }

        // Every key this apply created was sealed once and is no longer marked pending.
        expect(new Set(sealed).size).toBe(sealed.length)
        for (const o of outcomes) {
          if (!o.createdUid) continue
          expect(sealed).toContain(o.createdUid)
          expect(state.key(o.createdUid)?.annotations[PENDING]).toBeUndefined()
        }

        const second = await makePlan({desired, api, host: 'mem', force: true, toolVersion: 'p', now: NOW, sealFiles: files()})
        expect(second.plan.errors).toEqual([])
        const left = second.plan.actions.filter((a) => a.kind !== 'no-op').map((a) => `${a.kind} ${a.address}: ${a.reason}`)
        expect(left, desiredText(desiredSpec as DesiredSpec)).toEqual([])
        expect(second.plan.seal.stale).toEqual([])
        // A created value whose sealed file never reached the repository.
        const lost = events.lose && sealed.length > 0 ? sealed[0] : undefined
        if (lost !== undefined) for (const [path, uid] of folder) if (uid === lost) folder.delete(path)
        await converges(events, lost === undefined ? 'past the grace' : `after losing the file of ${lost}`, lost)

        /** Past seal.custodyGrace: one apply, then a plan with no change; no duplicate, no lost value, no stale file. */
        async function converges(ev: typeof events, when: string, lostUid?: string): Promise<void> {
          clock = LATER
          const third = await makePlan({desired: desired!, api, host: 'mem', force: true, toolVersion: 'p', now: LATER, sealFiles: files()})
          if (third.plan.errors.length > 0 || third.plan.brakes.refused) {
            stats.laterRefused++
            return
          }
          // As for the first plan: names shared across users cannot be met where they are unique in the tenant.
          if (TENANT_UNIQUE && namesSharedAcrossUsers(third.plan, third.live.keys)) {
            stats.sharedNames++
            return
          }
          if (lostUid !== undefined && state.key(lostUid)?.isActive) {
            // The key whose file was lost is replaced, with that cause (unless this plan deletes it for another reason).
            const replaced = third.plan.actions.some((a) => (a.kind === 'rotate' && a.key.uid === lostUid && a.cause === 'value-lost') || (a.kind === 'delete' && a.key.uid === lostUid))
            if (desired!.users.some((u) => u.keys.some((k) => k.active && k.name === intendedName(state.key(lostUid)!) && emails.get(state.key(lostUid)!.userUid) === u.email))) expect(replaced, when).toBe(true)
            stats.valueLost++
          }
          const seals: string[] = []
          const again = await execute(third.plan.actions, {api, sealer: memorySealer(folder, seals, undefined, () => {}), live: third.live, parallelism: 3, now: () => LATER})
          expect(again.filter((o) => o.status !== 'done'), when).toEqual([])
          for (const f of third.plan.seal.stale) folder.delete(f.file)
          const fourth = await makePlan({desired: desired!, api, host: 'mem', force: true, toolVersion: 'p', now: LATER, sealFiles: files()})
          expect(fourth.plan.actions.filter((a) => a.kind !== 'no-op').map((a) => `${a.kind} ${a.address}: ${a.reason}`), `${when}: ${desiredText(desiredSpec as DesiredSpec)}`).toEqual([])
          expect(fourth.plan.seal.stale, when).toEqual([])
          const keys = fourth.live.keys
          const byUid = new Map(keys.map((k) => [k.uid, k]))
          // No stale file: every sealed file names a live key that is not retired (where the caller sees its owner's keys:
          // without the caller's roles read, only its own).
          const seesAll = fourth.live.callerIsAdmin === true || (fourth.live.callerPermissions ?? []).includes('apiKey.list')
          for (const [path, uid] of folder) {
            if (!seesAll && !path.startsWith(`${safeName(ADMIN)}/`)) continue
            const k = byUid.get(uid)
            expect(k !== undefined && ownershipOf(k.annotations, k.isActive) !== 'retired', `${when}: stale ${path}`).toBe(true)
          }
          const blocked = new Set(fourth.plan.blocked.map((b) => b.address))
          for (const u of desired!.users) {
            const owner = fourth.live.users.find((x) => x.email === u.email)
            if (!owner) continue
            for (const d of u.keys) {
              if (blocked.has(`${u.email}/${d.name}`)) continue
              const mine = keys.filter((k) => k.userUid === owner.uid && intendedName(k) === d.name && ownershipOf(k.annotations, k.isActive) === 'managed')
              // No duplicate: one managed key per declared name.
              expect(mine.length, `${when}: ${u.email}/${d.name} twice`).toBeLessThanOrEqual(1)
              // No value lost: a declared active key palette-keys made has its sealed file.
              for (const k of mine) {
                if (!d.active || !k.isActive || k.annotations[CUSTODY] !== CUSTODY_FOLDER) continue
                expect([...folder].some(([path, uid]) => uid === k.uid && path.startsWith(`${safeName(u.email)}/`)), `${when}: ${u.email}/${d.name} (${k.uid}) has no sealed file`).toBe(true)
              }
            }
          }
          void ev
          stats.converged++
        }
      }),
      // PROPERTY_SEED (and PROPERTY_PATH) replay a failure fast-check reported.
      {numRuns: RUNS, ...(process.env.PROPERTY_SEED ? {seed: Number(process.env.PROPERTY_SEED), path: process.env.PROPERTY_PATH, endOnFailure: true} : {})},
    )
    // The generators must reach the interesting part: most cases are applied, with changes.
    expect(stats.applied).toBeGreaterThan(RUNS / 4)
    expect(stats.creates).toBeGreaterThan(0)
    // The seal folder's events were met: kills, lost files, and convergence after them.
    expect(stats.killed).toBeGreaterThan(0)
    expect(stats.valueLost).toBeGreaterThan(0)
    expect(stats.converged).toBeGreaterThan(RUNS / 4)
    if (process.env.PROPERTY_REPORT) console.log(JSON.stringify(stats))
  }, 600_000)
})
