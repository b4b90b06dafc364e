import {execFile} from 'node:child_process'
import {mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ROOT} from '../support/cli.js'
import {recordAndRemove, recordOutput} from '../support/leaks.js'

const exec = promisify(execFile)
/** Every command's output goes to the leak scan. */
async function run(file: string, args: string[], options: Parameters<typeof exec>[2] = {}): Promise<{stdout: string; stderr: string}> {
  const r = await exec(file, args, {...options, encoding: 'utf8'})
  recordOutput(`${file} ${args.join(' ')}`.slice(0, 200), `${r.stdout}${r.stderr}`)
  return r
}

describe('the npm package', () => {
  let dir: string
  let app: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pk-pack-'))
    // dist/ is already built by `npm test`; --ignore-scripts keeps prepack from rebuilding it under other tests.
    await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], {cwd: ROOT})
    const [tarball] = (await readdir(dir)).filter((f) => f.endsWith('.tgz'))
    app = join(dir, 'app')
    await mkdir(app)
    await writeFile(join(app, 'package.json'), '{"name": "app", "private": true}\n')
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tarball!)], {cwd: app})
  }, 240_000)
  afterAll(async () => {
    await recordAndRemove(dir)
  })

  it('installs in an empty folder and `npx palette-keys --help` lists every command', async () => {
    const {stdout} = await run('npx', ['palette-keys', '--help'], {cwd: app})
    for (const command of ['apply', 'audit', 'demo', 'emulator', 'export', 'keygen', 'plan', 'show', 'unseal', 'validate']) expect(stdout).toMatch(new RegExp(`^ {2}${command} `, 'm'))
    // The plugins are dependencies of the package, not of this checkout only (issue 19.8).
    for (const command of ['autocomplete', 'help']) expect(stdout).toMatch(new RegExp(`^ {2}${command} `, 'm'))
    expect((await run('npx', ['palette-keys', 'help', 'validate'], {cwd: app})).stdout).toContain('--format')
  })

  it('lets a team repository find the desired-state schema, and carries the registry page\'s metadata', async () => {
    // A path an editor's `$schema` comment (or a script) can name from the team's repository.
    const {stdout} = await run(process.execPath, ['-e', "console.log(require.resolve('palette-keys/schemas/desired-state.schema.json'))"], {cwd: app})
    expect(stdout.trim()).toBe(join(app, 'node_modules/palette-keys/schemas/desired-state.schema.json'))
    const schema = JSON.parse(await readFile(stdout.trim(), 'utf8')) as {title: string}
    expect(schema.title).toBe('palette-keys desired state')
    const pkg = JSON.parse(await readFile(join(app, 'node_modules/palette-keys/package.json'), 'utf8')) as Record<string, unknown>
    expect(pkg.repository).toMatchObject({type: 'git', url: expect.stringMatching(/^git\+https:\/\/github\.com\//)})
    expect(pkg.homepage).toMatch(/^https:\/\//)
    expect(pkg.bugs).toMatchObject({url: expect.stringMatching(/\/issues$/)})
    expect((pkg.keywords as string[])).toContain('palette')
  })

  it('the GitHub action\'s install step gives exactly the dependency tree of its npm-shrinkwrap.json (npm install of a tarball would not)', async () => {
    const {createHash} = await import('node:crypto')
    const {parse} = await import('yaml')
    const tarball = join(dir, (await readdir(dir)).find((f) => f.endsWith('.tgz'))!)
    const action = parse(await readFile(join(ROOT, 'action.yml'), 'utf8')) as {runs: {steps: Array<{name?: string; run?: string}>}}
    const install = action.runs.steps.find((st) => st.name?.startsWith('Install palette-keys'))!.run!
    const temp = join(dir, 'runner-temp')
    await mkdir(temp)
    await writeFile(join(temp, 'github-path'), '')
    const env = {
      ...process.env,
      RUNNER_TEMP: temp,
      GITHUB_PATH: join(temp, 'github-path'),
      TARBALL_URL: `file://${tarball}`,
      TARBALL_SHA256: createHash('sha256').update(await readFile(tarball)).digest('hex'),
    }
    await run('bash', ['--noprofile', '--norc', '-e', '-o', 'pipefail', '-c', `${install}\n`], {env})
    const bin = (await readFile(join(temp, 'github-path'), 'utf8')).trim()
    expect((await run(join(bin, 'palette-keys'), ['--version'])).stdout).toMatch(/^palette-keys\/\d+\.\d+\.\d+ /)
    // Every runtime package is where the shrinkwrap puts it, at its version, and nothing else is installed.
    const lock = JSON.parse(await readFile(join(temp, 'palette-keys/npm-shrinkwrap.json'), 'utf8')) as {packages: Record<string, {version?: string; dev?: boolean}>}
    expect(await readFile(join(temp, 'palette-keys/npm-shrinkwrap.json'), 'utf8')).toBe(await readFile(join(ROOT, 'npm-shrinkwrap.json'), 'utf8'))
    const runtime = Object.entries(lock.packages).filter(([key, p]) => key !== '' && !p.dev)
    expect(runtime.length).toBeGreaterThan(20)
    for (const [key, p] of runtime) {
      const installed = JSON.parse(await readFile(join(temp, 'palette-keys', key, 'package.json'), 'utf8')) as {version: string}
      expect(installed.version, key).toBe(p.version)
    }
    const {stdout} = await run('find', [join(temp, 'palette-keys/node_modules'), '-name', 'package.json', '-path', '*/node_modules/*/package.json', '-not', '-path', '*/node_modules/*/node_modules/*/*/package.json'])
    const dirs = stdout.split('\n').filter(Boolean).map((f) => f.slice(join(temp, 'palette-keys').length + 1, -'/package.json'.length)).filter((k) => /(^|\/)node_modules\/(@[^/]+\/)?[^/@]+$/.test(k))
    for (const k of dirs) expect(lock.packages[k], `${k} is in the shrinkwrap`).toBeDefined()
    // The unpacked package is the package's own files (the demo's public keys among them), not output of the tool: not for the leak scan.
    await rm(join(temp, 'palette-keys'), {recursive: true})
  }, 120_000)

  it('runs the demo without the source tree', async () => {
    const {stdout} = await run('npx', ['palette-keys', 'demo'], {cwd: app, env: {...process.env, NO_COLOR: '1'}})
    expect(stdout).toContain('Demo done')
    expect(stdout).toMatch(/authenticates as alice@example\.com/)
  }, 120_000)

  it('ships the manifest, the schemas and their build-time validators, and no tests or sealed output', async () => {
    const {stdout} = await run('tar', ['-tzf', join(dir, (await readdir(dir)).find((f) => f.endsWith('.tgz'))!)])
    const files = stdout.split('\n').filter(Boolean)
    expect(files.some((f) => f.startsWith('package/test/'))).toBe(false)
    expect(files.some((f) => f.includes('/sealed/'))).toBe(false)
    expect(files).toContain('package/oclif.manifest.json')
    expect(files).toContain('package/schemas/palette-api/apikeys.openapi.json')
    expect(files).toContain('package/dist/validators/desired-state.cjs')
    expect(files).toContain('package/dist/validators/formats.cjs')
    // The license file ships, and is the license package.json names (issue 19.8).
    expect(files).toContain('package/LICENSE')
    // The dependency tree the tests ran (issue 19.4): npm installs a package's npm-shrinkwrap.json as written.
    expect(files).toContain('package/npm-shrinkwrap.json')
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {license: string}
    expect(pkg.license).toBe('Apache-2.0')
    expect((await readFile(join(ROOT, 'LICENSE'), 'utf8')).split('\n').slice(0, 3).join(' ')).toMatch(/^Apache License\s+Version 2\.0, January 2004/)
  })
})
