import {spawn} from 'node:child_process'
import {createRequire} from 'node:module'
import {setTimeout as delay} from 'node:timers/promises'
import {type Dispatcher, EnvHttpProxyAgent, request} from '../palette/undici.js'
import {TokenBucket} from '../util/rate-limit.js'
import {registerSecret, scrub} from '../util/scrub.js'
import type {Secret} from '../util/secret.js'
import {type Delivery, deliveryLabel} from './targets.js'

/** The key a value belongs to, as a target may be told (never its value). */
export interface DeliveredKey {
  user: string
  name: string
  uid: string
  expiry: string
}

/** What the executor needs of delivery: one target gets one value, or the call throws. */
export interface DeliveryPort {
  deliver(target: Delivery, value: Secret, key: DeliveredKey): Promise<void>
}

/** A delivery that did not happen; its message names the target and never holds a value or a token. */
export class DeliveryError extends Error {}

/** palette-keys' own credentials: never passed to an exec target. */
const CREDENTIAL_ENV = ['PALETTE_API_KEY', 'SPECTROCLOUD_APIKEY', 'PALETTE_KEYS_GITHUB_TOKEN', 'GITHUB_TOKEN', 'PALETTE_KEYS_GITLAB_TOKEN']

/**
 * GitHub's documented secondary limit for requests that create content: 80 a minute (and 500 an
 * hour). Each delivery writes once (a GET of the public key is a read).
 * https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
 */
const GITHUB_WRITES = {ratePerSecond: 80 / 60, burst: 5}
/** GitLab.com's documented limit for authenticated API traffic is 2,000 requests a minute; self-managed instances set their own, so we stay well under: 5 a second. */
const GITLAB_REQUESTS = {ratePerSecond: 5, burst: 5}
/** How often a target's 429 (or GitHub's 403 rate-limit answer) is waited out and tried again. */
const ATTEMPTS = 3
/** Of a command's output, only this much of the end is kept (for a failure's message, scrubbed). */
const OUTPUT_TAIL = 2048

export interface DelivererOptions {
  /** Where exec targets run: the desired file's folder. */
  cwd: string
  env: NodeJS.ProcessEnv
  sleep?: (ms: number) => Promise<void>
  dispatcher?: Dispatcher
}

/**
 * Delivers values to GitHub Actions secrets, GitLab CI/CD variables and commands. A value goes in
 * a request body (GitHub: sealed to the target's public key) or on a command's stdin, never in a
 * URL, an argument or an environment variable, so no access log or process list shows it.
 */
export class Deliverer implements DeliveryPort {
  private readonly sleep: (ms: number) => Promise<void>
  private readonly dispatcher: Dispatcher
  private readonly githubWrites = new TokenBucket(GITHUB_WRITES)
  private readonly gitlabRequests = new TokenBucket(GITLAB_REQUESTS)
  /** GitHub public keys by scope path, read once a run. */
  private readonly publicKeys = new Map<string, Promise<{key_id: string; key: string}>>()

  constructor(private readonly o: DelivererOptions) {
    this.sleep = o.sleep ?? ((ms) => delay(ms))
    this.dispatcher = o.dispatcher ?? new EnvHttpProxyAgent()
    for (const name of ['PALETTE_KEYS_GITHUB_TOKEN', 'GITHUB_TOKEN', 'PALETTE_KEYS_GITLAB_TOKEN']) {
      const token = o.env[name]
      if (token) registerSecret(token)
    }
  }

  /** Targets that cannot be reached as configured (no token): checked by apply before its first change. */
  static problems(targets: Delivery[], env: NodeJS.ProcessEnv): string[] {
    const out = new Set<string>()
    for (const t of targets) {
      if (t.kind === 'github' && !(env.PALETTE_KEYS_GITHUB_TOKEN || env.GITHUB_TOKEN)) out.add('a github target needs a token that can write Actions secrets in PALETTE_KEYS_GITHUB_TOKEN (or GITHUB_TOKEN)')
      if (t.kind === 'gitlab' && !env.PALETTE_KEYS_GITLAB_TOKEN) out.add('a gitlab target needs a token with the api scope in PALETTE_KEYS_GITLAB_TOKEN')
    }
    return [...out]
  }

  async deliver(target: Delivery, value: Secret, key: DeliveredKey): Promise<void> {
    try {
      if (target.kind === 'exec') await this.exec(target, value, key)
      else if (target.kind === 'github') await this.github(target, value)
      else await this.gitlab(target, value)
    } catch (error) {
      const why = error instanceof DeliveryError ? error.message : `${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`
      throw new DeliveryError(scrub(`delivery to ${deliveryLabel(target)} failed: ${why}`))
    }
  }

