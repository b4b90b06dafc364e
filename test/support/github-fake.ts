import {generateKeyPairSync, type KeyObject, randomBytes} from 'node:crypto'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {openApi3} from './openapi3.js'

/**
 * A GitHub Actions secrets API on 127.0.0.1, built from the verbatim subset of GitHub's own
 * OpenAPI description (schemas/github/actions-secrets.openapi.json): every request is matched to
 * one of its operations and its body validated against it, and every answer is one the spec
 * declares. Each scope (repository, environment, organisation) has its own X25519 key pair, as
 * GitHub's do; the fake never opens a secret: the tests do, with an implementation palette-keys
 * does not use (PyNaCl).
 */
export const GITHUB_SPEC = 'schemas/github/actions-secrets.openapi.json'

export interface StoredSecret {
  encrypted_value: string
  key_id: string
  visibility?: string
  created_at: string
  updated_at: string
}

export interface RunningGithubFake {
  url: string
  /** What each request was: method, path and headers, the authorization header masked (for the leak scan and counts). */
  log: Array<{method: string; path: string; headers: Record<string, string>; status: number}>
  /** The stored secret of a scope (`repos/OWNER/REPO`, `repos/OWNER/REPO/environments/ENV`, `orgs/ORG`). */
  secret(scope: string, name: string): StoredSecret | undefined
  /** The raw X25519 private key of a scope (32 bytes), to open its secrets in a test. */
  privateKey(scope: string): Buffer
  /** The next `n` writes of secrets are answered with `status` (a failing target). */
  failWrites(n: number, status?: number): void
  /** Called as a write is accepted, before it is stored (a test checks what else holds at that moment). */
  onWrite?: (owner: string, name: string) => void
  /** Every answer the fake sent that its spec does not declare or whose body does not validate (must stay empty). */
  contractViolations: string[]
  close(): Promise<void>
}

export async function startGithubFake(token: string): Promise<RunningGithubFake> {
  const spec = openApi3(GITHUB_SPEC)
  const keys = new Map<string, {id: string; pub: Buffer; priv: Buffer; key: KeyObject}>()
  const secrets = new Map<string, StoredSecret>()
  const log: RunningGithubFake['log'] = []
  const violations: string[] = []
  let failing = {n: 0, status: 500}
  const pair = (scope: string) => {
    let k = keys.get(scope)
    if (!k) {
      const {publicKey, privateKey} = generateKeyPairSync('x25519')
      const pubJwk = publicKey.export({format: 'jwk'})
      const privJwk = privateKey.export({format: 'jwk'})
      k = {id: String(BigInt(`0x${randomBytes(7).toString('hex')}`)), pub: Buffer.from(pubJwk.x!, 'base64url'), priv: Buffer.from(privJwk.d!, 'base64url'), key: privateKey}
      keys.set(scope, k)
    }
    return k
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = ''
    req.on('data', (d) => (raw += d))
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname
      const op = spec.operation(req.method ?? 'GET', path)
      const send = (status: number, body?: unknown) => {
        const declared = op?.responses.get(status)
        if (!op || declared === undefined) violations.push(`${req.method} ${path} answered ${status}, which the spec does not declare`)
        else if (declared && !declared(body)) violations.push(`${req.method} ${path} ${status}: ${spec.errors(declared)}`)
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(req.headers)) headers[k] = k === 'authorization' ? '(masked)' : String(v)
        log.push({method: req.method ?? '', path: req.url ?? '', headers, status})
        res.writeHead(status, {'content-type': 'application/json; charset=utf-8', 'x-github-api-version-selected': '2022-11-28'})
        res.end(body === undefined ? '' : JSON.stringify(body))
      }
      // GitHub's error answers (401, 404, 422) are not in the subset, which has the success answers only: logged, never checked as contract answers.
      const refuse = (status: number, message: string) => {
        log.push({method: req.method ?? '', path: req.url ?? '', headers: {}, status})
        res.writeHead(status, {'content-type': 'application/json'})
        res.end(JSON.stringify({message, documentation_url: 'https://docs.github.com/rest', status: String(status)}))
      }
      const auth = req.headers.authorization ?? ''
      // GitHub answers a bad token with 401 on every path.
      if (auth !== `Bearer ${token}` && auth !== `token ${token}`) return refuse(401, 'Bad credentials')
      if (!op) return refuse(404, 'Not Found')
      const m = /^\/(repos\/[^/]+\/[^/]+(?:\/environments\/[^/]+)?|orgs\/[^/]+)\/(?:actions\/)?secrets\/([^/]+)$/.exec(path)
      if (!m) return refuse(404, 'Not Found')
      const scope = decodeURIComponent(m[1]!)
      const name = decodeURIComponent(m[2]!)
      if (name === 'public-key' && req.method === 'GET') {
        const k = pair(scope)
        return send(200, {key_id: k.id, key: k.pub.toString('base64')})
      }
      const id = `${scope}#${name.toUpperCase()}`
      if (req.method === 'GET') {
        const s = secrets.get(id)
        if (!s) return refuse(404, 'Not Found')
        return send(200, {name: name.toUpperCase(), created_at: s.created_at, updated_at: s.updated_at, ...(scope.startsWith('orgs/') ? {visibility: s.visibility ?? 'private'} : {})})
      }
      let body: unknown
      try {
        body = JSON.parse(raw)
      } catch {
        return refuse(422, 'Validation Failed')
      }
      if (op.body && !op.body(body)) {
        violations.push(`request ${req.method} ${path}: ${spec.errors(op.body)}`)
        return refuse(422, 'Validation Failed')
      }
      if (failing.n > 0) {
        // A target that is down.
        failing.n--
        return refuse(failing.status, 'Server Error')
      }
      running.onWrite?.(scope, name)
      const b = body as {encrypted_value: string; key_id: string; visibility?: string}
      if (b.key_id !== keys.get(scope)?.id) return refuse(422, 'Validation Failed')
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
      const known = secrets.get(id)
      secrets.set(id, {encrypted_value: b.encrypted_value, key_id: b.key_id, ...(b.visibility ? {visibility: b.visibility} : {}), created_at: known?.created_at ?? now, updated_at: now})
      return known ? send(204) : send(201, {})
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const running: RunningGithubFake = {
    url,
    log,
    contractViolations: violations,
    secret: (scope, name) => secrets.get(`${scope}#${name.toUpperCase()}`),
    privateKey: (scope) => pair(scope).priv,
    failWrites(n, status = 500) {
      failing = {n, status}
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
  return running
}
