import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import type {RunningEmulator} from '../../src/emulator/server.js'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {encryptRecord, type SealedRecord} from '../../src/seal/sealed-file.js'
import {type CliResult, runCli} from '../support/cli.js'
import {demoRecipient} from '../support/demo.js'
import {ADMIN_KEY, startTestEmulator} from '../support/emulator.js'
import {type HostileProxy, startHostileProxy} from '../support/hostile-proxy.js'
import {recordAndRemove} from '../support/leaks.js'

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
    // The PUT that clears a created key's pending mark fails, echoing the value and the tool's key.
    proxy.hooks.before = (req) => (req.method === 'PUT' && uids.has(req.path.split('/')[3]!) ? echo(400, `${created.at(-1)} ${req.headers.apikey}`) : undefined)
    const users = '  alice@example.com:\n    keys:\n      ci: {}\n      web: {}\n'
    const text = await cli(['apply', '-f', 'keys.yaml', '--auto-approve', '--trace'], users)
    expect(text.code, text.stdout + text.stderr).toBe(1)
    expect(text.stdout).toMatch(/FAILED: .*\(redacted\)/)
    const json = await cli(['apply', '-f', 'keys.yaml', '--auto-approve', '--json'], users)
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
    expect(r.stdout).toContain('(redacted)')
    expectNoneOf([ADMIN_KEY], r.stdout, r.stderr, await readFile(join(work, 'plan.json'), 'utf8'))
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
