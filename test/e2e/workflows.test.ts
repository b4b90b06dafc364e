import {copyFile, mkdir, mkdtemp, readFile, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parse} from 'yaml'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {cliShim, type EmulatorProcess, ROOT, runShell, startEmulatorProcess} from '../support/cli.js'
import {recordAndRemove} from '../support/leaks.js'

/**
 * Runs the exact shell of the example CI files against the emulator: every step that calls
 * palette-keys, as written. `palette-keys` on PATH is a shim for this checkout's CLI (the
 * workflows install the published package); steps that talk to GitHub, GitLab or git are
 * left out, as are the install steps.
 */

let work: string
let shim: string
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pk-ci-'))
  shim = await cliShim(work)
})
afterAll(async () => {
  await recordAndRemove(work)
})

interface Shell {
  code: number | null
  out: string
}

function bash(script: string, cwd: string, env: Record<string, string>): Promise<Shell> {
  return runShell(script, {cwd, env, shim, label: `workflow step ${script.trim().split('\n')[0]!.slice(0, 120)}`})
}

async function repo(name: string): Promise<string> {
  const dir = join(work, name)
  await mkdir(dir)
  await copyFile(join(ROOT, 'examples/keys.yaml'), join(dir, 'keys.yaml'))
  return dir
}

const isOurs = (script: string) => script.includes('palette-keys') && !/npm (install|ci)|curl |git (add|push|commit)/.test(script)

describe('examples/ci/gitlab/.gitlab-ci.yml', () => {
  let emu: EmulatorProcess
  let pipeline: Record<string, {script?: string[]}> & {variables: Record<string, string>}
  beforeAll(async () => {
    emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml'])
    pipeline = parse(await readFile(join(ROOT, 'examples/ci/gitlab/.gitlab-ci.yml'), 'utf8'))
  })
  afterAll(async () => {
    await emu.stop()
  })

  /** A job's script lines run in one shell, as GitLab runs them. */
  async function job(name: string, dir: string): Promise<Shell> {
    const lines = pipeline[name]!.script!.filter((l) => !/curl |git (add|push|commit)|npm (install|ci)/.test(l))
    expect(lines.some((l) => l.includes('palette-keys')), `job ${name} runs palette-keys`).toBe(true)
    return bash(lines.join('\n'), dir, {...pipeline.variables, PALETTE_HOST: emu.url, PALETTE_API_KEY: 'demo-admin-key-0001'})
  }

  it('merge request: plan.md and exit 0 (changes are not a failure); apply; plan again; scheduled audit clean (exit 0: ci-deploy is rotated before it expires)', async () => {
    const dir = await repo('gitlab')
    const mr = await job('plan', dir)
    expect(mr.code, mr.out).toBe(0)
    expect(mr.out).toContain('plan exit code 2')
    expect(await readFile(join(dir, 'plan.md'), 'utf8')).toContain('<!-- palette-keys:plan -->')
    const applied = await job('apply', dir)
    expect(applied.code, applied.out).toBe(0)
    expect(await listSealedFiles(join(dir, 'sealed'))).toHaveLength(2)
    expect((await job('plan', dir)).out).toContain('plan exit code 0')
    const audit = await job('audit', dir)
    expect(audit.code, audit.out).toBe(0)
    expect(await readFile(join(dir, 'audit.md'), 'utf8')).toContain('<!-- palette-keys:audit -->')
  })
})

describe('the CI examples install nothing by a name nobody owns, and keep the key from the install', () => {
  it('GitHub: a hash-checked tarball with --ignore-scripts; PALETTE_API_KEY only on the steps that run palette-keys; apply in its protected environment', async () => {
    const text = await readFile(join(ROOT, 'examples/ci/github/palette-keys.yml'), 'utf8')
    const wf = parse(text) as {env: Record<string, string>; jobs: Record<string, {environment?: string; steps: Array<{name?: string; run?: string; env?: Record<string, string>}>}>}
    expect(wf.jobs.apply!.environment).toBe('palette-keys')
    expect(wf.env.PALETTE_API_KEY).toBeUndefined()
    expect(text).not.toMatch(/npm install[^\n]*palette-keys@/)
    for (const [name, j] of Object.entries(wf.jobs)) {
      for (const s of j.steps) {
        if (!s.run) continue
        if (/npm (install|ci)/.test(s.run)) {
          expect(s.run, `${name}: ${s.name}`).toMatch(/sha256sum -c -/)
          expect(s.run).toMatch(/npm ci --prefix "\$RUNNER_TEMP\/palette-keys" --omit=dev --ignore-scripts/)
          expect(s.env?.PALETTE_API_KEY, `${name}: the install sees no Palette key`).toBeUndefined()
        } else if (/^\s*palette-keys (plan|apply|audit|export|show)\b/m.test(s.run)) {
          expect(s.env?.PALETTE_API_KEY, `${name}: ${s.name} gets the key`).toBe('${{ secrets.PALETTE_API_KEY }}')
        } else {
          expect(s.env?.PALETTE_API_KEY, `${name}: ${s.name} does not need the key`).toBeUndefined()
        }
      }
    }
  })

  it('GitLab: a hash-checked tarball with --ignore-scripts, installed without the key or the token in its environment', async () => {
    const text = await readFile(join(ROOT, 'examples/ci/gitlab/.gitlab-ci.yml'), 'utf8')
    const pipeline = parse(text) as {default: {before_script: string[]}}
    expect(text).not.toMatch(/npm install[^\n]*palette-keys@/)
    const install = pipeline.default.before_script.join('\n')
    expect(install).toMatch(/sha256sum -c -/)
    expect(install).toMatch(/env -u PALETTE_API_KEY -u GITLAB_API_TOKEN npm ci --prefix \/tmp\/palette-keys --omit=dev --ignore-scripts/)
  })
})
