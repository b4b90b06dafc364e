import {lookup} from 'node:dns/promises'
import {isIP} from 'node:net'
import {isLoopback} from '../util/loopback.js'
import {UsageError} from '../util/errors.js'
import {type InputFileError, readInputFile} from '../util/input-file.js'
import {readableByOthers} from '../util/output-file.js'
import {registerSecret} from '../util/scrub.js'
import {Secret} from '../util/secret.js'

export const DEFAULT_HOST = 'https://api.spectrocloud.com'

export interface ConnectionInput {
  /** --host */
  host?: string
  /** --api-key-file */
  apiKeyFile?: string
  /** --insecure-http */
  insecureHttp?: boolean
  env?: NodeJS.ProcessEnv
}

export interface Connection {
  /** Normalised base URL without a trailing slash. */
  host: string
  apiKey: Secret
  /** Where the key came from, for messages (never the key itself). */
  apiKeySource: string
}

/**
 * Host and API key from flags, then PALETTE_*, then SPECTROCLOUD_* (as the official
 * Terraform provider reads them). Plain http is refused unless the host is loopback or
 * --insecure-http is given: the key travels in a header.
 */
export async function resolveConnection(input: ConnectionInput): Promise<Connection> {
  const env = input.env ?? process.env
  // An empty variable counts as unset (CI systems often define them empty).
  const host = normaliseHost(input.host ?? (env.PALETTE_HOST?.trim() || env.SPECTROCLOUD_HOST?.trim() || DEFAULT_HOST))
  const url = new URL(host)
  if (url.protocol === 'http:' && !input.insecureHttp && !(isLoopback(url.hostname) && (await resolvesToLoopback(url.hostname)))) {
    throw new UsageError(`Refusing plain http:// to ${url.host}: the API key would cross the network unencrypted.`, [
      'Use https://, or pass --insecure-http if you really mean it.',
    ], 'insecure-http')
  }
  const {apiKey, source} = await readApiKey(input, env)
  return {host, apiKey, apiKeySource: source}
}

/** Where the API key may come from in the environment, first match wins. */
const API_KEY_ENV = ['PALETTE_API_KEY', 'SPECTROCLOUD_APIKEY'] as const

/**
 * Tells the scrubber every credential the environment holds, before anything else runs: a
 * usage error quotes argv (`--format $PALETTE_API_KEY`, the key typed as the command), and
 * argv is parsed long before the key is read for a connection.
 */
export function registerEnvironmentSecrets(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of API_KEY_ENV) {
    const value = env[name]?.trim()
    if (value) registerSecret(value)
  }
}

/** Whether resolveConnection would find an API key to read (without reading it). */
export function apiKeyConfigured(input: Pick<ConnectionInput, 'apiKeyFile' | 'env'>): boolean {
  const env = input.env ?? process.env
  return input.apiKeyFile !== undefined || API_KEY_ENV.some((name) => Boolean(env[name]?.trim()))
}

async function readApiKey(input: ConnectionInput, env: NodeJS.ProcessEnv): Promise<{apiKey: Secret; source: string}> {
  if (input.apiKeyFile !== undefined) {
    let text: string
    try {
      text = await readInputFile(input.apiKeyFile, 64 * 1024)
    } catch (error) {
      const reason = (error as InputFileError).reason
      throw new UsageError(`Cannot read --api-key-file ${input.apiKeyFile} (${reason}).`, [], 'api-key-file')
    }
    const value = text.trim()
    if (value === '' || /\s/.test(value)) {
      throw new UsageError(`--api-key-file ${input.apiKeyFile} must hold exactly one API key on one line.`, [], 'api-key-file')
    }
    const exposed = await readableByOthers(input.apiKeyFile)
    if (exposed) process.stderr.write(`Warning: ${exposed}\n`)
    return {apiKey: new Secret(value), source: `--api-key-file ${input.apiKeyFile}`}
  }
  for (const name of API_KEY_ENV) {
    const value = env[name]?.trim()
    if (value) return {apiKey: new Secret(value), source: name}
  }
  throw new UsageError('No Palette API key: set PALETTE_API_KEY (or SPECTROCLOUD_APIKEY), or pass --api-key-file FILE.', [], 'no-api-key')
}

export function normaliseHost(raw: string): string {
  const trimmed = raw.trim()
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    throw new UsageError(`Invalid host "${raw}": expected a URL such as https://api.spectrocloud.com.`, [], 'invalid-host')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`Invalid host "${raw}": only https:// (or http:// to loopback) is supported.`, [], 'invalid-host')
  }
  // The client adds /v1/... itself: a host ending in /v1 would ask for /v1/v1/apiKeys (404 on every call).
  if (/\/v1\/?$/i.test(url.pathname)) {
    throw new UsageError(`Invalid host "${raw}": give the host without /v1 (palette-keys adds the API paths itself).`, [`--host ${url.origin}${url.pathname.replace(/\/v1\/?$/i, '')}`], 'invalid-host')
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new UsageError(`Invalid host "${raw}": give only scheme, host, port and an optional path.`, [], 'invalid-host')
  }
  return url.toString().replace(/\/+$/, '')
}

/**
 * A loopback *name* (`localhost`, `*.localhost`) is looked up, and every address it gives must
 * be loopback too: /etc/hosts or a resolver can point such a name anywhere.
 */
async function resolvesToLoopback(hostname: string): Promise<boolean> {
  const h = hostname.replace(/^\[|\]$/g, '')
  if (isIP(h) !== 0) return true
  try {
    const addresses = await lookup(h, {all: true})
    return addresses.length > 0 && addresses.every((a) => isLoopback(a.address))
  } catch {
    return false
  }
}

