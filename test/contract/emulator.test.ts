import {mkdtemp, readFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import type {RunningEmulator} from '../../src/emulator/server.js'
import {EmulatorState} from '../../src/emulator/state.js'
import {ADMIN_KEY, ALICE_KEY, BOB_KEY, call, EXPIRED_KEY, futureExpiry, REVOKED_KEY, startTestEmulator} from '../support/emulator.js'
import {recordAndRemove} from '../support/leaks.js'

let emu: RunningEmulator
beforeEach(async () => {
  emu = await startTestEmulator()
})
afterEach(async () => {
  await emu.close()
})

async function uidOf(email: string): Promise<string> {
  const meta = await call(emu, 'GET', '/v1/users/meta', {key: ADMIN_KEY})
  const u = (meta.body.items as Array<{emailId: string; uid: string}>).find((i) => i.emailId === email)
  if (!u) throw new Error(`no ${email}`)
  return u.uid
}

async function keyUid(name: string): Promise<string> {
  const list = await call(emu, 'GET', '/v1/apiKeys', {key: ADMIN_KEY})
  const k = (list.body.items as Array<{metadata: {name: string; uid: string}}>).find((i) => i.metadata.name === name)
  if (!k) throw new Error(`no key ${name}`)
  return k.metadata.uid
}

async function create(key: string, body: object) {
  return call(emu, 'POST', '/v1/apiKeys', {key, body})
}

describe('API keys endpoints', () => {
  it('lists keys with the shape of the real sample: server annotations, uids, ms timestamps, no value', async () => {
    const res = await call(emu, 'GET', '/v1/apiKeys', {key: ADMIN_KEY})
    expect(res.status).toBe(200)
    expect(res.body.items).toHaveLength(5)
    const laptop = res.body.items.find((k: any) => k.metadata.name === 'laptop')
    expect(laptop.metadata.uid).toMatch(/^[0-9a-f]{24}$/)
    expect(laptop.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    expect(laptop.metadata.deletionTimestamp).toBe('0001-01-01T00:00:00.000Z')
    expect(laptop.metadata.annotations).toMatchObject({
      description: "Alice's laptop",
      ownerUid: await uidOf('alice@example.com'),
      scope: 'tenant',
      tenantUid: '5f0c4e2a9d1b3c4d5e6f7a8b',
    })
    expect(laptop.spec.user).toEqual({firstName: 'Alice', lastName: 'Anders', uid: await uidOf('alice@example.com')})
    expect(laptop.spec.key).toBeUndefined()
    expect(res.text).not.toContain(ALICE_KEY)
  })

  it('creates a key (201 {apiKey, uid}); the value authenticates and is never returned again', async () => {
    const res = await create(ADMIN_KEY, {
      metadata: {name: 'ci-deploy', annotations: {description: 'Deploys', managedBy: 'palette-keys'}},
      spec: {expiry: futureExpiry(), userUid: await uidOf('alice@example.com')},
    })
    expect(res.status).toBe(201)
    expect(res.body.uid).toMatch(/^[0-9a-f]{24}$/)
    const value: string = res.body.apiKey
    expect(value.length).toBeGreaterThanOrEqual(32)

    const info = await call(emu, 'GET', '/v1/users/info', {key: value})
    expect(info.body.userUid).toBe(await uidOf('alice@example.com'))

    const got = await call(emu, 'GET', `/v1/apiKeys/${res.body.uid}`, {key: ADMIN_KEY})
    expect(got.status).toBe(200)
    expect(got.body.metadata.annotations).toMatchObject({description: 'Deploys', managedBy: 'palette-keys'})
    const list = await call(emu, 'GET', '/v1/apiKeys', {key: ADMIN_KEY})
    expect(got.text + list.text).not.toContain(value)
  })

  it('updates name, description, custom annotations and expiry (204, no body); server annotations stay', async () => {
    const uid = await keyUid('laptop')
    const expiry = futureExpiry(400)
    const res = await call(emu, 'PUT', `/v1/apiKeys/${uid}`, {
      key: ADMIN_KEY,
      body: {metadata: {name: 'alice-laptop', annotations: {description: 'new', ownerUid: 'forged', team: 'x'}}, spec: {expiry}},
    })
    expect(res.status).toBe(204)
    expect(res.text).toBe('')
    const got = await call(emu, 'GET', `/v1/apiKeys/${uid}`, {key: ADMIN_KEY})
    expect(got.body.metadata.name).toBe('alice-laptop')
    expect(got.body.metadata.annotations).toMatchObject({description: 'new', team: 'x', ownerUid: await uidOf('alice@example.com')})
    expect(got.body.spec.expiry).toBe(expiry)
  })

  it('revokes and re-activates through PUT /state and PATCH (204), and a revoked key stops authenticating', async () => {
    const uid = await keyUid('laptop')
    expect((await call(emu, 'PUT', `/v1/apiKeys/${uid}/state`, {key: ADMIN_KEY, body: {isActive: false}})).status).toBe(204)
    expect((await call(emu, 'GET', `/v1/apiKeys/${uid}`, {key: ADMIN_KEY})).body.status.isActive).toBe(false)
    expect((await call(emu, 'GET', '/v1/users/info', {key: ALICE_KEY})).status).toBe(401)
    expect((await call(emu, 'PATCH', `/v1/apiKeys/${uid}`, {key: ADMIN_KEY, body: {isActive: true}})).status).toBe(204)
    expect((await call(emu, 'GET', '/v1/users/info', {key: ALICE_KEY})).status).toBe(200)
  })

  it('deletes (204); the key is gone from the list and no longer authenticates', async () => {
    const uid = await keyUid('ci')
    expect((await call(emu, 'DELETE', `/v1/apiKeys/${uid}`, {key: ADMIN_KEY})).status).toBe(204)
    expect((await call(emu, 'GET', `/v1/apiKeys/${uid}`, {key: ADMIN_KEY})).status).toBe(404)
    expect((await call(emu, 'GET', '/v1/users/info', {key: BOB_KEY})).status).toBe(401)
  })

  it('answers 404 ResourceNotFound for an unknown uid on every key operation', async () => {
    const missing = '0123456789abcdef01234567'
    const ops: Array<[string, string, object | undefined]> = [
      ['GET', `/v1/apiKeys/${missing}`, undefined],
      ['PUT', `/v1/apiKeys/${missing}`, {metadata: {name: 'x'}, spec: {expiry: futureExpiry()}}],
      ['PATCH', `/v1/apiKeys/${missing}`, {isActive: false}],
      ['PUT', `/v1/apiKeys/${missing}/state`, {isActive: false}],
      ['DELETE', `/v1/apiKeys/${missing}`, undefined],
    ]
    for (const [method, path, body] of ops) {
      const res = await call(emu, method, path, {key: ADMIN_KEY, body})
      expect(res.status, `${method} ${path}`).toBe(404)
      expect(res.body.code).toBe('ResourceNotFound')
    }
  })

  it('answers 400 to malformed bodies: not JSON, wrong types, missing name or expiry, past expiry', async () => {
    const uid = await keyUid('laptop')
    const cases: Array<[string, string, {rawBody?: string; body?: unknown}]> = [
      ['POST', '/v1/apiKeys', {rawBody: '{not json'}],
      ['POST', '/v1/apiKeys', {}],
      ['POST', '/v1/apiKeys', {body: {metadata: {name: 5}, spec: {expiry: futureExpiry()}}}],
      ['POST', '/v1/apiKeys', {body: {metadata: {name: 'x'}, spec: {expiry: 'tomorrow'}}}],
      ['POST', '/v1/apiKeys', {body: {metadata: {}, spec: {expiry: futureExpiry()}}}],
      ['POST', '/v1/apiKeys', {body: {metadata: {name: 'x'}, spec: {}}}],
      ['POST', '/v1/apiKeys', {body: {metadata: {name: 'x'}, spec: {expiry: '2001-01-01T00:00:00Z'}}}],
      ['PUT', `/v1/apiKeys/${uid}`, {body: {metadata: {annotations: {description: 7}}}}],
      ['PUT', `/v1/apiKeys/${uid}`, {body: {metadata: {name: ''}}}],
      ['PUT', `/v1/apiKeys/${uid}/state`, {body: {isActive: 'no'}}],
      ['PUT', `/v1/apiKeys/${uid}/state`, {body: {}}],
      ['PATCH', `/v1/apiKeys/${uid}`, {rawBody: '[]'}],
      ['POST', '/v1/users/summary', {body: {filter: {emailId: {eq: 3}}}}],
    ]
    for (const [method, path, opts] of cases) {
      const res = await call(emu, method, path, {key: ADMIN_KEY, ...opts})
      expect(res.status, `${method} ${path} ${JSON.stringify(opts)}`).toBe(400)
      expect(res.body.code).toBe('BadRequest')
    }
    expect(emu.stats.mutations).toBe(0)
  })
})

describe('authentication (ApiKey header)', () => {
  it.each([
    ['missing', undefined],
    ['unknown', 'no-such-key-value-123'],
    ['revoked', REVOKED_KEY],
    ['expired', EXPIRED_KEY],
  ])('401 {code, message} when the key is %s, without echoing it', async (_case, key) => {
    const res = await call(emu, 'GET', '/v1/apiKeys', {key})
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('Unauthorized')
    if (key) expect(res.text).not.toContain(key)
  })

  it('matches the header name case-insensitively', async () => {
    for (const name of ['ApiKey', 'apiKey', 'apikey', 'APIKEY']) {
      const res = await call(emu, 'GET', '/v1/users/info', {headers: {[name]: ALICE_KEY}})
      expect(res.status, name).toBe(200)
    }
  })
})

describe('permissions (NOTES.md table: Tenant Admin vs User)', () => {
  // One row per action of the docs' table, for both columns.
  it('list: an admin sees every key, a user only their own', async () => {
    const all = await call(emu, 'GET', '/v1/apiKeys', {key: ADMIN_KEY})
    const own = await call(emu, 'GET', '/v1/apiKeys', {key: BOB_KEY})
    expect(all.body.items.length).toBe(5)
    expect(own.body.items.map((k: any) => k.metadata.name)).toEqual(['ci'])
  })

  it('create: admin and user may create their own keys; omitting userUid means the caller', async () => {
    const mine = await create(BOB_KEY, {metadata: {name: 'bob-2'}, spec: {expiry: futureExpiry()}})
    expect(mine.status).toBe(201)
    const got = await call(emu, 'GET', `/v1/apiKeys/${mine.body.uid}`, {key: BOB_KEY})
    expect(got.body.spec.user.uid).toBe(await uidOf('bob@example.com'))
    const adminOwn = await create(ADMIN_KEY, {metadata: {name: 'a-2'}, spec: {expiry: futureExpiry(), userUid: await uidOf('admin@example.com')}})
    expect(adminOwn.status).toBe(201)
  })

  it('create for another user: admin 201, user 403 (nothing created)', async () => {
    const alice = await uidOf('alice@example.com')
    expect((await create(ADMIN_KEY, {metadata: {name: 'for-alice'}, spec: {expiry: futureExpiry(), userUid: alice}})).status).toBe(201)
    const denied = await create(BOB_KEY, {metadata: {name: 'for-alice'}, spec: {expiry: futureExpiry(), userUid: alice}})
    expect(denied.status).toBe(403)
    expect(denied.body.code).toBe('OperationForbidden')
    expect(emu.stats.mutations).toBe(1)
  })

  it('create for an unknown user: 404', async () => {
    const res = await create(ADMIN_KEY, {metadata: {name: 'x'}, spec: {expiry: futureExpiry(), userUid: 'ffffffffffffffffffffffff'}})
    expect(res.status).toBe(404)
  })

  it('edit: admin may edit anyone\'s key, a user their own, and gets 403 on another\'s', async () => {
    const body = {metadata: {name: 'renamed'}, spec: {expiry: futureExpiry()}}
    expect((await call(emu, 'PUT', `/v1/apiKeys/${await keyUid('laptop')}`, {key: ADMIN_KEY, body})).status).toBe(204)
    expect((await call(emu, 'PUT', `/v1/apiKeys/${await keyUid('ci')}`, {key: BOB_KEY, body})).status).toBe(204)
    const denied = await call(emu, 'PUT', `/v1/apiKeys/${await keyUid('bootstrap')}`, {key: BOB_KEY, body: {metadata: {name: 'mine-now'}}})
    expect(denied.status).toBe(403)
    expect((await call(emu, 'GET', '/v1/apiKeys', {key: ADMIN_KEY})).body.items.some((k: any) => k.metadata.name === 'mine-now')).toBe(false)
  })

  it('revoke: admin may revoke anyone\'s key, a user their own, and gets 403 on another\'s', async () => {
    expect((await call(emu, 'PUT', `/v1/apiKeys/${await keyUid('laptop')}/state`, {key: ADMIN_KEY, body: {isActive: false}})).status).toBe(204)
    const bobCi = await keyUid('ci')
    const bootstrap = await keyUid('bootstrap')
    expect((await call(emu, 'PUT', `/v1/apiKeys/${bootstrap}/state`, {key: BOB_KEY, body: {isActive: false}})).status).toBe(403)
    expect((await call(emu, 'PATCH', `/v1/apiKeys/${bootstrap}`, {key: BOB_KEY, body: {isActive: false}})).status).toBe(403)
    expect((await call(emu, 'PUT', `/v1/apiKeys/${bobCi}/state`, {key: BOB_KEY, body: {isActive: false}})).status).toBe(204)
  })

  it('delete: admin may delete anyone\'s key, a user their own, and gets 403 on another\'s', async () => {
    const laptop = await keyUid('laptop')
    const bootstrap = await keyUid('bootstrap')
    expect((await call(emu, 'DELETE', `/v1/apiKeys/${bootstrap}`, {key: BOB_KEY})).status).toBe(403)
    expect((await call(emu, 'DELETE', `/v1/apiKeys/${laptop}`, {key: ADMIN_KEY})).status).toBe(204)
    const mine = await create(BOB_KEY, {metadata: {name: 'temp'}, spec: {expiry: futureExpiry()}})
    expect((await call(emu, 'DELETE', `/v1/apiKeys/${mine.body.uid}`, {key: BOB_KEY})).status).toBe(204)
  })

  it('reassign: nobody can change a key\'s owner; spec.userUid in an update is ignored (204, owner unchanged)', async () => {
    const bob = await uidOf('bob@example.com')
    const alice = await uidOf('alice@example.com')
    const laptop = await keyUid('laptop')
    const bobCi = await keyUid('ci')
    const moveByAdmin = await call(emu, 'PUT', `/v1/apiKeys/${laptop}`, {key: ADMIN_KEY, body: {metadata: {name: 'laptop'}, spec: {expiry: futureExpiry(), userUid: bob}}})
    const moveByUser = await call(emu, 'PUT', `/v1/apiKeys/${bobCi}`, {key: BOB_KEY, body: {metadata: {name: 'ci'}, spec: {expiry: futureExpiry(), userUid: alice}}})
    expect([moveByAdmin.status, moveByUser.status]).toEqual([204, 204])
    expect((await call(emu, 'GET', `/v1/apiKeys/${laptop}`, {key: ADMIN_KEY})).body.spec.user.uid).toBe(alice)
    expect((await call(emu, 'GET', `/v1/apiKeys/${bobCi}`, {key: ADMIN_KEY})).body.spec.user.uid).toBe(bob)
  })

  it('view: nobody, admin or user, can read a key value after creation', async () => {
    const created = await create(BOB_KEY, {metadata: {name: 'secret'}, spec: {expiry: futureExpiry()}})
    for (const key of [ADMIN_KEY, BOB_KEY]) {
      const got = await call(emu, 'GET', `/v1/apiKeys/${created.body.uid}`, {key})
      const list = await call(emu, 'GET', '/v1/apiKeys', {key})
      expect(got.status).toBe(200)
      expect(got.body.spec.key).toBeUndefined()
      expect(got.text + list.text).not.toContain(created.body.apiKey)
    }
    expect((await call(emu, 'GET', `/v1/apiKeys/${await keyUid('bootstrap')}`, {key: BOB_KEY})).status).toBe(403)
  })
})

describe('user endpoints', () => {
  it('who am I: /v1/users/info gives the caller, the tenant and the org', async () => {
    const res = await call(emu, 'GET', '/v1/users/info', {key: BOB_KEY})
    expect(res.body).toEqual({orgName: 'test', tenantUid: '5f0c4e2a9d1b3c4d5e6f7a8b', userUid: await uidOf('bob@example.com')})
  })

  it('/v1/users/meta lists every user (emailId, name, uid) in one response', async () => {
    const res = await call(emu, 'GET', '/v1/users/meta', {key: BOB_KEY})
    expect(res.body.items).toHaveLength(3)
    expect(res.body.items[0]).toEqual({emailId: 'admin@example.com', name: 'Ada Admin', uid: expect.stringMatching(/^[0-9a-f]{24}$/)})
  })

  it('/v1/users pages with limit (max 50), offset and continue, with listmeta', async () => {
    const p1 = await call(emu, 'GET', '/v1/users?limit=2', {key: ADMIN_KEY})
    expect(p1.body.items).toHaveLength(2)
    expect(p1.body.listmeta).toMatchObject({count: 3, limit: 2, offset: 2})
    expect(p1.body.listmeta.continue).not.toBe('')
    const p2 = await call(emu, 'GET', `/v1/users?limit=2&continue=${encodeURIComponent(p1.body.listmeta.continue)}`, {key: ADMIN_KEY})
    expect(p2.body.items.map((u: any) => u.spec.emailId)).toEqual(['bob@example.com'])
    expect(p2.body.listmeta.continue).toBe('')
    const byOffset = await call(emu, 'GET', '/v1/users?offset=1&limit=500', {key: ADMIN_KEY})
    expect(byOffset.body.items).toHaveLength(2)
    expect(byOffset.body.listmeta.limit).toBe(50)
    expect((await call(emu, 'GET', '/v1/users?continue=%%%', {key: ADMIN_KEY})).status).toBe(400)
    expect((await call(emu, 'GET', '/v1/users?limit=-1', {key: ADMIN_KEY})).status).toBe(400)
    expect((await call(emu, 'GET', '/v1/users', {key: BOB_KEY})).status).toBe(403)
  })

  it('/v1/users pages through 120 users, 50 at a time', async () => {
    await emu.close()
    const users = Array.from({length: 120}, (_, i) => `  - email: u${String(i).padStart(3, '0')}@example.com`).join('\n')
    emu = await startTestEmulator({}, `users:\n  - email: admin@example.com\n    roles: [Tenant Admin]\n    apiKeys: [{name: b, value: ${ADMIN_KEY}}]\n${users}\n`)
    const seen: string[] = []
    let token = ''
    let pages = 0
    do {
      const res = await call(emu, 'GET', `/v1/users${token ? `?continue=${encodeURIComponent(token)}` : ''}`, {key: ADMIN_KEY})
      seen.push(...res.body.items.map((u: any) => u.spec.emailId))
      token = res.body.listmeta.continue
      pages++
    } while (token !== '')
    expect(pages).toBe(3)
    expect(new Set(seen).size).toBe(121)
  })

  it('POST /v1/users/summary filters by emailId and name (ignoreCase by default) and sorts', async () => {
    const eq = await call(emu, 'POST', '/v1/users/summary', {key: ADMIN_KEY, body: {filter: {emailId: {eq: 'ALICE@example.com'}}}})
    expect(eq.body.items.map((u: any) => u.spec.emailId)).toEqual(['alice@example.com'])
    const strict = await call(emu, 'POST', '/v1/users/summary', {key: ADMIN_KEY, body: {filter: {emailId: {eq: 'ALICE@example.com', ignoreCase: false}}}})
    expect(strict.body.items).toHaveLength(0)
    const byName = await call(emu, 'POST', '/v1/users/summary', {
      key: ADMIN_KEY,
      body: {filter: {name: {contains: 'a'}}, sort: [{field: 'name', order: 'desc'}]},
    })
    expect(byName.body.items.map((u: any) => u.spec.firstName)).toEqual(['Alice', 'Ada'])
    const admin = await call(emu, 'POST', '/v1/users/summary', {key: ADMIN_KEY, body: {filter: {emailId: {beginsWith: 'admin'}}}})
    expect(admin.body.items[0].spec.roles).toEqual([{name: 'Tenant Admin', uid: expect.stringMatching(/^[0-9a-f]{24}$/)}])
    expect((await call(emu, 'POST', '/v1/users/summary', {key: BOB_KEY, body: {}})).status).toBe(403)
  })

  it('/v1/users/{uid} and /roles: self or admin; others 403; unknown 404', async () => {
    const bob = await uidOf('bob@example.com')
    const admin = await uidOf('admin@example.com')
    expect((await call(emu, 'GET', `/v1/users/${bob}`, {key: BOB_KEY})).body.spec.emailId).toBe('bob@example.com')
    expect((await call(emu, 'GET', `/v1/users/${bob}`, {key: ADMIN_KEY})).status).toBe(200)
    expect((await call(emu, 'GET', `/v1/users/${admin}`, {key: BOB_KEY})).status).toBe(403)
    const roles = await call(emu, 'GET', `/v1/users/${admin}/roles`, {key: ADMIN_KEY})
    expect(roles.body.roles.map((r: any) => r.name)).toEqual(['Tenant Admin'])
    expect((await call(emu, 'GET', `/v1/users/${bob}/roles`, {key: BOB_KEY})).body.roles.map((r: any) => r.name)).toEqual(['Project Viewer'])
    expect((await call(emu, 'GET', `/v1/users/${admin}/roles`, {key: BOB_KEY})).status).toBe(403)
    expect((await call(emu, 'GET', '/v1/users/ffffffffffffffffffffffff/roles', {key: ADMIN_KEY})).status).toBe(404)
  })
})

describe('rate limit and faults', () => {
  it('answers 429 TooManyRequests past the burst, per prefix, without Retry-After', async () => {
    await emu.close()
    emu = await startTestEmulator({rateLimit: {ratePerSecond: 1, burst: 5}})
    const statuses: number[] = []
    for (let i = 0; i < 8; i++) statuses.push((await call(emu, 'GET', '/v1/apiKeys', {key: ADMIN_KEY})).status)
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200])
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(2)
    const limited = await call(emu, 'GET', '/v1/apiKeys', {key: ADMIN_KEY})
    expect(limited.status).toBe(429)
    expect(limited.body.code).toBe('TooManyRequests')
    expect(limited.headers['retry-after']).toBeUndefined()
    // Another prefix has its own budget.
    expect((await call(emu, 'GET', '/v1/users/info', {key: ADMIN_KEY})).status).toBe(200)
  })

  it('--fail-rate 1 answers every request 500 or 503 and changes nothing', async () => {
    await emu.close()
    emu = await startTestEmulator({failRate: 1, faultSeed: 7})
    const statuses = new Set<number>()
    for (let i = 0; i < 10; i++) {
      const res = await call(emu, 'POST', '/v1/apiKeys', {key: ADMIN_KEY, body: {metadata: {name: 'x'}, spec: {expiry: futureExpiry()}}})
      statuses.add(res.status)
    }
    expect([...statuses].sort()).toEqual([500, 503])
    expect(emu.stats.mutations).toBe(0)
    expect(emu.state.allKeys()).toHaveLength(5)
  })

  it('--drop-after-commit-rate 1 commits the mutation, then drops the connection', async () => {
    await emu.close()
    emu = await startTestEmulator({dropAfterCommitRate: 1})
    await expect(call(emu, 'POST', '/v1/apiKeys', {key: ADMIN_KEY, body: {metadata: {name: 'dropped'}, spec: {expiry: futureExpiry()}}})).rejects.toThrow()
    expect(emu.stats.droppedAfterCommit).toBe(1)
    expect(emu.state.allKeys().some((k) => k.name === 'dropped')).toBe(true)
    // Reads are not mutations: they are answered.
    expect((await call(emu, 'GET', '/v1/apiKeys', {key: ADMIN_KEY})).status).toBe(200)
  })

  it('--latency delays answers (counted via stats, not timed): requests still succeed', async () => {
    await emu.close()
    emu = await startTestEmulator({latencyMs: 20})
    expect((await call(emu, 'GET', '/v1/users/info', {key: ADMIN_KEY})).status).toBe(200)
    expect(emu.stats.requests).toBe(1)
  })
})

