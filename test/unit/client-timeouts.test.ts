import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {PaletteHttpClient} from '../../src/palette/http-client.js'
import {Secret} from '../../src/util/secret.js'

// A loopback server that accepts requests and never answers: the client must time out.
let server: Server
let url: string
let received = 0
beforeAll(async () => {
  server = createServer(() => {
    received++
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

describe('client timeouts', () => {
  it('a GET that times out is retried, then fails with the timeout code', async () => {
    received = 0
    const c = new PaletteHttpClient({host: url, apiKey: new Secret('timeout-key-0001'), timeoutMs: 150, retry: {maxRetries: 1, baseDelayMs: 1}})
    await expect(c.listApiKeys()).rejects.toMatchObject({status: undefined, paletteCode: 'UND_ERR_HEADERS_TIMEOUT', attempts: 2})
    expect(received).toBe(2)
    await c.close()
  })

  it('a POST that times out is not retried and is reported ambiguous', async () => {
    received = 0
    const c = new PaletteHttpClient({host: url, apiKey: new Secret('timeout-key-0001'), timeoutMs: 150})
    await expect(c.createApiKey({metadata: {name: 'x'}, spec: {expiry: '2099-01-01T00:00:00Z', userUid: 'u'}})).rejects.toMatchObject({
      ambiguous: true,
      attempts: 1,
    })
    expect(received).toBe(1)
    await c.close()
  })
})
