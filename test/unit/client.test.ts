import {inspect} from 'node:util'
import {MockAgent} from 'undici'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {PaletteApiError} from '../../src/palette/errors.js'
import {PaletteHttpClient, parseRetryAfter, type TraceEvent} from '../../src/palette/http-client.js'
import {Secret} from '../../src/util/secret.js'
import {fakeTime} from '../support/fake-time.js'
import {expectRequestConforms, expectResponseConforms} from '../support/spec-check.js'

const HOST = 'https://palette.test'
const KEY = 'k3y-VALUE-that-must-never-leak-0001'

let agent: MockAgent
let time: ReturnType<typeof fakeTime>
let traces: TraceEvent[]

function client(extra: Partial<ConstructorParameters<typeof PaletteHttpClient>[0]> = {}) {
  return new PaletteHttpClient({
    host: HOST,
    apiKey: new Secret(KEY),
    dispatcher: agent,
    clock: time.clock,
    sleep: time.sleep,
    random: () => 0.5,
    trace: (e) => traces.push(e),
    ...extra,
  })
}

/** Replies `status`/`data` and records the request for assertions. */
interface Seen {
  method: string
  path: string
  headers: Record<string, string>
  body: unknown
}
const seen: Seen[] = []
function record(status: number, data?: unknown, headers?: Record<string, string>) {
  return (opts: {method: string; path: string; headers?: unknown; body?: unknown}) => {
    const h = Object.fromEntries(Object.entries((opts.headers ?? {}) as Record<string, string>).map(([k, v]) => [k.toLowerCase(), String(v)]))
    const body = typeof opts.body === 'string' ? JSON.parse(opts.body) : undefined
    seen.push({method: opts.method, path: opts.path, headers: h, body})
    return {statusCode: status, data: data === undefined ? '' : JSON.stringify(data), responseOptions: {headers: {'content-type': 'application/json', ...headers}}}
  }
}

beforeEach(() => {
  agent = new MockAgent()
  agent.disableNetConnect()
  time = fakeTime()
  traces = []
  seen.length = 0
})
afterEach(async () => {
  agent.assertNoPendingInterceptors()
  await agent.close()
})

const SAMPLE_KEY = {
  metadata: {annotations: {description: ''}, creationTimestamp: '2024-09-16T14:46:28.677Z', name: 'k', uid: '66e844c44bab2337f20c7471'},
  spec: {expiry: '2024-09-23T14:46:28.164Z', user: {firstName: 'a', lastName: 'b', uid: 'u'}},
  status: {isActive: true},
}

