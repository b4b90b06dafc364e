import {describe, expect, it} from 'vitest'
import {type ActionOutcome, execute} from '../../src/apply/executor.js'
import {makePlan} from '../../src/cli/planning.js'
import {parseDesiredState} from '../../src/config/desired-state.js'
import type {Seed} from '../../src/emulator/seed.js'
import {EmulatorState} from '../../src/emulator/state.js'
import type {CreatedApiKey} from '../../src/palette/port.js'
import type {ApiKey, ApiKeyEntity} from '../../src/palette/types.js'
import {NAME, NONCE, PENDING, RETIRING, SUCCEEDS} from '../../src/plan/ownership.js'
import type {Sealer} from '../../src/seal/seal-dir.js'
import {sealedRelativePath, uidOfSealedFileName} from '../../src/seal/sealed-file.js'
import {MemoryPalette} from '../support/memory-api.js'

/**
 * Issue 17.2: under seal custody `folder` a create is its POST on /v1/apiKeys (the value's proof
 * is on /v1/users), the uids of a batch are confirmed by one key list, and a rotation is one
 * write, the POST and the revoke. Counted at an in-memory model of the API (MemoryPalette.calls),
 * with answers that lie where the test says.
 */
const NOW = new Date('2026-06-01T00:00:00.000Z')
const RECIPIENT = 'age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c'
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'].map((n) => `${n}@example.com`)

function tenant(extraKeys = 0): {state: EmulatorState; adminUid: string} {
  const seed: Seed = {
    tenant: {orgName: 'count'},
    users: [
      {email: 'admin@example.com', roles: ['Tenant Admin'], apiKeys: [{name: 'bootstrap', value: 'count-admin-key-0001'}, ...Array.from({length: extraKeys}, (_, i) => ({name: `old${i}`, value: `count-old-value-${i}`}))]},
      ...USERS.map((email) => ({email, roles: []})),
    ],
  }
  const state = EmulatorState.fromSeed(seed, NOW)
  state.limits = {apiKeysPerUser: 100}
  return {state, adminUid: state.allUsers().find((u) => u.email === 'admin@example.com')!.uid}
}

/** Two keys for each of five users. */
const TEN = `users:\n${USERS.map((u) => `  ${u}:\n    keys:\n      ci: {}\n      web: {}\n`).join('')}`

function desired(users: string, seal = '') {
  return parseDesiredState(`version: 1\nseal: {recipients: [${RECIPIENT}]${seal}}\n${users}`, 'keys.yaml', NOW)
}

/** The seal folder in memory: relative path → uid, as the plan reads file names. */
function folderSealer(files: Map<string, string>): Sealer & {values: Map<string, string>} {
  const values = new Map<string, string>()
  return {
    values,
    seal: async (r) => {
      const path = sealedRelativePath(r)
      files.set(path, r.uid)
      values.set(r.uid, r.apiKey)
      return path
    },
    removeFor: async (uid) => {
      const gone = [...files].filter(([, u]) => u === uid).map(([p]) => p)
      for (const p of gone) files.delete(p)
      return gone
    },
  }
}

async function run(api: MemoryPalette, users: string, files = new Map<string, string>(), seal = ''): Promise<{outcomes: ActionOutcome[]; files: Map<string, string>; values: Map<string, string>}> {
  const {plan, live} = await makePlan({desired: desired(users, seal), api, host: 'mem', force: true, toolVersion: 't', now: NOW, sealFiles: [...files.keys()]})
  expect(plan.errors).toEqual([])
  api.calls.length = 0
  const sealer = folderSealer(files)
  const outcomes = await execute(plan.actions, {api, sealer, live, parallelism: 4, now: () => NOW, custody: plan.seal.custody})
  return {outcomes, files, values: sealer.values}
}

const count = (calls: string[]) => calls.reduce<Record<string, number>>((n, c) => ({...n, [c]: (n[c] ?? 0) + 1}), {})

