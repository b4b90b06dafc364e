import {existsSync} from 'node:fs'
import {copyFile, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import type {RunningEmulator} from '../../src/emulator/server.js'
import {CUSTODY} from '../../src/plan/ownership.js'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {type CliResult, runCli} from '../support/cli.js'
import {demoRecipient} from '../support/demo.js'
import {call, startTestEmulator} from '../support/emulator.js'
import {recordAndRemove} from '../support/leaks.js'

/**
 * Custody (issue 17.1): a value palette-keys created counts as kept if and only if a sealed file
 * for its key is in the seal folder of the checkout the plan runs in. Everything runs through the
 * real CLI against the emulator.
 */
const ADMIN = 'custody-admin-key-0001'
const SEED = `
tenant: {uid: 5f0c4e2a9d1b3c4d5e6f7a8b, orgName: custody}
users:
  - email: admin@example.com
    roles: [Tenant Admin]
    apiKeys: [{name: bootstrap, value: ${ADMIN}, expiry: 2099-01-01T00:00:00Z}]
  - email: alice@example.com
    apiKeys: [{name: manual, value: custody-alice-manual-01, expiry: 2099-01-01T00:00:00Z, description: made by hand}]
  - email: bob@example.com
`
const IDENTITY = join(process.cwd(), 'examples/demo-identity.txt')
const USERS = `users:\n  alice@example.com:\n    keys:\n      ci: {}\n      manual: {adopt: true, description: made by hand, expiresAt: "2099-01-01T00:00:00Z"}\n  bob@example.com:\n    keys:\n      deploy: {}\n`

let recipient: string
let emu: RunningEmulator
let work: string
beforeAll(async () => {
  recipient = await demoRecipient()
})
beforeEach(async () => {
  emu = await startTestEmulator({}, SEED)
  work = await mkdtemp(join(tmpdir(), 'pk-custody-'))
})
afterEach(async () => {
  await emu.close()
  await recordAndRemove(work)
})

async function cli(args: string[], seal = 'custodyGrace: 0h', users = USERS): Promise<CliResult> {
  await writeFile(join(work, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${recipient}]\n  dir: sealed\n  ${seal}\n${users}`)
  return runCli(args, {cwd: work, env: {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN}})
}
const file = ['-f', 'keys.yaml']

function uidOf(email: string, name: string): string {
  const user = emu.state.allUsers().find((u) => u.email === email)!
  const keys = emu.state.allKeys().filter((k) => k.userUid === user.uid && k.name === name)
  expect(keys, `${email}/${name}`).toHaveLength(1)
  return keys[0]!.uid
}

function userUid(email: string): string {
  return emu.state.allUsers().find((u) => u.email === email)!.uid
}

async function applied(seal?: string): Promise<void> {
  const r = await cli(['apply', ...file, '--auto-approve'], seal)
  expect(r.code, r.stdout + r.stderr).toBe(0)
}

async function unsealed(format: 'json' | 'env'): Promise<CliResult> {
  return runCli(['unseal', join(work, 'sealed'), '-i', IDENTITY, '--format', format])
}

describe('custody: the sealed file in the checkout (issue 17.1)', () => {
  it('a sealed file lost before it reached the repository: plan exit 2 replaces the key (value-lost), apply makes a new one its owner can use, the old key is gone, plan exit 0; the adopted key is not replaced', async () => {
    await applied()
    const ci = uidOf('alice@example.com', 'ci')
    const manual = uidOf('alice@example.com', 'manual')
    expect(emu.state.key(ci)!.annotations[CUSTODY]).toBe('folder')
    // The adopted key never had a sealed file, and carries no custody mark.
    expect(emu.state.key(manual)!.annotations[CUSTODY]).toBeUndefined()
    const lost = join(work, 'sealed', 'alice@example.com', `ci--${ci}.age`)
    expect(existsSync(lost)).toBe(true)
    await rm(lost)

    const plan = await cli(['plan', ...file, '--detailed-exitcode'])
    expect(plan.code, plan.stdout + plan.stderr).toBe(2)
    expect(plan.stdout).toMatch(/rotate {6}alice@example\.com\/ci +value-lost: palette-keys created this key, but no sealed file for it/)
    expect(plan.stdout).not.toMatch(/alice@example\.com\/manual/)
    const json = JSON.parse((await cli(['plan', ...file, '--json'])).stdout) as {actions: Array<{kind: string; address: string; cause?: string}>}
    expect(json.actions.filter((a) => a.kind !== 'no-op')).toEqual([expect.objectContaining({kind: 'rotate', address: 'alice@example.com/ci', cause: 'value-lost'})])
    const audit = await cli(['audit', ...file, '--json'])
    expect(audit.code, audit.stderr).toBe(2)
    expect((JSON.parse(audit.stdout) as {findings: Array<{kind: string; uid?: string}>}).findings).toContainEqual(expect.objectContaining({kind: 'value-lost', uid: ci}))

    await applied()
    expect(emu.state.key(ci)).toBeUndefined()
    const fresh = uidOf('alice@example.com', 'ci')
    const open = await unsealed('json')
    expect(open.code, open.stderr).toBe(0)
    const value = (JSON.parse(open.stdout) as Record<string, Record<string, {apiKey: string; uid: string}>>)['alice@example.com']!.ci!
    expect(value.uid).toBe(fresh)
    expect((await call(emu, 'GET', '/v1/users/info', {key: value.apiKey})).body.userUid).toBe(userUid('alice@example.com'))
    expect(emu.state.key(manual)).toBeDefined()
    const last = await cli(['plan', ...file, '--detailed-exitcode'])
    expect(last.code, last.stdout).toBe(0)
  })

  it('a key deleted by hand: plan names its sealed file, apply removes it (and makes the key again), unseal --format env exits 0', async () => {
    await applied()
    const deploy = uidOf('bob@example.com', 'deploy')
    expect((await call(emu, 'DELETE', `/v1/apiKeys/${deploy}`, {key: ADMIN})).status).toBe(204)
    const plan = await cli(['plan', ...file, '--detailed-exitcode'])
    expect(plan.code, plan.stdout + plan.stderr).toBe(2)
    expect(plan.stdout).toContain(`stale file  sealed/bob@example.com/deploy--${deploy}.age  its key ${deploy} is not in Palette`)
    expect(plan.stdout).toMatch(/1 stale sealed file to remove/)
    const audit = await cli(['audit', ...file, '--json'])
    expect((JSON.parse(audit.stdout) as {findings: Array<{kind: string; uid?: string}>}).findings).toContainEqual(expect.objectContaining({kind: 'stale-sealed-file', uid: deploy}))

    const apply = await cli(['apply', ...file, '--auto-approve', '--json'])
    expect(apply.code, apply.stdout + apply.stderr).toBe(0)
    expect((JSON.parse(apply.stdout) as {removedSealedFiles: string[]}).removedSealedFiles).toEqual([expect.stringContaining(`deploy--${deploy}.age`)])
    expect((await listSealedFiles(join(work, 'sealed'))).filter((f) => f.includes(deploy))).toEqual([])
    const env = await unsealed('env')
    expect(env.code, env.stderr).toBe(0)
    const last = await cli(['plan', ...file, '--detailed-exitcode'])
    expect(last.code, last.stdout).toBe(0)
  })

  it('within seal.custodyGrace (default 1h) a missing file is a finding, not a replacement: a commit-back in flight churns nothing', async () => {
    await applied('')
    const ci = uidOf('alice@example.com', 'ci')
    await rm(join(work, 'sealed', 'alice@example.com', `ci--${ci}.age`))
    const plan = await cli(['plan', ...file, '--detailed-exitcode'], '')
    expect(plan.code, plan.stdout + plan.stderr).toBe(0)
    expect(plan.stdout).toMatch(/unsealed +alice@example\.com\/ci +no sealed file for key [0-9a-f]{24} in sealed\/alice@example\.com\/ yet .*seal\.custodyGrace 1h/)
  })

  it('a saved plan made before the commit-back landed is stale once it has (exit 4), and nothing is replaced', async () => {
    await applied()
    const ci = uidOf('alice@example.com', 'ci')
    const path = join(work, 'sealed', 'alice@example.com', `ci--${ci}.age`)
    // Kept aside under a .age name: the leak scan reads every other file the tests leave.
    await copyFile(path, join(work, 'aside.age'))
    await rm(path)
    const saved = await cli(['plan', ...file, '--out', 'plan.json'])
    expect(saved.code, saved.stdout + saved.stderr).toBe(0)
    expect(saved.stdout).toContain('value-lost')
    // The file arrives (the commit-back landed, and this checkout pulled it).
    await copyFile(join(work, 'aside.age'), path)
    const before = emu.stats.mutations
    const apply = await cli(['apply', 'plan.json', ...file])
    expect(apply.code, apply.stdout + apply.stderr).toBe(4)
    expect(apply.stderr).toMatch(/seal\.files/)
    expect(emu.stats.mutations).toBe(before)
    expect(emu.state.key(ci)).toBeDefined()
  })

  it('a saved plan whose seal.stale was edited to name the desired file (or any path) is refused (exit 4); nothing is removed', async () => {
    await applied()
    const saved = await cli(['plan', ...file, '--out', 'plan.json'])
    expect(saved.code, saved.stdout + saved.stderr).toBe(0)
    const doc = JSON.parse(await readFile(join(work, 'plan.json'), 'utf8')) as {changes: boolean; seal: {stale: unknown[]}}
    doc.changes = true
    doc.seal.stale = [{file: '../keys.yaml', uid: '0123456789abcdef01234567', reason: 'gone'}]
    await writeFile(join(work, 'plan.json'), JSON.stringify(doc))
    const apply = await runCli(['apply', 'plan.json', ...file], {cwd: work, env: {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN}})
    expect(apply.code, apply.stdout + apply.stderr).toBe(4)
    expect(existsSync(join(work, 'keys.yaml'))).toBe(true)
    expect(await listSealedFiles(join(work, 'sealed'))).toHaveLength(2)
  })

  it('a key whose name holds "--" is kept by its sealed file: plan exit 0 after custodyGrace 0h, no value-lost churn', async () => {
    const users = `users:\n  bob@example.com:\n    keys:\n      "deploy--prod": {}\n      "a--b--c": {}\n`
    const first = await cli(['apply', ...file, '--auto-approve'], 'custodyGrace: 0h', users)
    expect(first.code, first.stdout + first.stderr).toBe(0)
    const uid = uidOf('bob@example.com', 'deploy--prod')
    expect(existsSync(join(work, 'sealed', 'bob@example.com', `deploy--prod--${uid}.age`))).toBe(true)
    const plan = await cli(['plan', ...file, '--detailed-exitcode'], 'custodyGrace: 0h', users)
    expect(plan.code, plan.stdout + plan.stderr).toBe(0)
    expect(plan.stdout).not.toMatch(/value-lost/)
  })

  it('seal.custody: mark keeps the pending-mark model: no custody mark, and a missing file replaces nothing', async () => {
    await applied('custody: mark')
    const ci = uidOf('alice@example.com', 'ci')
    expect(emu.state.key(ci)!.annotations[CUSTODY]).toBeUndefined()
    await rm(join(work, 'sealed', 'alice@example.com', `ci--${ci}.age`))
    const plan = await cli(['plan', ...file, '--detailed-exitcode'], 'custody: mark')
    expect(plan.code, plan.stdout + plan.stderr).toBe(0)
  })
})
