import {mkdtemp, readFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import type {EmulatorOptions, RunningEmulator} from '../../src/emulator/server.js'
import {EmulatorState} from '../../src/emulator/state.js'
import {ADMIN_KEY, ALICE_KEY, BOB_KEY, call, startTestEmulator, TEST_SEED} from '../support/emulator.js'

/**
 * The emulator's readings added for real tenants, round two (issue 16): lists cut at the page
 * size, who lists every key, role filters and pages, Palette's clock. `call` checks every
 * answer against the spec subsets.
 */
let emu: RunningEmulator | undefined
afterEach(async () => {
  await emu?.close()
  emu = undefined
})

const VIEWER_KEY = 'test-viewer-key-000001'
const EXTRA = `
  - email: viewer@example.com
    roles: [Tenant Viewer]
    apiKeys:
      - {name: own, value: ${VIEWER_KEY}, expiry: 2099-01-01T00:00:00Z}
`

async function start(options: Partial<EmulatorOptions> = {}, extra = EXTRA): Promise<RunningEmulator> {
  emu = await startTestEmulator(options, TEST_SEED + extra)
  return emu
}

describe('--list-limit N: lists without listmeta are cut, paged lists page', () => {
  it('GET /v1/apiKeys, GET /v1/users/meta and POST /v1/users/summary answer their first N items and say nothing more', async () => {
    const e = await start({fidelity: {listLimit: 2}})
    expect(e.state.allKeys().length).toBeGreaterThan(2)
    const keys = await call(e, 'GET', '/v1/apiKeys', {key: ADMIN_KEY})
    expect(keys.body.items).toHaveLength(2)
    expect(Object.keys(keys.body)).toEqual(['items'])
    expect((await call(e, 'GET', '/v1/users/meta', {key: ADMIN_KEY})).body.items).toHaveLength(2)
    expect((await call(e, 'POST', '/v1/users/summary', {key: ADMIN_KEY, body: {}})).body.items).toHaveLength(2)
  })

  it('GET /v1/users is not cut: it pages with limit and continue (listmeta), every user once', async () => {
    const e = await start({fidelity: {listLimit: 2}})
    const seen: string[] = []
    let token = ''
    for (let page = 0; page < 10; page++) {
      const res = await call(e, 'GET', `/v1/users?limit=2${token ? `&continue=${encodeURIComponent(token)}` : ''}`, {key: ADMIN_KEY})
      expect(res.status).toBe(200)
      seen.push(...res.body.items.map((u: {metadata: {uid: string}}) => u.metadata.uid))
      token = res.body.listmeta.continue
      if (token === '') break
    }
    expect(seen.sort()).toEqual(e.state.allUsers().map((u) => u.uid).sort())
  })
})

describe('--list-keys-with PERMISSION: who lists every key', () => {
  it('by default only an admin lists every key; with apiKey.list a Tenant Viewer does too, and still may change none of them', async () => {
    const all = (await start()).state.allKeys().length
    expect((await call(emu!, 'GET', '/v1/apiKeys', {key: VIEWER_KEY})).body.items).toHaveLength(1)
    await emu!.close()
    const e = await start({fidelity: {listKeysWith: 'apiKey.list'}})
    expect((await call(e, 'GET', '/v1/apiKeys', {key: VIEWER_KEY})).body.items).toHaveLength(all)
    expect((await call(e, 'GET', '/v1/apiKeys', {key: BOB_KEY})).body.items).toHaveLength(1)
    const alice = e.state.allKeys().find((k) => k.name === 'laptop')!
    expect((await call(e, 'GET', `/v1/apiKeys/${alice.uid}`, {key: VIEWER_KEY})).status).toBe(200)
    expect((await call(e, 'PUT', `/v1/apiKeys/${alice.uid}/state`, {key: VIEWER_KEY, body: {isActive: false}})).status).toBe(403)
    expect((await call(e, 'DELETE', `/v1/apiKeys/${alice.uid}`, {key: VIEWER_KEY})).status).toBe(403)
    const body = {metadata: {name: 'x'}, spec: {expiry: '2099-01-01T00:00:00Z', userUid: alice.userUid}}
    expect((await call(e, 'POST', '/v1/apiKeys', {key: VIEWER_KEY, body})).status).toBe(403)
    expect((await call(e, 'GET', '/v1/apiKeys', {key: ALICE_KEY})).body.items.every((k: {spec: {user: {uid: string}}}) => k.spec.user.uid === alice.userUid)).toBe(true)
  })
})

describe('GET /v1/roles honours filters and pages', () => {
  it('filters on metadata.name and spec.type (AND), refuses an unknown field (400), pages with limit and continue', async () => {
    const e = await start()
    const viewer = await call(e, 'GET', `/v1/roles?filters=${encodeURIComponent('metadata.name=Tenant Viewer')}`, {key: ADMIN_KEY})
    expect(viewer.status).toBe(200)
    expect(viewer.body.items.map((r: {metadata: {name: string}; spec: {permissions: string[]}}) => [r.metadata.name, r.spec.permissions])).toEqual([['Tenant Viewer', ['apiKey.get', 'apiKey.list', 'user.list']]])
    const both = await call(e, 'GET', `/v1/roles?filters=${encodeURIComponent('spec.type=systemANDmetadata.name=Tenant Admin')}`, {key: ADMIN_KEY})
    expect(both.body.items.map((r: {metadata: {name: string}}) => r.metadata.name)).toEqual(['Tenant Admin'])
    expect((await call(e, 'GET', `/v1/roles?filters=${encodeURIComponent('spec.permissions=apiKey.list')}`, {key: ADMIN_KEY})).status).toBe(400)
    const first = await call(e, 'GET', '/v1/roles?limit=2', {key: ADMIN_KEY})
    expect(first.body.items).toHaveLength(2)
    expect(first.body.listmeta.continue).not.toBe('')
    const rest = await call(e, 'GET', `/v1/roles?limit=50&continue=${encodeURIComponent(first.body.listmeta.continue)}`, {key: ADMIN_KEY})
    expect(rest.body.items.length + 2).toBe(first.body.listmeta.count)
  })
})

describe('Palette\'s clock', () => {
  it('every answer carries a Date header from the emulator\'s own clock (clients time leases by it)', async () => {
    const e = await start({now: () => new Date('2030-05-06T07:08:09Z')})
    for (const res of [await call(e, 'GET', '/v1/users/info', {key: ADMIN_KEY}), await call(e, 'GET', '/v1/users/info', {key: 'not-a-key-0000001'})]) {
      expect(res.headers.date).toBe('Mon, 06 May 2030 07:08:09 GMT')
    }
  })
})

describe('the audit log (GET /v1/audits, GET /v1/audits/{uid}, .../sysMsg, PATCH .../userMsg)', () => {
  interface Audit {
    metadata: {uid: string; creationTimestamp: string}
    spec: {actionType: string; actionMsg: string; contentMsg: string; userMsg: string; actor: {actorType: string; user: {uid: string; emailId: string}}; resource: {kind: string; uid: string; name: string}}
  }
  const audits = async (e: RunningEmulator, query = '', key = ADMIN_KEY): Promise<Audit[]> => {
    const res = await call(e, 'GET', `/v1/audits${query}`, {key})
    expect(res.status).toBe(200)
    return res.body.items
  }
  const uidOf = (e: RunningEmulator, email: string) => e.state.allUsers().find((u) => u.email === email)!.uid
  const keyNamed = (e: RunningEmulator, name: string) => e.state.allKeys().find((k) => k.name === name)!

  it('records every key mutation by any caller, newest first, with actor and resource and never a value; refused requests leave no entry', async () => {
    const e = await start()
    expect(await audits(e)).toEqual([])
    const alice = uidOf(e, 'alice@example.com')
    const created = await call(e, 'POST', '/v1/apiKeys', {key: ADMIN_KEY, body: {metadata: {name: 'deploy'}, spec: {expiry: '2099-01-01T00:00:00Z', userUid: alice}}})
    expect(created.status).toBe(201)
    const deploy = keyNamed(e, 'deploy')
    expect((await call(e, 'PUT', `/v1/apiKeys/${deploy.uid}`, {key: ALICE_KEY, body: {metadata: {name: 'deploy-2'}, spec: {expiry: '2098-01-01T00:00:00Z'}}})).status).toBe(204)
    expect((await call(e, 'PUT', `/v1/apiKeys/${deploy.uid}/state`, {key: ADMIN_KEY, body: {isActive: false}})).status).toBe(204)
    const bobsKey = keyNamed(e, 'ci')
    // Refused: Alice may not touch Bob's key; a missing key is 404. Neither is logged.
    expect((await call(e, 'DELETE', `/v1/apiKeys/${bobsKey.uid}`, {key: ALICE_KEY})).status).toBe(403)
    expect((await call(e, 'DELETE', `/v1/apiKeys/${'0'.repeat(24)}`, {key: ADMIN_KEY})).status).toBe(404)
    expect((await call(e, 'DELETE', `/v1/apiKeys/${deploy.uid}`, {key: ADMIN_KEY})).status).toBe(204)

    const log = await audits(e)
    expect(log.map((a) => [a.spec.actionType, a.spec.actor.user.emailId, a.spec.resource.uid, a.spec.resource.name, a.spec.resource.kind])).toEqual([
      ['delete', 'admin@example.com', deploy.uid, 'deploy-2', 'apiKey'],
      ['update', 'admin@example.com', deploy.uid, 'deploy-2', 'apiKey'],
      ['update', 'alice@example.com', deploy.uid, 'deploy-2', 'apiKey'],
      ['create', 'admin@example.com', deploy.uid, 'deploy', 'apiKey'],
    ])
    expect(log.every((a) => a.spec.actor.actorType === 'user' && /^[0-9a-f]{24}$/.test(a.metadata.uid))).toBe(true)
    expect(log[2]!.spec.contentMsg).toContain("name 'deploy' → 'deploy-2'")
    expect(log[1]!.spec.actionMsg).toContain('revoked')
    const text = JSON.stringify(log)
    for (const secret of [created.body.apiKey as string, ADMIN_KEY, ALICE_KEY]) expect(text).not.toContain(secret)
  })

  it('filters by actor, resource, kind, action and time; refuses an unknown actionType or a malformed time (400)', async () => {
    let clock = new Date('2030-01-01T00:00:00Z')
    const e = await start({now: () => clock})
    const alice = keyNamed(e, 'laptop')
    const bob = keyNamed(e, 'ci')
    await call(e, 'PUT', `/v1/apiKeys/${alice.uid}`, {key: ALICE_KEY, body: {metadata: {name: 'laptop'}, spec: {expiry: '2099-02-01T00:00:00Z'}}})
    clock = new Date('2030-01-02T00:00:00Z')
    await call(e, 'PUT', `/v1/apiKeys/${bob.uid}`, {key: BOB_KEY, body: {metadata: {name: 'ci'}, spec: {expiry: '2099-02-01T00:00:00Z'}}})
    await call(e, 'POST', '/v1/apiKeys', {key: BOB_KEY, body: {metadata: {name: 'bob-2'}, spec: {expiry: '2099-01-01T00:00:00Z'}}})
    const names = (log: Audit[]) => log.map((a) => `${a.spec.actionType}:${a.spec.resource.name}`)
    expect(names(await audits(e, `?userUid=${uidOf(e, 'bob@example.com')}`))).toEqual(['create:bob-2', 'update:ci'])
    expect(names(await audits(e, `?resourceUid=${alice.uid}`))).toEqual(['update:laptop'])
    expect(names(await audits(e, '?actionType=create'))).toEqual(['create:bob-2'])
    expect(names(await audits(e, '?resourceKind=apiKey'))).toHaveLength(3)
    expect(await audits(e, '?resourceKind=spectrocluster')).toEqual([])
    expect(names(await audits(e, `?startTime=${encodeURIComponent('2030-01-01T12:00:00Z')}`))).toEqual(['create:bob-2', 'update:ci'])
    expect(names(await audits(e, `?endTime=${encodeURIComponent('2030-01-01T12:00:00Z')}`))).toEqual(['update:laptop'])
    expect(await audits(e, `?tenantUid=${'1'.repeat(24)}`)).toEqual([])
    expect(names(await audits(e, '?tenantUid=5f0c4e2a9d1b3c4d5e6f7a8b'))).toHaveLength(3)
    expect((await call(e, 'GET', '/v1/audits?actionType=rename', {key: ADMIN_KEY})).status).toBe(400)
    expect((await call(e, 'GET', '/v1/audits?startTime=yesterday', {key: ADMIN_KEY})).status).toBe(400)
    // Retention: one year (docs). An entry older than that is no longer served.
    clock = new Date('2031-01-01T12:00:00Z')
    expect(names(await audits(e))).toEqual(['create:bob-2', 'update:ci'])
  })

  it('pages at most 50 with continue; entries recorded while paging do not shift the later pages', async () => {
    const e = await start()
    const laptop = keyNamed(e, 'laptop')
    const touch = (n: number) => call(e, 'PUT', `/v1/apiKeys/${laptop.uid}`, {key: ALICE_KEY, body: {metadata: {name: `laptop-${n}`}, spec: {expiry: '2099-01-01T00:00:00Z'}}})
    for (let n = 1; n <= 60; n++) expect((await touch(n)).status).toBe(204)
    const first = await call(e, 'GET', '/v1/audits?limit=500', {key: ADMIN_KEY})
    expect(first.body.items).toHaveLength(50)
    expect(first.body.listmeta).toMatchObject({count: 60, limit: 50})
    expect(first.body.listmeta.continue).not.toBe('')
    for (let n = 61; n <= 65; n++) await touch(n)
    const rest = await call(e, 'GET', `/v1/audits?continue=${encodeURIComponent(first.body.listmeta.continue)}`, {key: ADMIN_KEY})
    expect(rest.body.listmeta.continue).toBe('')
    const seen = [...first.body.items, ...rest.body.items].map((a: Audit) => a.spec.resource.name)
    expect(seen).toEqual(Array.from({length: 60}, (_, i) => `laptop-${60 - i}`))
    expect((await call(e, 'GET', '/v1/audits?continue=bm90LWEtdG9rZW4', {key: ADMIN_KEY})).status).toBe(400)
    expect((await audits(e, '?limit=5')).map((a) => a.spec.resource.name)).toEqual(['laptop-65', 'laptop-64', 'laptop-63', 'laptop-62', 'laptop-61'])
  })

  it('one entry, its system message and the user note (3–255 characters); admins only; a state file keeps the log', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'audits-'))
    const statePath = join(dir, 'state.json')
    const e = await start({statePath})
    const laptop = keyNamed(e, 'laptop')
    await call(e, 'PUT', `/v1/apiKeys/${laptop.uid}`, {key: ALICE_KEY, body: {metadata: {name: 'laptop'}, spec: {expiry: '2099-03-01T00:00:00Z'}}})
    const [entry] = await audits(e)
    const got = await call(e, 'GET', `/v1/audits/${entry!.metadata.uid}`, {key: ADMIN_KEY})
    expect(got.body).toEqual(entry)
    const sys = await call(e, 'GET', `/v1/audits/${entry!.metadata.uid}/sysMsg`, {key: ADMIN_KEY})
    expect(sys.body).toEqual({actionMsg: entry!.spec.actionMsg, contentMsg: entry!.spec.contentMsg})
    expect((await call(e, 'PATCH', `/v1/audits/${entry!.metadata.uid}/userMsg`, {key: ADMIN_KEY, body: {userMsg: 'ok'}})).status).toBe(400)
    expect((await call(e, 'PATCH', `/v1/audits/${entry!.metadata.uid}/userMsg`, {key: ADMIN_KEY, body: {userMsg: 'x'.repeat(256)}})).status).toBe(400)
    expect((await call(e, 'PATCH', `/v1/audits/${entry!.metadata.uid}/userMsg`, {key: ADMIN_KEY, body: {userMsg: 'rotated by hand, ticket 42'}})).status).toBe(204)
    expect((await audits(e))[0]!.spec.userMsg).toBe('rotated by hand, ticket 42')
    expect((await call(e, 'GET', `/v1/audits/${'0'.repeat(24)}`, {key: ADMIN_KEY})).status).toBe(404)
    for (const key of [ALICE_KEY, VIEWER_KEY]) {
      expect((await call(e, 'GET', '/v1/audits', {key})).status).toBe(403)
      expect((await call(e, 'GET', `/v1/audits/${entry!.metadata.uid}`, {key})).status).toBe(403)
      expect((await call(e, 'PATCH', `/v1/audits/${entry!.metadata.uid}/userMsg`, {key, body: {userMsg: 'not mine'}})).status).toBe(403)
    }
    await e.close()
    emu = await startTestEmulator({state: EmulatorState.fromJson(await readFile(statePath, 'utf8'))})
    expect((await audits(emu)).map((a) => [a.metadata.uid, a.spec.userMsg])).toEqual([[entry!.metadata.uid, 'rotated by hand, ticket 42']])
  })
})
