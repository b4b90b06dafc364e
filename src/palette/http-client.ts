import {setTimeout as delay} from 'node:timers/promises'
import {Agent, type Dispatcher, EnvHttpProxyAgent, request} from './undici.js'
import {type Clock, PALETTE_RATE_LIMIT, PrefixRateLimiter, type RateLimitSettings, rateLimitPrefix, systemClock} from '../util/rate-limit.js'
import {redact, Secret} from '../util/secret.js'
import {PaletteApiError} from './errors.js'
import type {CreatedApiKey, PaletteApi} from './port.js'
import {resourceLimitsPath} from '../contract/palette.js'
import type {ApiKey, ApiKeyEntity, ApiKeyUpdate, PaletteErrorBody, Role, User, TenantResourceLimits, UserInfo, UserMeta, UserRoles, UserSummary} from './types.js'

/** One line of `--trace`: never headers or bodies, so never a key. */
export interface TraceEvent {
  method: string
  path: string
  attempt: number
  status?: number
  /** Network error code when there was no response. */
  error?: string
  ms: number
}

export interface RetrySettings {
  /** Retries after the first attempt (so maxRetries + 1 sends at most). */
  maxRetries: number
  baseDelayMs: number
  maxDelayMs: number
}

export interface PaletteHttpClientOptions {
  /** Base URL, e.g. https://api.spectrocloud.com (already checked by resolveConnection). */
  host: string
  apiKey: Secret
  /** undici dispatcher; tests pass a MockAgent. */
  dispatcher?: Dispatcher
  /** Per-request limit for connect, headers and body, ms. */
  timeoutMs?: number
  /** Whole-request deadline, ms (default DEFAULT_DEADLINE_MS). */
  deadlineMs?: number
  /** Largest answer read (default MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number
  /** The command's deadline (epoch ms, --deadline): no request starts after it. */
  commandDeadline?: number
  rateLimit?: RateLimitSettings
  retry?: Partial<RetrySettings>
  trace?: (event: TraceEvent) => void
  /** Injected for tests: time, sleeping and jitter. */
  clock?: Clock
  sleep?: (ms: number) => Promise<void>
  random?: () => number
}

