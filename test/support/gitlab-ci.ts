import {createHash} from 'node:crypto'
import {cp, mkdir, readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {parse} from 'yaml'
import {ROOT, runShell} from './cli.js'
import type {Job, RunningGitlabCiFake} from './gitlab-ci-fake.js'

/**
 * A small runner for the jobs of examples/ci/gitlab/.gitlab-ci.yml (and the template it
 * includes), so a test runs them as written: `extends` of a hidden job, a job's `rules` (`if:` with `$VAR == "…"`, `!=`, `&&`; `changes:` taken as met, the
 * tests only run pipelines that touch keys.yaml), then `default.before_script` and the job's
 * `script` in one `bash -e -o pipefail` shell as GitLab's runner does (the install lines aside:
 * the shim on PATH is this checkout's palette-keys), with the predefined CI variables, and the
 * job's artifacts kept afterwards (on success, or always with `when: always`) and listed by the
 * GitLab fake, which serves them as GitLab's API does.
 */
export interface GitlabPipeline {
  variables: Record<string, string>
  include?: Array<{remote: string; integrity?: string}>
  [job: string]: unknown
}

interface GitlabJob {
  extends?: string
  environment?: string
  before_script?: string[]
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
  /** Variables with an environment scope: only a job of that environment gets them. */
  scoped?: Record<string, {value: string; environment: string}>
  env?: Record<string, string>
}

/** This repository's template, as the example includes it (the URL names a commit of the palette-keys repository). */
const TEMPLATE = /^https:\/\/raw\.githubusercontent\.com\/palette-keys\/palette-keys\/[0-9a-f]{40}\/templates\/palette-keys\.gitlab-ci\.yml$/

/**
 * The example pipeline as GitLab assembles it: each `include:remote` (this repository's template,
 * read from this checkout) checked against its `integrity` (sha256-BASE64, as GitLab checks it),
 * then merged under the including file, whose keys win (hashes such as `variables` merged deeply).
 */
export async function examplePipeline(): Promise<GitlabPipeline> {
  const main = parse(await readFile(join(ROOT, 'examples/ci/gitlab/.gitlab-ci.yml'), 'utf8')) as GitlabPipeline
  let merged: Record<string, unknown> = {}
  for (const inc of main.include ?? []) {
    if (!TEMPLATE.test(inc.remote)) throw new Error(`the harness includes only this repository's template, not ${inc.remote}`)
    const text = await readFile(join(ROOT, 'templates/palette-keys.gitlab-ci.yml'))
    const integrity = `sha256-${createHash('sha256').update(text).digest('base64')}`
    if (inc.integrity !== integrity) throw new Error(`include integrity ${inc.integrity} does not match the template (${integrity}): GitLab would refuse it`)
    merged = {...merged, ...(parse(text.toString('utf8')) as Record<string, unknown>)}
  }
  const {include: _, ...rest} = main
  for (const [k, v] of Object.entries(rest)) {
    const known = merged[k]
    merged[k] = known && typeof known === 'object' && !Array.isArray(known) && typeof v === 'object' && !Array.isArray(v) ? {...known, ...(v as object)} : v
  }
  return merged as GitlabPipeline
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
const hasScript = (job: GitlabJob) => Array.isArray(job.script) && job.script.length > 0

/** Runs job `name` in the checkout `cwd` with the predefined variables `ci`; `pipeline` is the fake's pipeline it belongs to. */
export async function runGitlabJob(file: GitlabPipeline, name: string, cwd: string, ci: Record<string, string>, r: GitlabRunner, o: {pipeline: number; between?: Record<number, string>}): Promise<GitlabJobRun> {
  const own = file[name] as GitlabJob | undefined
  if (!own) throw new Error(`no job ${name}`)
  const job: GitlabJob = own.extends ? {...(file[own.extends] as GitlabJob), ...own} : own
  const scoped = Object.fromEntries(Object.entries(r.scoped ?? {}).filter(([, v]) => v.environment === job.environment).map(([k, v]) => [k, v.value]))
  const vars = {...file.variables, ...r.variables, ...scoped, ...ci, CI_API_V4_URL: `${r.fake.url}/api/v4`, CI_PROJECT_ID: String(r.fake.project), CI_DEFAULT_BRANCH: 'main', CI_SERVER_HOST: GITLAB_HOST, CI_PROJECT_PATH: GITLAB_PROJECT, CI_PIPELINE_ID: ci.CI_PIPELINE_ID ?? String(++pipelineIds), CI: 'true', GITLAB_CI: 'true'}
  const rule = (job.rules ?? [{}]).find((x) => x.if === undefined || ruleMatches(x.if, vars))
  if (!rule || rule.when === 'never') return {ran: false, code: null, out: ''}
  if (!hasScript(job)) throw new Error(`job ${name} has no script`)
  const lines: string[] = (job.before_script ?? (file.default as {before_script?: string[]} | undefined)?.before_script ?? []).filter((l) => !INSTALL.test(l))
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
