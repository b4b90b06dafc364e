import {afterEach, describe, expect, it} from 'vitest'
import type {EmulatorOptions, RunningEmulator} from '../../src/emulator/server.js'
import {ADMIN_KEY, ALICE_KEY, BOB_KEY, call, futureExpiry, startTestEmulator, TEST_SEED} from '../support/emulator.js'

/**
 * The endpoints and readings added for real-tenant fidelity (issue 12): resource limits,
 * users/summary status, removed users, custom roles, and the emulator modes that play each
 * UNCERTAIN reading of the spec. `call` checks every answer against the spec subsets.
 */
let emu: RunningEmulator | undefined
afterEach(async () => {
  await emu?.close()
  emu = undefined
})

const TENANT = '5f0c4e2a9d1b3c4d5e6f7a8b'
const EXTRA = `
  - email: gone@example.com
    removed: true
    apiKeys:
      - {name: left-behind, value: test-gone-key-0000001, expiry: 2099-01-01T00:00:00Z}
  - email: off@example.com
    active: false
    lastSignIn: 2026-01-02T03:04:05Z
  - email: keyadmin@example.com
    roles: [Key Admins]
    apiKeys:
      - {name: mine, value: test-keyadmin-key-0001, expiry: 2099-01-01T00:00:00Z}
roles:
  Key Admins: [apiKey.create, apiKey.delete, apiKey.get, apiKey.list, apiKey.update]
`

async function start(options: Partial<EmulatorOptions> = {}, extra = ''): Promise<RunningEmulator> {
  emu = await startTestEmulator(options, TEST_SEED + extra)
  return emu
}

async function uidOf(e: RunningEmulator, email: string): Promise<string> {
  const u = e.state.allUsers().find((x) => x.email === email)
  if (!u) throw new Error(`no ${email}`)
  return u.uid
}

function newKey(name: string, userUid?: string) {
  return {metadata: {name, annotations: {description: 'x'}}, spec: {expiry: futureExpiry(), ...(userUid ? {userUid} : {})}}
}

describe('GET/PATCH /v1/tenants/{tenantUid}/resourceLimits', () => {
  it('serves the apiKey limit (default 20, Palette\'s documented default) to a tenant admin, as v1TenantResourceLimits', async () => {
    const e = await start()
    const res = await call(e, 'GET', `/v1/tenants/${TENANT}/resourceLimits`, {key: ADMIN_KEY})
    expect(res.status).toBe(200)
    expect(res.body.resources).toEqual([{kind: 'apiKey', label: 'API Keys', limit: 20, maxLimit: 100}])
  })

  it('refuses a user without admin rights (403) and another tenant (404)', async () => {
    const e = await start()
    expect((await call(e, 'GET', `/v1/tenants/${TENANT}/resourceLimits`, {key: ALICE_KEY})).status).toBe(403)
    expect((await call(e, 'GET', '/v1/tenants/000000000000000000000000/resourceLimits', {key: ADMIN_KEY})).status).toBe(404)
  })

  it('enforces the limit on create (revoked and expired keys count), with a v1Error; PATCH changes it', async () => {
    const e = await start({keyLimit: 4})
    const alice = await uidOf(e, 'alice@example.com') // 3 keys: active, revoked, expired
    expect((await call(e, 'POST', '/v1/apiKeys', {key: ADMIN_KEY, body: newKey('fourth', alice)})).status).toBe(201)
    const over = await call(e, 'POST', '/v1/apiKeys', {key: ADMIN_KEY, body: newKey('fifth', alice)})
    expect([over.status, over.body.code]).toEqual([400, 'ResourceLimitExceeded'])
    expect(e.state.allKeys().filter((k) => k.userUid === alice)).toHaveLength(4)
    const patch = await call(e, 'PATCH', `/v1/tenants/${TENANT}/resourceLimits`, {key: ADMIN_KEY, body: {resources: [{kind: 'apiKey', limit: 5}]}})
    expect(patch.status).toBe(204)
    expect((await call(e, 'POST', '/v1/apiKeys', {key: ADMIN_KEY, body: newKey('fifth', alice)})).status).toBe(201)
    expect((await call(e, 'GET', `/v1/tenants/${TENANT}/resourceLimits`, {key: ADMIN_KEY})).body.resources[0].limit).toBe(5)
  })

  it('--key-limit 0 enforces none and serves no apiKey entry', async () => {
    const e = await start({keyLimit: 0})
    expect((await call(e, 'GET', `/v1/tenants/${TENANT}/resourceLimits`, {key: ADMIN_KEY})).body).toEqual({resources: []})
    const bob = await uidOf(e, 'bob@example.com')
    for (let i = 0; i < 25; i++) expect((await call(e, 'POST', '/v1/apiKeys', {key: ADMIN_KEY, body: newKey(`k${i}`, bob)})).status).toBe(201)
  })
})