  private async exec(target: Extract<Delivery, {kind: 'exec'}>, value: Secret, key: DeliveredKey): Promise<void> {
    const env: NodeJS.ProcessEnv = {}
    for (const [name, v] of Object.entries(this.o.env)) {
      // Neither palette-keys' credentials nor anything holding a secret this process knows.
      if (v === undefined || CREDENTIAL_ENV.includes(name) || scrub(v) !== v) continue
      env[name] = v
    }
    Object.assign(env, {PALETTE_KEYS_USER: key.user, PALETTE_KEYS_KEY_NAME: key.name, PALETTE_KEYS_KEY_UID: key.uid, PALETTE_KEYS_KEY_EXPIRY: key.expiry})
    const [command, ...args] = target.command
    await new Promise<void>((resolve, reject) => {
      const child = spawn(command!, args, {cwd: this.o.cwd, env, stdio: ['pipe', 'pipe', 'pipe'], shell: false, timeout: target.timeoutS * 1000, killSignal: 'SIGKILL'})
      let tail = ''
      const keep = (d: Buffer) => (tail = (tail + d.toString('utf8')).slice(-OUTPUT_TAIL))
      child.stdout.on('data', keep)
      child.stderr.on('data', keep)
      // A command that does not read its stdin closes it: that is its business, not a failure.
      child.stdin.on('error', () => {})
      child.on('error', (error: NodeJS.ErrnoException) => reject(new DeliveryError(error.code === 'ENOENT' ? `command ${JSON.stringify(command)} not found` : `the command could not be started (${error.code ?? error.message})`)))
      child.on('close', (code, signal) => {
        if (code === 0) return resolve()
        const said = scrub(tail).trim().split('\n').slice(-3).join(' / ').slice(-300)
        reject(new DeliveryError(`${signal === 'SIGKILL' ? `the command was stopped after its timeout of ${target.timeoutS}s` : signal ? `the command ended on ${signal}` : `the command exited ${code}`}${said ? ` (it said: ${said})` : ''}`))
      })
      // The value, without a newline (a file written from stdin holds exactly the value).
      child.stdin.end(value.reveal())
    })
  }

  private async github(target: Extract<Delivery, {kind: 'github'}>, value: Secret): Promise<void> {
    const token = this.o.env.PALETTE_KEYS_GITHUB_TOKEN || this.o.env.GITHUB_TOKEN
    if (!token) throw new DeliveryError('no token: set PALETTE_KEYS_GITHUB_TOKEN (or GITHUB_TOKEN)')
    const base = (this.o.env.GITHUB_API_URL || 'https://api.github.com').replace(/\/+$/, '')
    const e = encodeURIComponent
    const scope = target.organization !== undefined
      ? `/orgs/${e(target.organization)}/actions/secrets`
      : target.environment !== undefined
        ? `/repos/${target.repository!.split('/').map(e).join('/')}/environments/${e(target.environment)}/secrets`
        : `/repos/${target.repository!.split('/').map(e).join('/')}/actions/secrets`
    const headers = {authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'palette-keys'}
    let publicKey = this.publicKeys.get(scope)
    if (!publicKey) {
      publicKey = this.call('github', 'GET', `${base}${scope}/public-key`, headers).then((body) => {
        const k = body as {key_id?: unknown; key?: unknown}
        if (typeof k?.key_id !== 'string' || typeof k.key !== 'string') throw new DeliveryError('GitHub\'s public-key answer has no key_id and key')
        return {key_id: k.key_id, key: k.key}
      })
      this.publicKeys.set(scope, publicKey)
      publicKey.catch(() => this.publicKeys.delete(scope))
    }
    const {key_id, key} = await publicKey
    const sodium = libsodium()
    await sodium.ready
    let recipient: Uint8Array
    try {
      recipient = sodium.from_base64(key, sodium.base64_variants.ORIGINAL)
    } catch {
      throw new DeliveryError('GitHub\'s public key is not base64')
    }
    if (recipient.length !== sodium.crypto_box_PUBLICKEYBYTES) throw new DeliveryError(`GitHub's public key is ${recipient.length} bytes, not ${sodium.crypto_box_PUBLICKEYBYTES}`)
    const sealed = sodium.to_base64(sodium.crypto_box_seal(sodium.from_string(value.reveal()), recipient), sodium.base64_variants.ORIGINAL)
    const body = {encrypted_value: sealed, key_id, ...(target.organization !== undefined ? {visibility: target.visibility ?? 'private'} : {})}
    await this.call('github', 'PUT', `${base}${scope}/${e(target.secret)}`, headers, body, [201, 204])
  }

