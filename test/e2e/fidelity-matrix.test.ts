import {mkdtemp, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {request} from 'undici'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {SERVER_ANNOTATIONS} from '../../src/contract/palette.js'
import {type EmulatorProcess, runCli, startEmulatorProcess} from '../support/cli.js'
import {demoRecipient} from '../support/demo.js'
import {recordAndRemove} from '../support/leaks.js'

/**
 * The readings of Palette's spec that NOTES.md marks UNCERTAIN, each played by the emulator
 * (issue 12): the same apply scenarios, through the real CLI, must converge under every one,
 * end in an empty plan, and leave every sealed value authenticating as its owner.
 */
const MODES: Array<{name: string; flags: string[]}> = [
  {name: 'as today (key uid, merge, 401, 20 keys)', flags: []},
  {name: '--create-uid user', flags: ['--create-uid', 'user']},
  {name: '--create-uid absent', flags: ['--create-uid', 'absent']},
  {name: '--update-annotations replace', flags: ['--update-annotations', 'replace']},
  {name: '--update-annotations reject', flags: ['--update-annotations', 'reject']},
  {name: '--auth-failure 403', flags: ['--auth-failure', '403']},
  {name: '--auth-failure 404', flags: ['--auth-failure', '404']},
  {name: '--key-limit 5', flags: ['--key-limit', '5']},
  {name: '--list-keys-with apiKey.list', flags: ['--list-keys-with', 'apiKey.list']},
  {name: '--list-limit 50', flags: ['--list-limit', '50']},
  {name: '--unique-key-names user', flags: ['--unique-key-names', 'user']},
  {name: '--unique-key-names tenant', flags: ['--unique-key-names', 'tenant']},
  {
    name: 'all at once, with dropped connections after commits',
    flags: ['--create-uid', 'user', '--update-annotations', 'replace', '--auth-failure', '404', '--key-limit', '5', '--unique-key-names', 'tenant', '--list-limit', '50', '--list-keys-with', 'apiKey.list', '--drop-after-commit-rate', '0.15', '--fault-seed', '7'],
  },
]

const ADMIN = 'demo-admin-key-0001'
const IDENTITY = 'examples/demo-identity.txt'

let work: string
let recipient: string
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pk-fidelity-'))
  recipient = await demoRecipient()
})
afterAll(async () => {
  await recordAndRemove(work)
})

/** Round one: adopt a hand-made key, create three. Round two: rotate, move, revoke, drop one, rename. */
function desired(round: 1 | 2): string {
  const head = `version: 1\nseal:\n  recipients: [${recipient}]\npolicy:\n  deleteRetiredAfter: 7d\n  maxChangeRatio: 1\nusers:\n`
  if (round === 1) {
    return `${head}  admin@example.com:\n    keys:\n      bootstrap: {adopt: true, description: Bootstrap key of the demo admin, expiresAt: 2030-01-01T00:00:00Z}\n  alice@example.com:\n    keys:\n      laptop: {adopt: true, description: adopted, expiresAt: 2029-06-30T00:00:00Z}\n      ci: {description: CI, expiresIn: 30d}\n      web: {description: web, expiresIn: 90d}\n  carol@example.com:\n    keys:\n      deploy: {description: deploys, expiresIn: 90d}\n`
  }
  return `${head}  admin@example.com:\n    keys:\n      bootstrap: {adopt: true, description: Bootstrap key of the demo admin, expiresAt: 2030-01-01T00:00:00Z}\n  alice@example.com:\n    keys:\n      laptop-old: {renamedFrom: laptop, description: adopted and renamed, expiresAt: 2029-06-30T00:00:00Z, active: false}\n      ci: {description: CI, expiresIn: 90d, rotateBefore: 40d}\n      deploy: {movedFrom: carol@example.com, description: deploys, expiresIn: 90d}\n  carol@example.com:\n    keys: {}\n`
}

interface Key {
  metadata: {uid: string; name: string; annotations: Record<string, string>}
  spec: {user: {uid: string}}
  status: {isActive: boolean}
}

async function get(emu: EmulatorProcess, path: string, key = ADMIN): Promise<{status: number; body: any}> {
  const res = await request(emu.url + path, {headers: {ApiKey: key}})
  const text = await res.body.text()
  return {status: res.statusCode, body: text === '' ? undefined : JSON.parse(text)}
}

/** Applies until it exits 0 (dropped connections may need a second run), at most 4 runs. */
async function applyUntilDone(env: NodeJS.ProcessEnv, file: string): Promise<number> {
  let last = ''
  for (let run = 1; run <= 4; run++) {
    const r = await runCli(['apply', '-f', file, '--auto-approve', '--rate-limit', '0'], {env})
    if (r.code === 0) return run
    last = r.stderr
  }
  throw new Error(`apply did not converge in 4 runs: ${last}`)
}