describe('routing', () => {
  it('unknown paths are 404 and unsupported methods 405, both as v1Error bodies', async () => {
    const notFound = await call(emu, 'GET', '/v1/nothing', {key: ADMIN_KEY, checkSpec: false})
    expect(notFound.status).toBe(404)
    expect(notFound.body.code).toBe('ResourceNotFound')
    const notAllowed = await call(emu, 'POST', '/v1/users/meta', {key: ADMIN_KEY, checkSpec: false, body: {}})
    expect(notAllowed.status).toBe(405)
  })
})

describe('state persistence (--state)', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pk-state-'))
  })
  afterAll(async () => {
    await recordAndRemove(dir)
  })

  it('keeps created keys across a restart; the file holds hashes, never values', async () => {
    const statePath = join(dir, 'state.json')
    const first = await startTestEmulator({statePath})
    const created = await call(first, 'POST', '/v1/apiKeys', {key: ADMIN_KEY, body: {metadata: {name: 'kept'}, spec: {expiry: futureExpiry()}}})
    await first.close()
    const text = await readFile(statePath, 'utf8')
    expect(text).not.toContain(created.body.apiKey)
    expect(text).not.toContain(ADMIN_KEY)

    const second = await startTestEmulator({state: EmulatorState.fromJson(text)})
    try {
      const info = await call(second, 'GET', '/v1/users/info', {key: created.body.apiKey})
      expect(info.status).toBe(200)
      expect((await call(second, 'GET', `/v1/apiKeys/${created.body.uid}`, {key: ADMIN_KEY})).body.metadata.name).toBe('kept')
    } finally {
      await second.close()
    }
  })

  it('refuses a file that is not an emulator state', () => {
    expect(() => EmulatorState.fromJson('{"users": []}')).toThrow(/not a palette-keys emulator state/)
  })
})

