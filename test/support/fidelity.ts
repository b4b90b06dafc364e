import type {EmulatorOptions, Fidelity} from '../../src/emulator/server.js'

/**
 * `npm run test:fidelity` runs the apply suites once per emulator mode: the mode comes in
 * PALETTE_KEYS_TEST_FIDELITY as emulator flags without dashes, e.g. `create-uid=user` or
 * `update-annotations=replace,key-limit=5`. Every emulator a suite starts (a process or in
 * this process) then plays that reading of the spec. Unset: the emulator's defaults.
 */
export function fidelityFromEnv(env: NodeJS.ProcessEnv = process.env): Array<[string, string]> {
  const raw = env.PALETTE_KEYS_TEST_FIDELITY?.trim()
  if (!raw) return []
  return raw.split(',').map((pair) => {
    const [name, value] = pair.split('=').map((s) => s.trim())
    if (!name || value === undefined || !['create-uid', 'update-annotations', 'auth-failure', 'key-limit', 'list-keys-with', 'list-limit', 'unique-key-names'].includes(name)) throw new Error(`PALETTE_KEYS_TEST_FIDELITY: cannot read "${pair}"`)
    return [name, value]
  })
}

/** The mode as emulator process flags (added after the suite's own: a suite that sets one itself wins). */
export function fidelityFlags(args: string[]): string[] {
  return fidelityFromEnv().flatMap(([name, value]) => (args.includes(`--${name}`) ? [] : [`--${name}`, value]))
}

/** The mode as in-process emulator options (a suite's own options win). */
export function fidelityOptions(options: Partial<EmulatorOptions>): Partial<EmulatorOptions> {
  const fidelity: Partial<Fidelity> = {}
  let keyLimit: number | undefined
  for (const [name, value] of fidelityFromEnv()) {
    if (name === 'create-uid') fidelity.createUid = value as Fidelity['createUid']
    else if (name === 'update-annotations') fidelity.updateAnnotations = value as Fidelity['updateAnnotations']
    else if (name === 'auth-failure') fidelity.authFailure = Number(value) as Fidelity['authFailure']
    else if (name === 'list-keys-with') fidelity.listKeysWith = value
    else if (name === 'list-limit') fidelity.listLimit = Number(value)
    else if (name === 'unique-key-names') fidelity.uniqueKeyNames = value as Fidelity['uniqueKeyNames']
    else if (name === 'key-limit') keyLimit = Number(value)
    else throw new Error(`PALETTE_KEYS_TEST_FIDELITY: ${name} is not played in this process yet`)
  }
  return {...(keyLimit === undefined ? {} : {keyLimit}), ...options, fidelity: {...fidelity, ...options.fidelity}}
}

/** The status the emulator answers a refused key with in this mode (401 unless `auth-failure` says otherwise). */
export function refusedKeyStatus(): number {
  const mode = fidelityFromEnv().find(([name]) => name === 'auth-failure')
  return mode ? Number(mode[1]) : 401
}

/** Whether this mode's emulator keeps key names unique (--unique-key-names), and within what. */
export function uniqueKeyNames(): 'none' | 'user' | 'tenant' {
  const mode = fidelityFromEnv().find(([name]) => name === 'unique-key-names')
  return (mode?.[1] as 'user' | 'tenant' | undefined) ?? 'none'
}

/**
 * Tests whose setup this mode's reading forbids, skipped in that mode only (`npm run
 * test:fidelity` counts them as not run): twins, two keys of one user under one name, cannot
 * exist where names are unique; two users' keys of one name cannot where they are unique in the
 * whole tenant.
 */
export const TWINS_IMPOSSIBLE = uniqueKeyNames() !== 'none'
export const SHARED_NAMES_IMPOSSIBLE = uniqueKeyNames() === 'tenant'
/** Under `list-limit`, a tenant past that many keys cannot be planned whole (creates are blocked as key-list-cut, by design). */
export const LIST_CUT_AT = Number(fidelityFromEnv().find(([name]) => name === 'list-limit')?.[1] ?? 0)
