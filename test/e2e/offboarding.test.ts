import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {type CliResult, clockOff, runCli} from '../support/cli.js'
import {useTestTenant} from '../support/tenant.js'

/**
 * Offboarding (issue 19.5): a person taken out of the file is no longer "No changes" / "Clean".
 * Their keys palette-keys made are reported as undeclared-user, and revoked or deleted under
 * policy.undeclaredUsers; a key they made by hand is never touched. Through the real CLI.
 */
const ADMIN = 'offboard-admin-key-0001'
const SEED = `
tenant: {uid: 5f0c4e2a9d1b3c4d5e6f7a8b, orgName: offboarding}
users:
  - email: admin@example.com
    roles: [Tenant Admin]
    apiKeys: [{name: bootstrap, value: ${ADMIN}, expiry: 2099-01-01T00:00:00Z}]
  - email: alice@example.com
  - email: bob@example.com
    apiKeys: [{name: by-hand, value: offboard-bob-by-hand-01, expiry: 2099-01-01T00:00:00Z}]
`
const ALICE = '  alice@example.com:\n    keys:\n      ci: {}\n'
const BOB = '  bob@example.com:\n    keys:\n      deploy: {}\n      nightly: {}\n'

const tenant = useTestTenant(SEED, 'pk-offboard-')

async function cli(args: string[], users: string, policy = ''): Promise<CliResult> {
  await writeFile(join(tenant.work, 'keys.yaml'), `version: 1\nseal: {recipients: [${tenant.recipient}], dir: sealed}\n${policy}users:\n${users}`)
  return runCli([...args, '-f', 'keys.yaml'], {cwd: tenant.work, env: {PALETTE_HOST: tenant.emu.url, PALETTE_API_KEY: ADMIN}})
}

const bobKeys = () => {
  const bob = tenant.emu.state.allUsers().find((u) => u.email === 'bob@example.com')!
  return tenant.emu.state.allKeys().filter((k) => k.userUid === bob.uid).map((k) => `${k.name}:${k.isActive ? 'active' : 'revoked'}`).sort()
}

describe('a person leaves: taken out of the file', () => {
  it('plan reports their managed keys (exit 0, no change), audit fails the night; revoke, then delete, act on them only; the hand-made key stays', async () => {
    expect((await cli(['apply', '--auto-approve'], ALICE + BOB)).code).toBe(0)
    expect(bobKeys()).toEqual(['by-hand:active', 'deploy:active', 'nightly:active'])

    // Bob is removed from the file: the default policy reports, and changes nothing.
    const plan = await cli(['plan', '--detailed-exitcode'], ALICE)
    expect(plan.code, plan.stderr).toBe(0)
    expect(plan.stdout).toContain('bob@example.com/deploy')
    expect(plan.stdout).toContain('whom the file no longer names')
    expect(plan.stdout).not.toContain('by-hand')
    const audit = await cli(['audit', '--json'], ALICE)
    expect(audit.code).toBe(2)
    const report = JSON.parse(audit.stdout)
    expect(report.counts['undeclared-user']).toBe(2)
    expect(report.clean).toBe(false)

    // policy.undeclaredUsers: revoke: a change to review (exit 2), and apply revokes both.
    const revoke = 'policy: {undeclaredUsers: revoke, maxChangeRatio: 1}\n'
    const planned = await cli(['plan', '--detailed-exitcode', '--json'], ALICE, revoke)
    expect(planned.code).toBe(2)
    expect(JSON.parse(planned.stdout).actions.filter((a: {kind: string}) => a.kind === 'revoke').map((a: {address: string}) => a.address)).toEqual(['bob@example.com/deploy', 'bob@example.com/nightly'])
    expect((await cli(['apply', '--auto-approve'], ALICE, revoke)).code).toBe(0)
    expect(bobKeys()).toEqual(['by-hand:active', 'deploy:revoked', 'nightly:revoked'])
    expect((await cli(['plan', '--detailed-exitcode'], ALICE, revoke)).code).toBe(0)

    // delete: gone, with their sealed files; the key bob made by hand is untouched throughout.
    const sealedBefore = (await listSealedFiles(join(tenant.work, 'sealed'))).length
    const del = 'policy: {undeclaredUsers: delete, maxChangeRatio: 1}\n'
    const applied = await cli(['apply', '--auto-approve'], ALICE, del)
    expect(applied.code, applied.stdout + applied.stderr).toBe(0)
    expect(bobKeys()).toEqual(['by-hand:active'])
    expect((await listSealedFiles(join(tenant.work, 'sealed'))).length).toBe(sealedBefore - 2)
    const after = await cli(['audit', '--json'], ALICE, del)
    expect(JSON.parse(after.stdout).counts['undeclared-user']).toBe(0)
    expect(after.code).toBe(0)
  })
})

describe('a scheduled apply with --rotations-only (issue 19.3)', () => {
  const FILE = (incident: string) => `  alice@example.com:\n    keys:\n      rotating: {expiresIn: 30d, rotateBefore: 7d}\n      incident: {${incident}}\n`
  const keysNow = () => JSON.stringify(tenant.emu.state.allKeys().map((k) => [k.uid, k.name, k.isActive, k.annotations]))

  it('refuses (exit 3, nothing changed) to reactivate a key revoked by hand; once the file says so, rotates what is due', async () => {
    expect((await cli(['apply', '--auto-approve'], FILE(''))).code).toBe(0)
    const alice = tenant.emu.state.allUsers().find((u) => u.email === 'alice@example.com')!
    const incident = tenant.emu.state.allKeys().find((k) => k.userUid === alice.uid && k.name === 'incident')!
    tenant.emu.state.setActive(incident.uid, false, new Date()) // revoked by hand during an incident
    const before = keysNow()
    // 25 days on: rotating is inside its rotateBefore window.
    const run = (args: string[]) => runCli([...args, '-f', 'keys.yaml'], {cwd: tenant.work, env: {PALETTE_HOST: tenant.emu.url, PALETTE_API_KEY: ADMIN, ...clockOff(25)}})
    await writeFile(join(tenant.work, 'keys.yaml'), `version: 1\nseal: {recipients: [${tenant.recipient}], dir: sealed}\nusers:\n${FILE('')}`)
    const refused = await run(['apply', '--auto-approve', '--rotations-only'])
    expect(refused.code, refused.stdout + refused.stderr).toBe(3)
    expect(refused.stdout + refused.stderr).toContain('reactivate alice@example.com/incident')
    expect(keysNow()).toBe(before)
    // Without the flag the same apply would reactivate it: that needs review (the PR's plan shows it).
    const plan = await run(['plan', '--json'])
    expect(JSON.parse(plan.stdout).actions.map((a: {kind: string; address: string}) => `${a.kind} ${a.address}`)).toContain('reactivate alice@example.com/incident')

    await writeFile(join(tenant.work, 'keys.yaml'), `version: 1\nseal: {recipients: [${tenant.recipient}], dir: sealed}\nusers:\n${FILE('active: false')}`)
    const rotated = await run(['apply', '--auto-approve', '--rotations-only'])
    expect(rotated.code, rotated.stdout + rotated.stderr).toBe(0)
    expect(rotated.stdout, rotated.stdout).toMatch(/rotate\s+alice@example\.com\/rotating\s+done/)
    expect(tenant.emu.state.allKeys().filter((k) => k.userUid === alice.uid && k.name === 'rotating' && k.isActive)).toHaveLength(1)
  })
})