describe('every served endpoint refuses a request without a valid key with a spec-shaped 401', () => {
  const endpoints: Array<[string, string, unknown]> = [
    ['GET', '/v1/apiKeys', undefined],
    ['POST', '/v1/apiKeys', {metadata: {name: 'x'}, spec: {expiry: '2099-01-01T00:00:00Z'}}],
    ['GET', '/v1/apiKeys/0123456789abcdef01234567', undefined],
    ['PUT', '/v1/apiKeys/0123456789abcdef01234567', {metadata: {name: 'x'}}],
    ['PATCH', '/v1/apiKeys/0123456789abcdef01234567', {isActive: true}],
    ['DELETE', '/v1/apiKeys/0123456789abcdef01234567', undefined],
    ['PUT', '/v1/apiKeys/0123456789abcdef01234567/state', {isActive: true}],
    ['GET', '/v1/users/info', undefined],
    ['GET', '/v1/users/meta', undefined],
    ['GET', '/v1/users', undefined],
    ['POST', '/v1/users/summary', {}],
    ['GET', '/v1/users/0123456789abcdef01234567', undefined],
    ['GET', '/v1/users/0123456789abcdef01234567/roles', undefined],
  ]
  it.each(endpoints)('%s %s', async (method, path, body) => {
    for (const key of [undefined, 'wrong-key-value-0001', REVOKED_KEY, EXPIRED_KEY]) {
      const res = await call(emu, method, path, {key, body})
      expect(res.status).toBe(401)
    }
    expect(emu.stats.mutations).toBe(0)
  })
})
