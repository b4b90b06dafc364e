import {type ChildProcessWithoutNullStreams, spawn} from 'node:child_process'
import {once} from 'node:events'
import {readFileSync} from 'node:fs'
import {chmod, mkdir, writeFile} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'
import {parseSeed} from '../../src/emulator/seed.js'
import {fidelityFlags} from './fidelity.js'
import {markInput, recordOutput, registerSeed} from './leaks.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

/**
 * A folder (made under `work`) holding a `palette-keys` that runs this checkout's CLI: put it
 * first on PATH to run CI steps as written (the workflows install the published package).
 */
export async function cliShim(work: string): Promise<string> {
  const bin = join(work, 'bin')
  await mkdir(bin)
  await writeFile(join(bin, 'palette-keys'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`)
  await chmod(join(bin, 'palette-keys'), 0o755)
  return bin
}

/**
 * Runs a CI step's shell as the runners do (`bash -e -o pipefail`), with `shim` first on PATH;
 * stdout and stderr together, recorded for the leak scan under `label`.
 */
export function runShell(script: string, o: {cwd: string; env: Record<string, string>; shim: string; label: string}): Promise<{code: number | null; out: string}> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['--noprofile', '--norc', '-e', '-o', 'pipefail', '-c', script], {cwd: o.cwd, env: {...withoutForceColor(process.env), ...o.env, PATH: `${o.shim}:${process.env.PATH}`}})
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('close', (code) => {
      recordOutput(o.label, out)
      resolve({code, out})
    })
  })
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

export function withoutForceColor(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const {FORCE_COLOR: _, ...rest} = env
  return rest
}

/** Runs the built CLI (bin/run.js → dist/) as a real process. */
export async function runCli(args: string[], options: {env?: NodeJS.ProcessEnv; cwd?: string; input?: string} = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    // The lease's settle time is a wait for other applies; tests that race applies set it themselves.
    // FORCE_COLOR (a test runner may set it) would colour every output: a test asks for it.
    env: {...withoutForceColor(process.env), NO_COLOR: '1', PALETTE_KEYS_LEASE_SETTLE_MS: '0', ...options.env},
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  })
  if (options.input !== undefined) child.stdin!.end(options.input)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const [code] = (await once(child, 'close')) as [number | null]
  // For the suite-wide leak scan. A successful unseal prints values on purpose: its stdout
  // is the one output left out.
  const label = `cli ${args.join(' ')}`.slice(0, 200)
  if (!(args[0] === 'unseal' && code === 0)) recordOutput(`${label} (stdout)`, stdout)
  recordOutput(`${label} (stderr)`, stderr)
  return {code, stdout, stderr}
}

export interface EmulatorProcess {
  url: string
  child: ChildProcessWithoutNullStreams
  stderr(): string
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>
}

/** Starts `palette-keys emulator` and reads its URL from the first stdout line. */
export async function startEmulatorProcess(args: string[]): Promise<EmulatorProcess> {
  const seedAt = args.indexOf('--seed')
  if (seedAt >= 0) registerSeedFile(args[seedAt + 1]!)
  const child = spawn(process.execPath, [BIN, 'emulator', '--port', '0', ...args, ...fidelityFlags(args)], {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}})
  let stderr = ''
  let stdout = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = once(child, 'close')
  void exited.then(() => {
    recordOutput('emulator process (stderr)', stderr)
    recordOutput('emulator process (stdout)', stdout)
  })
  child.stdout.on('data', (d) => (stdout += d))
  const lines = createInterface({input: child.stdout})
  const first = await Promise.race([
    once(lines, 'line').then(([l]) => l as string),
    exited.then(() => {
      throw new Error(`emulator exited before listening: ${stderr}`)
    }),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`emulator did not start: ${stderr}`)), 15_000).unref()),
  ])
  const match = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(first)
  if (!match) {
    child.kill('SIGKILL')
    throw new Error(`unexpected first line: ${first}`)
  }
  return {
    url: match[1]!,
    child,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode
      child.kill('SIGTERM')
      const [code] = (await exited) as [number | null]
      return code
    },
  }
}

/** The values of a seed file an emulator process starts from: the leak scan looks for them. */
export function registerSeedFile(file: string): void {
  markInput(resolve(ROOT, file))
  try {
    registerSeed(parseSeed(readFileSync(resolve(ROOT, file), 'utf8'), file), file)
  } catch {
    // an invalid seed (bad-input tests): the emulator refuses it, so it serves no value
  }
}

/** The environment of a CLI process whose machine clock is `days` off (negative: behind); see clock-shift.mjs. */
export function clockOff(days: number): NodeJS.ProcessEnv {
  const preload = new URL('./clock-shift.mjs', import.meta.url).href
  return {NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${preload}`.trim(), PALETTE_KEYS_TEST_CLOCK_SHIFT_MS: String(Math.round(days * 86_400_000))}
}
