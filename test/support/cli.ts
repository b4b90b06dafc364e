import {type ChildProcessWithoutNullStreams, spawn} from 'node:child_process'
import {once} from 'node:events'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the built CLI (bin/run.js → dist/) as a real process. */
export async function runCli(args: string[], options: {env?: NodeJS.ProcessEnv; cwd?: string} = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: {...process.env, NO_COLOR: '1', ...options.env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const [code] = (await once(child, 'close')) as [number | null]
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
  const child = spawn(process.execPath, [BIN, 'emulator', '--port', '0', ...args], {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}})
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = once(child, 'close')
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