/** Every sealed value of a live key authenticates as its owner; every live key keeps Palette's own annotations. */
async function expectSealedValuesWork(emu: EmulatorProcess, sealed: string, admin = ADMIN): Promise<number> {
  const live = (await get(emu, '/v1/apiKeys', admin)).body.items as Key[]
  for (const k of live) for (const a of SERVER_ANNOTATIONS) expect(k.metadata.annotations[a], `${k.metadata.name} lost ${a}`).toBeTypeOf('string')
  expect(live.filter((k) => k.metadata.annotations.paletteKeysPending !== undefined)).toEqual([])
  const owners = new Map(live.map((k) => [k.metadata.uid, k.spec.user.uid]))
  const r = await runCli(['unseal', sealed, '-i', IDENTITY, '--format', 'json'])
  expect(r.code, r.stderr).toBe(0)
  const tree = JSON.parse(r.stdout) as Record<string, Record<string, {apiKey: string; uid: string}>>
  let checked = 0
  for (const byName of Object.values(tree)) {
    for (const v of Object.values(byName)) {
      expect(owners.has(v.uid), `sealed ${v.uid} is a live key`).toBe(true)
      const who = await get(emu, '/v1/users/info', v.apiKey)
      expect(who.status).toBe(200)
      expect(who.body.userUid).toBe(owners.get(v.uid))
      checked++
    }
  }
  return checked
}

describe.each(MODES)('emulator mode: $name', ({flags}) => {
  let emu: EmulatorProcess
  let dir: string
  let env: NodeJS.ProcessEnv
  beforeAll(async () => {
    emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--rate-limit', '0', ...flags])
    dir = await mkdtemp(join(work, 'mode-'))
    env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN}
  })
  afterAll(async () => {
    await emu.stop()
  })

  it('apply converges on two rounds of changes, each ending in an empty plan, every sealed value authenticating as its owner', async () => {
    const file = join(dir, 'keys.yaml')
    for (const round of [1, 2] as const) {
      await writeFile(file, desired(round))
      await applyUntilDone(env, file)
      const plan = await runCli(['plan', '-f', file, '--detailed-exitcode', '--rate-limit', '0'], {env})
      expect(plan.code, `round ${round}: ${plan.stdout}${plan.stderr}`).toBe(0)
    }
    // Round two: alice holds laptop-old (revoked), ci, its retired predecessor, and deploy.
    const live = ((await get(emu, '/v1/apiKeys')).body.items as Key[]).filter((k) => k.metadata.annotations.managedBy === 'palette-keys')
    const names = live.map((k) => `${k.metadata.name}${k.status.isActive ? '' : ' (revoked)'}`).sort()
    // The rotated-out predecessor was renamed out of its successor's way (Palette may require unique names).
    expect(names.map((n) => n.replace(/-retired-[0-9a-f]{8}/, '-retired-*'))).toEqual(['bootstrap', 'ci', 'ci-retired-* (revoked)', 'deploy', 'laptop-old (revoked)'])
    expect(await expectSealedValuesWork(emu, join(dir, 'sealed'))).toBe(2)
  })

  it('a refused credential stops plan and apply with the credential hint, changing nothing', async () => {
    const file = join(dir, 'keys.yaml')
    const before = JSON.stringify((await get(emu, '/v1/apiKeys')).body)
    for (const command of ['plan', 'apply']) {
      const r = await runCli([command, '-f', file, '--rate-limit', '0', ...(command === 'apply' ? ['--auto-approve'] : [])], {env: {...env, PALETTE_API_KEY: 'not-a-key-of-this-tenant'}})
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toContain('The API key was refused')
    }
    expect(JSON.stringify((await get(emu, '/v1/apiKeys')).body)).toBe(before)
  })
})