describe('POST /v1/users/summary and removed users', () => {
  it('gives each user status.isActive and status.lastSignIn in one response (v1UsersSummaryList)', async () => {
    const e = await start({}, EXTRA)
    const res = await call(e, 'POST', '/v1/users/summary', {key: ADMIN_KEY, body: {}})
    expect(res.status).toBe(200)
    const byEmail = new Map((res.body.items as Array<{spec: {emailId: string}; status: {isActive: boolean; lastSignIn: string}}>).map((u) => [u.spec.emailId, u.status]))
    expect(byEmail.get('off@example.com')).toMatchObject({isActive: false, lastSignIn: '2026-01-02T03:04:05.000Z'})
    expect(byEmail.get('alice@example.com')).toMatchObject({isActive: true, lastSignIn: '0001-01-01T00:00:00.000Z'})
    expect(byEmail.has('gone@example.com')).toBe(false)
  })

  it('a removed user is absent from every user endpoint, while their keys are listed and still authenticate', async () => {
    const e = await start({}, EXTRA)
    const gone = e.state.allKeys().find((k) => k.name === 'left-behind')!.userUid
    const meta = await call(e, 'GET', '/v1/users/meta', {key: ADMIN_KEY})
    expect((meta.body.items as Array<{uid: string}>).some((u) => u.uid === gone)).toBe(false)
    expect((await call(e, 'GET', '/v1/users', {key: ADMIN_KEY})).body.items.some((u: {metadata: {uid: string}}) => u.metadata.uid === gone)).toBe(false)
    expect((await call(e, 'GET', `/v1/users/${gone}`, {key: ADMIN_KEY})).status).toBe(404)
    const keys = await call(e, 'GET', '/v1/apiKeys', {key: ADMIN_KEY})
    expect((keys.body.items as Array<{spec: {user: {uid: string}}}>).filter((k) => k.spec.user.uid === gone)).toHaveLength(1)
    const who = await call(e, 'GET', '/v1/users/info', {key: 'test-gone-key-0000001'})
    expect([who.status, who.body.userUid]).toEqual([200, gone])
  })

  it('a user without user.list is refused the summary (403)', async () => {
    const e = await start({}, EXTRA)
    expect((await call(e, 'POST', '/v1/users/summary', {key: ALICE_KEY, body: {}})).status).toBe(403)
  })
})

describe('custom roles (GET /v1/roles)', () => {
  it('a custom role holding every apiKey permission manages every user\'s keys; /v1/roles lists its permissions', async () => {
    const e = await start({}, EXTRA)
    const key = 'test-keyadmin-key-0001'
    expect((await call(e, 'GET', '/v1/apiKeys', {key})).body.items.length).toBe(e.state.allKeys().length)
    const bob = await uidOf(e, 'bob@example.com')
    expect((await call(e, 'POST', '/v1/apiKeys', {key, body: newKey('for-bob', bob)})).status).toBe(201)
    const me = await uidOf(e, 'keyadmin@example.com')
    const roles = await call(e, 'GET', `/v1/users/${me}/roles`, {key})
    expect(roles.body.roles.map((r: {name: string}) => r.name)).toEqual(['Key Admins'])
    const list = await call(e, 'GET', '/v1/roles', {key: ADMIN_KEY})
    expect(list.status).toBe(200)
    const custom = (list.body.items as Array<{metadata: {name: string}; spec: {permissions: string[]; type: string}}>).find((r) => r.metadata.name === 'Key Admins')
    expect(custom?.spec).toMatchObject({permissions: ['apiKey.create', 'apiKey.delete', 'apiKey.get', 'apiKey.list', 'apiKey.update'], type: 'user'})
  })
})

describe('the emulator modes for the UNCERTAIN readings', () => {
  it('--create-uid key | user | absent: what a create answer\'s uid holds', async () => {
    for (const [mode, expected] of [['key', 'key'], ['user', 'user'], ['absent', 'none']] as const) {
      const e = await start({fidelity: {createUid: mode}})
      const bob = await uidOf(e, 'bob@example.com')
      const res = await call(e, 'POST', '/v1/apiKeys', {key: BOB_KEY, body: newKey('mine')})
      expect(res.status).toBe(201)
      const made = e.state.allKeys().find((k) => k.name === 'mine')!
      expect(res.body.uid, mode).toBe(expected === 'key' ? made.uid : expected === 'user' ? bob : undefined)
      await e.close()
      emu = undefined
    }
  })

  it('--update-annotations merge | replace | reject: what an update does with the map it is sent', async () => {
    const outcome: Record<string, unknown> = {}
    for (const mode of ['merge', 'replace', 'reject'] as const) {
      const e = await start({fidelity: {updateAnnotations: mode}})
      const k = e.state.allKeys().find((x) => x.name === 'ci')!
      const put = (annotations: Record<string, string>) => call(e, 'PUT', `/v1/apiKeys/${k.uid}`, {key: ADMIN_KEY, body: {metadata: {name: 'ci', annotations}, spec: {expiry: futureExpiry()}}})
      const bare = await put({description: 'bare'})
      const after = (await call(e, 'GET', `/v1/apiKeys/${k.uid}`, {key: ADMIN_KEY})).body.metadata.annotations
      const full = await put({...after, ownerUid: k.userUid, description: 'full'})
      outcome[mode] = {bare: bare.status, ownerAfterBare: after.ownerUid !== undefined, full: full.status}
      await e.close()
      emu = undefined
    }
    expect(outcome).toEqual({
      merge: {bare: 204, ownerAfterBare: true, full: 204},
      replace: {bare: 204, ownerAfterBare: false, full: 204},
      reject: {bare: 204, ownerAfterBare: true, full: 400},
    })
  })

  it('--auth-failure 401 | 403 | 404: a refused key gets that status with a v1Error, on every endpoint', async () => {
    for (const [status, code] of [[401, 'Unauthorized'], [403, 'OperationForbidden'], [404, 'ResourceNotFound']] as const) {
      const e = await start({fidelity: {authFailure: status}})
      for (const path of ['/v1/users/info', '/v1/apiKeys', `/v1/tenants/${TENANT}/resourceLimits`]) {
        const res = await call(e, 'GET', path, {key: 'not-a-key-at-all'})
        expect([path, res.status, res.body.code]).toEqual([path, status, code])
        expect(res.text).not.toContain('not-a-key-at-all')
      }
      await e.close()
      emu = undefined
    }
  })
})
