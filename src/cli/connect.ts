import {resolveConnection} from '../palette/connection.js'
import {PaletteHttpClient} from '../palette/http-client.js'
import {PALETTE_RATE_LIMIT} from '../util/rate-limit.js'
import {registerSecret} from '../util/scrub.js'

export interface ConnectionFlagValues {
  host?: string
  'api-key-file'?: string
  'insecure-http': boolean
  trace: boolean
  'rate-limit': number
  'request-timeout'?: number
  deadline?: number
}

/** When this process started: the command deadline counts from here. */
const COMMAND_STARTED = Date.now()

/** A client from the connection flags and environment; `--trace` lines go to stderr. The key is registered with the scrubber. */
export async function connect(flags: ConnectionFlagValues): Promise<{client: PaletteHttpClient; host: string}> {
  const connection = await resolveConnection({host: flags.host, apiKeyFile: flags['api-key-file'], insecureHttp: flags['insecure-http']})
  // No output of this process may show it from here on (util/scrub.ts).
  registerSecret(connection.apiKey.reveal())
  const client = new PaletteHttpClient({
    host: connection.host,
    apiKey: connection.apiKey,
    rateLimit: {ratePerSecond: flags['rate-limit'], burst: PALETTE_RATE_LIMIT.burst},
    deadlineMs: (flags['request-timeout'] ?? 120) * 1000,
    commandDeadline: COMMAND_STARTED + (flags.deadline ?? 60) * 60_000,
    trace: flags.trace
      ? (e) => process.stderr.write(`trace: ${e.method} ${e.path} -> ${e.status ?? e.error} (${e.ms} ms${e.attempt > 1 ? `, attempt ${e.attempt}` : ''})\n`)
      : undefined,
  })
  return {client, host: connection.host}
}

/**
 * Colour on a terminal, unless NO_COLOR (https://no-color.org) or TERM=dumb. FORCE_COLOR decides
 * first, as in Node: 0 or false turns colour off, any other non-empty value turns it on, also in a
 * pipe or a CI log (https://force-color.org).
 */
export function useColor(stream: {isTTY?: boolean} = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR
  if (force !== undefined && force !== '') return force !== '0' && force.toLowerCase() !== 'false'
  return Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb'
}
