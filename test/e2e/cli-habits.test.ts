import {execFile} from 'node:child_process'
import {mkdir, mkdtemp, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {describe, expect, it} from 'vitest'
import {ROOT, runCli} from '../support/cli.js'
import {recordAndRemove} from '../support/leaks.js'
import {useTestTenant} from '../support/tenant.js'

/**
 * The CLI habits of its peers (issue 19.8), through the real CLI: help COMMAND, shell completion,
 * "did you mean" for commands and flags, validate --format github, progress lines, FORCE_COLOR.
 */
const ADMIN = 'habits-admin-key-0001'
const SEED = `
tenant: {uid: 5f0c4e2a9d1b3c4d5e6f7a8c, orgName: habits}
users:
  - email: admin@example.com
    roles: [Tenant Admin]
    apiKeys: [{name: bootstrap, value: ${ADMIN}, expiry: 2099-01-01T00:00:00Z}]
  - email: alice@example.com
`
const tenant = useTestTenant(SEED, 'pk-habits-')
const env = () => ({PALETTE_HOST: tenant.emu.url, PALETTE_API_KEY: ADMIN})

describe('help and completion', () => {
  it('help COMMAND prints that command\'s help, as --help does', async () => {
    const help = await runCli(['help', 'plan'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('--detailed-exitcode')
    expect(help.stdout).toContain('USAGE')
    expect(help.stdout).toBe((await runCli(['plan', '--help'])).stdout)
  })

  it('--version and -v, answered before oclif loads, print exactly oclif\'s user agent; with more arguments oclif answers', async () => {
    const {Config} = await import('@oclif/core/config')
    const oclif = (await Config.load({root: ROOT})).userAgent
    expect(oclif).toMatch(/^palette-keys\/\d+\.\d+\.\d+ \S+-\S+ node-v\d+/)
    for (const args of [['--version'], ['-v'], ['--version', 'extra']]) {
      const r = await runCli(args)
      expect(r.code, args.join(' ')).toBe(0)
      expect(r.stdout, args.join(' ')).toBe(`${oclif}\n`)
      expect(r.stderr).toBe('')
    }
  })

  it('autocomplete writes a bash completion that completes "ap" to apply', async () => {
    const home = await mkdtemp(join(tmpdir(), 'pk-home-'))
    try {
      const setup = await runCli(['autocomplete', 'bash'], {env: {HOME: home, XDG_CACHE_HOME: join(home, '.cache')}})
      expect(setup.code).toBe(0)
      expect(setup.stdout).toContain('palette-keys')
      const {stdout} = await promisify(execFile)('bash', ['-c', [
        'set -e',
        `f=$(find "$HOME/.cache/palette-keys/autocomplete" -name 'palette-keys.bash' | head -1)`,
        'test -n "$f"',
        'source "$f"',
        'COMP_WORDS=(palette-keys ap); COMP_CWORD=1; COMP_LINE="palette-keys ap"; COMP_POINT=${#COMP_LINE}',
        '_palette-keys_autocomplete',
        'echo "${COMPREPLY[@]}"',
      ].join('\n')], {env: {...process.env, HOME: home, XDG_CACHE_HOME: join(home, '.cache')}})
      expect(stdout.trim().split(/\s+/)).toEqual(['apply'])
    } finally {
      await recordAndRemove(home)
    }
  })
})

describe('did you mean', () => {
  it('a mistyped command: exit 64 and the nearest command, also under --json', async () => {
    const text = await runCli(['aply'])
    expect(text.code).toBe(64)
    expect(text.stderr).toContain('Unknown command "aply"')
    expect(text.stderr).toContain('Did you mean "palette-keys apply"?')
    const json = await runCli(['valdiate', '--json'])
    expect(json.code).toBe(64)
    expect(JSON.parse(json.stdout).error.hints).toEqual(['Did you mean "palette-keys validate"?', 'palette-keys --help lists the commands'])
    // Nothing near: no guess, and a pasted secret is never offered back as a command.
    const far = await runCli(['deploy-everything'])
    expect(far.stderr).not.toContain('Did you mean')
  })

  it('a mistyped flag: exit 64 and the nearest flag of that command, also under --json', async () => {
    const text = await runCli(['plan', '--detailed-exitcod'])
    expect(text.code).toBe(64)
    expect(text.stderr).toContain('Did you mean --detailed-exitcode?')
    const json = await runCli(['apply', '--auto-aprove', '--json'])
    expect(json.code).toBe(64)
    expect(JSON.parse(json.stdout).error.hints[0]).toBe('Did you mean --auto-approve?')
  })
})

describe('validate --format github', () => {
  it('prints each problem as a workflow annotation at its line and column, and still exits 65', async () => {
    await writeFile(join(tenant.work, 'bad.yaml'), `version: 1\nseal: {recipients: [${tenant.recipient}]}\nusers:\n  alice@example.com:\n    keys:\n      ci: {expiresIn: soon}\n`)
    const r = await runCli(['validate', '-f', 'bad.yaml', '--format', 'github'], {cwd: tenant.work})
    expect(r.code).toBe(65)
    const annotations = r.stdout.split('\n').filter((l) => l.startsWith('::'))
    expect(annotations.length).toBeGreaterThanOrEqual(1)
    expect(annotations[0]).toMatch(/^::error file=bad\.yaml,line=6,col=\d+,title=palette-keys%3A [a-z-]+::/)
    // The text form is unchanged.
    expect((await runCli(['validate', '-f', 'bad.yaml'], {cwd: tenant.work})).stdout).not.toContain('::error')
  })

  it('a valid file with no recipients: a warning annotation, exit 0', async () => {
    await writeFile(join(tenant.work, 'empty.yaml'), 'version: 1\nseal: {recipients: []}\nusers: {}\n')
    const r = await runCli(['validate', '-f', 'empty.yaml', '--format', 'github'], {cwd: tenant.work})
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^::warning file=empty\.yaml,title=palette-keys%3A no-recipients::/m)
  })
})

describe('validate --json names the seal folder', () => {
  it('as a path from the current directory, resolved from the file\'s folder (what a CI commit-back adds)', async () => {
    await mkdir(join(tenant.work, 'team'), {recursive: true})
    await writeFile(join(tenant.work, 'team/keys.yaml'), `version: 1\nseal: {recipients: [${tenant.recipient}], dir: vault/sealed}\nusers: {}\n`)
    const r = await runCli(['validate', '-f', 'team/keys.yaml', '--json'], {cwd: tenant.work})
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).sealDir).toBe('team/vault/sealed')
    await writeFile(join(tenant.work, 'team/keys.yaml'), `version: 1\nseal: {recipients: [${tenant.recipient}]}\nusers: {}\n`)
    const inside = await runCli(['validate', '--json'], {cwd: join(tenant.work, 'team')})
    expect(JSON.parse(inside.stdout).sealDir).toBe('sealed')
  })
})

