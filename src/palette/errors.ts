import {isCredentialFailure} from '../contract/palette.js'
import {ExitCode} from '../util/exit-codes.js'
import {PaletteKeysError} from '../util/errors.js'

export interface PaletteApiErrorDetails {
  method: string
  path: string
  /** HTTP status; undefined when no response came (connection error, timeout). */
  status?: number
  /** Palette's `code` (e.g. ResourceNotFound), or the network error code (e.g. ECONNRESET). */
  paletteCode?: string
  /** Palette's `message`, already redacted. */
  paletteMessage?: string
  /**
   * True when the request may have taken effect although no success came back (a
   * mutation that timed out or lost its connection after being sent, or a 5xx to a
   * POST). The caller must re-read the state to know.
   */
  ambiguous: boolean
  /** How many times the request was sent. */
  attempts: number
}

/**
 * A failed Palette API call. Built only from redacted parts: the tool's API key is never
 * in the message, the details or the cause chain.
 */
export class PaletteApiError extends PaletteKeysError {
  readonly method: string
  readonly path: string
  readonly status: number | undefined
  readonly paletteCode: string | undefined
  readonly paletteMessage: string | undefined
  readonly ambiguous: boolean
  readonly attempts: number
  /** The server refused the credential (401; or 403 or 404 where any credential may call). */
  readonly credentialRefused: boolean

  constructor(d: PaletteApiErrorDetails) {
    const credential = isCredentialFailure(d.method, d.path, d.status, d.paletteCode)
    const what = d.status === undefined ? 'no response' : `HTTP ${d.status}`
    const code = d.paletteCode ? ` ${d.paletteCode}` : ''
    const msg = d.paletteMessage ? `: ${d.paletteMessage}` : ''
    const tries = d.attempts > 1 ? ` (after ${d.attempts} attempts)` : ''
    super(`Palette API ${d.method} ${d.path} failed, ${what}${code}${msg}${tries}`, {
      code: 'palette-api',
      exitCode: ExitCode.Error,
      hints: credential ? [CREDENTIAL_HINT] : hintsFor(d.status, d.paletteCode),
    })
    this.credentialRefused = credential
    this.name = 'PaletteApiError'
    this.method = d.method
    this.path = d.path
    this.status = d.status
    this.paletteCode = d.paletteCode
    this.paletteMessage = d.paletteMessage
    this.ambiguous = d.ambiguous
    this.attempts = d.attempts
  }
}

const CREDENTIAL_HINT = 'The API key was refused: check PALETTE_API_KEY (or --api-key-file); it may be revoked or expired.'

function hintsFor(status: number | undefined, code: string | undefined): string[] {
  switch (status) {
    case undefined:
      if (code === 'CommandDeadline') return ['The command ran past --deadline (default 60 minutes) and sent nothing more; raise it for a large tenant, then run again (apply converges).']
      if (code === 'ResponseTooLarge') return ['Palette\'s answer was larger than palette-keys reads (128 MiB): check that --host is a Palette API endpoint.']
      if (code === 'RequestDeadline') return ['The request did not finish within --request-timeout (default 120 s); raise it for a slow link, or check the host.']
      if (code === 'ENOTFOUND') return ['The host name does not resolve: check --host / PALETTE_HOST (behind a proxy, set HTTPS_PROXY).']
      if (code && /CERT|SELF_SIGNED|UNABLE_TO/.test(code)) return ['The server\'s TLS certificate is not trusted here: for a self-hosted Palette with its own CA, set NODE_EXTRA_CA_CERTS=/path/to/ca.pem.']
      if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO') return ['The server does not speak TLS on that port: if it is a plain http:// server on loopback, write http://.']
      return ['Check the host (--host / PALETTE_HOST) and the network (HTTPS_PROXY, NO_PROXY behind a proxy), then run again.']
    case 403:
      return ['The caller may only manage their own keys; a Tenant Admin key can manage every user\'s keys.']
    case 429:
      return ['Palette rate-limited the requests; lower the rate (--rate-limit) or run again later.']
    default:
      return []
  }
}
