import {afterEach, describe, expect, it} from 'vitest'
import type {EmulatorOptions, RunningEmulator} from '../../src/emulator/server.js'
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