describe('real-tenant users through the CLI: removed owners, disabled owners, a custom admin role', () => {
  const SEED = `tenant: {uid: 5f0c4e2a9d1b3c4d5e6f7a8b, orgName: people}
roles:
  Key Admins: [apiKey.create, apiKey.delete, apiKey.get, apiKey.list, apiKey.update, user.list]
users:
  - email: keyadmin@example.com
    roles: [Key Admins]
    lastSignIn: 2026-11-30T00:00:00Z
    apiKeys:
      - {name: mine, value: fidelity-keyadmin-0001, expiry: 2099-01-01T00:00:00Z}
  - email: dana@example.com
    lastSignIn: 2026-11-30T00:00:00Z
  - email: gone@example.com
    removed: true
    apiKeys:
      - {name: left-behind, value: fidelity-gone-key-0001, expiry: 2099-01-01T00:00:00Z}
  - email: off@example.com
    active: false
    apiKeys:
      - {name: ci, value: fidelity-off-key-00001, expiry: 2099-01-01T00:00:00Z}
`
  let emu: EmulatorProcess
  let dir: string
  let env: NodeJS.ProcessEnv
  beforeAll(async () => {
    dir = await mkdtemp(join(work, 'people-'))
    await writeFile(join(dir, 'seed.yaml'), SEED)
    emu = await startEmulatorProcess(['--seed', join(dir, 'seed.yaml'), '--rate-limit', '0'])
    env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: 'fidelity-keyadmin-0001'}
  })
  afterAll(async () => {
    await emu.stop()
  })

  const file = (policy: string) => `version: 1\nseal:\n  recipients: [${recipient}]\npolicy: {${policy}}\nusers:\n  dana@example.com:\n    keys:\n      deploy: {description: deploys}\n`

  it('a custom role holding the apiKey permissions manages another user\'s keys; plan and audit report the orphaned and the disabled owner', async () => {
    const keys = join(dir, 'keys.yaml')
    await writeFile(keys, file('orphanedKeys: report'))
    const r = await runCli(['plan', '-f', keys, '--json', '--rate-limit', '0'], {env})
    expect(r.code, r.stderr).toBe(0)
    const plan = JSON.parse(r.stdout)
    expect(plan.caller.tenantAdmin).toBe(true)
    expect(plan.summary.create).toBe(1)
    const kinds = plan.findings.map((f: {kind: string; address: string}) => `${f.kind} ${f.address.replace(/^[0-9a-f]{24}\//, '(uid)/')}`)
    expect(kinds).toEqual(expect.arrayContaining(['orphaned-owner (uid)/left-behind', 'owner-disabled off@example.com/ci']))
    const a = await runCli(['audit', '-f', keys, '--json', '--rate-limit', '0'], {env})
    expect(a.code, a.stderr).toBe(2)
    const report = JSON.parse(a.stdout)
    expect(report.counts['orphaned-owner']).toBe(1)
    expect(report.counts['owner-disabled']).toBe(1)
  })

  it('policy.orphanedKeys: revoke revokes the removed owner\'s key (it then authenticates no more) and the next plan is empty', async () => {
    const keys = join(dir, 'keys.yaml')
    await writeFile(keys, file('orphanedKeys: revoke'))
    expect((await get(emu, '/v1/users/info', 'fidelity-gone-key-0001')).status).toBe(200)
    // An orphan action is held to the change-ratio brake at any tenant size: here 1 of 1.
    const braked = await runCli(['apply', '-f', keys, '--auto-approve', '--rate-limit', '0'], {env})
    expect(braked.code, braked.stderr).toBe(3)
    expect(braked.stderr).toContain('1 of them keys of removed owners')
    const r = await runCli(['apply', '-f', keys, '--auto-approve', '--rate-limit', '0', '--force'], {env})
    expect(r.code, r.stderr).toBe(0)
    expect((await get(emu, '/v1/users/info', 'fidelity-gone-key-0001')).status).toBe(401)
    const again = await runCli(['plan', '-f', keys, '--detailed-exitcode', '--rate-limit', '0'], {env})
    expect(again.code, again.stdout).toBe(0)
    expect(await expectSealedValuesWork(emu, join(dir, 'sealed'), 'fidelity-keyadmin-0001')).toBe(1)
  })
})

describe('the key cap through the CLI', () => {
  let emu: EmulatorProcess
  let dir: string
  beforeAll(async () => {
    emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--rate-limit', '0', '--key-limit', '3'])
    dir = await mkdtemp(join(work, 'cap-'))
  })
  afterAll(async () => {
    await emu.stop()
  })

  it('a plan past the tenant\'s cap is refused by plan and apply (exit 1, key-limit, zero mutations); one that fits applies', async () => {
    const env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN}
    const file = join(dir, 'keys.yaml')
    const keys = (n: number) => Array.from({length: n}, (_, i) => `      k${i}: {}\n`).join('')
    await writeFile(file, `version: 1\nseal:\n  recipients: [${recipient}]\nusers:\n  bob@example.com:\n    keys:\n${keys(4)}`)
    const before = JSON.stringify((await get(emu, '/v1/apiKeys')).body)
    const plan = await runCli(['plan', '-f', file, '--json', '--rate-limit', '0'], {env})
    expect(plan.code).toBe(1)
    const doc = JSON.parse(plan.stdout)
    expect(doc.live.keyLimit).toEqual({perUser: 3, source: 'tenant'})
    expect(doc.errors.map((e: {code: string}) => e.code)).toEqual(['key-limit'])
    expect(doc.errors[0].message).toContain('bob@example.com would hold 4 API keys')
    const apply = await runCli(['apply', '-f', file, '--auto-approve', '--rate-limit', '0'], {env})
    expect(apply.code).toBe(1)
    expect(apply.stderr + apply.stdout).toContain('key-limit')
    expect(JSON.stringify((await get(emu, '/v1/apiKeys')).body)).toBe(before)
    await writeFile(file, `version: 1\nseal:\n  recipients: [${recipient}]\nusers:\n  bob@example.com:\n    keys:\n${keys(3)}`)
    expect((await runCli(['apply', '-f', file, '--auto-approve', '--rate-limit', '0'], {env})).code).toBe(0)
    expect(await expectSealedValuesWork(emu, join(dir, 'sealed'))).toBe(3)
  })
})
