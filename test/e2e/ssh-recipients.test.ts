import {execFile} from 'node:child_process'
import {mkdir, readFile, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {describe, expect, it} from 'vitest'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {haveAgeCli, haveSshKeygen} from '../support/age-cli.js'
import {runCli} from '../support/cli.js'
import {ADMIN_KEY, call} from '../support/emulator.js'
import {ISSUED_VALUE, recordOutput, registerSecret} from '../support/leaks.js'
import {adminAndAlice, useKeyring, useTestTenant} from '../support/tenant.js'

/**
 * SSH recipients (issue 20.4): ssh-keygen's ed25519 and RSA keys, as age's ssh-ed25519 and
 * ssh-rsa recipient types. palette-keys seals to their .pub lines and Debian's age opens the
 * files with the private keys; Debian's age seals to the .pub lines and palette-keys unseal
 * opens them. A passphrase-protected key is refused clearly.
 */
const SEED = adminAndAlice('ssh', '5f0c0c0c0c0c0c0c0c0c0c05')
const tenant = useTestTenant(SEED, 'pk-ssh-')
const run = promisify(execFile)
const env = () => ({PALETTE_HOST: tenant.emu.url, PALETTE_API_KEY: ADMIN_KEY})

const ring = useKeyring('pk-ssh-')

/** ssh-keygen -t TYPE: the private key file's path and its .pub line; the private key is registered for the leak scan. */
async function sshKey(name: string, type: 'ed25519' | 'rsa', comment: string, passphrase = ''): Promise<{file: string; pub: string}> {
  const file = join(ring.dir, name)
  let pub = ''
  // A public key whose base64 happens to hold a run shaped like an issued key value (43 base64url
  // characters between '+' or '/') would trip the leak scan's shape check, a false positive: such a key is made again.
  do {
    await rm(file, {force: true})
    await rm(`${file}.pub`, {force: true})
    await run('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '3072'] : []), '-N', passphrase, '-C', comment, '-f', file])
    pub = (await readFile(`${file}.pub`, 'utf8')).trim()
  } while ((pub.match(/[A-Za-z0-9_-]+/g) ?? []).some((run) => ISSUED_VALUE.test(run)))
  const text = await readFile(file, 'utf8')
  // The leak scan matches runs of [A-Za-z0-9_-]: every long run of the private file that the public line does not hold.
  for (const run of text.replace(/-----[A-Z ]+-----/g, '').match(/[A-Za-z0-9_-]{16,}/g) ?? []) if (!pub.includes(run)) registerSecret(run, `${name} private key (ssh-recipients.test)`)
  return {file, pub}
}

describe.runIf(haveSshKeygen())('SSH recipients', () => {
  it('sealed by palette-keys to ed25519 and RSA .pub lines: opened by Debian\'s age with each ssh-keygen key, and by unseal; the plan names them by comment', async () => {
    const ed = await sshKey('id_ed25519', 'ed25519', 'alice@laptop')
    const rsa = await sshKey('id_rsa', 'rsa', 'bob@desk')
    await writeFile(join(tenant.work, 'keys.yaml'), `version: 1\nseal:\n  recipients:\n    - ${ed.pub}\n    - ${rsa.pub}\n  dir: sealed\nusers:\n  alice@example.com:\n    keys:\n      ci: {}\n`)
    const valid = await runCli(['validate'], {cwd: tenant.work})
    expect(valid.code, valid.stderr).toBe(0)
    const plan = await runCli(['plan'], {cwd: tenant.work, env: env()})
    expect(plan.stdout).toContain('sealed to alice@laptop, bob@desk (seal.recipients)')
    const apply = await runCli(['apply', '--auto-approve'], {cwd: tenant.work, env: env()})
    expect(apply.code, apply.stdout + apply.stderr).toBe(0)
    const [file] = await listSealedFiles(join(tenant.work, 'sealed'))
    expect(file).toBeDefined()

    for (const key of [ed, rsa]) {
      const opened = await runCli(['unseal', 'sealed', '-i', key.file, '--key', 'alice@example.com/ci'], {cwd: tenant.work})
      expect(opened.code, opened.stderr).toBe(0)
      const alice = tenant.emu.state.allUsers().find((u) => u.email === 'alice@example.com')!
      expect((await call(tenant.emu, 'GET', '/v1/users/info', {key: opened.stdout.trim()})).body.userUid).toBe(alice.uid)
    }
    // The record says whom it is sealed to: plan has nothing to report.
    const again = await runCli(['plan', '--json'], {cwd: tenant.work, env: env()})
    expect((JSON.parse(again.stdout) as {findings: unknown[]}).findings).toEqual([])

    if (!haveAgeCli()) return
    for (const key of [ed, rsa]) {
      const {stdout} = await run('age', ['-d', '-i', key.file, file!])
      expect((JSON.parse(stdout) as {user: string}).user).toBe('alice@example.com')
    }
  })

  it('sealed by Debian\'s age (-R KEY.pub) for each key type: opened by palette-keys unseal -i with the ssh-keygen key', async () => {
    if (!haveAgeCli()) return
    const [file] = await listSealedFiles(join(tenant.work, 'sealed'))
    const {stdout: record} = await run('age', ['-d', '-i', join(ring.dir, 'id_ed25519'), file!])
    const uid = (JSON.parse(record) as {uid: string}).uid
    for (const name of ['id_ed25519', 'id_rsa']) {
      const theirs = join(tenant.work, `theirs-${name}`, 'alice@example.com')
      await mkdir(theirs, {recursive: true})
      const child = execFile('age', ['-R', join(ring.dir, `${name}.pub`), '-a', '-o', join(theirs, `ci--${uid}.age`)])
      child.stdin!.end(record)
      await new Promise((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve(undefined) : reject(new Error(`age exited ${code}`)))))
      const opened = await runCli(['unseal', `theirs-${name}`, '-i', join(ring.dir, name), '--key', 'alice@example.com/ci'], {cwd: tenant.work})
      expect(opened.code, opened.stderr).toBe(0)
      expect(opened.stdout.trim()).toBe((JSON.parse(record) as {apiKey: string}).apiKey)
      // The other key type does not open it.
      const other = await runCli(['unseal', `theirs-${name}`, '-i', join(ring.dir, name === 'id_rsa' ? 'id_ed25519' : 'id_rsa')], {cwd: tenant.work})
      expect(other.code).toBe(1)
    }
  })

  it('a passphrase-protected key is refused with a clear error (64) and a way out; a broken .pub line is a located error (65)', async () => {
    const locked = await sshKey('id_locked', 'ed25519', 'carol@laptop', 'correct horse battery')
    const r = await runCli(['unseal', 'sealed', '-i', locked.file], {cwd: tenant.work})
    expect(r.code).toBe(64)
    expect(r.stderr).toContain('is protected by a passphrase, which palette-keys does not ask for')
    expect(r.stderr).toContain('age -d -i KEY FILE')
    recordOutput('unseal with a locked key', r.stderr)
    const cut = locked.pub.slice(0, 40)
    await writeFile(join(tenant.work, 'bad.yaml'), `version: 1\nseal:\n  recipients:\n    - ${cut}\nusers: {}\n`)
    const bad = await runCli(['validate', '-f', 'bad.yaml'], {cwd: tenant.work})
    expect(bad.code).toBe(65)
    expect(bad.stderr).toMatch(/bad\.yaml:4:7.*invalid SSH recipient/)
    // A private key pasted where a recipient goes: refused, and not echoed.
    const pasted = (await readFile(join(ring.dir, 'id_ed25519'), 'utf8')).split('\n')[0]!
    await writeFile(join(tenant.work, 'pasted.yaml'), `version: 1\nseal:\n  recipients:\n    - "${pasted}"\nusers: {}\n`)
    const p = await runCli(['validate', '-f', 'pasted.yaml'], {cwd: tenant.work})
    expect(p.code).toBe(65)
    expect(p.stderr).toContain('this is a private key, not a recipient')
  })
})
