import {mkdtemp} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {execute} from '../../src/apply/executor.js'
import {applyResult, applyResultValidator} from '../../src/apply/result.js'
import {makePlan} from '../../src/cli/planning.js'
import {parseDesiredState} from '../../src/config/desired-state.js'
import type {RunningEmulator} from '../../src/emulator/server.js'
import {PaletteApiError} from '../../src/palette/errors.js'
import {PaletteHttpClient} from '../../src/palette/http-client.js'
import type {PaletteApi} from '../../src/palette/port.js'
import {PENDING} from '../../src/plan/ownership.js'
import {newIdentity, type NewIdentity} from '../../src/seal/identity.js'
import type {SealedRecord} from '../../src/seal/sealed-file.js'
import {listSealedFiles, SealDir, type Sealer} from '../../src/seal/seal-dir.js'
import {unsealPaths} from '../../src/seal/unseal.js'
import {Secret} from '../../src/util/secret.js'
import {ADMIN_KEY, startTestEmulator} from '../support/emulator.js'

let emu: RunningEmulator
let api: PaletteHttpClient
let dir: string
let id: NewIdentity
let seeded: Set<string>

beforeEach(async () => {
  emu = await startTestEmulator()
  api = new PaletteHttpClient({host: emu.url, apiKey: new Secret(ADMIN_KEY), rateLimit: {ratePerSecond: 0, burst: 1}})
  dir = await mkdtemp(join(tmpdir(), 'pk-exec-'))
  id = await newIdentity()
  seeded = new Set(emu.state.allKeys().map((k) => k.uid))
})
afterEach(async () => {
  await api.close()
  await emu.close()
})

function file(users: string) {
  return parseDesiredState(`version: 1\nseal: {recipients: [${id.recipient}]}\n${users}`, join(dir, 'keys.yaml'), new Date())
}

async function planFor(users: string, client: PaletteApi = api) {
  return makePlan({desired: file(users), api: client, host: emu.url, force: false, toolVersion: 'test', now: new Date()})
}

/** Every key apply created (not in the seed) has exactly one sealed file, whose value authenticates as it. */
async function expectAllSealed(sealDir: string) {
  const created = emu.state.allKeys().filter((k) => !seeded.has(k.uid))
  const {records} = await unsealPaths([sealDir], [id.identity])
  const files = await listSealedFiles(sealDir)
  for (const k of created) expect(files.filter((f) => f.endsWith(`--${k.uid}.age`)), k.name).toHaveLength(1)
  expect(files).toHaveLength(created.length)
  for (const r of records) {
    const auth = emu.state.authenticate(r.apiKey, new Date())
    expect(auth.ok && auth.key.uid, `${r.user}/${r.name}`).toBe(r.uid)
  }
  expect(emu.state.allKeys().filter((k) => k.annotations[PENDING] !== undefined)).toEqual([])
}

const users = `users:
  alice@example.com:
    keys:
      laptop: {adopt: true, description: "Alice's laptop", expiresAt: "2099-01-01T00:00:00Z", active: false}
      build: {description: CI}
  bob@example.com:
    keys:
      ci: {adopt: true, expiresAt: "2099-01-01T00:00:00Z"}
      deploy: {}
`

