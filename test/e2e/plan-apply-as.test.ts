import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {runCli} from '../support/cli.js'
import {useTestTenant} from '../support/tenant.js'

/**
 * A least-privilege key for the pull-request job (issue 19.4): a Tenant Viewer's key plans with
 * --apply-as for the admin whose key applies, and the admin applies that saved plan. A plan made
 * for someone else's apply, a user who is not there, or a key that cannot list every key are
 * refused. The emulator lets viewers list every key here (--list-keys-with apiKey.list, Palette's
 * documented reading: README row 9).
 */
const ADMIN = 'applyas-admin-key-0001'
const VIEWER = 'applyas-viewer-key-001'
const ALICE = 'applyas-alice-key-0001'
const SEED = `
tenant: {uid: 5f0c4e2a9d1b3c4d5e6f7a01, orgName: applyas}
users:
  - email: admin@example.com
    roles: [Tenant Admin]
    apiKeys: [{name: bootstrap, value: ${ADMIN}, expiry: 2099-01-01T00:00:00Z}]
  - email: viewer@example.com
    roles: [Tenant Viewer]
    apiKeys: [{name: own, value: ${VIEWER}, expiry: 2099-01-01T00:00:00Z}]
  - email: alice@example.com
    apiKeys: [{name: manual, value: ${ALICE}, expiry: 2099-01-01T00:00:00Z}]
`
const tenant = useTestTenant(SEED, 'pk-apply-as-', {fidelity: {listKeysWith: 'apiKey.list'}})

const keys = () => `version: 1\nseal: {recipients: [${tenant.recipient}], dir: sealed}\nusers:\n  alice@example.com:\n    keys:\n      manual: {adopt: true, description: Made by hand}\n      ci: {description: Deploys}\n`
const as = (key: string) => ({PALETTE_HOST: tenant.emu.url, PALETTE_API_KEY: key})

describe('plan --apply-as', () => {
  it('a viewer\'s key plans the admin\'s apply; the admin applies that saved plan; the next plan has no change', async () => {
    await writeFile(join(tenant.work, 'keys.yaml'), keys())
    const before = tenant.emu.stats.mutations
    const plan = await runCli(['plan', '--out', 'plan.json', '--apply-as', 'admin@example.com', '--detailed-exitcode'], {cwd: tenant.work, env: as(VIEWER)})
    expect(plan.code, plan.stderr).toBe(2)
    expect(plan.stdout).toContain("as admin@example.com (for their apply; read with viewer@example.com's key)")
    expect(plan.stdout).toMatch(/create +alice@example\.com\/ci/)
    const json = await runCli(['show', 'plan.json', '--json'], {cwd: tenant.work, env: as(VIEWER)})
    const doc = JSON.parse(json.stdout) as {caller: {email: string; tenantAdmin: boolean}; live: {readAs: string}}
    expect(doc.caller).toMatchObject({email: 'admin@example.com', tenantAdmin: true})
    expect(doc.live.readAs).toBe('viewer@example.com')
    expect(tenant.emu.stats.mutations).toBe(before)

    const apply = await runCli(['apply', 'plan.json'], {cwd: tenant.work, env: as(ADMIN)})
    expect(apply.code, apply.stdout + apply.stderr).toBe(0)
    expect(await listSealedFiles(join(tenant.work, 'sealed'))).toHaveLength(1)
    const again = await runCli(['plan', '--detailed-exitcode'], {cwd: tenant.work, env: as(ADMIN)})
    expect(again.code, again.stdout).toBe(0)
    // The nightly audit reads with the same key, as the admin would see the tenant: clean.
    const audit = await runCli(['audit', '--apply-as', 'admin@example.com'], {cwd: tenant.work, env: as(VIEWER)})
    expect(audit.code, audit.stdout + audit.stderr).toBe(0)
  })

  it('a plan made for another user\'s apply is refused (exit 4, nothing changed), naming whose apply it was for', async () => {
    await writeFile(join(tenant.work, 'keys.yaml'), keys().replace('Deploys', 'Deploys to prod'))
    const plan = await runCli(['plan', '--out', 'other.json', '--apply-as', 'alice@example.com'], {cwd: tenant.work, env: as(VIEWER)})
    expect(plan.code, plan.stderr).toBe(0)
    const before = tenant.emu.stats.mutations
    const apply = await runCli(['apply', 'other.json'], {cwd: tenant.work, env: as(ADMIN)})
    expect(apply.code, apply.stdout + apply.stderr).toBe(4)
    expect(apply.stderr).toContain("made for alice@example.com's apply (read with viewer@example.com's key")
    expect(tenant.emu.stats.mutations).toBe(before)
  })

  it('a saved plan edited to name another caller and reader with terminal escapes: exit 4, nothing changed, the hint quotes them inertly', async () => {
    await writeFile(join(tenant.work, 'keys.yaml'), keys().replace('Deploys', 'Deploys again'))
    expect((await runCli(['plan', '--out', 'edited.json', '--apply-as', 'admin@example.com'], {cwd: tenant.work, env: as(VIEWER)})).code).toBe(0)
    const doc = JSON.parse(await readFile(join(tenant.work, 'edited.json'), 'utf8')) as {caller: {email: string}; live: {readAs: string}}
    doc.caller.email = 'admin@example.com\u001b[2J\u001b]0;owned\u0007'
    doc.live.readAs = 'viewer\u001b[31m@example.com'
    await writeFile(join(tenant.work, 'edited.json'), JSON.stringify(doc))
    const before = tenant.emu.stats.mutations
    const apply = await runCli(['apply', 'edited.json'], {cwd: tenant.work, env: as(ADMIN)})
    expect(apply.code, apply.stdout + apply.stderr).toBe(4)
    expect(apply.stderr).toContain("'s apply (read with")
    expect(apply.stdout + apply.stderr).not.toMatch(/\u001b|\u0007/)
    expect(tenant.emu.stats.mutations).toBe(before)
  })

  it('a user the tenant does not have is a usage error (64); a key that cannot list every key is refused (1), before any plan', async () => {
    await writeFile(join(tenant.work, 'keys.yaml'), keys())
    const nobody = await runCli(['plan', '--apply-as', 'nobody@example.com'], {cwd: tenant.work, env: as(VIEWER)})
    expect(nobody.code, nobody.stderr).toBe(64)
    expect(nobody.stderr).toContain('no user of this tenant has that e-mail address')
    const plain = await runCli(['plan', '--apply-as', 'admin@example.com'], {cwd: tenant.work, env: as(ALICE)})
    expect(plain.code, plain.stderr).toBe(1)
    expect(plain.stderr).toContain('hold no apiKey.list')
    for (const r of [nobody, plain]) expect(r.stdout + r.stderr).not.toMatch(new RegExp(`${ADMIN}|${VIEWER}|${ALICE}`))
  })
})
