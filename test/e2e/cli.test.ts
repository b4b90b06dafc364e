import {mkdtemp, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {runCli} from '../support/cli.js'
import {recordAndRemove} from '../support/leaks.js'

describe('palette-keys CLI', () => {
  it('--help lists the commands with one-line summaries', async () => {
    const r = await runCli(['--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/COMMANDS[\s\S]*emulator\s+Run a local Palette API emulator/)
  })

  it('emulator --help shows its flags and examples', async () => {
    const r = await runCli(['emulator', '--help'])
    expect(r.code).toBe(0)
    for (const flag of ['--port', '--seed', '--state', '--rate-limit', '--burst', '--latency', '--fail-rate', '--drop-after-commit-rate']) {
      expect(r.stdout).toContain(flag)
    }
    expect(r.stdout).toContain('EXAMPLES')
  })

  it('bad flags are usage errors: exit 64', async () => {
    expect((await runCli(['emulator', '--no-such-flag'])).code).toBe(64)
    expect((await runCli(['emulator', '--port', 'abc'])).code).toBe(64)
    const share = await runCli(['emulator', '--seed', 'examples/tenant.yaml', '--fail-rate', '2'])
    expect(share.code).toBe(64)
    expect(share.stderr).toContain('--fail-rate must be a number from 0 to 1')
  })

  it('no seed and no state: exit 64 with a hint', async () => {
    const r = await runCli(['emulator'])
    expect(r.code).toBe(64)
    expect(r.stderr).toContain('needs --seed')
  })

  it('an invalid seed: exit 65 and every problem as file:line:col with its code', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pk-cli-'))
    const seed = join(dir, 'seed.yaml')
    await writeFile(seed, 'users:\n  - email: nope\n    apiKeys: [{name: k, value: short}]\n')
    const r = await runCli(['emulator', '--seed', seed])
    expect(r.code).toBe(65)
    expect(r.stderr).toContain(`${seed}:2:12: invalid-email:`)
    expect(r.stderr).toContain(`${seed}:3:32: invalid-value:`)
    expect(r.stderr).not.toContain('short')
    await recordAndRemove(dir)
  })
})