describe('requests', () => {
  it('sends the ApiKey header, JSON bodies valid against the spec, and never ProjectUid', async () => {
    const pool = agent.get(HOST)
    pool.intercept({path: '/v1/apiKeys', method: 'POST'}).reply(record(201, {apiKey: 'new-value-123456', uid: 'abcabcabcabcabcabcabcabc'}))
    pool.intercept({path: '/v1/apiKeys/abc', method: 'PUT'}).reply(record(204))
    pool.intercept({path: '/v1/apiKeys/abc/state', method: 'PUT'}).reply(record(204))
    pool.intercept({path: '/v1/apiKeys/abc', method: 'DELETE'}).reply(record(204))
    pool.intercept({path: '/v1/apiKeys', method: 'GET'}).reply(record(200, {items: [SAMPLE_KEY]}))
    pool.intercept({path: '/v1/apiKeys/abc', method: 'GET'}).reply(record(200, SAMPLE_KEY))
    pool.intercept({path: '/v1/users/info', method: 'GET'}).reply(record(200, {orgName: 'o', tenantUid: 't', userUid: 'u'}))
    pool.intercept({path: '/v1/users/meta', method: 'GET'}).reply(record(200, {items: [{emailId: 'a@b.c', name: 'A', uid: 'u'}]}))
    pool.intercept({path: '/v1/users/u/roles', method: 'GET'}).reply(record(200, {roles: [{name: 'Tenant Admin', uid: 'r'}], inheritedRoles: []}))

    const c = client()
    const created = await c.createApiKey({
      metadata: {name: 'ci', annotations: {description: 'd'}},
      spec: {expiry: '2027-01-01T00:00:00.000Z', userUid: 'u'},
    })
    await c.updateApiKey('abc', {metadata: {name: 'ci2', annotations: {description: 'e'}}, spec: {expiry: '2027-02-01T00:00:00.000Z'}})
    await c.setApiKeyActive('abc', false)
    await c.deleteApiKey('abc')
    expect(await c.listApiKeys()).toEqual([SAMPLE_KEY])
    expect(await c.getApiKey('abc')).toEqual(SAMPLE_KEY)
    expect(await c.whoAmI()).toEqual({orgName: 'o', tenantUid: 't', userUid: 'u'})
    expect(await c.listUsersMeta()).toEqual([{emailId: 'a@b.c', name: 'A', uid: 'u'}])
    expect((await c.getUserRoles('u')).roles?.[0]?.name).toBe('Tenant Admin')

    expect(created.uid).toBe('abcabcabcabcabcabcabcabc')
    expect(created.apiKey).toBeInstanceOf(Secret)
    expect(created.apiKey.reveal()).toBe('new-value-123456')
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      'POST /v1/apiKeys',
      'PUT /v1/apiKeys/abc',
      'PUT /v1/apiKeys/abc/state',
      'DELETE /v1/apiKeys/abc',
      'GET /v1/apiKeys',
      'GET /v1/apiKeys/abc',
      'GET /v1/users/info',
      'GET /v1/users/meta',
      'GET /v1/users/u/roles',
    ])
    for (const s of seen) {
      expect(s.headers.apikey).toBe(KEY)
      expect(s.headers.projectuid).toBeUndefined()
      expect(s.headers.authorization).toBeUndefined()
      expectRequestConforms(s.method, s.path, s.body)
      if (s.body !== undefined) expect(s.headers['content-type']).toBe('application/json')
    }
    expect(seen[2]!.body).toEqual({isActive: false})
  })

  it('the mocked responses it reads are the spec\'s shapes (guards the fixtures above)', () => {
    expectResponseConforms('GET', '/v1/apiKeys', 200, JSON.stringify({items: [SAMPLE_KEY]}))
    expectResponseConforms('POST', '/v1/apiKeys', 201, JSON.stringify({apiKey: 'v', uid: 'u'}))
  })

  it('encodes uids in paths', async () => {
    agent.get(HOST).intercept({path: '/v1/apiKeys/a%2Fb', method: 'GET'}).reply(record(200, SAMPLE_KEY))
    await client().getApiKey('a/b')
    expect(seen[0]!.path).toBe('/v1/apiKeys/a%2Fb')
  })
})

describe('errors', () => {
  it('maps a Palette error body to PaletteApiError with status, method, path, code and message', async () => {
    agent.get(HOST).intercept({path: '/v1/apiKeys/nope', method: 'GET'}).reply(record(404, {code: 'ResourceNotFound', message: 'API key nope not found'}))
    const error = await client().getApiKey('nope').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PaletteApiError)
    const e = error as PaletteApiError
    expect([e.status, e.method, e.path, e.paletteCode, e.paletteMessage]).toEqual([404, 'GET', '/v1/apiKeys/nope', 'ResourceNotFound', 'API key nope not found'])
    expect(e.ambiguous).toBe(false)
    expect(e.exitCode).toBe(1)
    expect(e.message).toContain('GET /v1/apiKeys/nope')
    expect(e.message).toContain('ResourceNotFound')
  })

  it('never carries the API key, even when Palette echoes it in the message (message, inspect, JSON, stack, traces)', async () => {
    agent
      .get(HOST)
      .intercept({path: '/v1/users/info', method: 'GET'})
      .reply(record(401, {code: 'ResourceNotFound', message: `Invalid apikey ${KEY} for tenant`}))
    const e = (await client().whoAmI().catch((x: unknown) => x)) as PaletteApiError
    expect(e.status).toBe(401)
    expect(e.paletteMessage).toContain('(redacted)')
    const everything = [e.message, e.stack, inspect(e, {depth: 10}), JSON.stringify(e), String(e), JSON.stringify(traces), e.hints.join(' ')].join('\n')
    expect(everything).not.toContain(KEY)
  })

  it('a Secret renders as (sensitive) in strings, JSON and inspect', () => {
    const s = new Secret(KEY)
    expect(`${s}`).toBe('(sensitive)')
    expect(JSON.stringify({s})).toBe('{"s":"(sensitive)"}')
    expect(inspect({s})).not.toContain(KEY)
  })

  it('rejects a non-JSON success body and a list without items', async () => {
    const pool = agent.get(HOST)
    pool.intercept({path: '/v1/users/info', method: 'GET'}).reply(200, '<html>')
    pool.intercept({path: '/v1/apiKeys', method: 'GET'}).reply(record(200, {nope: []}))
    await expect(client().whoAmI()).rejects.toMatchObject({paletteCode: 'InvalidResponse'})
    await expect(client().listApiKeys()).rejects.toMatchObject({paletteCode: 'InvalidResponse'})
  })
})

