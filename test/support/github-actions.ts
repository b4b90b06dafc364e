import {spawn} from 'node:child_process'
import {cp, mkdir, mkdtemp, readFile, stat, writeFile} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parse} from 'yaml'
import {ROOT, runShell} from './cli.js'
import {condition, type ExprContext, interpolate, type Value} from './github-expr.js'
import type {RunningGithubCiFake, WorkflowRun} from './github-ci-fake.js'
import {recordOutput} from './leaks.js'

/**
 * A small runner for the jobs of examples/ci/github/palette-keys.yml, so a test runs the
 * workflow's own steps as written: job and step `if:`, `env` at every level and `${{ }}` in
 * env, with and run (test/support/github-expr.ts), `run` steps in `bash -e -o pipefail` with
 * GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and RUNNER_TEMP, step outputs and outcomes. Actions:
 * checkout and setup-node are the runner's own work (the test makes the checkout, Node is the
 * test's); github-script runs its script in a Node process with @octokit/rest against the
 * GitHub fake; upload-artifact and download-artifact keep artifacts in a folder, by run and
 * name, and tell the fake, which lists them as GitHub's API does. Any other action throws.
 */
export interface Workflow {
  env?: Record<string, string>
  jobs: Record<string, Job>
}

interface Job {
  if?: string
  environment?: string
  env?: Record<string, string>
  steps: Step[]
}

interface Step {
  id?: string
  shell?: string
  name?: string
  if?: string | boolean
  uses?: string
  run?: string
  env?: Record<string, string>
  with?: Record<string, string | number | boolean>
}

/** A composite action's metadata (action.yml). */
interface Action {
  inputs: Record<string, {required?: boolean; default?: string}>
  outputs?: Record<string, {value: string}>
  runs: {using: 'composite'; steps: Step[]}
}

/** This repository's own action, as a workflow names it. */
const OWN_ACTION = 'palette-keys/palette-keys'

export interface StepRun {
  name: string
  outcome: 'success' | 'failure' | 'skipped'
  code: number | null
  out: string
}

export interface JobRun {
  result: 'success' | 'failure' | 'skipped'
  run: WorkflowRun
  steps: StepRun[]
  step(name: string): StepRun
  outputs: Record<string, Record<string, string>>
  summary: string
}

export interface GithubEvent {
  name: 'pull_request' | 'push' | 'schedule' | 'workflow_dispatch'
  /** The commit the run is for (GITHUB_SHA): a push's head, a pull request's merge commit. */
  sha: string
  ref: string
  /** The event payload: for a pull request, `{pull_request: {number, head: {sha, ref}}}`. */
  payload: Record<string, Value>
}

export interface Runner {
  fake: RunningGithubCiFake
  /** Where artifacts are kept (by run id and name). */
  artifacts: string
  shim: string
  vars: Record<string, string>
  secrets: Record<string, string>
  /** Secrets of an environment: only a job that names it (`environment:`) gets them. */
  environmentSecrets?: Record<string, Record<string, string>>
  /** The job token (github.token, given to github-script and download-artifact). */
  token: string
  /** Extra environment for every step (e.g. a shifted clock for the CLI). */
  env?: Record<string, string>
  /** Called with a step's name before it runs (a test acts between steps: a teammate's push). */
  before?: (step: string) => Promise<void>
}

const SCRIPT = fileURLToPath(new URL('./github-script.mjs', import.meta.url))
/** The install step (of the published tarball), which the shim stands in for. */
const INSTALL = /sha256sum -c -[\s\S]*npm ci /
export const WORKFLOW_PATH = '.github/workflows/palette-keys.yml'

function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const at = line.indexOf('=')
    if (at > 0) out[line.slice(0, at)] = line.slice(at + 1)
  }
  return out
}

function node(script: string, cwd: string, env: Record<string, string>, label: string): Promise<{code: number | null; out: string}> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [SCRIPT], {cwd, env: {...process.env, ...env}})
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('close', (code) => {
      recordOutput(label, out)
      done({code, out})
    })
  })
}

