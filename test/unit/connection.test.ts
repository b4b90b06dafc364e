import {mkdtemp, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {apiKeyConfigured, normaliseHost, resolveConnection} from '../../src/palette/connection.js'
import {isLoopback} from '../../src/util/loopback.js'
import {PaletteKeysError} from '../../src/util/errors.js'

const KEY = 'env-key-value-000000001'

describe('resolveConnection', () => {
  it('defaults to Palette SaaS and reads PALETTE_API_KEY', async () => {
    const c = await resolveConnection({env: {PALETTE_API_KEY: KEY}})
    expect(c.host).toBe('https://api.spectrocloud.com')
    expect(c.apiKey.reveal()).toBe(KEY)
    expect(c.apiKeySource).toBe('PALETTE_API_KEY')
  })

  it('prefers the flag, then PALETTE_*, then SPECTROCLOUD_*', async () => {
    const env = {PALETTE_HOST: 'https://p.example', SPECTROCLOUD_HOST: 'https://s.example', SPECTROCLOUD_APIKEY: 'spectro-key-0001'}
    expect((await resolveConnection({env})).host).toBe('https://p.example')
    expect((await resolveConnection({env, host: 'https://flag.example/'})).host).toBe('https://flag.example')
    const fallback = await resolveConnection({env: {SPECTROCLOUD_HOST: 's.example', SPECTROCLOUD_APIKEY: 'spectro-key-0001'}})
    expect(fallback.host).toBe('https://s.example')
    expect(fallback.apiKeySource).toBe('SPECTROCLOUD_APIKEY')
    expect((await resolveConnection({env: {PALETTE_API_KEY: KEY, SPECTROCLOUD_APIKEY: 'other-key-0001'}})).apiKeySource).toBe('PALETTE_API_KEY')
  })

  it('reads --api-key-file (one line) before the environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pk-conn-'))
    const file = join(dir, 'key')
    await writeFile(file, 'file-key-value-0001\n')
    const c = await resolveConnection({apiKeyFile: file, env: {PALETTE_API_KEY: KEY}})
    expect(c.apiKey.reveal()).toBe('file-key-value-0001')
    await writeFile(file, 'two words\n')
    await expect(resolveConnection({apiKeyFile: file, env: {}})).rejects.toMatchObject({exitCode: 64, code: 'api-key-file'})
    await expect(resolveConnection({apiKeyFile: join(dir, 'missing'), env: {}})).rejects.toMatchObject({exitCode: 64})
  })

  it('refuses http:// to a non-loopback host (exit 64) unless --insecure-http', async () => {
    const env = {PALETTE_API_KEY: KEY}
    const e = await resolveConnection({host: 'http://palette.example.com', env}).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(PaletteKeysError)
    expect(e).toMatchObject({exitCode: 64, code: 'insecure-http'})
    expect((e as Error).message).not.toContain(KEY)
    expect((await resolveConnection({host: 'http://palette.example.com', env, insecureHttp: true})).host).toBe('http://palette.example.com')
    for (const host of ['http://127.0.0.1:8080', 'http://localhost:1', 'http://[::1]:9']) {
      expect((await resolveConnection({host, env})).host).toBe(host)
    }
  })

  it('fails with exit 64 when there is no key at all', async () => {
    await expect(resolveConnection({env: {}})).rejects.toMatchObject({exitCode: 64, code: 'no-api-key'})
  })

  it('rejects malformed hosts', () => {
    for (const bad of ['ftp://x', 'https://user:pw@x', 'https://x/?q=1', 'http://']) {
      expect(() => normaliseHost(bad), bad).toThrow(PaletteKeysError)
    }
  })

  it('knows loopback addresses', () => {
    expect(['localhost', '127.0.0.1', '127.8.9.1', '[::1]', 'a.localhost'].every(isLoopback)).toBe(true)
    expect(['10.0.0.1', 'example.com', '128.0.0.1', '::2', 'localhost.example.com'].some(isLoopback)).toBe(false)
  })
})

describe('apiKeyConfigured', () => {
  it('says whether resolveConnection has a key to read: a file, or a non-blank variable', () => {
    expect(apiKeyConfigured({env: {}})).toBe(false)
    expect(apiKeyConfigured({env: {PALETTE_API_KEY: '  '}})).toBe(false)
    expect(apiKeyConfigured({env: {PALETTE_API_KEY: 'k'}})).toBe(true)
    expect(apiKeyConfigured({env: {SPECTROCLOUD_APIKEY: 'k'}})).toBe(true)
    expect(apiKeyConfigured({apiKeyFile: 'key.txt', env: {}})).toBe(true)
  })
})

describe('host mistakes with a clear fix', () => {
  it('a host ending in /v1 is refused, naming the host without it', () => {
    for (const h of ['https://api.spectrocloud.com/v1', 'https://palette.example.com/v1/']) {
      expect(() => normaliseHost(h)).toThrow(/without \/v1/)
    }
    expect(normaliseHost('https://palette.example.com/api')).toBe('https://palette.example.com/api')
  })
})
