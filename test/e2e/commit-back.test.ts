import {execFile} from 'node:child_process'
import {chmod, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'
import {promisify} from 'node:util'
import {parse} from 'yaml'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import type {RunningEmulator} from '../../src/emulator/server.js'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {cliShim, ROOT, runCli, runShell} from '../support/cli.js'
import {startTestEmulator} from '../support/emulator.js'
import {recordAndRemove} from '../support/leaks.js'

/**
 * The CI examples' commit-back, as a team runs it (issue 17): a bare origin, runners that are
 * shallow clones of it at the commit that triggered them, and the apply job's steps run verbatim,
 * the `git commit` / `git push` step included. A value counts as kept only once its sealed file
 * is on main: a push that lost a race is rebased and lands; one that never lands (branch
 * protection) fails the job loudly, and the next plan replaces those keys as value-lost. This
 * file runs the GitLab pipeline's; test/e2e/github-workflow.test.ts runs the GitHub workflow's
 * whole jobs (the branch-and-pull-request path for a protected main included).
 */
const git = promisify(execFile)
const ADMIN = 'demo-admin-key-0001'
const AS = ['-c', 'user.name=teammate', '-c', 'user.email=teammate@example.invalid']

let work: string
let shim: string
let seed: string
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pk-commit-back-'))
  shim = await cliShim(work)
  seed = await readFile(join(ROOT, 'examples/tenant.yaml'), 'utf8')
})
afterAll(async () => {
  await recordAndRemove(work)
})

let emu: RunningEmulator
let origin: string
let runs = 0
beforeEach(async () => {
  emu = await startTestEmulator({}, seed)
  origin = join(work, `origin-${++runs}.git`)
  await git('git', ['init', '-q', '--bare', '-b', 'main', origin])
})
afterEach(async () => {
  await emu.close()
})

/** Lands a commit on origin's main as a teammate would (a clone, an edit, a push). */
async function land(edit: (dir: string) => Promise<void>, message: string): Promise<string> {
  const dir = join(work, `teammate-${++runs}`)
  const {stdout} = await git('git', ['ls-remote', origin, 'refs/heads/main'])
  if (stdout.trim()) await git('git', ['clone', '-q', `file://${origin}`, dir])
  else {
    await git('git', ['init', '-q', '-b', 'main', dir])
    await git('git', ['remote', 'add', 'origin', `file://${origin}`], {cwd: dir})
  }
  await edit(dir)
  await git('git', ['add', '-A'], {cwd: dir})
  await git('git', [...AS, 'commit', '-q', '-m', message], {cwd: dir})
  await git('git', ['push', '-q', 'origin', 'HEAD:main'], {cwd: dir})
  return (await git('git', ['rev-parse', 'HEAD'], {cwd: dir})).stdout.trim()
}

/** A runner: a shallow clone of origin on branch main, as actions/checkout makes for a push. */
async function runner(): Promise<string> {
  const dir = join(work, `runner-${++runs}`)
  await git('git', ['clone', '-q', '--depth', '1', '--branch', 'main', `file://${origin}`, dir])
  return dir
}

/** Branch protection: origin refuses every push from now on (or, with false, again accepts them). */
async function protect(on: boolean): Promise<void> {
  const hook = join(origin, 'hooks', 'pre-receive')
  if (!on) return rm(hook, {force: true})
  await writeFile(hook, '#!/bin/sh\necho "GH006: Protected branch update failed for refs/heads/main." >&2\nexit 1\n')
  await chmod(hook, 0o755)
}

interface Step {
  name: string
  code: number | null
  out: string
}

/** One plan as JSON with its detailed exit code; the text form too where a test reads it (each is a CLI process). */
async function planOf(dir: string, text = false): Promise<{code: number | null; stdout: string; json: {actions: Array<{kind: string; address: string; cause?: string; key?: {uid: string}}>; findings: Array<{kind: string; address: string}>}}> {
  const env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN, NO_COLOR: '1'}
  const json = await runCli(['plan', '-f', 'keys.yaml', '--json', '--detailed-exitcode'], {cwd: dir, env})
  expect([0, 2], json.stderr).toContain(json.code)
  const shown = text ? await runCli(['plan', '-f', 'keys.yaml', '--detailed-exitcode'], {cwd: dir, env}) : undefined
  if (shown) expect(shown.code).toBe(json.code)
  return {code: json.code, stdout: shown?.stdout ?? '', json: JSON.parse(json.stdout)}
}