/** Runs one job of `workflow` for `event` in the checkout `cwd`; the run is listed by the fake. */
export async function runJob(workflow: Workflow, jobName: string, event: GithubEvent, cwd: string, r: Runner): Promise<JobRun> {
  const job = workflow.jobs[jobName]
  if (!job) throw new Error(`no job ${jobName}`)
  const run = r.fake.addRun({path: WORKFLOW_PATH, event: event.name, head_sha: ((event.payload.pull_request as {head?: {sha?: string}} | undefined)?.head?.sha) ?? event.sha, conclusion: 'success'})
  const temp = await mkdtemp(join(cwd, '..', `runner-temp-${run.id}-`))
  const summaryFile = join(temp, 'step-summary.md')
  await writeFile(summaryFile, '')
  const steps: Record<string, {outputs: Record<string, string>; outcome: string; conclusion: string}> = {}
  const github: Record<string, Value> = {
    event_name: event.name,
    event: event.payload,
    sha: event.sha,
    ref: event.ref,
    run_id: String(run.id),
    token: r.token,
    repository: `${r.fake.owner}/${r.fake.repo}`,
    workflow_ref: `${r.fake.owner}/${r.fake.repo}/${WORKFLOW_PATH}@${event.ref}`,
  }
  type Scope = {steps: Record<string, {outputs: Record<string, string>; outcome: string; conclusion: string}>; inputs?: Record<string, string>}
  const ctx = (env: Record<string, string>, failed: boolean, scope: Scope = {steps}): ExprContext => ({
    failed,
    contexts: {github, vars: r.vars, secrets: {...r.secrets, ...(job.environment ? r.environmentSecrets?.[job.environment] : {})}, steps: scope.steps as unknown as Value, runner: {temp, os: 'Linux'}, env, ...(scope.inputs ? {inputs: scope.inputs} : {})},
  })
  const results: StepRun[] = []
  const outputs: Record<string, Record<string, string>> = {}
  const done = (result: JobRun['result']): JobRun => {
    run.conclusion = result === 'success' ? 'success' : 'failure'
    return {
      result,
      run,
      steps: results,
      step: (name) => results.find((s) => s.name === name) ?? (() => {
        throw new Error(`no step ${name} in ${results.map((s) => s.name).join(', ')}`)
      })(),
      outputs,
      summary: '',
    }
  }
  if (!condition(job.if, ctx({}, false))) return done('skipped')

  const base: Record<string, string> = {}
  for (const [k, v] of Object.entries(workflow.env ?? {})) base[k] = interpolate(String(v), ctx(base, false))
  for (const [k, v] of Object.entries(job.env ?? {})) base[k] = interpolate(String(v), ctx(base, false))
  let counter = 0

  /** Runs `list` in `scope` (the job's, or a composite action's with its inputs); whether one failed. */
  const runSteps = async (list: Step[], scope: Scope, failedBefore: boolean): Promise<boolean> => {
    let failed = failedBefore
    for (const step of list) {
      const index = counter++
      const name = step.name ?? step.uses ?? `step ${index}`
      const env: Record<string, string> = {...base}
      if (!condition(step.if, ctx(env, failed, scope))) {
        results.push({name, outcome: 'skipped', code: null, out: ''})
        if (step.id) scope.steps[step.id] = {outputs: {}, outcome: 'skipped', conclusion: 'skipped'}
        continue
      }
      await r.before?.(name)
      for (const [k, v] of Object.entries(step.env ?? {})) env[k] = interpolate(String(v), ctx(env, failed, scope))
      const input = (k: string): string => interpolate(String(step.with?.[k] ?? ''), ctx(env, failed, scope))
      const outputFile = join(temp, `output-${index}`)
      await writeFile(outputFile, '')
      const runnerEnv = {
        ...r.env,
        ...env,
        CI: 'true',
        GITHUB_ACTIONS: 'true',
        GITHUB_OUTPUT: outputFile,
        GITHUB_STEP_SUMMARY: summaryFile,
        GITHUB_PATH: join(temp, 'github-path'),
        GITHUB_SHA: event.sha,
        GITHUB_REF: event.ref,
        GITHUB_EVENT_NAME: event.name,
        GITHUB_REPOSITORY: String(github.repository),
        GITHUB_RUN_ID: String(run.id),
        GITHUB_WORKFLOW_REF: String(github.workflow_ref),
        RUNNER_TEMP: temp,
      }
      let res: {code: number | null; out: string}
      let stepOutputs: Record<string, string> | undefined
      const label = `github job ${jobName} step ${name}`
      const action = (step.uses ?? '').split('@')[0]
      if (step.run !== undefined && INSTALL.test(step.run)) {
        // The install of the vetted tarball: the shim on PATH is this checkout's palette-keys.
        res = {code: 0, out: 'installed (the test shim)'}
      } else if (step.run !== undefined) {
        if (scope.inputs && step.shell !== 'bash') throw new Error(`a composite action's run step needs shell: bash (${name})`)
        res = await runShell(interpolate(step.run, ctx(env, failed, scope)), {cwd, env: runnerEnv, shim: r.shim, label})
      } else if (action === OWN_ACTION) {
        // This repository's composite action (action.yml): its inputs from `with` or their defaults, its own steps context.
        const meta = parse(await readFile(join(ROOT, 'action.yml'), 'utf8')) as Action
        const inputs: Record<string, string> = {}
        for (const [k, d] of Object.entries(meta.inputs)) {
          inputs[k] = step.with?.[k] !== undefined ? input(k) : interpolate(String(d.default ?? ''), ctx(env, failed, scope))
          if (d.required && inputs[k] === '') throw new Error(`${OWN_ACTION}: input ${k} is required`)
        }
        for (const k of Object.keys(step.with ?? {})) if (!(k in meta.inputs)) throw new Error(`${OWN_ACTION} has no input ${k}`)
        const inner: Scope = {steps: {}, inputs}
        const innerFailed = await runSteps(meta.runs.steps, inner, false)
        res = {code: innerFailed ? 1 : 0, out: ''}
        stepOutputs = Object.fromEntries(Object.entries(meta.outputs ?? {}).map(([k, o]) => [k, interpolate(String(o.value), ctx(env, innerFailed, inner))]))
      } else {
        switch (action) {
          case 'actions/checkout':
          case 'actions/setup-node':
            res = {code: 0, out: ''}
            break
          case 'actions/github-script':
            res = await node(String(step.with?.script ?? ''), cwd, {
              ...runnerEnv,
              PK_GHS_SCRIPT: String(step.with?.script ?? ''),
              PK_GHS_TOKEN: step.with?.['github-token'] ? input('github-token') : r.token,
              PK_GHS_API_URL: r.fake.url,
              PK_GHS_CONTEXT: JSON.stringify({
                repo: {owner: r.fake.owner, repo: r.fake.repo},
                issue: {owner: r.fake.owner, repo: r.fake.repo, number: (event.payload.pull_request as {number?: number} | undefined)?.number},
                sha: event.sha,
                ref: event.ref,
                eventName: event.name,
                payload: event.payload,
                runId: run.id,
              }),
            }, label)
            break
          case 'actions/upload-artifact': {
            const from = resolve(cwd, input('path'))
            const exists = await stat(from).then(() => true, () => false)
            if (!exists) {
              const behaviour = input('if-no-files-found') || 'warn'
              res = {code: behaviour === 'error' ? 1 : 0, out: `No files were found with the provided path: ${input('path')}`}
            } else {
              const to = join(r.artifacts, String(run.id), input('name'))
              await mkdir(to, {recursive: true})
              await cp(from, (await stat(from)).isDirectory() ? to : join(to, from.split('/').pop()!), {recursive: true})
              r.fake.addArtifact(run.id, input('name'))
              res = {code: 0, out: `uploaded ${input('name')}`}
            }
            break
          }
          case 'actions/download-artifact': {
            const runId = input('run-id') || String(run.id)
            if (input('run-id') && input('github-token') !== r.token) throw new Error('download-artifact from another run needs github-token')
            const from = join(r.artifacts, runId, input('name'))
            const exists = input('name') !== '' && (await stat(from).then(() => true, () => false))
            if (!exists) res = {code: 1, out: `Unable to download artifact(s): Artifact not found for name: ${input('name')}`}
            else {
              await cp(from, resolve(cwd, input('path') || '.'), {recursive: true})
              res = {code: 0, out: `downloaded ${input('name')} of run ${runId}`}
            }
            break
          }
          default:
            throw new Error(`the harness does not run ${step.uses}`)
        }
      }
      const outcome = res.code === 0 ? 'success' : 'failure'
      if (outcome === 'failure') failed = true
      stepOutputs ??= parseOutputs(await readFile(outputFile, 'utf8'))
      if (step.id) {
        scope.steps[step.id] = {outputs: stepOutputs, outcome, conclusion: outcome}
        outputs[step.id] = stepOutputs
      }
      results.push({name, outcome, code: res.code, out: res.out})
    }
    return failed
  }
  const failed = await runSteps(job.steps, {steps}, false)
  const result = done(failed ? 'failure' : 'success')
  result.summary = await readFile(summaryFile, 'utf8')
  return result
}

/** The example workflow, parsed. */
export async function exampleWorkflow(): Promise<Workflow> {
  return parse(await readFile(join(ROOT, 'examples/ci/github/palette-keys.yml'), 'utf8')) as Workflow
}
