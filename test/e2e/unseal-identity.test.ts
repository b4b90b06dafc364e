import {readFile, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {runCli} from '../support/cli.js'
import {ADMIN_KEY} from '../support/emulator.js'
import {registerSecret} from '../support/leaks.js'
import {adminAndAlice, useTestTenant} from '../support/tenant.js'

/**
 * Consumers in CI open their value without an identity file (issue 20.4, "pull delivery"): the
 * identity comes on standard input (`-i -`) or in PALETTE_KEYS_IDENTITY (a CI secret), and no
 * output shows it. Without any identity, a usage error (64) says the three ways.
 */
const SEED = adminAndAlice('pull', '5f0c0c0c0c0c0c0c0c0c0c03')
const tenant = useTestTenant(SEED, 'pk-pull-')

describe('unseal without an identity file', () => {
  it('-i - and PALETTE_KEYS_IDENTITY open the value --key names; the identity is in no output; nothing given is exit 64', async () => {
    const made = await runCli(['keygen', '-o', 'consumer.txt'], {cwd: tenant.work})
    expect(made.code, made.stderr).toBe(0)
    const identityText = await readFile(join(tenant.work, 'consumer.txt'), 'utf8')
    const identity = identityText.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'))!
    registerSecret(identity, 'consumer identity (unseal-identity.test)')
    // The identity lives only in the "CI secret" from here on.
    await rm(join(tenant.work, 'consumer.txt'))
    await writeFile(join(tenant.work, 'keys.yaml'), `version: 1\nseal: {recipients: [${made.stdout.trim()}], dir: sealed}\nusers:\n  alice@example.com:\n    keys:\n      ci: {}\n      web: {}\n`)
    const apply = await runCli(['apply', '--auto-approve'], {cwd: tenant.work, env: {PALETTE_HOST: tenant.emu.url, PALETTE_API_KEY: ADMIN_KEY}})
    expect(apply.code, apply.stdout + apply.stderr).toBe(0)

    const piped = await runCli(['unseal', 'sealed', '-i', '-', '--key', 'alice@example.com/ci'], {cwd: tenant.work, input: identityText})
    expect(piped.code, piped.stderr).toBe(0)
    const fromEnv = await runCli(['unseal', 'sealed', '--key', 'alice@example.com/ci'], {cwd: tenant.work, env: {PALETTE_KEYS_IDENTITY: identityText}})
    expect(fromEnv.code, fromEnv.stderr).toBe(0)
    expect(fromEnv.stdout).toBe(piped.stdout)
    expect(piped.stdout.trim().length).toBeGreaterThan(20)
    // -i wins over the environment; a wrong identity on stdin opens nothing (exit 1), and says so without showing it.
    expect((await runCli(['keygen', '-o', 'other.txt'], {cwd: tenant.work})).code).toBe(0)
    const other = await readFile(join(tenant.work, 'other.txt'), 'utf8')
    await rm(join(tenant.work, 'other.txt'))
    const otherIdentity = other.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'))!
    registerSecret(otherIdentity, 'other identity (unseal-identity.test)')
    const wrong = await runCli(['unseal', 'sealed', '-i', '-'], {cwd: tenant.work, input: other, env: {PALETTE_KEYS_IDENTITY: identityText}})
    expect(wrong.code).toBe(1)
    // The hint tells the truth about a recipient added later (issue 20.5): files are sealed to the recipients of their day,
    // and each file says whom (this identity is in no list, so a reseal would not help it).
    expect(wrong.stderr).toContain('one added since opens only values sealed after it was added')
    expect(wrong.stderr).toMatch(/alice@example.com\/ci--[0-9a-f]{24}\.age: sealed to age1.{4}….{4}; you are not in seal.recipients, so a reseal would not help you/)
    expect(wrong.stderr).not.toContain('whose recipient is in seal.recipients')

    const none = await runCli(['unseal', 'sealed'], {cwd: tenant.work, env: {PALETTE_KEYS_IDENTITY: ''}})
    expect(none.code).toBe(64)
    expect(none.stderr).toContain('-i FILE, -i - (standard input), or PALETTE_KEYS_IDENTITY')
    const twice = await runCli(['unseal', 'sealed', '-i', '-', '-i', '-'], {cwd: tenant.work, input: identityText})
    expect(twice.code).toBe(64)
    const empty = await runCli(['unseal', 'sealed', '-i', '-'], {cwd: tenant.work, input: '# no identity here\n'})
    expect(empty.code).toBe(64)
    expect(empty.stderr).toContain('Standard input (-i -) holds no age identity')
    for (const r of [piped, fromEnv, wrong, none, twice, empty]) {
      expect(r.stdout + r.stderr).not.toContain(identity)
      expect(r.stdout + r.stderr).not.toContain(otherIdentity)
    }
  })
})