const seedRepo = (grace: string) => async (dir: string) => {
  const keys = await readFile(join(ROOT, 'examples/keys.yaml'), 'utf8')
  expect(keys).toContain('custodyGrace: 1h')
  await writeFile(join(dir, 'keys.yaml'), keys.replace('custodyGrace: 1h', `custodyGrace: ${grace}`))
  await writeFile(join(dir, 'README.md'), '# keys\n')
}

const sealedOn = async (dir: string) => (await listSealedFiles(join(dir, 'sealed'))).map((f) => relative(join(dir, 'sealed'), f).replace(/\\/g, '/')).sort()

describe('commit-back of sealed values (examples/ci/gitlab/.gitlab-ci.yml, issue 17)', () => {
  const HOST = 'gitlab.example.invalid'
  const PROJECT = 'platform/keys'
  const TOKEN = 'glpat-commit-back-test-token'

  /** The apply job's script, all lines in one shell as GitLab runs them; origin's https URL is mapped to the bare repository. */
  async function gitlabApply(dir: string): Promise<Step> {
    const pipeline = parse(await readFile(join(ROOT, 'examples/ci/gitlab/.gitlab-ci.yml'), 'utf8')) as Record<string, {script?: string[]}> & {variables: Record<string, string>}
    const lines = pipeline.apply!.script!
    expect(lines.some((l) => /git push|authgit push/.test(l))).toBe(true)
    // No token in a URL git could print, nor on a command line (ps).
    for (const l of lines) expect(l).not.toMatch(/:\$\{?GITLAB_API_TOKEN\}?@|https:\/\/[^\s"]*\$\{?GITLAB_API_TOKEN/)
    const env = {
      ...pipeline.variables,
      PALETTE_HOST: emu.url,
      PALETTE_API_KEY: ADMIN,
      GITLAB_API_TOKEN: TOKEN,
      CI_SERVER_HOST: HOST,
      CI_PROJECT_PATH: PROJECT,
      CI_COMMIT_BRANCH: 'main',
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: `url.file://${origin}.insteadOf`,
      // The push URL carries no credential (issue 19.2): the token goes through a credential helper.
      GIT_CONFIG_VALUE_0: `https://${HOST}/${PROJECT}.git`,
    }
    return {name: 'apply', ...(await runShell(lines.join('\n'), {cwd: dir, env, shim, label: 'commit-back gitlab apply job'}))}
  }

  /** A GitLab runner's checkout: the pipeline's commit, detached. */
  async function detached(): Promise<string> {
    const dir = join(work, `gitlab-runner-${++runs}`)
    await git('git', ['clone', '-q', '--depth', '20', `file://${origin}`, dir])
    await git('git', ['checkout', '-q', '--detach'], {cwd: dir})
    return dir
  }

  it('a push that lost the race is rebased and lands; one refused by a protected branch fails the job (not an ignored after_script), and the next plan replaces the keys as value-lost', async () => {
    await land(seedRepo('0h'), 'keys.yaml')
    const a = await detached()
    await land(async (dir) => writeFile(join(dir, 'README.md'), '# keys, kept by palette-keys\n'), 'readme')
    const raced = await gitlabApply(a)
    expect(raced.code, raced.out).toBe(0)
    expect(raced.out).toMatch(/rejected|fetch first|non-fast-forward/)
    const kept = await sealedOn(await runner())
    expect(kept).toEqual(await sealedOn(a))
    expect(kept).toHaveLength(2)
    expect((await planOf(await runner())).code).toBe(0)

    // A new key, and main now protected against the job's pushes.
    await land(async (dir) => {
      const file = join(dir, 'keys.yaml')
      await writeFile(file, (await readFile(file, 'utf8')).replace('      ci-deploy:', '      docs:\n        description: Publishes docs\n      ci-deploy:'))
    }, 'alice: docs key')
    await protect(true)
    const b = await detached()
    const refused = await gitlabApply(b)
    expect(refused.code).toBe(1)
    expect(refused.out).toContain('the sealed values did not reach the repository')
    expect(refused.out).not.toContain(TOKEN)
    const plan = await planOf(await runner())
    expect(plan.code, plan.stdout).toBe(2)
    expect(plan.json.actions.filter((x) => x.cause === 'value-lost').map((x) => x.address)).toEqual(['alice@example.com/docs'])
  })
})