describe('apply progress and colour', () => {
  const keys = (names: string[]) => `version: 1\nseal: {recipients: [${tenant.recipient}], dir: sealed}\nusers:\n  alice@example.com:\n    keys:\n${names.map((n) => `      ${n}: {}\n`).join('')}`

  it('--progress writes [n/N] lines with elapsed time and an estimate to stderr; a pipe gets none unless asked', async () => {
    await writeFile(join(tenant.work, 'keys.yaml'), keys(['a', 'b', 'c']))
    const r = await runCli(['apply', '--auto-approve', '--progress', '-f', 'keys.yaml'], {cwd: tenant.work, env: env()})
    expect(r.code).toBe(0)
    const lines = r.stderr.split('\n').filter((l) => /^\[\d\/\d\]/.test(l))
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/^\[1\/3\] create alice@example\.com\/[abc] done \(\d+s elapsed, about \d+s left\)$/)
    expect(lines[2]).toMatch(/^\[3\/3\] create alice@example\.com\/[abc] done \(\d+s elapsed\)$/)
    expect(r.stdout).not.toMatch(/^\[\d\/\d\]/m)

    await writeFile(join(tenant.work, 'keys.yaml'), keys(['a', 'b', 'c', 'd']))
    const quiet = await runCli(['apply', '--auto-approve', '-f', 'keys.yaml'], {cwd: tenant.work, env: env()})
    expect(quiet.code).toBe(0)
    expect(quiet.stderr).not.toMatch(/\[\d\/\d\]/)
  })

  it('FORCE_COLOR colours a plan in a pipe; without it (or with NO_COLOR) the pipe is plain', async () => {
    await writeFile(join(tenant.work, 'keys.yaml'), keys(['a', 'b', 'c', 'd', 'e']))
    const coloured = await runCli(['plan', '-f', 'keys.yaml'], {cwd: tenant.work, env: {...env(), FORCE_COLOR: '1'}})
    expect(coloured.code).toBe(0)
    expect(coloured.stdout).toMatch(/\x1b\[\d+m/)
    const plain = await runCli(['plan', '-f', 'keys.yaml'], {cwd: tenant.work, env: env()})
    expect(plain.stdout).not.toMatch(/\x1b\[/)
    expect(plain.stdout.replace(/\s+/g, ' ')).toContain(coloured.stdout.replace(/\x1b\[\d+m/g, '').replace(/\s+/g, ' ').slice(0, 40))
  })
})
