import {readFile, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {parse} from 'yaml'
import {describe, expect, it} from 'vitest'
import {cliShim, ROOT, runShell} from '../support/cli.js'
import {ADMIN_KEY, call} from '../support/emulator.js'
import {adminAndAlice, useTestTenant} from '../support/tenant.js'

/**
 * The README's Quickstart, run as written (issue 19.7): its sh block in one bash, with this
 * checkout's CLI on PATH. Four substitutions only: the test's emulator instead of the block's
 * first line (it backgrounds one on a fixed port), that emulator's port, --auto-approve for the
 * apply that asks on a terminal, and unseal's output into a file the test reads and removes
 * (printing values is unseal's job; the leak scan reads every other output).
 */
const SEED = adminAndAlice('demo', '5f0c0c0c0c0c0c0c0c0c0c01')
const tenant = useTestTenant(SEED, 'pk-quickstart-')

describe('README quickstart', () => {
  it('runs as written: validate, plan, apply, unseal, and a last plan with no change (exit 0)', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
    const section = readme.slice(readme.indexOf('## Quickstart'), readme.indexOf('## Two commands'))
    const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!
    const [first, ...rest] = block.split('\n')
    expect(first).toMatch(/^palette-keys emulator --port 41235 --seed examples\/tenant\.yaml &/)
    const port = new URL(tenant.emu.url).port
    const script = rest.join('\n')
      .replaceAll('127.0.0.1:41235', `127.0.0.1:${port}`)
      .replace('PALETTE_API_KEY=demo-admin-key-0001', `PALETTE_API_KEY=${ADMIN_KEY}`)
      .replace(/^palette-keys apply( |$)/m, 'palette-keys apply --auto-approve$1')
      .replace(/^(palette-keys unseal sealed -i identity\.txt)( |$)/m, '$1 > unsealed.yaml$2')
    const r = await runShell(script, {cwd: tenant.work, env: {NO_COLOR: '1', PALETTE_KEYS_LEASE_SETTLE_MS: '0'}, shim: await cliShim(tenant.work), label: 'README quickstart'})
    expect(r.code, r.out).toBe(0)
    expect(r.out).toContain('keys.yaml: valid (1 users, 1 keys)')
    expect(r.out).toMatch(/create +alice@example\.com\/ci-deploy/)
    expect(r.out).toContain('No changes')
    // What unseal printed is the key's value: it authenticates as alice.
    const unsealed = parse(await readFile(join(tenant.work, 'unsealed.yaml'), 'utf8')) as Record<string, Record<string, {apiKey: string}>>
    await rm(join(tenant.work, 'unsealed.yaml'))
    const value = unsealed['alice@example.com']!['ci-deploy']!.apiKey
    const alice = tenant.emu.state.allUsers().find((u) => u.email === 'alice@example.com')!
    expect((await call(tenant.emu, 'GET', '/v1/users/info', {key: value})).body.userUid).toBe(alice.uid)
  })
})
