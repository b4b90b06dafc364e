import {readFile} from 'node:fs/promises'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {ROOT} from './cli.js'
import {openApi3} from './openapi3.js'

/**
 * The part of GitLab's REST API that examples/ci/gitlab/.gitlab-ci.yml calls, on 127.0.0.1,
 * from the contract transcribed from GitLab's docs (test/fixtures/gitlab/ci-pipeline.contract.json):
 * the current user, merge request notes (paged with x-next-page, at most 100 a page), the merge
 * requests of a commit, a merge request's pipelines and their jobs, a job's artifact file, and
 * opening a merge request. Requests must match an operation with a valid body; answers must
 * validate (only documented fields). A wrong token gets 401, as GitLab answers.
 */
export const GITLAB_CI_SPEC = 'test/fixtures/gitlab/ci-pipeline.contract.json'

export interface GitlabUser {
  id: number
  username: string
  name: string
}

export interface Note {
  id: number
  body: string
  author: GitlabUser
  system: boolean
  created_at: string
  updated_at: string
  noteable_type: 'MergeRequest'
  noteable_iid: number
}

export interface MergeRequest {
  id: number
  iid: number
  state: 'opened' | 'merged' | 'closed'
  title: string
  source_branch: string
  target_branch: string
  sha: string
  merge_commit_sha: string | null
  squash_commit_sha: string | null
  web_url: string
}

export interface Pipeline {
  id: number
  iid: number
  sha: string
  ref: string
  status: 'success' | 'failed'
  source: string
  /** The merge request it ran for (merge_request_event pipelines). */
  mr?: number
}

export interface Job {
  id: number
  name: string
  stage: string
  status: 'success' | 'failed'
  pipeline: number
  /** Folder holding the job's artifact files (by their paths). */
  artifacts?: string
}

export interface RunningGitlabCiFake {
  url: string
  /** The project's numeric id (CI_PROJECT_ID). */
  project: number
  /** The user GITLAB_API_TOKEN belongs to. */
  bot: GitlabUser
  log: Array<{method: string; path: string; status: number}>
  contractViolations: string[]
  notes(iid: number): Note[]
  /** A note by someone else. */
  note(iid: number, body: string, username: string): Note
  openMergeRequest(source: string, sha: string): MergeRequest
  merge(iid: number, mergeSha: string): void
  mergeRequests(): MergeRequest[]
  addPipeline(p: Omit<Pipeline, 'id' | 'iid' | 'status'>): Pipeline
  addJob(j: Omit<Job, 'id'>): Job
  close(): Promise<void>
}

