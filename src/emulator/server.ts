import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {createServer as createTlsServer} from 'node:https'
import type {AddressInfo} from 'node:net'
import {setTimeout as delay} from 'node:timers/promises'
import {type AuthFailureStatus, ErrorCode} from '../contract/palette.js'
import {writeFileAtomic} from '../util/atomic-write.js'
import {PALETTE_RATE_LIMIT, PrefixRateLimiter, type RateLimitSettings, rateLimitPrefix} from '../util/rate-limit.js'
import {DEFAULT_FIDELITY, type Fidelity} from './fidelity.js'
import {paletteError, ROUTES, type RouteResult} from './routes.js'
import type {EmulatorState} from './state.js'

export interface EmulatorOptions {
  state: EmulatorState
  fidelity?: Partial<Fidelity>
  /** API keys per user (overrides the state's limit; 0: none). */
  keyLimit?: number
  /** Persist the state here (atomically) after every mutation. */
  statePath?: string
  host?: string
  port?: number
  rateLimit?: RateLimitSettings
  /** Added to every request, ms. */
  latencyMs?: number
  /** Share of requests answered 500 or 503 before they are handled. */
  failRate?: number
  /** Share of mutations that are committed and then have their connection dropped. */
  dropAfterCommitRate?: number
  /** Seed of the fault-injection random numbers, for reproducible runs. */
  faultSeed?: number
  /** The emulator's clock (tests move time to expire keys). */
  now?: () => Date
  /** Serve https with this certificate and key (PEM), as a self-hosted Palette with its own CA would. */
  tls?: {cert: string; key: string}
}

/** Counters of what the emulator did; served at GET /__emulator/stats (not a Palette path). */
export interface EmulatorStats {
  requests: number
  byOperation: Record<string, number>
  mutations: number
  rateLimited: number
  injectedFailures: number
  droppedAfterCommit: number
}

export interface RunningEmulator {
  url: string
  port: number
  state: EmulatorState
  stats: EmulatorStats
  close(): Promise<void>
}

const MAX_BODY_BYTES = 1024 * 1024
export const STATS_PATH = '/__emulator/stats'

