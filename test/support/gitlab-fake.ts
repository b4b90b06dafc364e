import {readFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {openApi3} from './openapi3.js'

/**
 * GitLab's CI/CD variables API (projects and groups) on 127.0.0.1, from the contract transcribed
 * from GitLab's docs (schemas/gitlab/variables.contract.json): requests are matched to its
 * operations and their bodies validated (JSON or form data, as GitLab takes both), answers are
 * ones it declares. A variable is one per key and environment scope; a masked value must meet
 * GitLab's masking rules, or the write is refused with 400 as GitLab does.
 */
export const GITLAB_SPEC = 'schemas/gitlab/variables.contract.json'

export interface StoredVariable {
  key: string
  value: string
  variable_type: 'env_var' | 'file'
  protected: boolean
  masked: boolean
  hidden: boolean
  raw: boolean
  environment_scope: string
  description: string | null
}

export interface RunningGitlabFake {
  url: string
  log: Array<{method: string; path: string; headers: Record<string, string>; status: number}>
  /** `projects/ID-OR-PATH` or `groups/ID-OR-PATH` (the path decoded), key, scope. */
  variable(owner: string, key: string, scope?: string): StoredVariable | undefined
  failWrites(n: number, status?: number): void
  /** Called as a write is accepted, before it is stored (a test checks what else holds at that moment). */
  onWrite?: (owner: string, name: string) => void
  contractViolations: string[]
  close(): Promise<void>
}

const MASKABLE = new RegExp((JSON.parse(readFileSync(GITLAB_SPEC, 'utf8')) as {info: {'x-masked-value-pattern': string}}).info['x-masked-value-pattern'])

export async function startGitlabFake(token: string): Promise<RunningGitlabFake> {
  const spec = openApi3(GITLAB_SPEC)
  const vars = new Map<string, StoredVariable>()
  const log: RunningGitlabFake['log'] = []
  const violations: string[] = []
  let failing = {n: 0, status: 500}
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = ''
    req.on('data', (d) => (raw += d))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x')
      // The contract's paths are under /api/v4; GitLab takes the owner's path URL-encoded as one segment.
      const path = url.pathname.replace(/^\/api\/v4/, '')
      const op = spec.operation(req.method ?? 'GET', path)
      const masked: Record<string, string> = {}
      for (const [k, v] of Object.entries(req.headers)) masked[k] = k === 'private-token' ? '(masked)' : String(v)
      const send = (status: number, body: unknown) => {
        const declared = op?.responses.get(status)
        if (!op || declared === undefined) violations.push(`${req.method} ${path} answered ${status}, which the contract does not declare`)
        else if (declared && !declared(body)) violations.push(`${req.method} ${path} ${status}: ${spec.errors(declared)}`)
        log.push({method: req.method ?? '', path: req.url ?? '', headers: masked, status})
        res.writeHead(status, {'content-type': 'application/json'})
        res.end(JSON.stringify(body))
      }
      if (req.headers['private-token'] !== token && req.headers.authorization !== `Bearer ${token}`) return send(401, {message: '401 Unauthorized'})
      const m = /^\/(projects|groups)\/([^/]+)\/variables(?:\/([^/]+))?$/.exec(path)
      if (!op || !m) return send(404, {message: '404 Not Found'})
      const owner = `${m[1]}/${decodeURIComponent(m[2]!)}`
      let body: Record<string, unknown> = {}
      if (raw !== '') {
        const type = req.headers['content-type'] ?? ''
        try {
          body = type.includes('json') ? (JSON.parse(raw) as Record<string, unknown>) : Object.fromEntries(new URLSearchParams(raw))
        } catch {
          return send(400, {message: 'body is not JSON'})
        }
        // Form data carries booleans as text.
        for (const k of ['protected', 'masked', 'raw', 'masked_and_hidden']) if (body[k] === 'true' || body[k] === 'false') body[k] = body[k] === 'true'
      }
      const bodyFilter = (body.filter as {environment_scope?: unknown} | undefined)?.environment_scope
      const scopeFilter = url.searchParams.get('filter[environment_scope]') ?? (typeof bodyFilter === 'string' ? bodyFilter : undefined)
      if (req.method === 'GET') {
        const v = find(owner, m[3]!, scopeFilter)
        return v ? send(200, v) : send(404, {message: '404 Variable Not Found'})
      }
      if (op.body && !op.body(body)) {
        violations.push(`request ${req.method} ${path}: ${spec.errors(op.body)}`)
        return send(400, {message: spec.errors(op.body)})
      }
      if (failing.n > 0) {
        failing.n--
        log.push({method: req.method ?? '', path: req.url ?? '', headers: masked, status: failing.status})
        res.writeHead(failing.status, {'content-type': 'application/json'})
        res.end(JSON.stringify({message: '500 Internal Server Error'}))
        return
      }
      running.onWrite?.(owner, m[3] ?? String(body.key))
      const value = String(body.value)
      if (body.masked === true && !MASKABLE.test(value)) return send(400, {message: {value: ['is invalid']}})
      if (req.method === 'POST') {
        const key = String(body.key)
        const scope = typeof body.environment_scope === 'string' ? body.environment_scope : '*'
        if (vars.has(id(owner, key, scope))) return send(400, {message: {key: [`(${key}) has already been taken`]}})
        const v = variable(key, scope, body, undefined)
        vars.set(id(owner, key, scope), v)
        return send(201, v)
      }
      const known = find(owner, m[3]!, scopeFilter)
      if (!known) return send(404, {message: '404 Variable Not Found'})
      const v = variable(known.key, typeof body.environment_scope === 'string' ? body.environment_scope : known.environment_scope, body, known)
      vars.delete(id(owner, known.key, known.environment_scope))
      vars.set(id(owner, v.key, v.environment_scope), v)
      return send(200, v)
    })
  })
  const id = (owner: string, key: string, scope: string) => `${owner}#${key}#${scope}`
  const find = (owner: string, key: string, scope: string | undefined) => {
    if (scope !== undefined) return vars.get(id(owner, key, scope))
    // Without a filter GitLab takes the first of the key's variables.
    return [...vars.entries()].find(([k]) => k.startsWith(`${owner}#${key}#`))?.[1]
  }
  const variable = (key: string, scope: string, b: Record<string, unknown>, known: StoredVariable | undefined): StoredVariable => ({
    key,
    value: String(b.value),
    variable_type: (b.variable_type as StoredVariable['variable_type']) ?? known?.variable_type ?? 'env_var',
    protected: (b.protected as boolean) ?? known?.protected ?? false,
    masked: (b.masked as boolean) ?? known?.masked ?? false,
    hidden: known?.hidden ?? b.masked_and_hidden === true,
    raw: (b.raw as boolean) ?? known?.raw ?? false,
    environment_scope: scope,
    description: typeof b.description === 'string' ? b.description : (known?.description ?? null),
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const running: RunningGitlabFake = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    contractViolations: violations,
    variable: (owner, key, scope = '*') => vars.get(id(owner, key, scope)),
    failWrites(n, status = 500) {
      failing = {n, status}
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
  return running
}
