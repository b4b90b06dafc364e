import {execFile, execFileSync} from 'node:child_process'
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {describe, expect, it} from 'vitest'
import type {Plan} from '../../src/plan/model.js'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {haveAgeCli} from '../support/age-cli.js'
import {runCli} from '../support/cli.js'
import {ADMIN_KEY} from '../support/emulator.js'
import {recordOutput, registerSecret} from '../support/leaks.js'
import {adminAndAlice, useKeyring, useTestTenant} from '../support/tenant.js'

/**
 * The life of recipients (issue 20), through the real CLI against the emulator, each value
 * opened by Debian's age: per-user lists (alice's own key opens only her values), and the
 * lifecycle add → plan reports → reseal → the new recipient opens every old value; remove →
 * plan rotates exactly what the removed one could read → apply → plan empty.
 */
const SEED = adminAndAlice('recipients', '5f0c0c0c0c0c0c0c0c0c0c04')
const tenant = useTestTenant(SEED, 'pk-recipients-')
const run = promisify(execFile)
const env = () => ({PALETTE_HOST: tenant.emu.url, PALETTE_API_KEY: ADMIN_KEY})

const ring = useKeyring('pk-recipients-')

/** A new identity in the keyring (palette-keys keygen: age-keygen's format); its text is registered for the leak scan. */
async function identity(name: string): Promise<{file: string; recipient: string}> {
  const file = join(ring.dir, `${name}.txt`)
  const made = await runCli(['keygen', '-o', file], {cwd: tenant.work})
  expect(made.code, made.stderr).toBe(0)
  const text = await readFile(file, 'utf8')
  registerSecret(text.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'))!, `${name} identity (recipients.test)`)
  return {file, recipient: made.stdout.trim()}
}

/** Whether Debian's age opens `file` with `identityFile` (its output is the sealed record: checked, never printed). */
async function ageOpens(identityFile: string, file: string): Promise<boolean> {
  return run('age', ['-d', '-i', identityFile, file]).then(
    (r) => {
      expect((JSON.parse(r.stdout) as {uid: string}).uid).toMatch(/^[0-9a-f]{24}$/)
      return true
    },
    (e: {stderr: string}) => {
      recordOutput('age -d (recipients.test)', e.stderr)
      return false
    },
  )
}

const keysYaml = (top: string[], users: string) => `version: 1\nseal: {recipients: [${top.join(', ')}], dir: sealed, custodyGrace: 0h}\nusers:\n${users}`

async function planJson(): Promise<Plan> {
  const r = await runCli(['plan', '--json'], {cwd: tenant.work, env: env()})
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as Plan
}

async function sealedFile(user: string, name: string): Promise<string> {
  const files = (await listSealedFiles(join(tenant.work, 'sealed'))).filter((f) => f.includes(`/${user}/${name}--`))
  expect(files, `${user}/${name}`).toHaveLength(1)
  return files[0]!
}

/** The first test's identities, which the second goes on with. */
const people: Record<string, {file: string; recipient: string}> = {}

describe('recipients per user, per key, and their life', () => {
  it('per-user recipients: alice\'s value opens with her identity only; CI\'s with the operators\' only (Debian age both ways); the plan says whom each is sealed to', async () => {
    const ops = (people.ops = await identity('ops'))
    const alice = (people.alice = await identity('alice'))
    await writeFile(join(tenant.work, 'keys.yaml'), keysYaml([ops.recipient], `  admin@example.com:\n    keys:\n      ci: {}\n  alice@example.com:\n    seal: {recipients: [${alice.recipient}]}\n    keys:\n      laptop: {}\n`))
    const plan = await runCli(['plan', '--detailed-exitcode'], {cwd: tenant.work, env: env()})
    expect(plan.code, plan.stderr).toBe(2)
    expect(plan.stdout).toContain(`sealed to ${ops.recipient.slice(0, 8)}…${ops.recipient.slice(-4)} (seal.recipients)`)
    expect(plan.stdout).toContain(`sealed to ${alice.recipient.slice(0, 8)}…${alice.recipient.slice(-4)} (users["alice@example.com"].seal.recipients)`)
    const apply = await runCli(['apply', '--auto-approve'], {cwd: tenant.work, env: env()})
    expect(apply.code, apply.stdout + apply.stderr).toBe(0)

    const laptop = await sealedFile('alice@example.com', 'laptop')
    const ci = await sealedFile('admin@example.com', 'ci')
    // palette-keys' own unseal agrees with the file's recipients.
    const mine = await runCli(['unseal', 'sealed', '-i', alice.file, '--format', 'json'], {cwd: tenant.work})
    expect(Object.keys(JSON.parse(mine.stdout) as object)).toEqual(['alice@example.com'])
    if (!haveAgeCli()) return
    expect(await ageOpens(alice.file, laptop)).toBe(true)
    expect(await ageOpens(ops.file, laptop)).toBe(false)
    expect(await ageOpens(ops.file, ci)).toBe(true)
    expect(await ageOpens(alice.file, ci)).toBe(false)
  })

  it('add a recipient: plan reports the values sealed to the old set; reseal; the new one opens every old value (Debian age); remove one: plan rotates exactly what it could read; apply; plan empty', async () => {
    const opsA = people.ops!
    const alice = people.alice!.recipient
    const opsC = await identity('ops-c')
    const users = `  admin@example.com:\n    keys:\n      ci: {}\n      web: {}\n  alice@example.com:\n    seal: {recipients: [${alice}]}\n    keys:\n      laptop: {}\n`
    await writeFile(join(tenant.work, 'keys.yaml'), keysYaml([opsA.recipient], users))
    expect((await runCli(['apply', '--auto-approve'], {cwd: tenant.work, env: env()})).code).toBe(0)

    // ops-c joins: the values sealed before are reported, none rotated.
    await writeFile(join(tenant.work, 'keys.yaml'), keysYaml([opsA.recipient, opsC.recipient], users))
    const added = await planJson()
    expect(added.changes).toBe(false)
    expect(added.findings.filter((f) => f.kind === 'sealed-to-other-recipients').map((f) => f.address).sort()).toEqual(['admin@example.com/ci', 'admin@example.com/web'])
    const audit = await runCli(['audit', '--json'], {cwd: tenant.work, env: env()})
    expect((JSON.parse(audit.stdout) as {counts: Record<string, number>}).counts['sealed-to-other-recipients']).toBe(2)
    const oldCi = await sealedFile('admin@example.com', 'ci')
    const oldWeb = await sealedFile('admin@example.com', 'web')
    if (haveAgeCli()) expect(await ageOpens(opsC.file, oldCi)).toBe(false)
    // ops-c's unseal says whom each file is sealed to, and whether a reseal would help them.
    const label = (r: string) => `${r.slice(0, 8)}…${r.slice(-4)}`
    const closed = await runCli(['unseal', 'sealed', '-i', opsC.file], {cwd: tenant.work})
    expect(closed.code).toBe(1)
    expect(closed.stderr).toMatch(new RegExp(`admin@example.com/ci--[0-9a-f]{24}\\.age: sealed to ${label(opsA.recipient)}; you are in seal.recipients now: a reseal by a holder of one of those \\(palette-keys reseal\\) lets you open it`))
    expect(closed.stderr).toMatch(new RegExp(`alice@example.com/laptop--[0-9a-f]{24}\\.age: sealed to ${label(alice)}; you are not in users\\["alice@example.com"\\].seal.recipients, so a reseal would not help you`))
    const one = await runCli(['unseal', 'sealed', '-i', opsC.file, '--key', 'admin@example.com/web'], {cwd: tenant.work})
    expect(one.code).toBe(1)
    expect(one.stderr).toContain('admin@example.com/web--')
    expect(one.stderr).not.toContain('admin@example.com/ci--')

    // A dry run writes nothing; reseal by an ops-a holder: alice's value is not theirs, and needs nothing.
    const before = await readFile(oldCi, 'utf8')
    const dry = await runCli(['reseal', '-i', opsA.file, '--dry-run', '--json'], {cwd: tenant.work})
    expect(dry.code, dry.stderr).toBe(0)
    expect((JSON.parse(dry.stdout) as {counts: Record<string, number>}).counts).toEqual({resealed: 2, current: 0, 'not-opened': 1, broken: 0, refused: 0})
    expect(await readFile(oldCi, 'utf8')).toBe(before)
    const reseal = await runCli(['reseal', '-i', opsA.file], {cwd: tenant.work})
    expect(reseal.code, reseal.stdout + reseal.stderr).toBe(0)
    expect(reseal.stdout).toMatch(/resealed\s+sealed\/admin@example.com\/ci--[0-9a-f]{24}\.age {2}admin@example.com\/ci {2}to /)
    expect(reseal.stdout).toMatch(/not opened\s+sealed\/alice@example.com\/laptop--.*its current list: nothing to do/)
    expect(reseal.stdout).toContain('Re-sealed 2; already current 0; not opened 1; broken 0; refused 0. Commit the changed files.')
    expect(execMode(oldCi)).toBe('600')
    if (haveAgeCli()) {
      expect(await ageOpens(opsC.file, oldCi)).toBe(true)
      expect(await ageOpens(opsC.file, oldWeb)).toBe(true)
      expect(await ageOpens(opsA.file, oldWeb)).toBe(true)
    }
    const current = await planJson()
    expect(current.findings.filter((f) => f.kind !== 'unmanaged')).toEqual([])
    expect(current.changes).toBe(false)
    // Reseal again: everything is current.
    const again = await runCli(['reseal', '-i', opsC.file, '--json'], {cwd: tenant.work})
    expect((JSON.parse(again.stdout) as {counts: Record<string, number>}).counts).toMatchObject({resealed: 0, current: 2})

    // ops-a leaves: exactly the values ops-a could read are rotated (not alice's laptop).
    await writeFile(join(tenant.work, 'keys.yaml'), keysYaml([opsC.recipient], users))
    const removed = await planJson()
    expect(removed.actions.filter((a) => a.kind !== 'no-op').map((a) => [a.kind, a.address, a.kind === 'rotate' ? a.cause : undefined]).sort()).toEqual([
      ['rotate', 'admin@example.com/ci', 'recipient-removed'],
      ['rotate', 'admin@example.com/web', 'recipient-removed'],
    ])
    const text = await runCli(['plan'], {cwd: tenant.work, env: env()})
    expect(text.stdout).toContain('rotate (recipient removed)')
    const md = await runCli(['plan', '--format', 'markdown'], {cwd: tenant.work, env: env()})
    expect(md.stdout).toContain('rotate \\(recipient removed\\)')
    const apply = await runCli(['apply', '--auto-approve'], {cwd: tenant.work, env: env()})
    expect(apply.code, apply.stdout + apply.stderr).toBe(0)
    const after = await runCli(['plan'], {cwd: tenant.work, env: env()})
    expect(after.code, after.stdout + after.stderr).toBe(0)
    expect(after.stdout).toContain('No changes.')
    if (haveAgeCli()) {
      const newCi = await sealedFile('admin@example.com', 'ci')
      expect(newCi).not.toBe(oldCi)
      expect(await ageOpens(opsC.file, newCi)).toBe(true)
      expect(await ageOpens(opsA.file, newCi)).toBe(false)
    }
  })
})

function execMode(file: string): string {
  return execFileSync('stat', ['-c', '%a', file]).toString().trim()
}
