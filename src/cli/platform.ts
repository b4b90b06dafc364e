import {UsageError} from '../util/errors.js'

/**
 * Sealing relies on POSIX file modes (0600 files, 0700 folders, the world-writable check) and
 * on fsync of a folder, which Windows answers with EPERM: every create there would be refused
 * or rolled back. So `apply` refuses Windows before any request; the read-only commands run.
 */
export function applyPlatformProblem(platform: NodeJS.Platform): UsageError | undefined {
  if (platform !== 'win32') return undefined
  return new UsageError('palette-keys apply is not supported on Windows: sealing needs POSIX file modes and folder fsync. Nothing was changed.', ['Run apply on Linux or macOS (a CI runner, WSL); validate, plan, show, audit, export and unseal work here.'], 'unsupported-platform')
}
