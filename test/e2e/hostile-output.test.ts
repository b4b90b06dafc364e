import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {chmod, mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import type {RunningEmulator} from '../../src/emulator/server.js'
import {newIdentity} from '../../src/seal/identity.js'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {encryptRecord, type SealedRecord} from '../../src/seal/sealed-file.js'
import {type CliResult, runCli} from '../support/cli.js'
import {demoRecipient} from '../support/demo.js'
import {ADMIN_KEY, startTestEmulator} from '../support/emulator.js'
import {type ConnectProxy, startConnectProxy} from '../support/connect-proxy.js'
import {type HostileProxy, startHostileProxy} from '../support/hostile-proxy.js'
import {markInput, recordAndRemove} from '../support/leaks.js'

/**
 * Where secrets and untrusted text end up (issue 11): a hostile server echoes the tool's key and
 * the values just created back in every field and encoding it can; none of it may reach stdout,
 * stderr, a plan file or `--json`, in any form.
 */
let emu: RunningEmulator
let proxy: HostileProxy
let work: string
let recipient: string
beforeAll(async () => {
  recipient = await demoRecipient()
})
beforeEach(async () => {
  emu = await startTestEmulator()
  proxy = await startHostileProxy(emu.url)
  work = await mkdtemp(join(tmpdir(), 'pk-hostile-out-'))
})
afterEach(async () => {
  await proxy.close()
  await emu.close()
  await recordAndRemove(work)
})

async function cli(args: string[], users: string): Promise<CliResult> {
  await writeFile(join(work, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${recipient}]\nusers:\n${users}`)
  return runCli(args, {cwd: work, env: {PALETTE_HOST: proxy.url, PALETTE_API_KEY: ADMIN_KEY}})
}

/** Every form a server could echo a value in. */
function forms(v: string): string[] {
  return [v, v.toUpperCase(), v.toLowerCase(), encodeURIComponent(v), Buffer.from(v).toString('base64'), Buffer.from(v).toString('base64url')]
}
function expectNoneOf(values: string[], ...outputs: string[]): void {
  const all = outputs.join('\n').toLowerCase()
  for (const v of values) for (const f of forms(v)) expect(all.includes(f.toLowerCase()), `a form of a secret (${f.length} characters) was printed`).toBe(false)
}

/** An error body that echoes `v` in every field, in several encodings. */
function echo(status: number, v: string): {status: number; body: unknown} {
  return {
    status,
    body: {code: `Err-${v.toUpperCase()}`, message: `bad key ${v} (${encodeURIComponent(v)})`, ref: Buffer.from(v).toString('base64'), details: {key: v, lower: v.toLowerCase()}},
  }
}

describe('a server that echoes secrets', () => {
  it('echoes the tool\'s key in every field of an error: plan and plan --json show none of it', async () => {
    proxy.hooks.before = (req) => (req.path === '/v1/apiKeys' && req.method === 'GET' ? echo(500, req.headers.apikey!) : undefined)
    const users = '  alice@example.com:\n    keys:\n      ci: {}\n'
    const text = await cli(['plan', '-f', 'keys.yaml'], users)
    expect(text.code).toBe(1)
    expect(text.stderr).toContain('(redacted)')
    const json = await cli(['plan', '-f', 'keys.yaml', '--json'], users)
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout).error.code).toBe('palette-api')
    expectNoneOf([ADMIN_KEY], text.stdout, text.stderr, json.stdout, json.stderr)
  })

  it('echoes a value it just created in a later error: the FAILED line, the summary and apply --json show none of it', async () => {
    const created: string[] = []
    const uids = new Set<string>()
    proxy.hooks.after = (req, res) => {
      if (req.method === 'POST' && req.path === '/v1/apiKeys' && res.status === 201) {
        created.push((res.body as {apiKey: string}).apiKey)
        uids.add((res.body as {uid: string}).uid)
      }
      return undefined
    }
    // The create of web fails, echoing the value of the key this run created just before it (a create is one request
    // now: no later request of that key's own is left to echo it) and the tool's key.
    proxy.hooks.before = (req) => (req.method === 'POST' && req.path === '/v1/apiKeys' && (req.body as {metadata?: {name?: string}}).metadata?.name === 'web' && created.length > 0 ? echo(400, `${created.at(-1)} ${req.headers.apikey}`) : undefined)
    const users = '  alice@example.com:\n    keys:\n      ci: {}\n      web: {}\n'
    const text = await cli(['apply', '-f', 'keys.yaml', '--auto-approve', '--trace'], users)
    expect(text.code, text.stdout + text.stderr).toBe(1)
    expect(text.stdout).toMatch(/FAILED: .*\(redacted\)/)
    // Again with --json: ci2 is created first, so the echo is a value this process made.
    const json = await cli(['apply', '-f', 'keys.yaml', '--auto-approve', '--json'], `${users}      ci2: {}\n`)
    expect(json.code).toBe(1)
    const result = JSON.parse(json.stdout) as {outcomes: Array<{status: string; error?: string}>}
    expect(result.outcomes.some((o) => o.status === 'failed' && o.error?.includes('(redacted)'))).toBe(true)
    expect(created.length).toBeGreaterThanOrEqual(2)
    expectNoneOf([ADMIN_KEY, ...created], text.stdout, text.stderr, json.stdout, json.stderr)
  })

  it('echoes the tool\'s key in a key\'s name: the plan file and its renderings show none of it', async () => {
    proxy.hooks.after = (req, res) => {
      if (req.method !== 'GET' || req.path !== '/v1/apiKeys') return undefined
      const body = structuredClone(res.body) as {items: Array<{metadata: {name: string}}>}
      for (const k of body.items) k.metadata.name = `${k.metadata.name}-${req.headers.apikey}`
      return {status: 200, body}
    }
    const r = await cli(['plan', '-f', 'keys.yaml', '--out', 'plan.json', '--format', 'markdown'], '  alice@example.com:\n    keys:\n      ci: {}\n')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('\\(redacted\\)') // redacted, then escaped for Markdown
    expectNoneOf([ADMIN_KEY, ADMIN_KEY.replace(/-/g, '\\-')], r.stdout, r.stderr, await readFile(join(work, 'plan.json'), 'utf8'))
  })
})

describe('planted and broken sealed files', () => {
  const IDENTITY = join(process.cwd(), 'examples/demo-identity.txt')
  const rec = (over: Partial<SealedRecord>): SealedRecord => ({user: 'alice@example.com', name: 'ci', uid: 'a00000000000000000000001', expiry: '2099-01-01T00:00:00.000Z', host: 'https://h', createdAt: '2026-01-01T00:00:00.000Z', apiKey: 'real-value-00000001', ...over})
  async function plant(r: SealedRecord, fileUid = r.uid): Promise<void> {
    await mkdir(join(work, 'sealed', r.user), {recursive: true})
    await writeFile(join(work, 'sealed', r.user, `${r.name}--${fileUid}.age`), await encryptRecord(r, [recipient]))
  }
  const unseal = (...extra: string[]) => runCli(['unseal', join(work, 'sealed'), '-i', IDENTITY, ...extra])

  it('a planted record with a far-future createdAt does not win: the key is reported as a conflict and left out (exit 1); a renamed file is not used', async () => {
    await plant(rec({}))
    await plant(rec({uid: 'b00000000000000000000002', createdAt: '2999-01-01T00:00:00.000Z', apiKey: 'planted-value-0001'}))
    await plant(rec({name: 'web', uid: 'c00000000000000000000003', apiKey: 'web-value-00000001'}))
    await plant(rec({name: 'web', uid: 'c00000000000000000000003', apiKey: 'renamed-value-0001'}), 'd00000000000000000000004')
    const r = await unseal('--format', 'json')
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout)).toEqual({'alice@example.com': {web: expect.objectContaining({apiKey: 'web-value-00000001'})}})
    expect(r.stderr).toMatch(/alice@example\.com\/ci: 2 sealed records \(uids a0+1, b0+2\)/)
    expect(r.stderr).toMatch(/web--d0+4\.age: it holds the record of another key than its name says/)
    const one = await unseal('--key', 'alice@example.com/ci')
    expect(one.code).toBe(1)
    expect(one.stdout).toBe('')
  })

  it('--format env is POSIX single-quoted: a value holding quotes, $(...) and a newline stays data when sourced; colliding names are refused', async () => {
    const evil = `x'$(touch ${join(work, 'pwned')})'\nexport INJECTED=1 #`
    await plant(rec({apiKey: evil}))
    const r = await unseal('--format', 'env')
    expect(r.code, r.stderr).toBe(0)
    const sourced = spawnSync('sh', ['-c', `eval "$(cat)"; printf %s "$PALETTE_KEY_ALICE_EXAMPLE_COM__CI"; printf '|%s' "\${INJECTED:-unset}"`], {input: r.stdout, encoding: 'utf8'})
    expect(sourced.stdout).toBe(`${evil}|unset`)
    expect(existsSync(join(work, 'pwned'))).toBe(false)
    await plant(rec({name: 'ci-deploy', uid: 'e00000000000000000000005'}))
    await plant(rec({name: 'ci_deploy', uid: 'f00000000000000000000006'}))
    const clash = await unseal('--format', 'env')
    expect(clash.code).toBe(1)
    expect(clash.stdout).toBe('')
    expect(clash.stderr).toMatch(/PALETTE_KEY_ALICE_EXAMPLE_COM__CI_DEPLOY \(alice@example\.com\/ci-deploy, alice@example\.com\/ci_deploy\)/)
  })

  it('a wrong identity opens nothing: exit 1, not an empty success; a corrupt file is reported by name and the others still served', async () => {
    await plant(rec({}))
    const other = join(work, 'other.txt')
    expect((await runCli(['keygen', '-o', other])).code).toBe(0)
    const wrong = await runCli(['unseal', join(work, 'sealed'), '-i', other, '--format', 'env'])
    expect(wrong.code).toBe(1)
    expect(wrong.stdout).toBe('')
    expect(wrong.stderr).toMatch(/None of the 1 sealed files could be opened/)
    await writeFile(join(work, 'sealed', 'alice@example.com', 'cut--a00000000000000000000009.age'), '-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n')
    const served = await unseal('--format', 'json')
    expect(served.code).toBe(1)
    expect(Object.keys(JSON.parse(served.stdout)['alice@example.com'])).toEqual(['ci'])
    expect(served.stderr).toMatch(/cut--a0+9\.age/)
  })
})