  private async gitlab(target: Extract<Delivery, {kind: 'gitlab'}>, value: Secret): Promise<void> {
    const token = this.o.env.PALETTE_KEYS_GITLAB_TOKEN
    if (!token) throw new DeliveryError('no token: set PALETTE_KEYS_GITLAB_TOKEN')
    const base = `${(this.o.env.PALETTE_KEYS_GITLAB_URL || 'https://gitlab.com').replace(/\/+$/, '')}/api/v4`
    const owner = target.project !== undefined ? `/projects/${encodeURIComponent(target.project)}` : `/groups/${encodeURIComponent(target.group!)}`
    const headers = {'private-token': token, 'user-agent': 'palette-keys'}
    // raw: the value is taken as it is, never expanded ($ references); a plain token holds no $ anyway.
    const fields = {value: value.reveal(), masked: target.masked, protected: target.protected, raw: true, environment_scope: target.environmentScope}
    const scope = `filter%5Benvironment_scope%5D=${encodeURIComponent(target.environmentScope)}`
    // Update the variable of this key and scope; 404: there is none yet, so create it.
    const updated = await this.call('gitlab', 'PUT', `${base}${owner}/variables/${encodeURIComponent(target.variable)}?${scope}`, headers, fields, [200], [404])
    if (updated !== NOT_FOUND) return
    await this.call('gitlab', 'POST', `${base}${owner}/variables`, headers, {key: target.variable, variable_type: 'env_var', ...fields}, [201])
  }

  /**
   * One request to a target, paced under its documented limit; a 429 (or GitHub's 403 that says a
   * rate limit) waits as the answer says and is tried again. An answer's body is never quoted
   * whole: a message field at most, scrubbed.
   */
  private async call(target: 'github' | 'gitlab', method: 'GET' | 'PUT' | 'POST', url: string, headers: Record<string, string>, body?: unknown, ok = [200], soft: number[] = []): Promise<unknown> {
    const bucket = target === 'github' ? (method === 'GET' ? undefined : this.githubWrites) : this.gitlabRequests
    for (let attempt = 1; ; attempt++) {
      const wait = bucket?.reserve() ?? 0
      if (wait > 0) await this.sleep(wait)
      const res = await request(url, {
        method,
        headers: {...headers, ...(body === undefined ? {} : {'content-type': 'application/json'})},
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher: this.dispatcher,
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      })
      const text = await res.body.text()
      if (ok.includes(res.statusCode)) return text === '' ? undefined : parseJson(text)
      if (soft.includes(res.statusCode)) return NOT_FOUND
      const limited = res.statusCode === 429 || (target === 'github' && res.statusCode === 403 && (res.headers['x-ratelimit-remaining'] === '0' || /rate limit/i.test(text)))
      if (limited && attempt < ATTEMPTS) {
        bucket?.slowDown()
        await this.sleep(retryAfterMs(res.headers) ?? 1000 * attempt)
        continue
      }
      const message = (parseJson(text) as {message?: unknown} | undefined)?.message
      const said = message === undefined ? '' : `: ${typeof message === 'string' ? message : JSON.stringify(message)}`.slice(0, 300)
      throw new DeliveryError(`${target === 'github' ? 'GitHub' : 'GitLab'} answered ${method} ${new URL(url).pathname} with HTTP ${res.statusCode}${said}${res.statusCode === 401 || res.statusCode === 403 ? ' (check the token and its permissions)' : ''}`)
    }
  }
}

const NOT_FOUND = Symbol('not found')

/**
 * libsodium-wrappers, loaded on first use (only a GitHub target needs it), as CommonJS: its ESM
 * build (0.7.16) imports a libsodium.mjs that the libsodium package does not ship.
 */
let sodiumModule: typeof import('libsodium-wrappers') | undefined
function libsodium(): typeof import('libsodium-wrappers') {
  sodiumModule ??= createRequire(import.meta.url)('libsodium-wrappers') as typeof import('libsodium-wrappers')
  return sodiumModule
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Retry-After (seconds), or GitHub's x-ratelimit-reset (epoch seconds); capped at a minute. */
function retryAfterMs(headers: Record<string, string | string[] | undefined>): number | undefined {
  const after = Number(headers['retry-after'])
  if (Number.isFinite(after) && after >= 0) return Math.min(after * 1000, 60_000)
  const reset = Number(headers['x-ratelimit-reset'])
  if (Number.isFinite(reset) && reset > 0) return Math.min(Math.max(reset * 1000 - Date.now(), 0), 60_000)
  return undefined
}