describe('one request a create (issue 17.2)', () => {
  it('ten creates over five users: ten POSTs and one key list; each value sealed under its key, no mark written or cleared', async () => {
    const {state, adminUid} = tenant()
    const api = new MemoryPalette(state, adminUid, () => NOW)
    const {outcomes, files, values} = await run(api, TEN)
    expect(outcomes.map((o) => o.status)).toEqual(Array(10).fill('done'))
    expect(count(api.calls)).toEqual({create: 10, list: 1})
    for (const [path, uid] of files) {
      const k = state.key(uid)!
      expect(path).toBe(`${state.allUsers().find((u) => u.uid === k.userUid)!.email}/${k.name}--${uid}.age`)
      expect(state.authenticate(values.get(uid)!, NOW).ok).toBe(true)
      expect(k.annotations[NONCE]).toMatch(/^[0-9a-f]{16}$/)
      expect(k.annotations[PENDING]).toBeUndefined()
    }
    expect(files.size).toBe(10)
    // The next plan reads the folder: nothing left to do.
    const again = await makePlan({desired: desired(TEN), api, host: 'mem', force: true, toolVersion: 't', now: NOW, sealFiles: [...files.keys()]})
    expect(again.plan.changes).toBe(false)
  })

  it('under seal.custody mark a create is still POST, GET and the PUT clearing its pending mark', async () => {
    const {state, adminUid} = tenant()
    const api = new MemoryPalette(state, adminUid, () => NOW)
    const {outcomes} = await run(api, TEN, new Map(), ', custody: mark')
    expect(outcomes.every((o) => o.status === 'done')).toBe(true)
    expect(count(api.calls)).toEqual({create: 10, get: 10, update: 10})
    expect(state.allKeys().filter((k) => k.annotations[PENDING] !== undefined)).toEqual([])
  })

  it('a rotation is three requests: the predecessor renamed aside (RETIRING, NAME), the successor made under the declared name, the predecessor revoked; plus the batch list', async () => {
    const {state, adminUid} = tenant()
    const api = new MemoryPalette(state, adminUid, () => NOW)
    const first = await run(api, '  alice@example.com:\n    keys:\n      ci: {expiresIn: 30d}\n'.replace(/^/, 'users:\n'))
    const old = first.outcomes[0]!.createdUid!
    const {outcomes, files} = await run(api, 'users:\n  alice@example.com:\n    keys:\n      ci: {expiresIn: 90d, rotateBefore: 60d}\n', first.files)
    expect(outcomes.map((o) => [o.kind, o.status])).toEqual([['rotate', 'done']])
    expect(api.calls).toEqual(['update', 'create', 'state', 'list'])
    const pred = state.key(old)!
    expect([pred.name, pred.isActive, pred.annotations[NAME], typeof pred.annotations[RETIRING]]).toEqual([`ci-retired-${old.slice(0, 8)}`, false, 'ci', 'string'])
    const next = state.key(outcomes[0]!.createdUid!)!
    expect([next.name, next.annotations[SUCCEEDS]]).toEqual(['ci', old])
    // The predecessor's file went with its revoke; the successor's is the one left.
    expect([...files.values()]).toEqual([next.uid])
    const again = await makePlan({desired: desired('users:\n  alice@example.com:\n    keys:\n      ci: {expiresIn: 90d, rotateBefore: 60d}\n'), api, host: 'mem', force: true, toolVersion: 't', now: NOW, sealFiles: [...files.keys()]})
    expect(again.plan.changes).toBe(false)
    expect(again.plan.findings.map((f) => [f.kind, f.uid])).toEqual([['retired', old]])
  })

  it('an answer naming a fresh uid that is not the new key: sealed under it, then the batch list finds the key by its nonce; sealed again under the true uid, the wrong file removed', async () => {
    const {state, adminUid} = tenant()
    let lies = 1
    const api = new (class extends MemoryPalette {
      override async createApiKey(entity: ApiKeyEntity): Promise<CreatedApiKey> {
        const made = await super.createApiKey(entity)
        return lies-- > 0 ? {...made, uid: 'f00dfeedf00dfeedf00dfeed'} : made
      }
    })(state, adminUid, () => NOW)
    const {outcomes, files, values} = await run(api, TEN)
    expect(outcomes.every((o) => o.status === 'done')).toBe(true)
    const fixed = outcomes.filter((o) => o.note?.includes('f00dfeedf00dfeedf00dfeed'))
    expect(fixed).toHaveLength(1)
    expect(fixed[0]!.note).toMatch(/the key carrying this create's nonce is [0-9a-f]{24}: its value was sealed again under it|sealed again under [0-9a-f]{24}/)
    expect([...files.values()]).not.toContain('f00dfeedf00dfeedf00dfeed')
    expect(files.size).toBe(10)
    for (const uid of files.values()) expect(state.authenticate(values.get(uid)!, NOW)).toMatchObject({ok: true, key: {uid}})
    expect(fixed[0]!.createdUid).toBe(uidOfSealedFileName(fixed[0]!.sealedFile!))
  })

  it('a batch list that may be cut at the documented 50: each create of the batch is confirmed by a GET of its uid instead', async () => {
    const {state, adminUid} = tenant(39)
    const api = new MemoryPalette(state, adminUid, () => NOW)
    const {outcomes} = await run(api, TEN)
    expect(outcomes.every((o) => o.status === 'done')).toBe(true)
    expect(state.allKeys()).toHaveLength(50)
    expect(count(api.calls)).toEqual({create: 10, list: 1, get: 10})
  })

  it('a key the list does not confirm (its nonce on no key): its file is removed and its create fails, the others stand', async () => {
    const {state, adminUid} = tenant()
    const api = new (class extends MemoryPalette {
      override async listApiKeys(): Promise<ApiKey[]> {
        const keys = await super.listApiKeys()
        // The list drops the nonce of alice's ci: it cannot be told apart from a key made by hand.
        return keys.map((k) => (k.metadata?.name === 'ci' && state.key(k.metadata.uid!)?.userUid === state.allUsers().find((u) => u.email === 'alice@example.com')!.uid ? {...k, metadata: {...k.metadata, annotations: {}}} : k))
      }
    })(state, adminUid, () => NOW)
    const {outcomes, files} = await run(api, TEN)
    const failed = outcomes.filter((o) => o.status === 'failed')
    expect(failed.map((o) => o.address)).toEqual(['alice@example.com/ci'])
    expect(failed[0]!.error).toMatch(/the key list does not confirm the create of alice@example\.com\/ci: no key carried its nonce; its sealed file was removed/)
    expect(files.size).toBe(9)
    expect([...files.keys()].some((p) => p.startsWith('alice@example.com/ci--'))).toBe(false)
  })

  it('doubtful answers (the owner\'s uid, --create-uid user) are looked up by nonce, creates in flight together sharing one list', async () => {
    const {state, adminUid} = tenant()
    const api = new (class extends MemoryPalette {
      override async createApiKey(entity: ApiKeyEntity): Promise<CreatedApiKey> {
        const made = await super.createApiKey(entity)
        // Answer after the others have been sent, as a real server would, with the owner's uid.
        await new Promise((resolve) => setTimeout(resolve, 5))
        return {...made, uid: entity.spec.userUid}
      }

      override async listApiKeys(): Promise<ApiKey[]> {
        // A list takes as long as a create, as over HTTP.
        await new Promise((resolve) => setTimeout(resolve, 5))
        return super.listApiKeys()
      }
    })(state, adminUid, () => NOW)
    const {outcomes, files} = await run(api, TEN)
    expect(outcomes.every((o) => o.status === 'done')).toBe(true)
    expect(files.size).toBe(10)
    const lists = count(api.calls).list!
    // Four lanes at once, one list for the creates of a round (ten creates: three rounds), not one per create; no GET of a doubtful uid.
    expect(lists).toBeLessThanOrEqual(4)
    expect(count(api.calls).get).toBeUndefined()
    for (const [path, uid] of files) expect(path).toContain(uid)
  })
})
