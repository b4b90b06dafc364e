import {readFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {ROOT} from './cli.js'
import {openApi3} from './openapi3.js'

/**
 * The part of GitHub's REST API that examples/ci/github/palette-keys.yml calls through
 * actions/github-script, on 127.0.0.1: issue comments (the sticky plan comment), the pull
 * request a merge commit belongs to, a workflow's runs and their artifacts (the reviewed plan),
 * and opening a pull request (sealed values on a protected main). Every request must match an
 * operation of the verbatim subset of GitHub's description (test/fixtures/github/
 * ci-workflow.openapi.json) with a body that validates; every answer may use only the field
 * names that operation's answer declares (a misspelt field is a violation). A wrong token gets
 * 401, as GitHub answers.
 */
export const GITHUB_CI_SPEC = 'test/fixtures/github/ci-workflow.openapi.json'

/** The login of the token Actions gives a job (GITHUB_TOKEN). */
export const ACTIONS_BOT = 'github-actions[bot]'

export interface Comment {
  id: number
  body: string
  user: {login: string; id: number; type: string}
  created_at: string
  updated_at: string
}

export interface Pull {
  number: number
  state: 'open' | 'closed'
  title: string
  head: {ref: string; sha: string}
  base: {ref: string}
  merged_at: string | null
  merge_commit_sha: string | null
}

export interface WorkflowRun {
  id: number
  path: string
  event: string
  head_sha: string
  status: 'completed'
  conclusion: 'success' | 'failure'
  created_at: string
}

export interface RunningGithubCiFake {
  url: string
  owner: string
  repo: string
  /** Requests as method and path (for counts: e.g. how many comments the plan job wrote). */
  log: Array<{method: string; path: string; status: number}>
  /** Every request or answer outside the subset (must stay empty). */
  contractViolations: string[]
  comments(issue: number): Comment[]
  /** A comment by a person (or anyone who is not the workflow's token). */
  comment(issue: number, body: string, login: string): Comment
  openPull(head: {ref: string; sha: string}, title?: string): Pull
  mergePull(number: number, mergeSha: string): void
  pull(number: number): Pull
  pulls(): Pull[]
  addRun(run: Omit<WorkflowRun, 'id' | 'created_at' | 'status'>): WorkflowRun
  addArtifact(runId: number, name: string): void
  close(): Promise<void>
}

type Json = null | boolean | number | string | Json[] | {[k: string]: Json}

/** Field names in `value` that `schema` (refs resolved in `doc`) does not declare, as paths. */
function undeclared(doc: {components?: Json}, schema: Json | undefined, value: unknown, path: string, out: string[]): string[] {
  if (!schema || typeof schema !== 'object' || Array.isArray(schema) || value === null || value === undefined) return out
  const ref = schema.$ref
  if (typeof ref === 'string') {
    const [, , kind, name] = ref.split('/')
    return undeclared(doc, ((doc.components as Record<string, Record<string, Json>>)[kind!] ?? {})[name!], value, path, out)
  }
  const parts = ['allOf', 'anyOf', 'oneOf'].flatMap((k) => (Array.isArray(schema[k]) ? (schema[k] as Json[]) : []))
  if (parts.length > 0) {
    // A field is declared when one branch declares it; each branch checks what it declares.
    const each = parts.map((p) => undeclared(doc, p, value, path, []))
    const common = each.reduce((a, b) => a.filter((x) => b.includes(x)))
    out.push(...common)
    return out
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => undeclared(doc, schema.items, v, `${path}[${i}]`, out))
    return out
  }
  if (typeof value === 'object' && schema.properties && typeof schema.properties === 'object' && !Array.isArray(schema.properties)) {
    const props = schema.properties as Record<string, Json>
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (k in props) undeclared(doc, props[k], v, `${path}.${k}`, out)
      else if (schema.additionalProperties === undefined || schema.additionalProperties === false) out.push(`${path}.${k}`)
    }
  }
  return out
}