describe('retries', () => {
  it('retries a GET on 429 and 503 with exponential backoff and jitter, then succeeds', async () => {
    const pool = agent.get(HOST)
    pool.intercept({path: '/v1/apiKeys', method: 'GET'}).reply(record(429, {code: 'TooManyRequests', message: 'slow down'}))
    pool.intercept({path: '/v1/apiKeys', method: 'GET'}).reply(record(503, {code: 'ServiceUnavailable', message: 'x'}))
    pool.intercept({path: '/v1/apiKeys', method: 'GET'}).reply(record(200, {items: []}))
    expect(await client().listApiKeys()).toEqual([])
    expect(seen).toHaveLength(3)
    // random() = 0.5 → equal jitter gives 3/4 of the ceiling: 500 ms then 1000 ms ceilings.
    expect(time.sleeps).toEqual([375, 750])
    expect(traces.map((t) => [t.attempt, t.status])).toEqual([[1, 429], [2, 503], [3, 200]])
  })

  it('honours Retry-After (seconds) instead of its own backoff', async () => {
    const pool = agent.get(HOST)
    pool.intercept({path: '/v1/users/meta', method: 'GET'}).reply(record(429, {code: 'TooManyRequests'}, {'retry-after': '3'}))
    pool.intercept({path: '/v1/users/meta', method: 'GET'}).reply(record(200, {items: []}))
    await client().listUsersMeta()
    expect(time.sleeps).toEqual([3000])
  })

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('2', 0)).toBe(2000)
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:05 GMT', 1000)).toBe(4000)
    expect(parseRetryAfter('soon', 0)).toBeUndefined()
    expect(parseRetryAfter(undefined, 0)).toBeUndefined()
  })

  it('gives up after maxRetries and reports the attempts', async () => {
    agent.get(HOST).intercept({path: '/v1/apiKeys', method: 'GET'}).reply(record(503, {code: 'ServiceUnavailable', message: 'down'})).times(3)
    const e = (await client({retry: {maxRetries: 2}}).listApiKeys().catch((x: unknown) => x)) as PaletteApiError
    expect(e.status).toBe(503)
    expect(e.attempts).toBe(3)
    expect(seen).toHaveLength(3)
  })

  it('retries a GET after a connection error', async () => {
    const pool = agent.get(HOST)
    pool.intercept({path: '/v1/apiKeys', method: 'GET'}).replyWithError(Object.assign(new Error('socket hang up'), {code: 'ECONNRESET'}))
    pool.intercept({path: '/v1/apiKeys', method: 'GET'}).reply(record(200, {items: []}))
    expect(await client().listApiKeys()).toEqual([])
    expect(traces.map((t) => t.error ?? t.status)).toEqual(['ECONNRESET', 200])
  })

  it('does not retry 400/401/403/404 or 500', async () => {
    const pool = agent.get(HOST)
    for (const status of [400, 401, 403, 404, 500]) {
      pool.intercept({path: '/v1/apiKeys', method: 'GET'}).reply(record(status, {code: 'X', message: 'm'}))
      await expect(client().listApiKeys()).rejects.toMatchObject({status, attempts: 1})
    }
    expect(time.sleeps).toEqual([])
  })

  it('never retries a POST: 503 → one attempt, ambiguous (the key may exist)', async () => {
    agent.get(HOST).intercept({path: '/v1/apiKeys', method: 'POST'}).reply(record(503, {code: 'ServiceUnavailable', message: 'x'}))
    const e = (await client()
      .createApiKey({metadata: {name: 'x'}, spec: {expiry: '2027-01-01T00:00:00Z', userUid: 'u'}})
      .catch((x: unknown) => x)) as PaletteApiError
    expect(seen).toHaveLength(1)
    expect(e.ambiguous).toBe(true)
    expect(time.sleeps).toEqual([])
  })

  it('never retries a POST: 429 → one attempt, not ambiguous (refused before any effect)', async () => {
    agent.get(HOST).intercept({path: '/v1/apiKeys', method: 'POST'}).reply(record(429, {code: 'TooManyRequests', message: 'x'}))
    const e = (await client()
      .createApiKey({metadata: {name: 'x'}, spec: {expiry: '2027-01-01T00:00:00Z', userUid: 'u'}})
      .catch((x: unknown) => x)) as PaletteApiError
    expect(seen).toHaveLength(1)
    expect(e.ambiguous).toBe(false)
  })

  it('never retries a POST: connection lost after sending → ambiguous; refused connection → not', async () => {
    const pool = agent.get(HOST)
    pool.intercept({path: '/v1/apiKeys', method: 'POST'}).replyWithError(Object.assign(new Error('other side closed'), {code: 'UND_ERR_SOCKET'}))
    pool.intercept({path: '/v1/apiKeys', method: 'POST'}).replyWithError(Object.assign(new Error('refused'), {code: 'ECONNREFUSED'}))
    const entity = {metadata: {name: 'x'}, spec: {expiry: '2027-01-01T00:00:00Z', userUid: 'u'}}
    await expect(client().createApiKey(entity)).rejects.toMatchObject({ambiguous: true, paletteCode: 'UND_ERR_SOCKET', attempts: 1})
    await expect(client().createApiKey(entity)).rejects.toMatchObject({ambiguous: false, paletteCode: 'ECONNREFUSED', attempts: 1})
  })

  it('reports a 404 to a DELETE, even one retried after an ambiguous failure: the caller confirms with a list (a 404 may be a refused credential)', async () => {
    const pool = agent.get(HOST)
    pool.intercept({path: '/v1/apiKeys/abc', method: 'DELETE'}).replyWithError(Object.assign(new Error('reset'), {code: 'ECONNRESET'}))
    pool.intercept({path: '/v1/apiKeys/abc', method: 'DELETE'}).reply(record(404, {code: 'ResourceNotFound', message: 'gone'}))
    await expect(client().deleteApiKey('abc')).rejects.toMatchObject({status: 404, attempts: 2, credentialRefused: false})
  })

  it('reads 401 anywhere, and 403 or 404 ResourceNotFound where any credential may call, as a refused credential', async () => {
    const pool = agent.get(HOST)
    const cases: Array<[string, string, number, string, boolean]> = [
      ['GET', '/v1/users/info', 404, 'ResourceNotFound', true],
      ['GET', '/v1/apiKeys', 403, 'OperationForbidden', true],
      ['GET', '/v1/users/info', 401, 'Unauthorized', true],
      ['GET', '/v1/apiKeys/abc', 404, 'ResourceNotFound', false],
      ['GET', '/v1/apiKeys/abc', 401, 'Unauthorized', true],
    ]
    for (const [method, path, status, code, credential] of cases) {
      pool.intercept({path, method}).reply(record(status, {code, message: 'no'}))
      const call = path === '/v1/users/info' ? client().whoAmI() : path === '/v1/apiKeys' ? client().listApiKeys() : client().getApiKey('abc')
      const e = await call.then(() => undefined, (error: unknown) => error as PaletteApiError)
      expect([path, status, e?.credentialRefused, e?.hints.some((h) => h.includes('API key was refused'))]).toEqual([path, status, credential, credential])
    }
  })
})