const DEFAULT_RETRY: RetrySettings = {maxRetries: 4, baseDelayMs: 500, maxDelayMs: 15_000}
const RETRY_STATUSES = new Set([429, 502, 503, 504])
/** Errors another attempt cannot fix: a name that does not resolve, a certificate this machine does not trust. */
const FINAL_NETWORK_ERRORS = new Set(['CommandDeadline', 'ResponseTooLarge', 'RequestDeadline', 'ENOTFOUND', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_SSL_WRONG_VERSION_NUMBER', 'EPROTO'])
/** Network errors where the request certainly never reached the server. */
const NOT_SENT_ERRORS = new Set(['CommandDeadline', 'ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])
/**
 * The largest answer read: about 20 times the key list of a 10,000-key tenant (6.3 MB). A larger
 * one is refused, not retried: reading it whole once took 1.28 GB.
 */
export const MAX_RESPONSE_BYTES = 128 * 1024 * 1024
/** Default whole-request deadline (--request-timeout). */
export const DEFAULT_DEADLINE_MS = 120_000

class TooLarge extends Error {}

/** The body as text, refusing (and dropping the connection) past `max` bytes. */
async function readCapped(body: AsyncIterable<Buffer> & {destroy(): unknown}, max: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.length
    if (size > max) {
      body.destroy()
      throw new TooLarge(`larger than ${max} bytes`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Longest Retry-After we honour before giving up on a retry. */
const MAX_RETRY_AFTER_MS = 60_000

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

interface RequestOptions {
  /** A POST that only reads (users/summary): retried like a GET. */
  readOnly?: boolean
  /** Another credential than the client's own (whoIs). */
  credential?: Secret
}

interface Attempt {
  status?: number
  body?: string
  retryAfterMs?: number
  networkError?: string
}

/**
 * The undici adapter of PaletteApi. Tenant-scoped calls only: never sends ProjectUid.
 * Every attempt (first or retry) waits for the per-prefix token bucket; idempotent
 * requests are retried with exponential backoff and jitter on 429/502/503/504 and
 * connection errors, honouring Retry-After; POST is never retried.
 */
export class PaletteHttpClient implements PaletteApi {
  private readonly base: string
  private readonly apiKey: Secret
  private readonly dispatcher: Dispatcher
  private readonly ownsDispatcher: boolean
  private readonly timeoutMs: number
  private readonly deadlineMs: number
  private readonly maxResponseBytes: number
  private readonly commandDeadline: number
  private readonly limiter: PrefixRateLimiter
  private readonly retry: RetrySettings
  private readonly trace: ((e: TraceEvent) => void) | undefined
  private readonly clock: Clock
  private readonly sleep: (ms: number) => Promise<void>
  private readonly random: () => number

  constructor(options: PaletteHttpClientOptions) {
    this.base = options.host.replace(/\/+$/, '')
    this.apiKey = options.apiKey
    this.timeoutMs = options.timeoutMs ?? 30_000
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS
    this.maxResponseBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES
    this.commandDeadline = options.commandDeadline ?? Number.POSITIVE_INFINITY
    this.ownsDispatcher = options.dispatcher === undefined
    this.dispatcher = options.dispatcher ?? defaultDispatcher(this.timeoutMs)
    this.clock = options.clock ?? systemClock
    this.limiter = new PrefixRateLimiter(options.rateLimit ?? PALETTE_RATE_LIMIT, this.clock)
    this.retry = {...DEFAULT_RETRY, ...options.retry}
    this.trace = options.trace
    this.sleep = options.sleep ?? ((ms) => delay(ms))
    this.random = options.random ?? Math.random
  }

  /** Closes the connections this client opened (not a dispatcher it was given). */
  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close()
  }

  async listApiKeys(): Promise<ApiKey[]> {
    const body = await this.json<{items?: ApiKey[]}>('GET', '/v1/apiKeys', undefined, 200)
    return this.items(body, 'GET', '/v1/apiKeys')
  }

  async getApiKey(uid: string): Promise<ApiKey> {
    return this.json<ApiKey>('GET', `/v1/apiKeys/${enc(uid)}`, undefined, 200)
  }

  async createApiKey(entity: ApiKeyEntity): Promise<CreatedApiKey> {
    const body = await this.json<{apiKey?: string; uid?: string}>('POST', '/v1/apiKeys', entity, 201)
    // The uid may be absent, or the owner's (the spec calls it "User uid"): the caller confirms it.
    if (typeof body.apiKey !== 'string' || body.apiKey === '') {
      // The key may exist now without us knowing its value: ambiguous by definition.
      throw new PaletteApiError({
        method: 'POST',
        path: '/v1/apiKeys',
        status: 201,
        paletteCode: 'InvalidResponse',
        paletteMessage: 'the create response lacks apiKey',
        ambiguous: true,
        attempts: 1,
      })
    }
    return {...(typeof body.uid === 'string' && body.uid !== '' ? {uid: body.uid} : {}), apiKey: new Secret(body.apiKey)}
  }

  async updateApiKey(uid: string, update: ApiKeyUpdate): Promise<void> {
    await this.send('PUT', `/v1/apiKeys/${enc(uid)}`, update, 204)
  }

  async setApiKeyActive(uid: string, isActive: boolean): Promise<void> {
    await this.send('PUT', `/v1/apiKeys/${enc(uid)}/state`, {isActive}, 204)
  }

  async deleteApiKey(uid: string): Promise<void> {
    await this.send('DELETE', `/v1/apiKeys/${enc(uid)}`, undefined, 204)
  }

  async whoAmI(): Promise<UserInfo> {
    return this.json<UserInfo>('GET', '/v1/users/info', undefined, 200)
  }

  async whoIs(credential: Secret): Promise<UserInfo> {
    return this.json<UserInfo>('GET', '/v1/users/info', undefined, 200, {credential})
  }

  async listUsersMeta(): Promise<UserMeta[]> {
    const body = await this.json<{items?: UserMeta[]}>('GET', '/v1/users/meta', undefined, 200)
    return this.items(body, 'GET', '/v1/users/meta')
  }

  async getUser(uid: string): Promise<User> {
    return this.json<User>('GET', `/v1/users/${enc(uid)}`, undefined, 200)
  }

  async getUserRoles(uid: string): Promise<UserRoles> {
    return this.json<UserRoles>('GET', `/v1/users/${enc(uid)}/roles`, undefined, 200)
  }

  async listUsersSummary(): Promise<UserSummary[]> {
    const body = await this.json<{items?: UserSummary[]}>('POST', '/v1/users/summary', {}, 200, {readOnly: true})
    return this.items(body, 'POST', '/v1/users/summary')
  }

  async listRoles(): Promise<Role[]> {
    return this.allPages<Role>('/v1/roles')
  }

  async listUsers(): Promise<User[]> {
    return this.allPages<User>('/v1/users')
  }

  /** Every page of a list the spec pages (limit at most 50, `continue`); a token seen twice would loop: stop there. */
  private async allPages<T>(base: string): Promise<T[]> {
    const all: T[] = []
    let token = ''
    const seen = new Set<string>()
    for (let page = 0; page < 1000; page++) {
      const path = `${base}?limit=50${token ? `&continue=${encodeURIComponent(token)}` : ''}`
      const body = await this.json<{items?: T[]; listmeta?: {continue?: string}}>('GET', path, undefined, 200)
      all.push(...this.items(body, 'GET', base))
      token = body.listmeta?.continue ?? ''
      if (token === '' || seen.has(token)) break
      seen.add(token)
    }
    return all
  }

  async getResourceLimits(tenantUid: string): Promise<TenantResourceLimits> {
    return this.json<TenantResourceLimits>('GET', resourceLimitsPath(tenantUid), undefined, 200)
  }

  private items<T>(body: {items?: T[]}, method: string, path: string): T[] {
    if (!Array.isArray(body.items)) {
      throw new PaletteApiError({method, path, status: 200, paletteCode: 'InvalidResponse', paletteMessage: 'no items array', ambiguous: false, attempts: 1})
    }
    return body.items
  }

  private async json<T>(method: Method, path: string, payload: unknown, expected: number, options: RequestOptions = {}): Promise<T> {
    const text = await this.send(method, path, payload, expected, options)
    try {
      return JSON.parse(text) as T
    } catch {
      throw new PaletteApiError({
        method,
        path,
        status: expected,
        paletteCode: 'InvalidResponse',
        paletteMessage: 'the response is not JSON',
        ambiguous: method === 'POST' && options.readOnly !== true,
        attempts: 1,
      })
    }
  }

  /** Sends with pacing and retries; resolves with the body text of the expected status. */
  private async send(
    method: Method,
    path: string,
    payload: unknown,
    expected: number,
    options: RequestOptions = {},
  ): Promise<string> {
    // A POST that only reads (users/summary) may be retried like a GET.
    const idempotent = method !== 'POST' || options.readOnly === true
    let maybeApplied = false
    for (let attempt = 1; ; attempt++) {
      const result = await this.attempt(method, path, payload, attempt, options.credential ?? this.apiKey)
      if (result.status === expected) return result.body ?? ''

      const retryable = (result.networkError !== undefined && !FINAL_NETWORK_ERRORS.has(result.networkError)) || RETRY_STATUSES.has(result.status ?? 0)
      const sent = result.networkError === undefined || !NOT_SENT_ERRORS.has(result.networkError)
      if (sent && result.status !== 429 && (result.status === undefined || result.status >= 500)) maybeApplied = true
      // A success other than the documented one (200 to a create, say) may well have created the key.
      if (!idempotent && result.status !== undefined && result.status >= 200 && result.status < 300) maybeApplied = true

      if (!idempotent || !retryable || attempt > this.retry.maxRetries) {
        throw this.failure(method, path, result, attempt, !idempotent && maybeApplied, options.credential)
      }
      const wait = this.backoff(attempt, result.retryAfterMs)
      if (wait === undefined) throw this.failure(method, path, result, attempt, false, options.credential)
      await this.sleep(wait)
    }
  }

  /** Exponential backoff with equal jitter, or the server's Retry-After when it gave one. */
  private backoff(attempt: number, retryAfterMs: number | undefined): number | undefined {
    if (retryAfterMs !== undefined) return retryAfterMs > MAX_RETRY_AFTER_MS ? undefined : retryAfterMs
    const ceiling = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1))
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2)
  }

  private async attempt(method: Method, path: string, payload: unknown, attempt: number, credential: Secret): Promise<Attempt> {
    const bucket = this.limiter.bucket(rateLimitPrefix(path))
    const wait = bucket.reserve()
    if (wait > 0) await this.sleep(wait)
    // Past the command's deadline nothing new is sent (certainly not sent: a create is not ambiguous).
    if (Date.now() > this.commandDeadline) return {networkError: 'CommandDeadline'}
    const started = this.clock.now()
    const headers: Record<string, string> = {ApiKey: credential.reveal(), Accept: 'application/json'}
    if (payload !== undefined) headers['Content-Type'] = 'application/json'
    try {
      const res = await request(this.base + path, {
        method,
        headers,
        body: payload === undefined ? undefined : JSON.stringify(payload),
        dispatcher: this.dispatcher,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        // A whole-request deadline: the idle timeouts above never fire on a body that trickles.
        signal: AbortSignal.timeout(this.deadlineMs),
      })
      const body = await readCapped(res.body, this.maxResponseBytes)
      this.noteServerDate(res.headers.date)
      this.trace?.({method, path, attempt, status: res.statusCode, ms: this.clock.now() - started})
      // Adaptive pacing: a 429 means the server allows less than configured for this prefix.
      if (res.statusCode === 429) bucket.slowDown()
      else if (res.statusCode < 400) bucket.speedUp()
      return {status: res.statusCode, body, retryAfterMs: parseRetryAfter(res.headers['retry-after'], this.clock.now())}
    } catch (error) {
      const code = error instanceof TooLarge ? 'ResponseTooLarge' : (error as Error).name === 'TimeoutError' ? 'RequestDeadline' : networkErrorCode(error)
      this.trace?.({method, path, attempt, error: code, ms: this.clock.now() - started})
      return {networkError: code}
    }
  }

  /** Palette's clock, from the `Date` header of its newest answer, moved on by the time since (this machine's clock may be wrong). */
  serverTime(): Date | undefined {
    if (!this.serverDate) return undefined
    return new Date(this.serverDate.at + (Date.now() - this.serverDate.receivedAt))
  }

  private serverDate: {at: number; receivedAt: number} | undefined

  private noteServerDate(header: string | string[] | undefined): void {
    const at = Date.parse(Array.isArray(header) ? (header[0] ?? '') : (header ?? ''))
    // Elapsed time is measured on this machine's clock: its offset cancels out, whatever it is.
    if (!Number.isNaN(at)) this.serverDate = {at, receivedAt: Date.now()}
  }

  private failure(method: Method, path: string, result: Attempt, attempts: number, ambiguous: boolean, credential?: Secret): PaletteApiError {
    if (result.networkError !== undefined) {
      return new PaletteApiError({method, path, paletteCode: result.networkError, ambiguous, attempts})
    }
    const body = parseErrorBody(result.body)
    return new PaletteApiError({
      method,
      path,
      status: result.status,
      paletteCode: body.code ?? (result.status === 429 ? 'TooManyRequests' : undefined),
      // Palette has been seen echoing the key in auth errors: redact before keeping it.
      paletteMessage: body.message === undefined ? undefined : redact(body.message, [this.apiKey, credential]).slice(0, 500),
      ambiguous,
      attempts,
    })
  }
}

const PROXY_ENV = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy']

/**
 * undici's own proxy support when the environment names a proxy (HTTPS_PROXY, HTTP_PROXY and
 * NO_PROXY, in either case, as curl reads them): requests are tunnelled through it with
 * CONNECT. Loopback hosts never go through a proxy (the local emulator stays reachable).
 */
export function defaultDispatcher(timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Dispatcher {
  const timeouts = {connect: {timeout: timeoutMs}, headersTimeout: timeoutMs, bodyTimeout: timeoutMs}
  if (!PROXY_ENV.some((name) => env[name]?.trim())) return new Agent(timeouts)
  // The first variable that is set and not empty, upper case first; an https proxy defaults to the http one.
  const first = (...names: string[]) => names.map((n) => env[n]?.trim()).find((v) => v) ?? ''
  const httpProxy = first('HTTP_PROXY', 'http_proxy')
  const httpsProxy = first('HTTPS_PROXY', 'https_proxy') || httpProxy
  const noProxy = [first('NO_PROXY', 'no_proxy'), 'localhost', '127.0.0.1', '::1'].filter(Boolean).join(',')
  return new EnvHttpProxyAgent({...timeouts, httpProxy, httpsProxy, noProxy, proxyTunnel: true} as ConstructorParameters<typeof EnvHttpProxyAgent>[0])
}

function enc(uid: string): string {
  return encodeURIComponent(uid)
}

function parseErrorBody(text: string | undefined): PaletteErrorBody {
  if (!text) return {}
  try {
    const v = JSON.parse(text) as unknown
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>
      return {
        code: typeof o.code === 'string' ? o.code : undefined,
        message: typeof o.message === 'string' ? o.message : undefined,
      }
    }
  } catch {
    // not JSON: keep nothing of it (it could be anything, including echoed headers)
  }
  return {}
}

/** Retry-After is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value
  if (v === undefined || v.trim() === '') return undefined
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000
  const at = Date.parse(v)
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs)
}

function networkErrorCode(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as {code?: unknown; cause?: {code?: unknown}; name?: unknown}
    if (typeof e.code === 'string') return e.code
    if (e.cause && typeof e.cause.code === 'string') return e.cause.code
    if (typeof e.name === 'string') return e.name
  }
  return 'NETWORK_ERROR'
}