describe('a created value that is not a plain token', () => {
  it('is refused before it is sealed: the key is deleted, exit 1, nothing sealed', async () => {
    proxy.hooks.after = (req, res) => (req.method === 'POST' && req.path === '/v1/apiKeys' && res.status === 201 ? {status: 201, body: {...(res.body as object), apiKey: 'abc\n$(reboot)'}} : undefined)
    const r = await cli(['apply', '-f', 'keys.yaml', '--auto-approve'], '  alice@example.com:\n    keys:\n      ci: {}\n')
    expect(r.code, r.stdout + r.stderr).toBe(1)
    expect(r.stdout).toMatch(/not a plain token.*the key was deleted/)
    const alice = emu.state.allUsers().find((u) => u.email === 'alice@example.com')!.uid
    expect(emu.state.allKeys().filter((k) => k.userUid === alice && k.name === 'ci')).toEqual([])
    expect(await listSealedFiles(join(work, 'sealed'))).toEqual([])
  })
})

describe('the seal folder is data too', () => {
  const users = '  alice@example.com:\n    keys:\n      ci: {}\n'
  const apply = () => cli(['apply', '-f', 'keys.yaml', '--auto-approve'], users)
  async function withSealDir(dir: string): Promise<CliResult> {
    await writeFile(join(work, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${recipient}]\n  dir: ${JSON.stringify(dir)}\nusers:\n${users}`)
    return runCli(['apply', '-f', 'keys.yaml', '--auto-approve'], {cwd: work, env: {PALETTE_HOST: proxy.url, PALETTE_API_KEY: ADMIN_KEY}})
  }

  it.each([
    ['a symlinked per-user folder (git can commit one) pointing out of the repository', async () => {
      const outside = await mkdtemp(join(tmpdir(), 'pk-outside-'))
      await mkdir(join(work, 'sealed'), {recursive: true})
      await symlink(outside, join(work, 'sealed', 'alice@example.com'))
      return {dir: 'sealed', outside}
    }, /sealed\/alice@example\.com is a symbolic link/],
    ['a symlinked seal folder', async () => {
      const outside = await mkdtemp(join(tmpdir(), 'pk-outside-'))
      await symlink(outside, join(work, 'sealed'))
      return {dir: 'sealed', outside}
    }, /sealed is a symbolic link/],
    ['seal.dir going up out of the repository', async () => ({dir: '../elsewhere', outside: undefined}), /is outside .*the repository of the desired-state file/],
    ['seal.dir an absolute path outside it (/proc/self)', async () => ({dir: '/proc/self', outside: undefined}), /\/proc\/self is outside/],
  ])('%s: refused (64) before any change; nothing written outside', async (_name, arrange, says) => {
    const {dir, outside} = await arrange()
    const before = emu.stats.mutations
    const r = await withSealDir(dir)
    expect(r.code, r.stdout + r.stderr).toBe(64)
    expect(r.stderr).toMatch(says)
    expect(emu.stats.mutations).toBe(before)
    if (outside) expect(await readdir(outside)).toEqual([])
  })

  it('a plan that only deletes (and so removes sealed files) is refused too (64) when the seal folder is a link', async () => {
    const alice = emu.state.allUsers().find((u) => u.email === 'alice@example.com')!.uid
    const {record} = emu.state.createKey({name: 'gone', userUid: alice, expiry: '2099-01-01T00:00:00Z', annotations: {managedBy: 'palette-keys'}, labels: {}}, new Date())
    const outside = await mkdtemp(join(tmpdir(), 'pk-outside-'))
    await writeFile(join(outside, `gone--${record.uid}.age`), 'not ours to remove')
    await symlink(outside, join(work, 'sealed'))
    // Declares alice with no keys: the plan's only change is the delete of her managed key.
    const r = await cli(['apply', '-f', 'keys.yaml', '--auto-approve'], '  alice@example.com:\n    keys: {}\n')
    expect(r.stdout).toMatch(/Plan: 0 to create, 0 to update, 0 to revoke, 1 to delete/)
    expect(r.code, r.stdout + r.stderr).toBe(64)
    expect(r.stderr).toMatch(/sealed is a symbolic link/)
    expect(emu.state.key(record.uid)).toBeDefined()
    expect(await readdir(outside)).toEqual([`gone--${record.uid}.age`])
  })

  it('temp files a killed run left in the seal folder are removed; values are written through no planted link', async () => {
    await mkdir(join(work, 'sealed', 'alice@example.com'), {recursive: true})
    const stale = join(work, 'sealed', 'alice@example.com', '.ci--0123456789abcdef01234567.age.a1b2c3d4e5f6.tmp')
    await writeFile(stale, 'half a value')
    const r = await apply()
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(existsSync(stale)).toBe(false)
    expect((await readdir(join(work, 'sealed', 'alice@example.com'))).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })
})

describe('footguns that lose or expose values', () => {
  const users = '  alice@example.com:\n    keys:\n      ci: {}\n'
  const withRecipients = async (list: string[], args: string[], env: NodeJS.ProcessEnv = {}) => {
    await writeFile(join(work, 'keys.yaml'), `version: 1\nseal:\n  recipients: ${JSON.stringify(list)}\nusers:\n${users}`)
    return runCli(args, {cwd: work, env: {PALETTE_HOST: proxy.url, PALETTE_API_KEY: ADMIN_KEY, ...env}})
  }
  // A checksum-valid recipient that is a low-order point: it decodes, but nothing can be sealed to it.
  const lowOrder = 'age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq5cu47z'

  it('keygen --json without -o is refused (64): the identity would be thrown away', async () => {
    const r = await runCli(['keygen', '--json'])
    expect(r.code).toBe(64)
    expect(JSON.parse(r.stdout).error.code).toBe('keygen-json-needs-output')
    expect(r.stdout + r.stderr).not.toContain('AGE-SECRET-KEY')
  })

  it('an empty seal.recipients: validate warns, plan is an error (1) when it would create values, apply changes nothing', async () => {
    const v = await withRecipients([], ['validate', '-f', 'keys.yaml'])
    expect(v.code).toBe(0)
    expect(v.stderr).toContain('seal.recipients is empty')
    const p = await withRecipients([], ['plan', '-f', 'keys.yaml'])
    expect(p.code).toBe(1)
    expect(p.stdout).toContain('no-recipients')
    const a = await withRecipients([], ['apply', '-f', 'keys.yaml', '--auto-approve'])
    expect(a.code).toBe(1)
    expect(emu.stats.mutations).toBe(0)
  })

  it('the demo recipient is refused for a host that is not loopback (65), before any request', async () => {
    const r = await withRecipients([recipient], ['plan', '-f', 'keys.yaml', '--trace'], {PALETTE_HOST: 'https://palette.example.invalid'})
    expect(r.code, r.stderr).toBe(65)
    expect(r.stderr).toMatch(/keys\.yaml:3:\d+: demo-recipient/)
    expect(r.stderr).not.toContain('trace:')
    const local = await withRecipients([recipient], ['plan', '-f', 'keys.yaml'])
    expect(local.code, local.stderr).toBe(0)
  })

  it('a pasted private identity in recipients is a located error that shows none of it and says to rotate it', async () => {
    const secret = 'AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ'
    const r = await withRecipients([recipient, secret], ['validate', '-f', 'keys.yaml'])
    expect(r.code).toBe(65)
    expect(r.stderr).toMatch(/keys\.yaml:3:\d+: invalid-recipient: this is a private age identity/)
    expect(r.stderr).toMatch(/treat it as exposed/)
    expect(r.stdout + r.stderr).not.toMatch(/AGE-SECRET-KEY-1Q|QQQQQQ/i)
  })

  it('a checksum-valid recipient nothing can be sealed to: validate refuses it (65); apply refuses before its first change', async () => {
    const v = await withRecipients([lowOrder], ['validate', '-f', 'keys.yaml'])
    expect(v.code).toBe(65)
    expect(v.stderr).toMatch(/unsealable-recipient/)
    const a = await withRecipients([lowOrder], ['apply', '-f', 'keys.yaml', '--auto-approve'])
    expect(a.code).toBe(65)
    expect(emu.stats.mutations).toBe(0)
  })
})

describe('terminal-escape and Markdown injection through live names and descriptions', () => {
  const EVIL = [
    'wipe\u001b[2K\u001b[1A\u001b[2KPlan: 0 to create',
    'rtl\u202eexe.cod',
    'x</details>\n\n## Approved ![i](https://evil.example/i.png) [ok](https://evil.example) <img src=x>',
  ]
  async function plantKeys(): Promise<void> {
    const alice = emu.state.allUsers().find((u) => u.email === 'alice@example.com')!.uid
    for (const name of EVIL) emu.state.createKey({name, userUid: alice, expiry: '2099-01-01T00:00:00Z', annotations: {description: name}, labels: {}}, new Date())
  }
  const users = '  alice@example.com:\n    keys:\n      ci: {}\n'
  const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/

  it('plan (text and Markdown), apply and audit show them inert; export lists the others and omits them, exit 0', async () => {
    await plantKeys()
    const text = await cli(['plan', '-f', 'keys.yaml'], users)
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout + text.stderr).not.toMatch(CONTROL)
    expect(text.stdout).toContain('wipe\\u{1b}[2K')
    const md = await cli(['plan', '-f', 'keys.yaml', '--format', 'markdown'], users)
    expect(md.stdout.match(/<\/details>/g)?.length).toBe(md.stdout.match(/<details/g)?.length)
    expect(md.stdout).not.toMatch(/^## Approved|<img|\]\(https/m)
    const apply = await cli(['apply', '-f', 'keys.yaml', '--auto-approve'], users)
    expect(apply.code, apply.stdout + apply.stderr).toBe(0)
    expect(apply.stdout + apply.stderr).not.toMatch(CONTROL)
    const auditText = await cli(['audit', '-f', 'keys.yaml'], users)
    expect(auditText.stdout + auditText.stderr).not.toMatch(CONTROL)
    const exported = await runCli(['export', '-o', join(work, 'exported.yaml')], {cwd: work, env: {PALETTE_HOST: proxy.url, PALETTE_API_KEY: ADMIN_KEY}})
    expect(exported.code, exported.stderr).toBe(0)
    const file = await readFile(join(work, 'exported.yaml'), 'utf8')
    expect(file).not.toMatch(CONTROL)
    expect(file).toContain('its name cannot be declared')
    expect((await runCli(['validate', '-f', join(work, 'exported.yaml')])).code).toBe(0)
  })
})

describe('output files', () => {
  const users = '  alice@example.com:\n    keys:\n      ci: {}\n'
  const env = () => ({PALETTE_HOST: proxy.url, PALETTE_API_KEY: ADMIN_KEY})
  const reads = () => proxy.seen.length

  it('parent folders are created (0700 for an identity); the umask is followed', async () => {
    const id = join(work, 'home', '.config', 'palette-keys', 'identity.txt')
    expect((await runCli(['keygen', '-o', id])).code).toBe(0)
    expect((await stat(join(work, 'home', '.config'))).mode & 0o777).toBe(0o700)
    expect((await stat(id)).mode & 0o777).toBe(0o600)
    await writeFile(join(work, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${recipient}]\nusers:\n${users}`)
    const plan = await runCli(['plan', '-f', 'keys.yaml', '--out', 'plans/p.json'], {cwd: work, env: env()})
    expect(plan.code, plan.stderr).toBe(0)
    // Asynchronously: the emulator answering it lives in this process.
    const exported = await new Promise<{code: number | null; stderr: string}>((done) => {
      const child = spawn('sh', ['-c', `umask 077 && exec "${process.execPath}" "${join(process.cwd(), 'bin/run.js')}" export -o out/k.yaml`], {cwd: work, env: {...process.env, ...env(), NO_COLOR: '1'}})
      let stderr = ''
      child.stderr.on('data', (d) => (stderr += d))
      child.on('close', (code) => done({code, stderr}))
    })
    expect(exported.code, exported.stderr).toBe(0)
    expect((await stat(join(work, 'out', 'k.yaml'))).mode & 0o777).toBe(0o600)
  })

  it('plan --out never overwrites the file it read nor another file; export -o needs --force; checked before the tenant is read', async () => {
    await writeFile(join(work, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${recipient}]\nusers:\n${users}`)
    const before = reads()
    const self = await runCli(['plan', '-f', 'keys.yaml', '--out', 'keys.yaml'], {cwd: work, env: env()})
    expect(self.code).toBe(64)
    expect(self.stderr).toContain('is the file this command reads')
    await writeFile(join(work, 'notes.txt'), 'mine')
    const other = await runCli(['plan', '-f', 'keys.yaml', '--out', 'notes.txt'], {cwd: work, env: env()})
    expect(other.code).toBe(64)
    expect(await readFile(join(work, 'notes.txt'), 'utf8')).toBe('mine')
    const exp = await runCli(['export', '-o', 'notes.txt'], {cwd: work, env: env()})
    expect(exp.code).toBe(64)
    expect(reads()).toBe(before)
    // A saved plan is what --out is for: it is replaced.
    expect((await runCli(['plan', '-f', 'keys.yaml', '--out', 'p.json'], {cwd: work, env: env()})).code).toBe(0)
    expect((await runCli(['plan', '-f', 'keys.yaml', '--out', 'p.json'], {cwd: work, env: env()})).code).toBe(0)
  })

  it('a key or identity file others can read gets a warning, as ssh gives', async () => {
    await writeFile(join(work, 'key.txt'), `${ADMIN_KEY}\n`, {mode: 0o644})
    markInput(join(work, 'key.txt')) // holds the key on purpose: input, not output
    await writeFile(join(work, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${recipient}]\nusers:\n${users}`)
    const r = await runCli(['plan', '-f', 'keys.yaml', '--api-key-file', 'key.txt'], {cwd: work, env: {PALETTE_HOST: proxy.url, PALETTE_API_KEY: ''}})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/Warning: key\.txt can be read by others \(mode 644\).*chmod 600 key\.txt/)
    const id = join(work, 'id.txt')
    expect((await runCli(['keygen', '-o', id])).code).toBe(0)
    await chmod(id, 0o640)
    const u = await runCli(['unseal', work, '-i', id])
    expect(u.stderr).toMatch(/id\.txt can be read by others \(mode 640\)/)
  })
})

