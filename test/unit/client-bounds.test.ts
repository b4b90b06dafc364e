import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {PaletteApiError} from '../../src/palette/errors.js'
import {PaletteHttpClient} from '../../src/palette/http-client.js'
import {Secret} from '../../src/util/secret.js'

/** Servers that answer too much, or too slowly to ever finish: the client must bound both. */
let server: Server | undefined
let requests = 0
afterEach(async () => {
  server?.closeAllConnections()
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  server = undefined
})

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  requests = 0
  server = createServer((req, res) => {
    requests++
    handler!(req, res)
  })
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`
}

const client = (host: string, o: {deadlineMs?: number; maxResponseBytes?: number}) =>
  new PaletteHttpClient({host, apiKey: new Secret('bounds-test-key-01'), rateLimit: {ratePerSecond: 0, burst: 1}, sleep: async () => undefined, ...o})

describe('response bounds', () => {
  it('an answer larger than the cap is refused with a clear error and not retried', async () => {
    const host = await serve((_req, res) => {
      res.writeHead(200, {'Content-Type': 'application/json'})
      const chunk = Buffer.alloc(64 * 1024, 0x20)
      let sent = 0
      const more = () => {
        while (sent < 64 && res.write(chunk)) sent++
        if (sent < 64) res.once('drain', more)
        else res.end()
      }
      more()
    })
    const c = client(host, {maxResponseBytes: 1024 * 1024})
    const error = await c.listApiKeys().catch((e: unknown) => e)
    await c.close()
    expect(error).toBeInstanceOf(PaletteApiError)
    expect((error as PaletteApiError).paletteCode).toBe('ResponseTooLarge')
    expect((error as PaletteApiError).hints.join(' ')).toMatch(/larger than palette-keys reads/)
    expect(requests).toBe(1)
  })

  it('an answer that trickles one byte at a time hits the whole-request deadline, and is not retried', async () => {
    const host = await serve((_req, res) => {
      res.writeHead(200, {'Content-Type': 'application/json'})
      const tick = setInterval(() => res.write(' '), 50)
      res.on('close', () => clearInterval(tick))
    })
    const c = client(host, {deadlineMs: 400})
    const started = Date.now()
    const error = await c.listApiKeys().catch((e: unknown) => e)
    await c.close()
    expect((error as PaletteApiError).paletteCode).toBe('RequestDeadline')
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(requests).toBe(1)
  })
})

describe('the command deadline', () => {
  it('past --deadline no request is sent, and the error says so (not retried, not ambiguous)', async () => {
    const host = await serve((_req, res) => {
      res.writeHead(200, {'Content-Type': 'application/json'})
      res.end('{"items":[]}')
    })
    const c = new PaletteHttpClient({host, apiKey: new Secret('bounds-test-key-01'), rateLimit: {ratePerSecond: 0, burst: 1}, sleep: async () => undefined, commandDeadline: Date.now() - 1})
    const list = await c.listApiKeys().catch((e: unknown) => e)
    const create = await c.createApiKey({metadata: {name: 'k'}, spec: {expiry: '2099-01-01T00:00:00Z', userUid: 'u'}}).catch((e: unknown) => e)
    await c.close()
    expect((list as PaletteApiError).paletteCode).toBe('CommandDeadline')
    expect((list as PaletteApiError).hints.join(' ')).toMatch(/--deadline/)
    expect((create as PaletteApiError).ambiguous).toBe(false)
    expect(requests).toBe(0)
  })
})
