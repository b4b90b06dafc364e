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

/** Colour only on a terminal, and never with NO_COLOR (https://no-color.org) or TERM=dumb. */
export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb'
}