describe('corporate networks: a mandatory CONNECT proxy', () => {
  let cp: ConnectProxy
  // Not the demo recipient: that one is refused for any host but loopback.
  let own: string
  beforeAll(async () => {
    own = (await newIdentity()).recipient
  })
  beforeEach(async () => {
    cp = await startConnectProxy()
  })
  afterEach(async () => {
    await cp.close()
  })
  const users = '  alice@example.com:\n    keys:\n      ci: {}\n'
  const port = () => new URL(emu.url).port
  const plan = async (host: string, env: NodeJS.ProcessEnv, extra: string[] = []) => {
    await writeFile(join(work, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${own}]\nusers:\n${users}`)
    // PALETTE_HOST names a host that exists only behind the proxy.
    return runCli(['plan', '-f', 'keys.yaml', '--insecure-http', ...extra], {cwd: work, env: {PALETTE_HOST: host, PALETTE_API_KEY: ADMIN_KEY, HTTPS_PROXY: '', https_proxy: '', HTTP_PROXY: '', http_proxy: '', NO_PROXY: '', no_proxy: '', ...env}})
  }

  it.each([['HTTP_PROXY'], ['http_proxy']])('%s is followed: every request goes through the tunnel', async (name) => {
    const host = `http://palette.corp.test:${port()}`
    const r = await plan(host, {[name]: cp.url})
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(cp.tunnels.length).toBeGreaterThanOrEqual(1)
    expect(new Set(cp.tunnels)).toEqual(new Set([`palette.corp.test:${port()}`]))
  })

  it('HTTPS_PROXY applies to https:// hosts only, as curl has it: an http:// one goes direct', async () => {
    const r = await plan(`http://palette.corp.test:${port()}`, {HTTPS_PROXY: cp.url})
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/ENOTFOUND/)
    expect(r.stderr).toMatch(/does not resolve/)
    expect(cp.tunnels).toEqual([])
  })

  it('an https:// self-hosted Palette with its own CA, behind the proxy: untrusted, a final error naming NODE_EXTRA_CA_CERTS; trusted, it goes through the tunnel', async () => {
    const cert = join(work, 'ca.pem')
    const key = join(work, 'ca-key.pem')
    // Inputs written for the test (base64 PEM could look like a value to the leak scan).
    markInput(cert)
    markInput(key)
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=palette.corp.test', '-addext', 'subjectAltName=DNS:palette.corp.test'], {stdio: 'ignore'})
    const tls = await startTestEmulator({tls: {cert: await readFile(cert, 'utf8'), key: await readFile(key, 'utf8')}})
    try {
      const host = `https://palette.corp.test:${new URL(tls.url).port}`
      const untrusted = await plan(host, {HTTPS_PROXY: cp.url})
      expect(untrusted.code).toBe(1)
      expect(untrusted.stderr).toMatch(/NODE_EXTRA_CA_CERTS/)
      // Not retried: one tunnel per first-round read (who am I, users, keys, users/summary), no more.
      expect(cp.tunnels.length).toBeLessThanOrEqual(4)
      const trusted = await plan(host, {HTTPS_PROXY: cp.url, NODE_EXTRA_CA_CERTS: cert})
      expect(trusted.code, trusted.stderr).toBe(0)
      expect(trusted.stdout).toContain('palette-keys plan: tenant test at https://palette.corp.test')
      expect(new Set(cp.tunnels)).toEqual(new Set([`palette.corp.test:${new URL(tls.url).port}`]))
    } finally {
      // The proxy first: its tunnels hold the TLS server's connections open.
      await cp.close()
      await tls.close()
    }
  })

  it('https:// to a plain http server: a final error that says to write http://', async () => {
    const r = await plan(emu.url.replace('http://', 'https://'), {})
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/does not speak TLS on that port.*http:\/\//)
  })

  it('NO_PROXY (either case) and loopback hosts go direct', async () => {
    const viaNoProxy = await plan(`http://palette.corp.test:${port()}`, {HTTP_PROXY: cp.url, no_proxy: 'corp.test'})
    expect(viaNoProxy.code).toBe(1) // direct, the name resolves nowhere
    const loopback = await plan(emu.url, {HTTP_PROXY: cp.url, HTTPS_PROXY: cp.url})
    expect(loopback.code, loopback.stderr).toBe(0)
    expect(cp.tunnels).toEqual([])
  })
})

