import {cp, mkdir, readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {parse} from 'yaml'
import {ROOT, runShell} from './cli.js'
import type {Job, RunningGitlabCiFake} from './gitlab-ci-fake.js'

/**
 * A small runner for the jobs of examples/ci/gitlab/.gitlab-ci.yml, so a test runs them as
 * written: a job's `rules` (`if:` with `$VAR == "…"`, `!=`, `&&`; `changes:` taken as met, the
 * tests only run pipelines that touch keys.yaml), then `default.before_script` and the job's
 * `script` in one `bash -e -o pipefail` shell as GitLab's runner does (the install lines aside:
 * the shim on PATH is this checkout's palette-keys), with the predefined CI variables, and the
 * job's artifacts kept afterwards (on success, or always with `when: always`) and listed by the
 * GitLab fake, which serves them as GitLab's API does.
 */
export interface GitlabPipeline {
  variables: Record<string, string>
  default: {before_script: string[]}
  [job: string]: unknown
}

interface GitlabJob {
  stage: string
  rules?: Array<{if?: string; when?: string}>
  script: string[]
  artifacts?: {paths: string[]; when?: string}
}

export interface GitlabJobRun {
  /** Whether the rules let the job run. */
  ran: boolean
  code: number | null
  out: string
  job?: Job
}

export interface GitlabRunner {
  fake: RunningGitlabCiFake
  origin: string
  shim: string
  artifacts: string
  /** CI/CD variables set in the project (the secrets among them). */
  variables: Record<string, string>
  env?: Record<string, string>
}

export async function examplePipeline(): Promise<GitlabPipeline> {
  return parse(await readFile(join(ROOT, 'examples/ci/gitlab/.gitlab-ci.yml'), 'utf8')) as GitlabPipeline
}

const INSTALL = /palette-keys\.tgz|npm ci |\/usr\/local\/bin\/palette-keys/
export const GITLAB_HOST = 'gitlab.example.invalid'
export const GITLAB_PROJECT = 'acme/keys'

/** A rule's `if:`, GitLab's way for the subset the example uses: `$A == "x"`, `$A == $B`, `!=`, joined by `&&`. */
export function ruleMatches(expr: string, vars: Record<string, string>): boolean {
  return expr.split('&&').every((clause) => {
    const m = /^\s*(\$\w+|"[^"]*")\s*(==|!=)\s*(\$\w+|"[^"]*")\s*$/.exec(clause)
    if (!m) throw new Error(`the harness does not read the rule ${expr}`)
    const value = (t: string) => (t.startsWith('$') ? (vars[t.slice(1)] ?? null) : t.slice(1, -1))
    return (value(m[1]!) === value(m[3]!)) === (m[2] === '==')
  })
}

let pipelineIds = 7000

/** Runs job `name` in the checkout `cwd` with the predefined variables `ci`; `pipeline` is the fake's pipeline it belongs to. */
export async function runGitlabJob(file: GitlabPipeline, name: string, cwd: string, ci: Record<string, string>, r: GitlabRunner, o: {pipeline: number; between?: Record<number, string>}): Promise<GitlabJobRun> {
  const job = file[name] as GitlabJob | undefined
  if (!job) throw new Error(`no job ${name}`)
  const vars = {...file.variables, ...r.variables, ...ci, CI_API_V4_URL: `${r.fake.url}/api/v4`, CI_PROJECT_ID: String(r.fake.project), CI_DEFAULT_BRANCH: 'main', CI_SERVER_HOST: GITLAB_HOST, CI_PROJECT_PATH: GITLAB_PROJECT, CI_PIPELINE_ID: ci.CI_PIPELINE_ID ?? String(++pipelineIds), CI: 'true', GITLAB_CI: 'true'}
  const rule = (job.rules ?? [{}]).find((x) => x.if === undefined || ruleMatches(x.if, vars))
  if (!rule || rule.when === 'never') return {ran: false, code: null, out: ''}
  const lines: string[] = file.default.before_script.filter((l) => !INSTALL.test(l))
  job.script.forEach((l, i) => {
    if (o.between?.[i]) lines.push(o.between[i]!)
    lines.push(l)
  })
  const env = {
    ...r.env,
    ...vars,
    // origin's https URL is the bare repository; the URL carries no credential.
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: `url.file://${r.origin}.insteadOf`,
    GIT_CONFIG_VALUE_0: `https://${GITLAB_HOST}/${GITLAB_PROJECT}.git`,
  }
  const res = await runShell(lines.join('\n'), {cwd, env, shim: r.shim, label: `gitlab job ${name}`})
  const status = res.code === 0 ? 'success' : 'failed'
  let artifacts: string | undefined
  if (job.artifacts && (status === 'success' || job.artifacts.when === 'always')) {
    artifacts = join(r.artifacts, `${name}-${o.pipeline}-${pipelineIds++}`)
    await mkdir(artifacts, {recursive: true})
    for (const p of job.artifacts.paths) {
      if (await stat(join(cwd, p)).then(() => true, () => false)) await cp(join(cwd, p), join(artifacts, p), {recursive: true})
    }
  }
  const recorded = r.fake.addJob({name, stage: job.stage, status, pipeline: o.pipeline, ...(artifacts ? {artifacts} : {})})
  return {ran: true, code: res.code, out: res.out, job: recorded}
}