describe('execute', () => {
  it('applies a plan; each created value is sealed; the next plan has no changes', async () => {
    const {plan, live} = await planFor(users)
    const sealDir = new SealDir(join(dir, 'sealed'))
    const outcomes = await execute(plan.actions, {api, sealer: sealDir, live, parallelism: 4})
    expect(outcomes.every((o) => o.status === 'done')).toBe(true)
    expect(outcomes.filter((o) => o.sealedFile)).toHaveLength(2)
    const result = applyResult(plan, outcomes)
    expect(applyResultValidator()(result)).toBe(true)
    expect(JSON.stringify(result)).not.toMatch(/apiKey/)
    await expectAllSealed(join(dir, 'sealed'))
    const again = await planFor(users)
    expect(again.plan.changes).toBe(false)
  })

  it('a sealing failure deletes the key just created, and no further action starts', async () => {
    const failing: Sealer = {seal: async () => Promise.reject(Object.assign(new Error('read-only'), {code: 'EROFS'})), removeFor: async () => []}
    const {plan, live} = await planFor('users:\n  bob@example.com:\n    keys:\n      a: {}\n      b: {}\n      c: {}\n')
    const before = emu.state.allKeys().length
    const outcomes = await execute(plan.actions, {api, sealer: failing, live, parallelism: 1})
    expect(outcomes.map((o) => o.status)).toEqual(['failed', 'not-started', 'not-started'])
    expect(outcomes[0]!.error).toContain('sealing failed (EROFS); the key just created was deleted')
    expect(emu.state.allKeys()).toHaveLength(before)
  })

  it('an ambiguous create (reply lost after commit) is resolved by re-listing: the ghost is deleted, one key is made and sealed', async () => {
    let dropped = false
    const lossy: PaletteApi = Object.create(api)
    lossy.createApiKey = async (entity) => {
      const created = await api.createApiKey(entity)
      if (!dropped) {
        dropped = true
        throw new PaletteApiError({method: 'POST', path: '/v1/apiKeys', paletteCode: 'UND_ERR_SOCKET', ambiguous: true, attempts: 1})
      }
      return created
    }
    const {plan, live} = await planFor('users:\n  bob@example.com:\n    keys:\n      only: {}\n')
    const outcomes = await execute(plan.actions, {api: lossy, sealer: new SealDir(join(dir, 'sealed')), live, parallelism: 1})
    expect(outcomes[0]!.status).toBe('done')
    expect(emu.state.allKeys().filter((k) => k.name === 'only')).toHaveLength(1)
    expect(await listSealedFiles(join(dir, 'sealed'))).toHaveLength(1)
    await expectAllSealed(join(dir, 'sealed'))
  })

  it('no mutation starts while a created value is not yet sealed', async () => {
    const events: string[] = []
    let sealing = 0
    const spy: PaletteApi = Object.create(api)
    for (const m of ['createApiKey', 'updateApiKey', 'setApiKeyActive', 'deleteApiKey'] as const) {
      const original = api[m].bind(api) as (...args: unknown[]) => Promise<unknown>
      ;(spy as unknown as Record<string, unknown>)[m] = async (...args: unknown[]) => {
        events.push(`${m}${sealing > 0 ? ' WHILE SEALING' : ''}`)
        return original(...args)
      }
    }
    const real = new SealDir(join(dir, 'sealed'))
    const slow: Sealer = {
      seal: async (r: SealedRecord, recipients: string[]) => {
        sealing++
        await new Promise((resolve) => setTimeout(resolve, 30))
        const path = await real.seal(r, recipients)
        sealing--
        return path
      },
      removeFor: (uid) => real.removeFor(uid),
    }
    const {plan, live} = await planFor(users)
    const outcomes = await execute(plan.actions, {api: spy, sealer: slow, live, parallelism: 4})
    expect(outcomes.every((o) => o.status === 'done')).toBe(true)
    expect(events.length).toBeGreaterThan(4)
    expect(events.filter((e) => e.includes('WHILE SEALING'))).toEqual([])
  })

  /** Creates fail on the second call (and every later one, if `persist`: a 429 create is tried again). */
  const failOnSecondCreate = (error: PaletteApiError, persist = false): PaletteApi => {
    let calls = 0
    const flaky: PaletteApi = Object.create(api)
    flaky.createApiKey = async (entity) => {
      if (++calls === 2 || (persist && calls > 2)) throw error
      return api.createApiKey(entity)
    }
    return flaky
  }
  const refused = (status: number | undefined, code: string) => new PaletteApiError({method: 'POST', path: '/v1/apiKeys', status, paletteCode: code, ambiguous: false, attempts: 1})

  it('a failure confined to its key (Palette refused that request) does not stop the other keys; a re-run converges', async () => {
    const {plan, live} = await planFor('users:\n  bob@example.com:\n    keys:\n      a: {}\n      b: {}\n      c: {}\n      d: {}\n')
    const sealDir = new SealDir(join(dir, 'sealed'))
    const outcomes = await execute(plan.actions, {api: failOnSecondCreate(refused(400, 'BadRequest')), sealer: sealDir, live, parallelism: 1})
    expect(outcomes.map((o) => o.status)).toEqual(['done', 'failed', 'done', 'done'])
    const rerun = await planFor('users:\n  bob@example.com:\n    keys:\n      a: {}\n      b: {}\n      c: {}\n      d: {}\n')
    expect(rerun.plan.summary.create).toBe(1)
    const second = await execute(rerun.plan.actions, {api, sealer: sealDir, live: rerun.live, parallelism: 2})
    expect(second.every((o) => o.status === 'done')).toBe(true)
    await expectAllSealed(join(dir, 'sealed'))
  })

  for (const [what, error] of [
    ['401 (the credential)', refused(401, 'Unauthorized')],
    ['429 after the retries (the rate limit)', refused(429, 'TooManyRequests')],
    ['503 after the retries (Palette is down)', refused(503, 'ServiceUnavailable')],
    ['no response (the network)', refused(undefined, 'ECONNREFUSED')],
  ] as const) {
    it(`a failure that would hit every action, ${what}, stops new actions; those in flight finish`, async () => {
      const {plan, live} = await planFor('users:\n  bob@example.com:\n    keys:\n      a: {}\n      b: {}\n      c: {}\n      d: {}\n')
      const outcomes = await execute(plan.actions, {api: failOnSecondCreate(error, true), sealer: new SealDir(join(dir, 'sealed')), live, parallelism: 1})
      expect(outcomes.map((o) => o.status)).toEqual(['done', 'failed', 'not-started', 'not-started'])
    })
  }

  it('a DELETE answered 404 removes the sealed files only when a list confirms the key is gone', async () => {
    const sealDir = new SealDir(join(dir, 'sealed'))
    const made = await planFor('users:\n  bob@example.com:\n    keys:\n      a: {}\n      b: {}\n')
    await execute(made.plan.actions, {api, sealer: sealDir, live: made.live, parallelism: 1})
    expect(await listSealedFiles(join(dir, 'sealed'))).toHaveLength(2)
    // A server that answers a refused credential with 404 on a key: the key is still listed.
    const lying: PaletteApi = Object.create(api)
    lying.deleteApiKey = async (uid) => {
      if (emu.state.key(uid)?.name === 'a') throw new PaletteApiError({method: 'DELETE', path: `/v1/apiKeys/${uid}`, status: 404, paletteCode: 'ResourceNotFound', ambiguous: false, attempts: 1})
      // b really is gone already: deleted behind our back, then 404.
      await api.deleteApiKey(uid)
      throw new PaletteApiError({method: 'DELETE', path: `/v1/apiKeys/${uid}`, status: 404, paletteCode: 'ResourceNotFound', ambiguous: false, attempts: 2})
    }
    const gone = await planFor('users:\n  bob@example.com:\n    keys: {}\n')
    const outcomes = await execute(gone.plan.actions, {api: lying, sealer: sealDir, live: gone.live, parallelism: 1})
    const byName = new Map(outcomes.map((o) => [o.address.split('/')[1], o]))
    expect(byName.get('a')?.status).toBe('failed')
    expect(byName.get('a')?.error).toContain('still listed; its sealed files were kept')
    expect(byName.get('b')?.status).toBe('done')
    const left = await listSealedFiles(join(dir, 'sealed'))
    expect(left).toHaveLength(1)
    expect(left[0]).toContain(`--${emu.state.allKeys().find((k) => k.name === 'a')!.uid}.age`)
  })

  it('a 404 on a key while the credential is refused (a server answering refusals with 404) stops the run, with the credential named', async () => {
    const {plan, live} = await planFor('users:\n  bob@example.com:\n    keys:\n      a: {}\n      b: {}\n      c: {}\n')
    let revoked = false
    const api404: PaletteApi = Object.create(api)
    const notFound = (path: string, method = 'GET') => new PaletteApiError({method, path, status: 404, paletteCode: 'ResourceNotFound', ambiguous: false, attempts: 1})
    api404.createApiKey = async (entity) => {
      if (revoked) throw notFound('/v1/apiKeys', 'POST')
      const created = await api.createApiKey(entity)
      revoked = true // the key is revoked just after the first create: every later request is answered 404
      return created
    }
    api404.getApiKey = async (uid) => (revoked && emu.state.key(uid)?.name !== 'a' ? Promise.reject(notFound(`/v1/apiKeys/${uid}`)) : api.getApiKey(uid))
    api404.whoAmI = async () => Promise.reject(notFound('/v1/users/info'))
    const outcomes = await execute(plan.actions, {api: api404, sealer: new SealDir(join(dir, 'sealed')), live, parallelism: 1})
    expect(outcomes.map((o) => o.status)).toEqual(['done', 'failed', 'not-started'])
    expect(outcomes[1]!.error).toContain('the API key was refused')
  })

  it('a DELETE answered 404 whose confirming list fails once with a 500 is confirmed by the next list: no sealed file outlives its key', async () => {
    const sealDir = new SealDir(join(dir, 'sealed'))
    const made = await planFor('users:\n  bob@example.com:\n    keys:\n      a: {}\n')
    await execute(made.plan.actions, {api, sealer: sealDir, live: made.live, parallelism: 1})
    const flaky: PaletteApi = Object.create(api)
    let lists = 0
    flaky.deleteApiKey = async (uid) => {
      await api.deleteApiKey(uid) // the first attempt went through; its answer was lost, and the retry found nothing
      throw new PaletteApiError({method: 'DELETE', path: `/v1/apiKeys/${uid}`, status: 404, paletteCode: 'ResourceNotFound', ambiguous: false, attempts: 2})
    }
    flaky.listApiKeys = async () => (++lists === 1 ? Promise.reject(new PaletteApiError({method: 'GET', path: '/v1/apiKeys', status: 500, paletteCode: 'InternalError', ambiguous: false, attempts: 1})) : api.listApiKeys())
    const gone = await planFor('users:\n  bob@example.com:\n    keys: {}\n')
    const outcomes = await execute(gone.plan.actions, {api: flaky, sealer: sealDir, live: gone.live, parallelism: 1, sleep: async () => undefined})
    expect(outcomes.map((o) => o.status)).toEqual(['done'])
    expect(lists).toBe(2)
    expect(await listSealedFiles(join(dir, 'sealed'))).toEqual([])
  })

  for (const [reading, answer] of [
    ['the owner\'s uid ("User uid")', (_key: string, owner: string) => owner],
    ['no uid', () => undefined],
    ['the uid of another live key', () => emu.state.allKeys().find((k) => k.name === 'ci')!.uid],
    ['a uid nobody has (a follow-up GET answers 404)', () => 'ffffffffffffffffffffffff'],
  ] as const) {
    it(`a create answered with ${reading} is confirmed by its nonce: the new key is sealed and marked, nothing is done under the answered uid`, async () => {
      const reader: PaletteApi = Object.create(api)
      reader.createApiKey = async (entity) => {
        const created = await api.createApiKey(entity)
        const uid = answer(created.uid!, entity.spec.userUid)
        return uid === undefined ? {apiKey: created.apiKey} : {uid, apiKey: created.apiKey}
      }
      const before = new Map(emu.state.allKeys().map((k) => [k.uid, JSON.stringify(k)]))
      const {plan, live} = await planFor('users:\n  bob@example.com:\n    keys:\n      ci: {adopt: true, expiresAt: "2099-01-01T00:00:00Z"}\n      new: {}\n')
      const outcomes = await execute(plan.actions, {api: reader, sealer: new SealDir(join(dir, 'sealed')), live, parallelism: 1})
      expect(outcomes.map((o) => o.status)).toEqual(outcomes.map(() => 'done'))
      const created = emu.state.allKeys().find((k) => k.name === 'new')!
      expect(outcomes.find((o) => o.kind === 'create')?.createdUid).toBe(created.uid)
      // Every key that was there is as it was, but for the adoption mark on bob's ci.
      for (const [uid, was] of before) {
        const now = emu.state.key(uid)
        expect(now, uid).toBeDefined()
        if (now!.name !== 'ci') expect(JSON.stringify(now), now!.name).toBe(was)
      }
      await expectAllSealed(join(dir, 'sealed'))
    })
  }

  it("after any failure the caller's own keys are left alone (a run that could not finish must not touch the key it runs with)", async () => {
    const {plan, live} = await planFor('users:\n  admin@example.com:\n    keys:\n      mine: {}\n  bob@example.com:\n    keys:\n      a: {}\n      b: {}\n')
    const outcomes = await execute(plan.actions, {api: failOnSecondCreate(refused(500, 'InternalError')), sealer: new SealDir(join(dir, 'sealed')), live, parallelism: 1})
    expect(outcomes.map((o) => `${o.address} ${o.status}`)).toEqual(['bob@example.com/a done', 'bob@example.com/b failed', 'admin@example.com/mine not-started'])
  })
})
