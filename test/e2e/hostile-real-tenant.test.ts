import {mkdtemp, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import type {RunningEmulator} from '../../src/emulator/server.js'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {type CliResult, runCli} from '../support/cli.js'
import {demoRecipient} from '../support/demo.js'
import {call, startTestEmulator} from '../support/emulator.js'
import {type HostileProxy, startHostileProxy} from '../support/hostile-proxy.js'
import {recordAndRemove} from '../support/leaks.js'

/**
 * Real tenants, second round (issue 16): what a Palette may do, or a hostile server or proxy
 * may answer, that the tool once assumed away. Every attack runs through the real CLI against
 * an emulator in this process (mutations counted where they happen), most behind a hostile
 * proxy (test/support/hostile-proxy.ts) that rewrites answers.
 */
const ADMIN = 'hostile2-admin-key-0001'
/** An admin key of Palette's uid shape: a server naming a key with it passes the uid check, so only the secret check can stop it. */
const HEX_ADMIN = '0a1b2c3d4e5f60718293a4b5'
const VIEWER = 'hostile2-viewer-key-001'
const SEED = `
tenant: {uid: 5f0c4e2a9d1b3c4d5e6f7a8b, orgName: realtenant}
users:
  - email: admin@example.com
    roles: [Tenant Admin]
    apiKeys:
      - {name: bootstrap, value: ${ADMIN}, expiry: 2099-01-01T00:00:00Z}
      - {name: hex, value: ${HEX_ADMIN}, expiry: 2099-01-01T00:00:00Z}
  - email: alice@example.com
    apiKeys: [{name: manual, value: hostile2-alice-manual-1, expiry: 2099-01-01T00:00:00Z}]
  - email: bob@example.com
    apiKeys: [{name: bob-own, value: hostile2-bob-key-00001, expiry: 2099-01-01T00:00:00Z}]
  - email: viewer@example.com
    roles: [Tenant Viewer]
    apiKeys: [{name: own, value: ${VIEWER}, expiry: 2099-01-01T00:00:00Z}]
  - email: gone@example.com
    removed: true
    apiKeys: [{name: left-behind, value: hostile2-gone-key-0001, expiry: 2099-01-01T00:00:00Z}]
`

let recipient: string
let emu: RunningEmulator
let proxy: HostileProxy
let work: string
beforeAll(async () => {
  recipient = await demoRecipient()
})
beforeEach(async () => {
  emu = await startTestEmulator({}, SEED)
  proxy = await startHostileProxy(emu.url)
  work = await mkdtemp(join(tmpdir(), 'pk-hostile2-'))
})
afterEach(async () => {
  await proxy.close()
  await emu.close()
  await recordAndRemove(work)
})

function keysFile(users: string, top = '', grace?: string): string {
  return `version: 1\nseal:\n  recipients: [${recipient}]\n  dir: sealed\n${grace ? `  custodyGrace: ${grace}\n` : ''}${top}users:\n${users}`
}

async function cli(args: string[], users: string, options: {host?: string; key?: string; top?: string; grace?: string; env?: NodeJS.ProcessEnv} = {}): Promise<CliResult> {
  await writeFile(join(work, 'keys.yaml'), keysFile(users, options.top, options.grace))
  return runCli(args, {cwd: work, env: {PALETTE_HOST: options.host ?? emu.url, PALETTE_API_KEY: options.key ?? ADMIN, ...options.env}})
}
const file = ['-f', 'keys.yaml']

function userUid(email: string): string {
  return emu.state.allUsers().find((u) => u.email === email)!.uid
}

/**
 * The proxy names every key created from now on by `fake` in every answer (the create's, the
 * GET's, the list's), and maps `fake` in request paths back to the real uid: a server that lies
 * consistently.
 */
function nameNewKeysAs(fake: string): {real: () => string} {
  let real = ''
  const before = new Set(emu.state.allKeys().map((k) => k.uid))
  proxy.hooks.forwardPath = (path) => (real === '' ? path : path.split(fake).join(real))
  proxy.hooks.after = (req, res) => {
    if (req.method === 'POST' && req.path === '/v1/apiKeys' && res.status === 201) {
      real = emu.state.allKeys().find((k) => !before.has(k.uid))!.uid
      return {status: 201, body: {...(res.body as object), uid: fake}}
    }
    if (real === '' || res.body === undefined) return undefined
    return {status: res.status, body: JSON.parse(JSON.stringify(res.body).split(real).join(fake))}
  }
  return {real: () => real}
}

describe('uids are checked before they become paths, names or output (item 6)', () => {
  const users = `  alice@example.com:\n    keys:\n      ci: {}\n`

  it.each([
    ['the caller\'s API key', ADMIN, ADMIN],
    ['an API key of Palette\'s uid shape (only the secret check can stop it)', HEX_ADMIN, HEX_ADMIN],
  ])('a server naming the new key with %s, in every answer: nothing is sent, sealed or named under it; the next honest plan replaces the key', async (_what, fake, key) => {
    const lie = nameNewKeysAs(fake)
    const r = await cli(['apply', ...file, '--auto-approve', '--trace'], users, {host: proxy.url, key})
    expect(r.code, r.stdout + r.stderr).toBe(1)
    expect(r.stdout).toMatch(/not a Palette uid .* or is a secret/)
    expect(await listSealedFiles(join(work, 'sealed'))).toEqual([])
    expect(proxy.seen.filter((s) => s.path.includes(fake))).toEqual([])
    expect(r.stdout + r.stderr).not.toContain(fake)
    // The key is left without a sealed file: within seal.custodyGrace an honest server's plan waits for one, then replaces it.
    expect(emu.state.key(lie.real())!.annotations.paletteKeysCustody).toBe('folder')
    const waits = await cli(['plan', ...file, '--detailed-exitcode'], users)
    expect(waits.code, waits.stdout).toBe(0)
    expect(waits.stdout).toMatch(/no sealed file for key [0-9a-f]{24} in sealed\/alice@example\.com\/ yet/)
    const plan = await cli(['plan', ...file], users, {grace: '0h'})
    expect(plan.stdout).toMatch(/\+\/- rotate {6}alice@example\.com\/ci +value-lost/)
    expect((await cli(['apply', ...file, '--auto-approve'], users, {grace: '0h'})).code).toBe(0)
    const files = await listSealedFiles(join(work, 'sealed'))
    expect(files).toHaveLength(1)
    expect(files[0]).not.toContain(fake)
  })

  it('a key list naming a key with a uid of the wrong shape stops the plan (invalid-answer), zero mutations', async () => {
    const manual = emu.state.allKeys().find((k) => k.name === 'manual')!.uid
    proxy.hooks.after = (req, res) => (req.path === '/v1/apiKeys' && res.body ? {status: res.status, body: JSON.parse(JSON.stringify(res.body).split(manual).join('../../etc/passwd'))} : undefined)
    for (const args of [['plan', ...file], ['apply', ...file, '--auto-approve']]) {
      const r = await cli(args, users, {host: proxy.url})
      expect(r.code, r.stdout + r.stderr).toBe(1)
      expect(r.stderr).toMatch(/GET \/v1\/apiKeys items\[\d+\]\.metadata\.uid: must match pattern/)
    }
    expect(emu.stats.mutations).toBe(0)
  })
})

describe('a declared user missing from Palette blocks only that user (item 5)', () => {
  it('a removed declared user and one never invited: both are blocked with the two causes in the hint, every other user is applied, exit 1; audit reports the rest', async () => {
    const users = `  gone@example.com:\n    keys:\n      ci: {}\n  new@example.com:\n    keys:\n      ci: {}\n  alice@example.com:\n    keys:\n      ci: {}\n`
    const plan = await cli(['plan', ...file], users)
    expect(plan.code, plan.stdout + plan.stderr).toBe(1)
    expect(plan.stdout).toMatch(/x gone@example\.com: unknown-user: gone@example\.com is not a user of tenant realtenant/)
    expect(plan.stdout).toMatch(/x new@example\.com: unknown-user/)
    expect(plan.stdout).toMatch(/hint: If new@example\.com was removed .*take them out of the file .*orphanedKeys.*if they are not invited yet, invite them/)
    expect(plan.stdout).toMatch(/\+ {3}create {6}alice@example\.com\/ci/)
    const apply = await cli(['apply', ...file, '--auto-approve'], users)
    expect(apply.code, apply.stdout + apply.stderr).toBe(1)
    expect(apply.stdout).toMatch(/create {6}alice@example\.com\/ci {2}done/)
    expect(apply.stdout).toContain('2 declared users were blocked and left alone')
    expect(emu.state.allKeys().filter((k) => k.name === 'ci')).toHaveLength(1)
    const audit = await cli(['audit', ...file, '--json'], users)
    expect(audit.code, audit.stderr).toBe(1)
    const report = JSON.parse(audit.stdout)
    expect(report.errors.map((e: {code: string}) => e.code)).toEqual(['unknown-user', 'unknown-user'])
    expect(report.counts['orphaned-owner']).toBe(1)
  })
})

describe('an orphan needs positive evidence (item 3)', () => {
  const users = `  alice@example.com:\n    keys:\n      manual: {adopt: true}\n`
  const bob = () => userUid('bob@example.com')
  const gone = () => emu.state.allKeys().find((k) => k.name === 'left-behind')!.uid
  const dropBob = (paths: string[]) => (req: {method: string; path: string}, res: {status: number; body: unknown}) => {
    if (!paths.includes(req.path.split('?')[0]!) || !res.body) return undefined
    const body = res.body as {items: Array<{uid?: string; metadata?: {uid?: string}}>}
    return {status: res.status, body: {items: body.items.filter((u) => (u.uid ?? u.metadata?.uid) !== bob())}}
  }

  it.each([
    ['dropped from users/meta (users/summary still lists them)', ['/v1/users/meta'], undefined],
    ['dropped from users/meta and users/summary (GET /v1/users/{uid} finds them)', ['/v1/users/meta', '/v1/users/summary'], undefined],
    ['dropped from both, and GET /v1/users/{uid} answered 500', ['/v1/users/meta', '/v1/users/summary'], 500],
  ])('policy.orphanedKeys: delete, a live user %s: their key is not touched; only the removed owner\'s (confirmed by a 404) is deleted', async (_what, paths, userStatus) => {
    proxy.hooks.after = dropBob(paths)
    if (userStatus) proxy.hooks.before = (req) => (req.path === `/v1/users/${bob()}` ? {status: userStatus, body: {code: 'InternalError', message: 'injected'}} : undefined)
    const bobKey = emu.state.allKeys().find((k) => k.name === 'bob-own')!.uid
    const goneKey = gone()
    const top = 'policy: {orphanedKeys: delete, maxChangeRatio: 1}\n'
    const plan = await cli(['plan', ...file, '--json'], users, {host: proxy.url, top})
    const doc = JSON.parse(plan.stdout)
    expect(doc.actions.filter((a: {kind: string}) => a.kind === 'delete').map((a: {key: {uid: string}}) => a.key.uid)).toEqual([goneKey])
    const bobFinding = doc.findings.find((f: {uid: string}) => f.uid === bobKey)
    if (userStatus) expect(bobFinding.message).toContain(`is not applied: that the owner was removed is unconfirmed (GET /v1/users/${bob()} was answered 500)`)
    else expect(bobFinding).toBeUndefined()
    const apply = await cli(['apply', ...file, '--auto-approve'], users, {host: proxy.url, top})
    expect(apply.code, apply.stdout + apply.stderr).toBe(0)
    expect(emu.state.key(bobKey)).toBeDefined()
    expect(emu.state.key(goneKey)).toBeUndefined()
  })

  it('an orphan action is held to the change-ratio brake at any tenant size (exit 3), lifted by --force', async () => {
    const top = 'policy: {orphanedKeys: revoke}\n'
    const r = await cli(['apply', ...file, '--auto-approve'], users, {top})
    expect(r.code, r.stdout + r.stderr).toBe(3)
    expect(r.stderr).toContain('keys of removed owners, under policy.orphanedKeys')
    expect(emu.state.key(gone())!.isActive).toBe(true)
    expect((await cli(['apply', ...file, '--auto-approve', '--force'], users, {top})).code).toBe(0)
    expect(emu.state.key(gone())!.isActive).toBe(false)
  })
})

describe('rights come from roles, not from what is visible (item 4)', () => {
  it('a Tenant Viewer who lists every key (--list-keys-with apiKey.list) is refused a plan that changes others\' keys, before review, naming the permission; apply changes nothing', async () => {
    const viewing = await startTestEmulator({fidelity: {listKeysWith: 'apiKey.list'}}, SEED)
    try {
      const users = `  alice@example.com:\n    keys:\n      manual: {adopt: true}\n      ci: {}\n`
      const plan = await cli(['plan', ...file, '--json'], users, {host: viewing.url, key: VIEWER})
      expect(plan.code, plan.stdout + plan.stderr).toBe(1)
      const doc = JSON.parse(plan.stdout)
      expect(doc.caller.tenantAdmin).toBe(false)
      expect(doc.errors.map((e: {code: string}) => e.code)).toEqual(['missing-permission'])
      expect(doc.errors[0].message).toContain('apiKey.create (for alice@example.com/ci)')
      expect(doc.errors[0].message).toContain('apiKey.update (for alice@example.com/manual)')
      const md = await cli(['plan', ...file, '--format', 'markdown'], users, {host: viewing.url, key: VIEWER})
      expect(md.stdout).toContain('missing-permission')
      const apply = await cli(['apply', ...file, '--auto-approve'], users, {host: viewing.url, key: VIEWER})
      expect(apply.code, apply.stdout + apply.stderr).toBe(1)
      expect(apply.stdout + apply.stderr).toContain('missing-permission')
      expect(viewing.stats.mutations).toBe(0)
      // A plan that changes none of the others' keys is fine for a viewer: review and audit work.
      const none = await cli(['plan', ...file, '--detailed-exitcode'], `  alice@example.com:\n    keys: {}\n`, {host: viewing.url, key: VIEWER})
      expect(none.code, none.stdout + none.stderr).toBe(0)
    } finally {
      await viewing.close()
    }
  })
})

describe('a sealed value is proven to be the owner\'s (item 7)', () => {
  it('a proxy swapping the whole answers of two creates in flight: neither value is sealed under the other user\'s key, both keys go, the next run converges with each value its owner\'s', async () => {
    let held: {body: unknown; give: (a: {status: number; body: unknown}) => void} | undefined
    let swapped = 0
    proxy.hooks.after = (req, res) => {
      if (req.method !== 'POST' || req.path !== '/v1/apiKeys' || res.status !== 201) return undefined
      if (!held) {
        // Hold the first answer until the second create's comes (or give up after 10 s).
        return new Promise((resolve) => {
          held = {body: res.body, give: resolve}
          setTimeout(() => resolve(undefined), 10_000).unref()
        })
      }
      const first = held
      held = undefined
      swapped++
      first.give({status: 201, body: res.body})
      return {status: 201, body: first.body}
    }
    // Two names: a tenant-unique reading (README, row 7) refuses one name for two users.
    const names: Record<string, string> = {'alice@example.com': 'swap-a', 'bob@example.com': 'swap-b'}
    const users = `  alice@example.com:\n    keys:\n      swap-a: {}\n  bob@example.com:\n    keys:\n      swap-b: {}\n`
    const r = await cli(['apply', ...file, '--auto-approve', '--parallelism', '2'], users, {host: proxy.url})
    expect(swapped).toBe(1)
    expect(r.code, r.stdout + r.stderr).toBe(1)
    expect(r.stdout).toMatch(/authenticates as user [0-9a-f]{24}, not as (alice|bob)@example\.com .*it is another key's value/)
    expect(await listSealedFiles(join(work, 'sealed'))).toEqual([])
    expect(emu.state.allKeys().filter((k) => k.name.startsWith('swap-'))).toEqual([])
    proxy.hooks.after = undefined
    const again = await cli(['apply', ...file, '--auto-approve'], users, {host: proxy.url})
    expect(again.code, again.stdout + again.stderr).toBe(0)
    const unseal = await runCli(['unseal', join(work, 'sealed'), '-i', join(process.cwd(), 'examples/demo-identity.txt'), '--format', 'json'])
    expect(unseal.code, unseal.stderr).toBe(0)
    const tree = JSON.parse(unseal.stdout) as Record<string, Record<string, {apiKey: string}>>
    for (const email of ['alice@example.com', 'bob@example.com']) {
      const who = await call(emu, 'GET', '/v1/users/info', {key: tree[email]![names[email]!]!.apiKey})
      expect(who.body.userUid, email).toBe(userUid(email))
    }
  })
})

describe('lists may be cut at 50 (item 2)', () => {
  const seedOf = (users: number, keysEach: number) =>
    `tenant: {uid: 5f0c4e2a9d1b3c4d5e6f7a8b, orgName: big}\nusers:\n  - email: admin@example.com\n    roles: [Tenant Admin]\n    apiKeys: [{name: bootstrap, value: ${ADMIN}, expiry: 2099-01-01T00:00:00Z}]\n` +
    Array.from({length: users}, (_, u) => `  - email: user${String(u).padStart(2, '0')}@example.com\n${keysEach > 0 ? `    apiKeys:\n${Array.from({length: keysEach}, (_, k) => `      - {name: k${k}, value: cut-u${u}-k${k}-value, expiry: 2099-01-01T00:00:00Z}\n`).join('')}` : ''}`).join('')

  it('a key list cut at 50 (--list-limit 50): a declared key past the 50th is not created again; the others are planned and applied; exit 1 naming the list', async () => {
    const cut = await startTestEmulator({fidelity: {listLimit: 50}}, seedOf(5, 11))
    try {
      const users = `  user04@example.com:\n    keys:\n      k10: {adopt: true}\n      new: {}\n  user00@example.com:\n    keys:\n      k0: {adopt: true, description: changed}\n`
      const plan = await cli(['plan', ...file], users, {host: cut.url})
      expect(plan.code, plan.stdout + plan.stderr).toBe(1)
      expect(plan.stdout).toMatch(/Lists: GET \/v1\/apiKeys answered exactly 50 keys/)
      expect(plan.stdout).toMatch(/x user04@example\.com\/k10: key-list-cut: GET \/v1\/apiKeys answered exactly 50 keys/)
      expect(plan.stdout).toMatch(/x user04@example\.com\/new: key-list-cut/)
      expect(plan.stdout).toMatch(/~ {3}update {6}user00@example\.com\/k0/)
      const apply = await cli(['apply', ...file, '--auto-approve'], users, {host: cut.url})
      expect(apply.code, apply.stdout + apply.stderr).toBe(1)
      const u4 = cut.state.allUsers().find((u) => u.email === 'user04@example.com')!.uid
      expect(cut.state.allKeys().filter((k) => k.userUid === u4).map((k) => k.name).sort()).toEqual(Array.from({length: 11}, (_, k) => `k${k}`).sort())
      expect(cut.state.allKeys().find((k) => k.name === 'k0' && k.annotations.description === 'changed')).toBeDefined()
    } finally {
      await cut.close()
    }
  })

  it('a user list cut at 50: the paged GET /v1/users is read too, so a declared user past the 50th is planned and applied as usual', async () => {
    const cut = await startTestEmulator({fidelity: {listLimit: 50}}, seedOf(55, 0))
    try {
      const users = `  user54@example.com:\n    keys:\n      ci: {}\n`
      const plan = await cli(['plan', ...file, '--json'], users, {host: cut.url})
      expect(plan.code, plan.stdout + plan.stderr).toBe(0)
      const doc = JSON.parse(plan.stdout)
      expect(doc.live.listNotes).toEqual([expect.stringContaining('GET /v1/users (paged) was read too, 6 more users found')])
      expect(doc.actions.map((a: {kind: string; address: string}) => `${a.kind} ${a.address}`)).toEqual(['create user54@example.com/ci'])
      expect((await cli(['apply', ...file, '--auto-approve'], users, {host: cut.url})).code).toBe(0)
      expect(cut.state.allKeys().filter((k) => k.name === 'ci')).toHaveLength(1)
    } finally {
      await cut.close()
    }
  })
})

describe('key names may be unique (item 1)', () => {
  it.each(['user', 'tenant'] as const)('--unique-key-names %s: a rotation and a move never make two keys of one name; the plan names each step; every value works; an interrupted rotation is finished', async (scope) => {
    const unique = await startTestEmulator({fidelity: {uniqueKeyNames: scope}}, SEED)
    const names = () => unique.state.allKeys().map((k) => k.name)
    const env = {host: unique.url}
    try {
      const first = `  alice@example.com:\n    keys:\n      ci: {expiresIn: 30d}\n  bob@example.com:\n    keys:\n      mon: {}\n`
      expect((await cli(['apply', ...file, '--auto-approve'], first, env)).code).toBe(0)
      const ci = unique.state.allKeys().find((k) => k.name === 'ci')!
      // Round two: ci is inside its rotation window, mon moves from bob to alice.
      const second = `  alice@example.com:\n    keys:\n      ci: {expiresIn: 90d, rotateBefore: 60d}\n      mon: {movedFrom: bob@example.com}\n  bob@example.com:\n    keys: {}\n`
      const plan = await cli(['plan', ...file], second, env)
      // The predecessor steps aside first, so the successor is made under the declared name (no rename of the new key).
      expect(plan.stdout).toContain(`predecessor [${ci.uid}] is renamed "ci-retired-${ci.uid.slice(0, 8)}" first, then revoked once the successor is sealed`)
      expect(plan.stdout).not.toContain('ci-next-')
      expect(plan.stdout).toMatch(/created as "mon-next-[0-9a-f]{8}", renamed "mon" once the old key is deleted/)
      const r = await cli(['apply', ...file, '--auto-approve'], second, env)
      expect(r.code, r.stdout + r.stderr).toBe(0)
      expect(r.stdout).toContain(`predecessor ${ci.uid} renamed ci-retired-${ci.uid.slice(0, 8)} and revoked`)
      expect(names().filter((n) => n === 'ci' || n === 'mon')).toHaveLength(2)
      expect(names()).toContain(`ci-retired-${ci.uid.slice(0, 8)}`)
      expect((await cli(['plan', ...file, '--detailed-exitcode'], second, env)).code).toBe(0)
      const unseal = await runCli(['unseal', join(work, 'sealed'), '-i', join(process.cwd(), 'examples/demo-identity.txt'), '--format', 'json'])
      const tree = JSON.parse(unseal.stdout) as Record<string, Record<string, {apiKey: string}>>
      for (const name of ['ci', 'mon']) expect((await call(unique, 'GET', '/v1/users/info', {key: tree['alice@example.com']![name]!.apiKey})).body.userUid).toBe(unique.state.allUsers().find((u) => u.email === 'alice@example.com')!.uid)

      // An apply of an earlier version (successor under a transient name, no custody mark) killed between sealing a
      // successor and retiring its predecessor: finished as it was then.
      const succ = unique.state.allKeys().find((k) => k.name === 'ci')!
      const {record} = unique.state.createKey({name: `ci-next-${succ.uid.slice(0, 8)}`, userUid: succ.userUid, expiry: '2099-01-01T00:00:00Z', annotations: {managedBy: 'palette-keys', paletteKeysName: 'ci', paletteKeysSucceeds: succ.uid, description: ''}, labels: {}}, new Date())
      const again = await cli(['plan', ...file], second, env)
      expect(again.stdout).toMatch(/- {3}delete {6}alice@example\.com\/ci +predecessor of a rotation whose successor exists/)
      expect(again.stdout).toMatch(/~ {3}update {6}alice@example\.com\/ci +renamed from "ci-next-/)
      expect((await cli(['apply', ...file, '--auto-approve'], second, env)).code).toBe(0)
      expect(unique.state.key(record.uid)!.name).toBe('ci')
      expect(unique.state.key(record.uid)!.annotations.paletteKeysName).toBeUndefined()
      expect(unique.state.key(succ.uid)).toBeUndefined()
      expect((await cli(['plan', ...file, '--detailed-exitcode'], second, env)).code).toBe(0)
    } finally {
      await unique.close()
    }
  })

  it('--unique-key-names tenant: a create whose name another user\'s key holds is flagged in the plan before review; apply makes the rest, reports the refusal (exit 1), seals nothing for it', async () => {
    const unique = await startTestEmulator({fidelity: {uniqueKeyNames: 'tenant'}}, SEED)
    try {
      const users = `  alice@example.com:\n    keys:\n      bob-own: {}\n      fine: {}\n`
      const plan = await cli(['plan', ...file, '--format', 'json'], users, {host: unique.url})
      const reasons = Object.fromEntries(JSON.parse(plan.stdout).actions.map((a: {address: string; reason: string}) => [a.address, a.reason]))
      expect(reasons['alice@example.com/bob-own']).toContain('another user\'s key has the name "bob-own" too')
      expect(reasons['alice@example.com/fine']).not.toContain('another user')
      const r = await cli(['apply', ...file, '--auto-approve'], users, {host: unique.url})
      expect(r.code).toBe(1)
      expect(r.stdout + r.stderr).toMatch(/bob-own[^\n]*already exists in this tenant/)
      const alice = userUid('alice@example.com')
      expect(unique.state.allKeys().filter((k) => k.userUid === alice).map((k) => k.name).sort()).toEqual(['fine', 'manual'])
      expect((await listSealedFiles(join(work, 'sealed'))).length).toBe(1)
    } finally {
      await unique.close()
    }
  })

  it('the emulator refuses a second key of one name in its scope (409 ResourceConflict, a v1Error), revoked keys counting', async () => {
    const unique = await startTestEmulator({fidelity: {uniqueKeyNames: 'user'}}, SEED)
    try {
      const alice = userUid('alice@example.com')
      const body = (name: string, user = alice) => ({metadata: {name}, spec: {expiry: '2099-01-01T00:00:00Z', userUid: user}})
      const made = await call(unique, 'POST', '/v1/apiKeys', {key: ADMIN, body: body('dup')})
      expect(made.status).toBe(201)
      const uid = unique.state.allKeys().find((k) => k.name === 'dup')!.uid
      await call(unique, 'PUT', `/v1/apiKeys/${uid}/state`, {key: ADMIN, body: {isActive: false}})
      const again = await call(unique, 'POST', '/v1/apiKeys', {key: ADMIN, body: body('dup')})
      expect([again.status, again.body.code]).toEqual([409, 'ResourceConflict'])
      // Another user may (scope user), and renaming onto a taken name is refused too.
      expect((await call(unique, 'POST', '/v1/apiKeys', {key: ADMIN, body: body('dup', userUid('bob@example.com'))})).status).toBe(201)
      const manual = unique.state.allKeys().find((k) => k.name === 'manual')!
      const rename = await call(unique, 'PUT', `/v1/apiKeys/${manual.uid}`, {key: ADMIN, body: {metadata: {name: 'dup'}, spec: {expiry: '2099-01-01T00:00:00Z'}}})
      expect(rename.status).toBe(409)
    } finally {
      await unique.close()
    }
  })
})