export async function startGithubCiFake(token: string, owner = 'acme', repo = 'keys'): Promise<RunningGithubCiFake> {
  const spec = openApi3(`${ROOT}${GITHUB_CI_SPEC}`)
  const doc = JSON.parse(readFileSync(`${ROOT}${GITHUB_CI_SPEC}`, 'utf8')) as {paths: Record<string, Record<string, {responses: Record<string, {content?: Record<string, {schema?: Json}>}>}>>; components?: Json}
  const log: RunningGithubCiFake['log'] = []
  const violations: string[] = []
  const comments = new Map<number, Comment[]>()
  const pulls: Pull[] = []
  const runs: WorkflowRun[] = []
  const artifacts = new Map<number, Array<{id: number; name: string; expired: boolean}>>()
  let ids = 1000
  let clock = Date.parse('2026-12-01T00:00:00Z')
  const now = () => new Date((clock += 1000)).toISOString()
  const bot = {login: ACTIONS_BOT, id: 41898282, type: 'Bot'}

  const addComment = (issue: number, body: string, user: Comment['user']): Comment => {
    const c: Comment = {id: ++ids, body, user, created_at: now(), updated_at: now()}
    comments.set(issue, [...(comments.get(issue) ?? []), c])
    return c
  }
  const findComment = (id: number): Comment | undefined => [...comments.values()].flat().find((c) => c.id === id)
  const pullView = (p: Pull) => ({id: p.number + 5000, number: p.number, state: p.state, title: p.title, head: {ref: p.head.ref, sha: p.head.sha, label: `${owner}:${p.head.ref}`}, base: {ref: p.base.ref, label: `${owner}:${p.base.ref}`}, merged_at: p.merged_at, merge_commit_sha: p.merge_commit_sha})

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = ''
    req.on('data', (d) => (raw += d))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x')
      const path = url.pathname
      const method = req.method ?? 'GET'
      const op = spec.operation(method, path)
      const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
        log.push({method, path: `${path}${url.search}`, status})
        if (op && status < 400) {
          if (!op.responses.has(status)) violations.push(`${method} ${path} answered ${status}, which ${op.operationId} does not declare`)
          const template = Object.entries(doc.paths).find(([t]) => t === op.template)?.[1]?.[method.toLowerCase()]
          const schema = template?.responses[String(status)]?.content?.['application/json']?.schema
          for (const field of undeclared(doc, schema, body, '', [])) violations.push(`${op.operationId} ${status}: ${field || '(body)'} is not a field of the answer`)
        }
        res.writeHead(status, {'content-type': 'application/json; charset=utf-8', ...headers})
        res.end(body === undefined ? '' : JSON.stringify(body))
      }
      const auth = req.headers.authorization ?? ''
      if (auth !== `token ${token}` && auth !== `Bearer ${token}`) return send(401, {message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest'})
      if (!op) {
        violations.push(`${method} ${path}: no such operation in the subset`)
        return send(404, {message: 'Not Found'})
      }
      let body: Record<string, unknown> = {}
      if (raw) {
        try {
          body = JSON.parse(raw) as Record<string, unknown>
        } catch {
          violations.push(`${method} ${path}: a body that is not JSON`)
        }
      }
      if (op.body && !op.body(body)) violations.push(`${method} ${path}: ${spec.errors(op.body)}`)
      const seg = path.split('/')
      if (seg[2] !== owner || seg[3] !== repo) return send(404, {message: 'Not Found'})
      const q = url.searchParams
      const page = <T>(all: T[]): {items: T[]; headers: Record<string, string>} => {
        const per = Math.min(Number(q.get('per_page') ?? 30), 100)
        const n = Number(q.get('page') ?? 1)
        const items = all.slice((n - 1) * per, n * per)
        if (n * per >= all.length) return {items, headers: {}}
        const next = new URL(url.toString())
        next.searchParams.set('page', String(n + 1))
        return {items, headers: {link: `<http://${req.headers.host}${next.pathname}${next.search}>; rel="next"`}}
      }
      switch (op.operationId) {
        case 'issues/list-comments': {
          const {items, headers} = page(comments.get(Number(seg[5])) ?? [])
          return send(200, items, headers)
        }
        case 'issues/create-comment':
          return send(201, addComment(Number(seg[5]), String(body.body), bot))
        case 'issues/update-comment': {
          const c = findComment(Number(seg[6]))
          if (!c) return send(404, {message: 'Not Found'})
          if (c.user.login !== ACTIONS_BOT) violations.push(`the workflow edited comment ${c.id} of ${c.user.login}`)
          c.body = String(body.body)
          c.updated_at = now()
          return send(200, c)
        }
        case 'issues/delete-comment': {
          const c = findComment(Number(seg[6]))
          if (!c) return send(404, {message: 'Not Found'})
          if (c.user.login !== ACTIONS_BOT) violations.push(`the workflow deleted comment ${c.id} of ${c.user.login}`)
          for (const [k, list] of comments) comments.set(k, list.filter((x) => x !== c))
          return send(204)
        }
        case 'repos/list-pull-requests-associated-with-commit':
          return send(200, pulls.filter((p) => p.head.sha === seg[5] || p.merge_commit_sha === seg[5]).map(pullView))
        case 'actions/list-workflow-runs': {
          const wanted = runs.filter((r) => r.path.endsWith(`/${seg[6]}`) && (!q.get('event') || r.event === q.get('event')) && (!q.get('head_sha') || r.head_sha === q.get('head_sha')))
          const {items, headers} = page(wanted.slice().reverse())
          return send(200, {total_count: wanted.length, workflow_runs: items.map((r) => ({...r, name: 'palette-keys'}))}, headers)
        }
        case 'actions/list-workflow-run-artifacts': {
          const list = (artifacts.get(Number(seg[6])) ?? []).filter((a) => !q.get('name') || a.name === q.get('name'))
          return send(200, {total_count: list.length, artifacts: list})
        }
        case 'pulls/create': {
          const p: Pull = {number: pulls.length + 1, state: 'open', title: String(body.title), head: {ref: String(body.head), sha: ''}, base: {ref: String(body.base)}, merged_at: null, merge_commit_sha: null}
          pulls.push(p)
          return send(201, pullView(p))
        }
        default:
          violations.push(`${op.operationId}: not served by the fake`)
          return send(404, {message: 'Not Found'})
      }
    })
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const {port} = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    owner,
    repo,
    log,
    contractViolations: violations,
    comments: (issue) => comments.get(issue) ?? [],
    comment: (issue, body, login) => addComment(issue, body, {login, id: 7, type: 'User'}),
    openPull(head, title = 'keys') {
      const p: Pull = {number: pulls.length + 1, state: 'open', title, head, base: {ref: 'main'}, merged_at: null, merge_commit_sha: null}
      pulls.push(p)
      return p
    },
    mergePull(number, mergeSha) {
      const p = pulls.find((x) => x.number === number)!
      Object.assign(p, {state: 'closed', merged_at: now(), merge_commit_sha: mergeSha})
    },
    pull: (number) => pulls.find((x) => x.number === number)!,
    pulls: () => pulls,
    addRun(run) {
      const r: WorkflowRun = {...run, id: ++ids, status: 'completed', created_at: now()}
      runs.push(r)
      return r
    },
    addArtifact(runId, name) {
      artifacts.set(runId, [...(artifacts.get(runId) ?? []), {id: ++ids, name, expired: false}])
    },
    close: () => new Promise((r) => server.close(() => r())),
  }
}