describe('the credential goes only to the configured host', () => {
  it('show of a plan whose host was edited to another server sends that server nothing, and says so', async () => {
    const capture = await startHostileProxy(emu.url)
    try {
      const users = '  alice@example.com:\n    keys:\n      ci: {}\n'
      const made = await cli(['plan', '-f', 'keys.yaml', '--out', 'plan.json'], users)
      expect(made.code, made.stderr).toBe(0)
      const doc = JSON.parse(await readFile(join(work, 'plan.json'), 'utf8'))
      doc.host = capture.url
      await writeFile(join(work, 'edited.json'), JSON.stringify(doc))
      const shown = await runCli(['show', 'edited.json'], {cwd: work, env: {PALETTE_HOST: proxy.url, PALETTE_API_KEY: ADMIN_KEY}})
      expect(shown.code, shown.stderr).toBe(0)
      expect(shown.stderr).toMatch(/made for http:\/\/127\.0\.0\.1:\d+, not http:\/\/127\.0\.0\.1:\d+.*No request was sent/)
      expect(capture.seen).toEqual([])
      // And with no host configured at all, the default (not the plan's) is the one compared.
      const noHost = await runCli(['show', 'edited.json'], {cwd: work, env: {PALETTE_HOST: '', SPECTROCLOUD_HOST: '', PALETTE_API_KEY: ADMIN_KEY}})
      expect(noHost.stderr).toMatch(/not https:\/\/api\.spectrocloud\.com/)
      expect(capture.seen).toEqual([])
    } finally {
      await capture.close()
    }
  })
})