describe('rate limiter', () => {
  it('paces requests per prefix at 10/s after a burst of 5 (counted on a fake clock)', async () => {
    const pool = agent.get(HOST)
    pool.intercept({path: '/v1/apiKeys', method: 'GET'}).reply(record(200, {items: []})).times(25)
    pool.intercept({path: '/v1/users/info', method: 'GET'}).reply(record(200, {userUid: 'u'})).times(5)
    const c = client()
    const start = time.clock.now()
    for (let i = 0; i < 25; i++) await c.listApiKeys()
    // 5 free, then 20 paced at 100 ms each.
    expect(time.sleeps.filter((ms) => ms > 0)).toHaveLength(20)
    expect(time.clock.now() - start).toBe(2000)
    // /v1/users has its own bucket: its first 5 requests wait for nothing.
    const before = time.sleeps.length
    for (let i = 0; i < 5; i++) await c.whoAmI()
    expect(time.sleeps.length).toBe(before)
  })

  it('paces concurrent callers first-come first-served', async () => {
    agent.get(HOST).intercept({path: '/v1/apiKeys', method: 'GET'}).reply(record(200, {items: []})).times(8)
    time = fakeTime({advance: false})
    const c = client({rateLimit: {ratePerSecond: 2, burst: 2}})
    await Promise.all(Array.from({length: 8}, () => c.listApiKeys()))
    // 2 free, then reservations 500, 1000, 1500, 2000, 2500, 3000 ms out.
    expect([...time.sleeps].sort((a, b) => a - b)).toEqual([500, 1000, 1500, 2000, 2500, 3000])
  })
})
