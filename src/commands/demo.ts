import {spawn} from 'node:child_process'
import {copyFile, mkdtemp, readFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {request} from 'undici'
import {BaseCommand} from '../cli/base-command.js'
import {ExitCode} from '../util/exit-codes.js'
import {parseSeed} from '../emulator/seed.js'
import {startEmulator} from '../emulator/server.js'
import {EmulatorState} from '../emulator/state.js'
import {PaletteKeysError} from '../util/errors.js'
import {packagePath} from '../util/paths.js'

/** DEMO ONLY: public values from examples/ (tenant.yaml and demo-identity.txt). */
const ADMIN_KEY = 'demo-admin-key-0001'

export default class Demo extends BaseCommand {
  static override summary = 'Run the whole workflow against a local emulator: validate, plan, apply, plan, unseal.'

  static override description = `Starts a Palette emulator in this process, seeded from the bundled examples/tenant.yaml, copies examples/keys.yaml to a temporary folder and runs the real CLI on it: validate, plan (exit 2: changes), apply --auto-approve, plan (exit 0: nothing left), unseal with the bundled demo-only identity; then proves that every sealed value authenticates as its owner. It touches nothing outside the temporary folder and no real tenant.`

  static override examples = [
    {description: 'From a checkout', command: 'npm run demo'},
    {description: 'From an installed package', command: 'npx <%= config.bin %> <%= command.id %>'},
  ]

  private failed = false

  async run(): Promise<void> {
    await this.parse(Demo)
    this.step(1, "Start a local Palette emulator, seeded from examples/tenant.yaml (Palette's rate limit on)")
    const seedFile = packagePath('examples/tenant.yaml')
    const emulator = await startEmulator({state: EmulatorState.fromSeed(parseSeed(await readFile(seedFile, 'utf8'), seedFile), new Date())})
    const env = {PALETTE_HOST: emulator.url, PALETTE_API_KEY: ADMIN_KEY}
    const work = await mkdtemp(join(tmpdir(), 'palette-keys-demo-'))
    const keys = join(work, 'keys.yaml')
    const identity = packagePath('examples/demo-identity.txt')
    await copyFile(packagePath('examples/keys.yaml'), keys)
    this.log(`    emulator at ${emulator.url}; PALETTE_HOST and PALETTE_API_KEY point at it`)
    this.log(`    working copy of examples/keys.yaml: ${keys}`)
    try {
      this.step(2, 'Validate the desired-state file (offline)')
      await this.cli(['validate', '-f', keys], env)
      this.step(3, 'Plan: what would change (exit 2 = changes, with --detailed-exitcode)')
      await this.cli(['plan', '-f', keys, '--detailed-exitcode'], env, [2])
      this.step(4, 'Apply: make it so; every new key value is sealed at once (age, to seal.recipients)')
      await this.cli(['apply', '-f', keys, '--auto-approve'], env)
      this.step(5, 'Plan again: nothing left to do (exit 0)')
      await this.cli(['plan', '-f', keys, '--detailed-exitcode'], env)
      this.step(6, 'Unseal with the demo-only identity examples/demo-identity.txt (values are not shown here)')
      const unsealed = await this.cli(['unseal', join(work, 'sealed'), '-i', identity, '--format', 'json'], env, [0], true)
      this.step(7, 'Each sealed value authenticates against the emulator as its owner (GET /v1/users/info)')
      await this.proveValues(emulator.url, unsealed === '' ? {} : (JSON.parse(unsealed) as Record<string, Record<string, {apiKey: string; uid: string}>>))
    } finally {
      await emulator.close()
    }
    if (this.failed) throw new PaletteKeysError('Demo FAILED (see above).', {code: 'demo-failed', exitCode: ExitCode.Error})
    this.log(`\nDemo done: validate, plan, apply, plan (no changes), unseal, and every sealed key works.\nThe sealed files are in ${join(work, 'sealed')}.`)
  }

  private step(n: number, text: string): void {
    this.log(`\n[${n}] ${text}`)
  }

  /** Runs the real CLI asynchronously (the emulator lives in this process and must keep answering). */
  private async cli(args: string[], env: Record<string, string>, expect = [0], capture = false): Promise<string> {
    this.log(`    $ palette-keys ${args.join(' ')}`)
    const child = spawn(process.execPath, [packagePath('bin/run.js'), ...args], {env: {...process.env, ...env}, stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit']})
    let stdout = ''
    child.stdout?.on('data', (d) => (stdout += d))
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve))
    if (status === null || !expect.includes(status)) {
      this.log(`    !! exit ${status}, expected ${expect.join(' or ')}`)
      this.failed = true
      return ''
    }
    this.log(`    (exit ${status})`)
    return stdout
  }

  private async proveValues(url: string, sealed: Record<string, Record<string, {apiKey: string; uid: string}>>): Promise<void> {
    const meta = (await (await request(`${url}/v1/users/meta`, {headers: {ApiKey: ADMIN_KEY}})).body.json()) as {items: Array<{emailId: string; uid: string}>}
    let count = 0
    for (const [user, byName] of Object.entries(sealed)) {
      for (const [name, v] of Object.entries(byName)) {
        const res = await request(`${url}/v1/users/info`, {headers: {ApiKey: v.apiKey}})
        const info = res.statusCode === 200 ? ((await res.body.json()) as {userUid?: string}) : (await res.body.text(), {userUid: undefined})
        const owner = meta.items.find((u) => u.uid === info.userUid)?.emailId
        count++
        if (owner !== user) this.failed = true
        this.log(`    ${user}/${name} (uid ${v.uid}): ${owner === user ? `authenticates as ${owner}` : `FAILED (HTTP ${res.statusCode})`}`)
      }
    }
    if (count === 0) {
      this.log('    no sealed value found')
      this.failed = true
    }
  }
}