describe('answers a plan cannot be made from', () => {
  const users = '  alice@example.com:\n    keys:\n      ci: {}\n'
  it('a key list that is not JSON: exit 1 with a clear error, zero mutations', async () => {
    proxy.hooks.before = (req) => (req.method === 'GET' && req.path === '/v1/apiKeys' ? {status: 200, body: '<html>captive portal</html>'} : undefined)
    const r = await cli(['apply', '-f', 'keys.yaml', '--auto-approve'], users)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/GET \/v1\/apiKeys failed, HTTP 200 InvalidResponse: the response is not JSON/)
    expect(r.stderr).not.toContain('captive portal')
    expect(emu.stats.mutations).toBe(0)
  })

  it('a key list that trickles a byte at a time: the request deadline ends it (exit 1), not retried', async () => {
    const slow = createServer((req, res) => {
      if (req.url !== '/v1/apiKeys') {
        res.writeHead(200, {'Content-Type': 'application/json'})
        res.end(req.url === '/v1/users/info' ? '{"userUid":"u1","tenantUid":"t1","orgName":"x"}' : '{"items":[]}')
        return
      }
      res.writeHead(200, {'Content-Type': 'application/json'})
      const tick = setInterval(() => res.write(' '), 100)
      res.on('close', () => clearInterval(tick))
    })
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve))
    try {
      const host = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`
      await writeFile(join(work, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${recipient}]\nusers:\n${users}`)
      const started = Date.now()
      const r = await runCli(['plan', '-f', 'keys.yaml', '--request-timeout', '2'], {cwd: work, env: {PALETTE_HOST: host, PALETTE_API_KEY: ADMIN_KEY}})
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/RequestDeadline/)
      expect(r.stderr).toMatch(/--request-timeout/)
      expect(Date.now() - started).toBeLessThan(20_000)
    } finally {
      slow.closeAllConnections()
      await new Promise<void>((resolve) => slow.close(() => resolve()))
    }
  })
})