/** Starts the emulator; it binds 127.0.0.1 unless told otherwise. */
export async function startEmulator(options: EmulatorOptions): Promise<RunningEmulator> {
  const state = options.state
  const fidelity: Fidelity = {...DEFAULT_FIDELITY, ...options.fidelity}
  if (options.keyLimit !== undefined) state.limits = {apiKeysPerUser: options.keyLimit}
  const now = options.now ?? (() => new Date())
  const limiter = new PrefixRateLimiter(options.rateLimit ?? PALETTE_RATE_LIMIT)
  const random = options.faultSeed === undefined ? Math.random : mulberry32(options.faultSeed)
  const stats: EmulatorStats = {requests: 0, byOperation: {}, mutations: 0, rateLimited: 0, injectedFailures: 0, droppedAfterCommit: 0}
  const persist = serialisedWriter(options.statePath, () => JSON.stringify(state.snapshot(), null, 1))
  await persist()

  const reply = (res: ServerResponse, result: RouteResult) => send(res, result, now())
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    stats.requests++
    const url = new URL(req.url ?? '/', 'http://emulator')
    const method = req.method ?? 'GET'
    if (url.pathname === STATS_PATH && method === 'GET') return reply(res, {status: 200, body: stats})

    const bucket = limiter.bucket(`${req.socket.remoteAddress}|${rateLimitPrefix(url.pathname)}`)
    if (!bucket.tryTake()) {
      stats.rateLimited++
      // Palette documents no Retry-After header, so none is sent.
      return reply(res, paletteError(429, 'TooManyRequests', `Too Many Requests, [${method}] ${url.pathname}`))
    }
    if (options.latencyMs) await delay(options.latencyMs)
    if (options.failRate && random() < options.failRate) {
      stats.injectedFailures++
      const status = random() < 0.5 ? 500 : 503
      return reply(res, paletteError(status, status === 500 ? 'InternalError' : 'ServiceUnavailable', 'injected fault'))
    }

    let body: unknown
    try {
      body = await readJsonBody(req)
    } catch (error) {
      return reply(res, paletteError(400, 'BadRequest', (error as Error).message))
    }

    const candidates = ROUTES.filter((r) => r.pattern.test(url.pathname))
    const route = candidates.find((r) => r.method === method)
    if (!route) {
      if (candidates.length > 0) return reply(res, paletteError(405, 'MethodNotAllowed', `${method} is not allowed on ${url.pathname}`))
      return reply(res, paletteError(404, 'ResourceNotFound', `no such endpoint ${url.pathname} in the emulator`))
    }
    stats.byOperation[`${method} ${route.template}`] = (stats.byOperation[`${method} ${route.template}`] ?? 0) + 1

    const header = req.headers.apikey // node lower-cases header names: ApiKey, apiKey, apikey all match
    const auth = state.authenticate(Array.isArray(header) ? header[0] : header, now())
    if (!auth.ok) {
      // Never echo the presented key (Palette has been seen to; see NOTES.md "Errors").
      const message = auth.reason === 'missing' ? 'the ApiKey header is missing' : `the API key is ${auth.reason === 'unknown' ? 'invalid' : auth.reason}`
      return reply(res, paletteError(fidelity.authFailure, AUTH_FAILURE_CODES[fidelity.authFailure], message))
    }

    const params = route.pattern.exec(url.pathname)?.groups ?? {}
    const result = route.handler({
      state,
      fidelity,
      caller: auth.user,
      admin: state.isAdmin(auth.user),
      permissions: state.permissions(auth.user),
      params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, decodeURIComponent(v)])),
      query: url.searchParams,
      body,
      now: now(),
    })
    if (result.mutated) {
      await persist()
      stats.mutations++
      if (options.dropAfterCommitRate && random() < options.dropAfterCommitRate) {
        stats.droppedAfterCommit++
        req.socket.destroy()
        return
      }
    }
    reply(res, result)
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, paletteError(500, 'InternalError', `emulator error: ${(error as Error).message}`))
    })
  }
  const server: Server = options.tls ? createTlsServer({cert: options.tls.cert, key: options.tls.key}, listener) : createServer(listener)
  // Keep-alive connections must not hold the process open at close.
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve())
  })
  const {port} = server.address() as AddressInfo
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    state,
    stats,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      }).then(() => persist()),
  }
}

const AUTH_FAILURE_CODES: Record<AuthFailureStatus, string> = {401: ErrorCode.Unauthorized, 403: ErrorCode.Forbidden, 404: ErrorCode.NotFound}

function send(res: ServerResponse, result: RouteResult, date?: Date): void {
  // Palette's clock as HTTP gives it (the emulator's own, which tests may move); clients time leases by it.
  if (date) res.setHeader('Date', date.toUTCString())
  if (result.body === undefined) {
    res.writeHead(result.status)
    res.end()
    return
  }
  const text = JSON.stringify(result.body)
  res.writeHead(result.status, {'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text)})
  res.end(text)
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY_BYTES) throw new Error(`request body larger than ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return undefined
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new Error('request body is not valid JSON')
  }
}

/**
 * Writes run one after another, each taking a fresh snapshot when it starts, so the
 * file always ends with the newest state however many mutations overlap.
 */
function serialisedWriter(path: string | undefined, snapshot: () => string): () => Promise<void> {
  let chain: Promise<void> = Promise.resolve()
  return () => {
    if (path === undefined) return Promise.resolve()
    chain = chain.then(() => writeFileAtomic(path, snapshot()))
    return chain
  }
}

/** Small seeded PRNG (public-domain mulberry32) for reproducible fault injection. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export {DEFAULT_FIDELITY, type Fidelity}
