import {ExitCode} from './exit-codes.js'

/** Where in a file a problem is, and how to fix it. Tests assert on `code` and position, never on wording. */
export interface Diagnostic {
  file: string
  line: number
  col: number
  /** JSON path of the offending value, e.g. `users[0].email`; `''` for the whole document. */
  path: string
  code: string
  message: string
  hint?: string
}

/**
 * The one error type the CLI turns into output and an exit code. Every failure the user
 * can act on is one of these (or a subclass); anything else is a bug and exits 1.
 */
export class PaletteKeysError extends Error {
  readonly code: string
  readonly exitCode: ExitCode
  readonly hints: string[]
  readonly diagnostics: Diagnostic[]

  constructor(
    message: string,
    options: {code: string; exitCode?: ExitCode; hints?: string[]; diagnostics?: Diagnostic[]; cause?: unknown},
  ) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'PaletteKeysError'
    this.code = options.code
    this.exitCode = options.exitCode ?? ExitCode.Error
    this.hints = options.hints ?? []
    this.diagnostics = options.diagnostics ?? []
  }
}

export class UsageError extends PaletteKeysError {
  constructor(message: string, hints: string[] = [], code = 'usage') {
    super(message, {code, exitCode: ExitCode.Usage, hints})
    this.name = 'UsageError'
  }
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.file}:${d.line}:${d.col}`
  const at = d.path === '' ? '' : ` (at ${d.path})`
  const hint = d.hint ? `\n    hint: ${d.hint}` : ''
  return `${where}: ${d.code}: ${d.message}${at}${hint}`
}