describe('warnings quote untrusted text inertly too', () => {
  const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/
  it('show: a plan whose host holds escape sequences is warned about with them escaped', async () => {
    const made = await cli(['plan', '-f', 'keys.yaml', '--out', 'plan.json'], '  alice@example.com:\n    keys:\n      ci: {}\n')
    expect(made.code, made.stderr).toBe(0)
    const doc = JSON.parse(await readFile(join(work, 'plan.json'), 'utf8'))
    doc.host = 'https://x\u001b[2K\u001b[1A\u202eevil'
    await writeFile(join(work, 'edited.json'), JSON.stringify(doc))
    const r = await runCli(['show', 'edited.json'], {cwd: work, env: {PALETTE_HOST: proxy.url, PALETTE_API_KEY: ADMIN_KEY}})
    expect(r.stderr).toContain('\\u{1b}[2K')
    expect(r.stdout + r.stderr).not.toMatch(CONTROL)
  })

  it('unseal: a planted file whose name holds escape sequences is reported with them escaped, the rest still served', async () => {
    const IDENTITY = join(process.cwd(), 'examples/demo-identity.txt')
    const dir = join(work, 'sealed', 'alice@example.com')
    await mkdir(dir, {recursive: true})
    const good: SealedRecord = {user: 'alice@example.com', name: 'ci', uid: 'a00000000000000000000001', expiry: '2099-01-01T00:00:00.000Z', host: 'https://h', createdAt: '2026-01-01T00:00:00.000Z', apiKey: 'real-value-00000001'}
    await writeFile(join(dir, `ci--${good.uid}.age`), await encryptRecord(good, [recipient]))
    await writeFile(join(dir, 'x\u001b[2K\u001b[1A--b00000000000000000000002.age'), 'not age at all')
    const r = await runCli(['unseal', join(work, 'sealed'), '-i', IDENTITY, '--format', 'json'])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout)['alice@example.com'].ci.uid).toBe(good.uid)
    expect(r.stderr).toContain('\\u{1b}[2K')
    expect(r.stderr).not.toMatch(CONTROL)
  })
})