export async function startGitlabCiFake(token: string): Promise<RunningGitlabCiFake> {
  const spec = openApi3(`${ROOT}${GITLAB_CI_SPEC}`)
  const project = 42
  const bot: GitlabUser = {id: 901, username: 'project_42_bot', name: 'palette-keys CI'}
  const log: RunningGitlabCiFake['log'] = []
  const violations: string[] = []
  const notes = new Map<number, Note[]>()
  const mrs: MergeRequest[] = []
  const pipelines: Pipeline[] = []
  const jobs: Job[] = []
  let ids = 5000
  let clock = Date.parse('2026-12-01T00:00:00Z')
  const now = () => new Date((clock += 1000)).toISOString()
  const addNote = (iid: number, body: string, author: GitlabUser): Note => {
    const n: Note = {id: ++ids, body, author, system: false, created_at: now(), updated_at: now(), noteable_type: 'MergeRequest', noteable_iid: iid}
    notes.set(iid, [...(notes.get(iid) ?? []), n])
    return n
  }
  const pipelineView = ({mr: _, ...p}: Pipeline) => p
  const jobView = (j: Job) => {
    const p = pipelines.find((x) => x.id === j.pipeline)!
    return {id: j.id, name: j.name, stage: j.stage, status: j.status, ref: p.ref, pipeline: {id: p.id, sha: p.sha, ref: p.ref, status: p.status}}
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = ''
    req.on('data', (d) => (raw += d))
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://x')
        const path = url.pathname.replace(/^\/api\/v4/, '')
        const method = req.method ?? 'GET'
        const op = spec.operation(method, path)
        const send = (status: number, body?: unknown, headers: Record<string, string> = {}, bytes?: Buffer) => {
          log.push({method, path: `${path}${url.search}`, status})
          if (op && status < 400) {
            const declared = op.responses.get(status)
            if (declared === undefined) violations.push(`${method} ${path} answered ${status}, which ${op.operationId} does not declare`)
            else if (declared && !declared(body)) violations.push(`${op.operationId} ${status}: ${spec.errors(declared)}`)
          }
          res.writeHead(status, {'content-type': bytes ? 'application/octet-stream' : 'application/json', ...headers})
          res.end(bytes ?? (body === undefined ? '' : JSON.stringify(body)))
        }
        if (req.headers['private-token'] !== token) return send(401, {message: '401 Unauthorized'})
        if (!op) {
          violations.push(`${method} ${path}: no such operation in the contract`)
          return send(404, {message: '404 Not Found'})
        }
        let body: Record<string, unknown> = {}
        if (raw) {
          try {
            body = JSON.parse(raw) as Record<string, unknown>
          } catch {
            violations.push(`${method} ${path}: a body that is not JSON`)
          }
        }
        if (op.body && !op.body(body)) {
          violations.push(`${method} ${path}: ${spec.errors(op.body)}`)
          return send(400, {message: spec.errors(op.body)})
        }
        const seg = path.split('/')
        if (op.operationId !== 'users.current' && seg[2] !== String(project) && decodeURIComponent(seg[2] ?? '') !== 'acme/keys') return send(404, {message: '404 Project Not Found'})
        const q = url.searchParams
        const page = <T>(all: T[]) => {
          const per = Math.min(Number(q.get('per_page') ?? 20), 100)
          const n = Number(q.get('page') ?? 1)
          const next = n * per < all.length ? String(n + 1) : ''
          return {items: all.slice((n - 1) * per, n * per), headers: {'x-next-page': next, 'x-page': String(n), 'x-per-page': String(per), 'x-total': String(all.length)}}
        }
        const iid = Number(seg[4])
        switch (op.operationId) {
          case 'users.current':
            return send(200, bot)
          case 'notes.list': {
            const all = (notes.get(iid) ?? []).slice()
            if (q.get('sort') !== 'asc') all.reverse()
            const {items, headers} = page(all)
            return send(200, items, headers)
          }
          case 'notes.create':
            return send(201, addNote(iid, String(body.body), bot))
          case 'notes.update':
          case 'notes.delete': {
            const n = (notes.get(iid) ?? []).find((x) => x.id === Number(seg[6]))
            if (!n) return send(404, {message: '404 Not found'})
            if (n.author.id !== bot.id) {
              violations.push(`the pipeline tried to change note ${n.id} of ${n.author.username}`)
              return send(403, {message: '403 Forbidden'})
            }
            if (op.operationId === 'notes.delete') {
              notes.set(iid, notes.get(iid)!.filter((x) => x !== n))
              return send(204)
            }
            n.body = String(body.body)
            n.updated_at = now()
            return send(200, n)
          }
          case 'commits.mergeRequests':
            return send(200, mrs.filter((m) => m.sha === seg[5] || m.merge_commit_sha === seg[5] || m.squash_commit_sha === seg[5]))
          case 'mergeRequests.pipelines':
            return send(200, pipelines.filter((p) => p.mr === iid).reverse().map(pipelineView))
          case 'pipelines.jobs': {
            const scope = q.getAll('scope[]')
            return send(200, jobs.filter((j) => j.pipeline === Number(seg[4]) && (scope.length === 0 || scope.includes(j.status))).map(jobView))
          }
          case 'jobArtifacts.file': {
            const j = jobs.find((x) => x.id === Number(seg[4]))
            if (!j?.artifacts) return send(404, {message: '404 Not Found'})
            const bytes = await readFile(join(j.artifacts, decodeURIComponent(seg.slice(6).join('/')))).catch(() => undefined)
            return bytes ? send(200, undefined, {}, bytes) : send(404, {message: '404 Not Found'})
          }
          case 'mergeRequests.create': {
            const m = mr(String(body.source_branch), '', String(body.title), String(body.target_branch))
            return send(201, m)
          }
          default:
            violations.push(`${op.operationId}: not served by the fake`)
            return send(404, {message: '404 Not Found'})
        }
      })()
    })
  })
  const mr = (source: string, sha: string, title = 'keys', target = 'main'): MergeRequest => {
    const m: MergeRequest = {id: ++ids, iid: mrs.length + 1, state: 'opened', title, source_branch: source, target_branch: target, sha, merge_commit_sha: null, squash_commit_sha: null, web_url: `https://gitlab.example.invalid/acme/keys/-/merge_requests/${mrs.length + 1}`}
    mrs.push(m)
    return m
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    project,
    bot,
    log,
    contractViolations: violations,
    notes: (iid) => notes.get(iid) ?? [],
    note: (iid, body, username) => addNote(iid, body, {id: 7, username, name: username}),
    openMergeRequest: (source, sha) => mr(source, sha),
    merge(iid, mergeSha) {
      const m = mrs.find((x) => x.iid === iid)!
      Object.assign(m, {state: 'merged', merge_commit_sha: mergeSha})
    },
    mergeRequests: () => mrs,
    addPipeline(p) {
      const pipeline: Pipeline = {...p, id: ++ids, iid: pipelines.length + 1, status: 'success'}
      pipelines.push(pipeline)
      return pipeline
    },
    addJob(j) {
      const job: Job = {...j, id: ++ids}
      jobs.push(job)
      return job
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
