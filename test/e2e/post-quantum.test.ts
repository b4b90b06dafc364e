import {execFile} from 'node:child_process'
import {readFile, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {parse} from 'yaml'
import {describe, expect, it} from 'vitest'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {haveAgeCli} from '../support/age-cli.js'
import {runCli} from '../support/cli.js'
import {ADMIN_KEY, call} from '../support/emulator.js'
import {recordOutput} from '../support/leaks.js'
import {adminAndAlice, useTestTenant} from '../support/tenant.js'

/**
 * Post-quantum hybrid recipients (issue 20.4): `keygen --pq` makes an ML-KEM-768 + X25519
 * identity, a value sealed to its age1pq1… recipient is opened by palette-keys, and Debian's
 * age 1.1.1, which predates them, refuses the file with an error of its own (the README's
 * interop limit). A newer age (1.3+) opens it, and the test then says so.
 */
const SEED = adminAndAlice('pq', '5f0c0c0c0c0c0c0c0c0c0c02')
const tenant = useTestTenant(SEED, 'pk-pq-')
const run = promisify(execFile)

describe('post-quantum recipients', () => {
  it('keygen --pq; apply seals to its age1pq1 recipient; unseal opens it and the value authenticates; Debian\'s age 1.1.1 refuses the file', async () => {
    const key = await runCli(['keygen', '--pq', '-o', 'pq.txt'], {cwd: tenant.work})
    expect(key.code, key.stderr).toBe(0)
    const recipient = key.stdout.trim()
    expect(recipient).toMatch(/^age1pq1[02-9ac-hj-np-z]{1900,}$/)
    expect(await readFile(join(tenant.work, 'pq.txt'), 'utf8')).toMatch(/^AGE-SECRET-KEY-PQ-1/m)

    await writeFile(join(tenant.work, 'keys.yaml'), `version: 1\nseal: {recipients: [${recipient}], dir: sealed}\nusers:\n  alice@example.com:\n    keys:\n      ci: {}\n`)
    const env = {PALETTE_HOST: tenant.emu.url, PALETTE_API_KEY: ADMIN_KEY}
    expect((await runCli(['validate'], {cwd: tenant.work})).code).toBe(0)
    const apply = await runCli(['apply', '--auto-approve'], {cwd: tenant.work, env})
    expect(apply.code, apply.stdout + apply.stderr).toBe(0)
    const [file] = await listSealedFiles(join(tenant.work, 'sealed'))
    expect(file).toBeDefined()

    const open = await runCli(['unseal', 'sealed', '-i', 'pq.txt', '--format', 'json'], {cwd: tenant.work})
    expect(open.code, open.stderr).toBe(0)
    const value = (JSON.parse(open.stdout) as Record<string, Record<string, {apiKey: string}>>)['alice@example.com']!.ci!.apiKey
    const alice = tenant.emu.state.allUsers().find((u) => u.email === 'alice@example.com')!
    expect((await call(tenant.emu, 'GET', '/v1/users/info', {key: value})).body.userUid).toBe(alice.uid)
    // An X25519 identity cannot open it.
    expect((await runCli(['keygen', '-o', 'x.txt'], {cwd: tenant.work})).code).toBe(0)
    expect((await runCli(['unseal', 'sealed', '-i', 'x.txt'], {cwd: tenant.work})).code).not.toBe(0)

    if (!haveAgeCli()) return
    const {stdout: version} = await run('age', ['--version'])
    const outcome = await run('age', ['-d', '-i', join(tenant.work, 'pq.txt'), file!]).then((r) => ({code: 0, out: r.stdout, err: r.stderr}), (e: {code: number; stdout: string; stderr: string}) => ({code: e.code, out: e.stdout, err: e.stderr}))
    recordOutput('age -d (post-quantum file)', outcome.err)
    const [major, minor] = version.trim().replace(/^v/, '').split('.').map(Number) as [number, number]
    if (major === 1 && minor < 3) {
      // Debian's age 1.1.1: no ML-KEM; its error names the identity it cannot read.
      expect(outcome.code).not.toBe(0)
      expect(outcome.err).toMatch(/identit|unknown|malformed|no identity matched/i)
      expect(outcome.out).toBe('')
    } else {
      expect(outcome.code, outcome.err).toBe(0)
      expect(JSON.parse(outcome.out).apiKey).toBe(value)
    }
    await rm(join(tenant.work, 'x.txt'))
  })
})
