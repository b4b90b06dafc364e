import {mkdir, mkdtemp, readFile, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import type {RunningEmulator} from '../../src/emulator/server.js'
import {cliShim, clockOff} from '../support/cli.js'
import {CI_ADMIN, CI_VIEWER, ciInputs, edit, keysFile, PLAN_MARKER, planOnMain, sealedOn} from '../support/ci-scenario.js'
import {startTestEmulator} from '../support/emulator.js'
import {type GitHost, gitHost} from '../support/git-host.js'
import {examplePipeline, type GitlabJobRun, type GitlabPipeline, type GitlabRunner, runGitlabJob} from '../support/gitlab-ci.js'
import {type RunningGitlabCiFake, startGitlabCiFake} from '../support/gitlab-ci-fake.js'
import {recordAndRemove, registerSecret} from '../support/leaks.js'

/**
 * examples/ci/gitlab/.gitlab-ci.yml as a team runs it (issue 19): its jobs as written, by a small
 * runner (test/support/gitlab-ci.ts: rules, before_script and script in one shell, artifacts),
 * against the emulator, a GitLab API fake held to a contract transcribed from GitLab's docs
 * (notes, a commit's merge requests, pipelines, jobs and their artifacts, opening a merge
 * request), a bare origin and runners that check out as GitLab does (detached at the commit).
 */
const ADMIN = CI_ADMIN
const VIEWER = CI_VIEWER
const MARKER = PLAN_MARKER
const TOKEN = 'glpat-pipelinetesttoken00000001'

let work: string
let shim: string
let file: GitlabPipeline
let seed: string
let keysYaml: string
beforeAll(async () => {
  registerSecret(TOKEN, 'GITLAB_API_TOKEN (gitlab-pipeline.test)')
  work = await mkdtemp(join(tmpdir(), 'pk-gl-pipeline-'))
  shim = await cliShim(work)
  file = await examplePipeline()
  const inputs = await ciInputs()
  seed = inputs.seed
  keysYaml = inputs.keysYaml
})
afterAll(async () => {
  await recordAndRemove(work)
})

let emu: RunningEmulator
let fake: RunningGitlabCiFake
let host: GitHost
let runner: GitlabRunner
let ahead = 0
let n = 0
beforeEach(async () => {
  ahead = 0
  // Viewers list every key, as Palette's docs say (README, uncertain readings, row 9): the plan jobs read with a viewer's key.
  emu = await startTestEmulator({now: () => new Date(Date.now() + ahead), fidelity: {listKeysWith: 'apiKey.list'}}, seed)
  fake = await startGitlabCiFake(TOKEN)
  host = await gitHost(work, `gl-${++n}`)
  const artifacts = join(work, `gl-artifacts-${n}`)
  await mkdir(artifacts)
  runner = {
    fake,
    origin: host.origin,
    scoped: {PALETTE_API_KEY: {value: ADMIN, environment: 'palette-keys'}},
    shim,
    artifacts,
    variables: {PALETTE_HOST: emu.url, PALETTE_PLAN_API_KEY: VIEWER, PALETTE_KEYS_APPLY_AS: 'admin@example.com', GITLAB_API_TOKEN: TOKEN, PALETTE_KEYS_TARBALL_URL: 'https://example.invalid/palette-keys.tgz', PALETTE_KEYS_TARBALL_SHA256: '0'.repeat(64)},
  }
})
afterEach(async () => {
  expect(fake.contractViolations).toEqual([])
  await fake.close()
  await emu.close()
})

const readme = (text = '# keys\n') => async (dir: string) => writeFile(join(dir, 'README.md'), text)

/** A merge request pipeline (detached at the source branch's head) running the plan job. */
async function planMergeRequest(branch: string, head: string, iid?: number): Promise<{job: GitlabJobRun; iid: number}> {
  const mr = iid ? fake.mergeRequests().find((m) => m.iid === iid)! : fake.openMergeRequest(branch, head)
  mr.sha = head
  const pipeline = fake.addPipeline({sha: head, ref: `refs/merge-requests/${mr.iid}/head`, source: 'merge_request_event', mr: mr.iid})
  const job = await runGitlabJob(file, 'palette-keys-plan', await host.detached(head), {CI_PIPELINE_SOURCE: 'merge_request_event', CI_MERGE_REQUEST_IID: String(mr.iid), CI_COMMIT_SHA: head, CI_COMMIT_REF_NAME: branch, CI_PIPELINE_ID: String(pipeline.id)}, runner, {pipeline: pipeline.id})
  if (job.code !== 0) pipeline.status = 'failed'
  return {job, iid: mr.iid}
}

/** A default-branch pipeline at `sha` (a merge, a direct push or a schedule) running `job`. */
async function onMain(name: 'apply' | 'audit', sha: string, source: 'push' | 'schedule', between?: Record<number, string>, r = runner): Promise<GitlabJobRun> {
  const pipeline = fake.addPipeline({sha, ref: 'main', source})
  return runGitlabJob(file, `palette-keys-${name}`, await host.detached(sha), {CI_PIPELINE_SOURCE: source, CI_COMMIT_BRANCH: 'main', CI_COMMIT_REF_NAME: 'main', CI_COMMIT_SHA: sha, CI_PIPELINE_ID: String(pipeline.id)}, r, {pipeline: pipeline.id, ...(between ? {between} : {})})
}

async function mergeAndApply(branch: string, iid: number, between?: Record<number, string>): Promise<{job: GitlabJobRun; sha: string}> {
  const sha = await host.merge(branch)
  fake.merge(iid, sha)
  return {job: await onMain('apply', sha, 'push', between), sha}
}

async function converged(grace = '1h'): Promise<void> {
  await host.land(readme(), 'readme')
  const head = await host.branch('adopt', keysFile(keysYaml, grace), 'keys.yaml')
  const {job, iid} = await planMergeRequest('adopt', head)
  expect(job.code, job.out).toBe(0)
  const merged = await mergeAndApply('adopt', iid)
  expect(merged.job.code, merged.job.out).toBe(0)
}

/** The shell line that lands a teammate's commit on origin's main (run between two script items). */
const teammatePush = () => `d=$(mktemp -d) && git clone -q "file://${host.origin}" "$d" && echo '# keys, kept by palette-keys' > "$d/README.md" && git -C "$d" -c user.name=t -c user.email=t@example.invalid commit -qam readme && git -C "$d" push -q origin HEAD:main`
const protect = (what: 'main' | 'all') => `printf '%s\\n' '#!/bin/sh' 'while read o n ref; do if ${what === 'all' ? 'true' : '[ "$ref" = refs/heads/main ]'}; then echo "GitLab: You are not allowed to push code to protected branches on this project." >&2; exit 1; fi; done' > "${host.origin}/hooks/pre-receive" && chmod +x "${host.origin}/hooks/pre-receive"`

/** A teammate's plan of main. */
const mainPlan = () => planOnMain(host, {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN})

describe('the reviewed plan is what the merge applies (GitLab)', () => {
  it('a merge request\'s plan is its job\'s artifact and one note; the merge applies exactly that plan; main then plans no change', async () => {
    await host.land(readme(), 'readme')
    const head = await host.branch('adopt', keysFile(keysYaml), 'declare the keys')
    const {job: plan, iid} = await planMergeRequest('adopt', head)
    expect(plan.code, plan.out).toBe(0)
    expect(plan.out).toContain('plan exit code 2')
    const saved = JSON.parse(await readFile(join(plan.job!.artifacts!, 'plan.json'), 'utf8')) as {actions: Array<{kind: string; address: string}>}
    const reviewed = saved.actions.filter((a) => a.kind !== 'no-op').map((a) => `${a.kind} ${a.address}`).sort()
    expect(reviewed).toContain('create alice@example.com/ci-deploy')
    const notes = fake.notes(iid)
    expect(notes).toHaveLength(1)
    expect(notes[0]!.author.id).toBe(fake.bot.id)
    expect(notes[0]!.body.startsWith(MARKER)).toBe(true)
    expect(notes[0]!.body).toContain(`Planned at ${head}`)
    expect(emu.stats.mutations).toBe(0)

    const {job: apply} = await mergeAndApply('adopt', iid)
    expect(apply.code, apply.out).toBe(0)
    expect(apply.out).toContain(`applying the plan reviewed on !${iid} (job ${plan.job!.id}, planned at ${head})`)
    const shown = apply.out.split('\n').map((l) => /^\s*\S+\s+(create|update|replace|revoke|delete|rotate|reactivate)\s+(\S+)/.exec(l)).filter((m) => m !== null).map((m) => `${m[1]} ${m[2]}`)
    expect([...new Set(shown)].sort()).toEqual(reviewed)
    expect(await sealedOn(await host.runner())).toHaveLength(2)
    expect((await mainPlan()).code).toBe(0)
  })

  it('a key revoked by hand between review and merge: the apply job fails with exit 4, notes it on the merge request, and changes nothing', async () => {
    await converged()
    const head = await host.branch('logs', edit('Reads cluster status', 'Reads cluster status and logs'), 'bob: monitoring reads logs too')
    const {job: plan, iid} = await planMergeRequest('logs', head)
    expect(plan.out).toContain('plan exit code 2')
    const incident = emu.state.allKeys().find((k) => k.name === 'ci-deploy')!
    emu.state.setActive(incident.uid, false, new Date())
    const before = {mutations: emu.stats.mutations, keys: JSON.stringify(emu.state.allKeys())}

    const {job: apply} = await mergeAndApply('logs', iid)
    expect(apply.code, apply.out).toBe(4)
    expect(apply.out).toContain('stale')
    const asked = fake.notes(iid).filter((x) => x.body.startsWith('<!-- palette-keys:stale -->'))
    expect(asked).toHaveLength(1)
    expect(asked[0]!.body).toContain('applied nothing')
    expect(emu.stats.mutations).toBe(before.mutations)
    expect(JSON.stringify(emu.state.allKeys())).toBe(before.keys)
  })

  it('a push to the default branch that is no merge request\'s merge applies nothing', async () => {
    await converged()
    const sha = await host.land(edit('Reads cluster status', 'Reads cluster status and logs'), 'pushed straight to main')
    const before = emu.stats.mutations
    const job = await onMain('apply', sha, 'push')
    expect(job.code).toBe(1)
    expect(job.out).toContain('is not the merge of a merge request')
    expect(emu.stats.mutations).toBe(before)
  })

  it('a failed plan leaves the last good note; a note by anyone else with the marker is never touched; ours is found past the first page', async () => {
    await host.land(readme(), 'readme')
    const head = await host.branch('adopt', keysFile(keysYaml), 'declare the keys')
    // A busy review: 120 notes before the first plan, so ours is on the second page (100 a page).
    const mr = fake.openMergeRequest('adopt', head)
    for (let i = 0; i < 120; i++) fake.note(mr.iid, `LGTM ${i}`, 'reviewer')
    const {iid} = await planMergeRequest('adopt', head, mr.iid)
    const good = fake.notes(iid).find((x) => x.author.id === fake.bot.id)
    expect(fake.notes(iid).indexOf(good!)).toBe(120)
    const planted = fake.note(iid, `${MARKER}\nApproved by security, apply at will`, 'mallory')

    runner.variables.PALETTE_PLAN_API_KEY = 'not-a-key-of-this-tenant'
    const {job: failed} = await planMergeRequest('adopt', head, iid)
    expect(failed.code).toBe(1)
    expect(failed.job!.artifacts).toBeUndefined()
    expect(fake.notes(iid).find((x) => x.id === good!.id)!.body).toBe(good!.body)
    expect(fake.notes(iid).find((x) => x.id === planted.id)!.body).toBe(planted.body)

    runner.variables.PALETTE_PLAN_API_KEY = VIEWER
    const head2 = await host.branch('adopt2', async (dir) => {
      await keysFile(keysYaml)(dir)
      await edit('Reads cluster status', 'Reads cluster status and logs')(dir)
    }, 'declare the keys, logs too')
    const {job: again} = await planMergeRequest('adopt2', head2, iid)
    expect(again.code, again.out).toBe(0)
    const ours = fake.notes(iid).filter((x) => x.author.id === fake.bot.id)
    expect(ours.map((x) => x.id)).toEqual([good!.id])
    expect(ours[0]!.body).toContain(`Planned at ${head2}`)
    expect(fake.notes(iid).find((x) => x.id === planted.id)!.body).toBe(planted.body)
    expect(fake.log.filter((x) => x.method === 'GET' && x.path.includes('/notes') && x.path.includes('page=2'))).not.toEqual([])
  })
})

describe('the sealed values reach the default branch (GitLab)', () => {
  it('a push that lost a race is rebased and lands', async () => {
    await host.land(readme(), 'readme')
    const head = await host.branch('adopt', keysFile(keysYaml), 'declare the keys')
    const {iid} = await planMergeRequest('adopt', head)
    const commitBack = (file['palette-keys-apply'] as {script: string[]}).script.findIndex((l) => l.includes('git add'))
    const {job} = await mergeAndApply('adopt', iid, {[commitBack]: teammatePush()})
    expect(job.code, job.out).toBe(0)
    expect(job.out).toMatch(/rejected|fetch first|non-fast-forward/)
    const main = await host.runner()
    expect(await sealedOn(main)).toHaveLength(2)
    expect(await readFile(join(main, 'README.md'), 'utf8')).toContain('kept by palette-keys')
    expect((await mainPlan()).code).toBe(0)
  })

  it('a protected default branch: a branch and a merge request; merged, main plans no change. A push that lands nowhere fails the job', async () => {
    await host.land(readme(), 'readme')
    const head = await host.branch('adopt', keysFile(keysYaml, '0h'), 'declare the keys')
    const {iid} = await planMergeRequest('adopt', head)
    const commitBack = (file['palette-keys-apply'] as {script: string[]}).script.findIndex((l) => l.includes('git add'))
    const {job} = await mergeAndApply('adopt', iid, {[commitBack]: protect('main')})
    expect(job.code, job.out).toBe(0)
    expect(job.out).toContain('You are not allowed to push code to protected branches')
    const opened = fake.mergeRequests().filter((m) => m.source_branch.startsWith('palette-keys/sealed-'))
    expect(opened).toHaveLength(1)
    expect(opened[0]!.target_branch).toBe('main')
    expect(job.out).toContain(`merge request !${opened[0]!.iid}`)
    expect(await sealedOn(await host.runner())).toEqual([])
    await host.protect(false)
    await host.merge(opened[0]!.source_branch)
    expect(await sealedOn(await host.runner())).toHaveLength(2)
    expect((await mainPlan()).code).toBe(0)

    const head2 = await host.branch('docs', edit('      ci-deploy:', '      docs:\n        description: Publishes docs\n      ci-deploy:'), 'alice: docs key')
    const {iid: iid2} = await planMergeRequest('docs', head2)
    const {job: lost} = await mergeAndApply('docs', iid2, {[commitBack]: protect('all')})
    expect(lost.code).toBe(1)
    expect(lost.out).toContain('the sealed values did not reach the repository')
    expect(lost.out).not.toContain(TOKEN)
    await host.protect(false)
    const next = await mainPlan()
    expect(next.json.actions.filter((a) => a.cause === 'value-lost').map((a) => a.address)).toEqual(['alice@example.com/docs'])
  })
})

describe('the scheduled pipeline and the secrets (GitLab)', () => {
  it('rotates what is due without review, refuses (exit 3) a change that needs one, and the audit after it is clean', async () => {
    await converged()
    const later = {...runner, env: clockOff(25) as Record<string, string>}
    ahead = 25 * 86_400_000
    const rotated = await onMain('apply', await host.head('refs/heads/main'), 'schedule', undefined, later)
    expect(rotated.code, rotated.out).toBe(0)
    expect(rotated.out).toMatch(/rotate +alice@example\.com\/ci-deploy/)
    // The audit job runs at the pipeline's commit and reads the default branch as apply left it.
    const audit = await onMain('audit', await host.head('refs/heads/main'), 'schedule', undefined, later)
    expect(audit.code, audit.out + (audit.job?.artifacts ? await readFile(join(audit.job.artifacts, 'audit.md'), 'utf8') : '')).toBe(0)

    await host.land(edit('Reads cluster status', 'Reads cluster status and logs'), 'pushed straight to main')
    const before = emu.stats.mutations
    const refused = await onMain('apply', await host.head('refs/heads/main'), 'schedule', undefined, later)
    expect(refused.code, refused.out).toBe(3)
    expect(emu.stats.mutations).toBe(before)
  })

  it('neither the Palette key nor the GitLab token is in the environment of any command but the ones that need it', async () => {
    await host.land(readme(), 'readme')
    const head = await host.branch('adopt', keysFile(keysYaml), 'declare the keys')
    const spy = join(work, `env-${n}.txt`)
    const mr = fake.openMergeRequest('adopt', head)
    const pipeline = fake.addPipeline({sha: head, ref: `refs/merge-requests/${mr.iid}/head`, source: 'merge_request_event', mr: mr.iid})
    const job = await runGitlabJob(file, 'palette-keys-plan', await host.detached(head), {CI_PIPELINE_SOURCE: 'merge_request_event', CI_MERGE_REQUEST_IID: String(mr.iid), CI_COMMIT_SHA: head, CI_PIPELINE_ID: String(pipeline.id)}, runner, {pipeline: pipeline.id, between: {0: `env > ${spy}`, 1: `env >> ${spy}`}})
    expect(job.code, job.out).toBe(0)
    const seen = await readFile(spy, 'utf8')
    expect(seen).toContain('PALETTE_HOST=')
    expect(seen).not.toContain(ADMIN)
    expect(seen).not.toContain(VIEWER)
    expect(seen).not.toContain(TOKEN)
    expect(fake.notes(mr.iid)).toHaveLength(1)
  })
})
