import {existsSync} from 'node:fs'
import {mkdtemp, readFile, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {delimiter, join} from 'node:path'
import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import type {RunningEmulator} from '../../src/emulator/server.js'
import {ROOT, runCli} from '../support/cli.js'
import {demoRecipient} from '../support/demo.js'
import {call, startTestEmulator} from '../support/emulator.js'
import {recordAndRemove, sha256} from '../support/leaks.js'

/**
 * The README's delivery recipes through `exec` (issue 18), run exactly as the README writes them
 * (read from it), against stand-ins for `vault` and `kubectl` that record what they received:
 * argv, environment names, and the sha256 of each field (never a value).
 */
const ADMIN = 'recipes-admin-key-00001'
const SEED = `
tenant: {uid: 5f0c4e2a9d1b3c4d5e6f7a8b, orgName: recipes}
users:
  - email: admin@example.com
    roles: [Tenant Admin]
    apiKeys: [{name: bootstrap, value: ${ADMIN}, expiry: 2099-01-01T00:00:00Z}]
  - email: alice@example.com
`
const STANDINS = join(ROOT, 'test/support/standins')
const IDENTITY = join(ROOT, 'examples/demo-identity.txt')

/** The `deliver` list of the README's yaml block that starts `# recipe: NAME`. */
async function recipe(name: string): Promise<unknown[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const block = [...readme.matchAll(/```yaml\n(# recipe: ([a-z-]+)\n[\s\S]*?)```/g)].find((m) => m[2] === name)
  expect(block, `README recipe ${name}`).toBeDefined()
  const deliver = (parse(block![1]!) as {deliver: unknown[]}).deliver
  expect(deliver).toHaveLength(1)
  return deliver
}

let recipient: string
let emu: RunningEmulator
let work: string
beforeAll(async () => {
  recipient = await demoRecipient()
})
beforeEach(async () => {
  emu = await startTestEmulator({}, SEED)
  work = await mkdtemp(join(tmpdir(), 'pk-recipes-'))
})
afterEach(async () => {
  await emu.close()
  await recordAndRemove(work)
})

async function deliverWith(deliver: unknown[]): Promise<{value: string; uid: string; records: Array<Record<string, any>>}> {
  await writeFile(join(work, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${recipient}]\nusers:\n  alice@example.com:\n    keys:\n      ci-deploy: ${JSON.stringify({description: 'deploys', deliver})}\n`)
  const record = join(work, 'standin.jsonl')
  const env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN, PATH: `${STANDINS}${delimiter}${process.env.PATH}`, STANDIN_RECORD: record, VAULT_ADDR: 'https://vault.example.com:8200', VAULT_TOKEN: 'hvs.standin-token', KUBECONFIG: join(work, 'kubeconfig')}
  const apply = await runCli(['apply', '-f', 'keys.yaml', '--auto-approve'], {cwd: work, env})
  expect(apply.code, apply.stdout + apply.stderr).toBe(0)
  expect(apply.stdout).toMatch(/delivered to 1 target/)
  const open = await runCli(['unseal', join(work, 'sealed'), '-i', IDENTITY, '--format', 'json'], {cwd: work})
  expect(open.code, open.stderr).toBe(0)
  const {apiKey, uid} = (JSON.parse(open.stdout) as Record<string, Record<string, {apiKey: string; uid: string}>>)['alice@example.com']!['ci-deploy']!
  // The delivered value authenticates as its owner.
  expect((await call(emu, 'GET', '/v1/users/info', {key: apiKey})).body.userUid).toBe(emu.state.allUsers().find((u) => u.email === 'alice@example.com')!.uid)
  expect(existsSync(record), 'the stand-in ran').toBe(true)
  const records = (await readFile(record, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>)
  for (const r of records) {
    // The command's own settings reach it; palette-keys' credential does not; the value is nowhere but stdin.
    expect(r.envNames).toEqual(expect.arrayContaining(['PALETTE_KEYS_USER', 'PALETTE_KEYS_KEY_NAME', 'PALETTE_KEYS_KEY_UID', 'PALETTE_KEYS_KEY_EXPIRY']))
    expect(r.envNames).not.toContain('PALETTE_API_KEY')
    expect(JSON.stringify(r).includes(apiKey)).toBe(false)
  }
  return {value: apiKey, uid, records}
}

describe('README recipes for exec targets (issue 18)', () => {
  it('Vault KV: `vault kv put -mount=secret palette/ci-deploy apiKey=-` gets the value on stdin, with VAULT_ADDR and VAULT_TOKEN', async () => {
    const {value, records} = await deliverWith(await recipe('vault'))
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({tool: 'vault', argv: ['kv', 'put', '-mount=secret', 'palette/ci-deploy', 'apiKey=-'], path: 'palette/ci-deploy', fields: {apiKey: sha256(value)}})
    expect(records[0]!.envNames).toEqual(expect.arrayContaining(['VAULT_ADDR', 'VAULT_TOKEN']))
  })

  it('Kubernetes secret: kubectl create --from-file=apiKey=/dev/stdin --dry-run=client -o yaml | kubectl apply -f - stores the value in the Secret', async () => {
    const {value, records} = await deliverWith(await recipe('kubernetes'))
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({tool: 'kubectl', argv: ['apply', '-f', '-'], name: 'palette-ci-deploy', data: {apiKey: sha256(value)}})
    expect(records[0]!.envNames).toContain('KUBECONFIG')
  })

  it('without the recipe\'s `cat |`, opening /dev/stdin by name fails on the socket Node gives as stdin: the delivery fails (apply exit 1), as the README says', async () => {
    const [d] = (await recipe('kubernetes')) as Array<{exec: {command: string[]}}>
    const command = d!.exec.command.map((a) => a.replace(/^cat \| /, ''))
    expect(command).not.toEqual(d!.exec.command)
    await writeFile(join(work, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${recipient}]\nusers:\n  alice@example.com:\n    keys:\n      ci-deploy: ${JSON.stringify({deliver: [{exec: {command}}]})}\n`)
    const apply = await runCli(['apply', '-f', 'keys.yaml', '--auto-approve'], {cwd: work, env: {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN, PATH: `${STANDINS}${delimiter}${process.env.PATH}`, STANDIN_RECORD: join(work, 'standin.jsonl')}})
    expect(apply.code, apply.stdout + apply.stderr).toBe(1)
    expect(apply.stdout).toMatch(/FAILED: delivery to exec sh -c .* failed: the command exited 2/)
  })
})
