import {spawn} from 'node:child_process'
import {mkdtemp, readFile, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {newIdentity} from '../../src/seal/identity.js'
import {SealDir} from '../../src/seal/seal-dir.js'
import {schemaValidator} from '../../src/util/ajv.js'
import {BIN, type EmulatorProcess, ROOT, runCli, startEmulatorProcess} from '../support/cli.js'
import {recordAndRemove, recordOutput} from '../support/leaks.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pk-contract-'))
})
afterAll(async () => {
  await recordAndRemove(dir)
})

function expectSchema(file: string, doc: unknown) {
  const validate = schemaValidator(file)
  expect(validate(doc), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true)
}

describe('every command', () => {
  it('has a summary, a description and at least two examples (oclif manifest)', async () => {
    const manifest = JSON.parse(await readFile(join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {summary?: string; description?: string; examples?: unknown[]}>}
    const ids = Object.keys(manifest.commands).sort()
    expect(ids).toEqual(['apply', 'audit', 'demo', 'emulator', 'export', 'keygen', 'plan', 'reseal', 'show', 'unseal', 'validate'])
    for (const id of ids) {
      const c = manifest.commands[id]!
      expect(c.summary, id).toBeTruthy()
      expect(c.description, id).toBeTruthy()
      expect(c.examples?.length ?? 0, id).toBeGreaterThanOrEqual(2)
    }
  })
})

describe('--json results validate against the schemas in schemas/', () => {
  it('validate: a valid file, and an invalid one as the error document with its diagnostics (exit 65)', async () => {
    const ok = await runCli(['validate', '-f', 'examples/keys.yaml', '--json'])
    expect(ok.code).toBe(0)
    expectSchema('schemas/validate-result.schema.json', JSON.parse(ok.stdout))
    const bad = await runCli(['validate', '-f', 'test/fixtures/invalid-desired/35-many-problems-at-once.yaml', '--json'])
    expect(bad.code).toBe(65)
    const doc = JSON.parse(bad.stdout)
    expectSchema('schemas/error.schema.json', doc)
    expect(doc.error.diagnostics).toHaveLength(5)
  })

  it('keygen: the recipient and the file, never the identity', async () => {
    const r = await runCli(['keygen', '-o', join(dir, 'id.txt'), '--json'])
    const doc = JSON.parse(r.stdout)
    expectSchema('schemas/keygen-result.schema.json', doc)
    expect(r.stdout).not.toContain('AGE-SECRET-KEY')
  })

  it('unseal: the values by user and key', async () => {
    const id = await newIdentity()
    await writeFile(join(dir, 'me.txt'), `${id.identity}\n`)
    await new SealDir(join(dir, 'sealed')).seal({user: 'a@example.com', name: 'k', uid: 'u1', expiry: '2030-01-01T00:00:00.000Z', host: 'h', createdAt: '2026-01-01T00:00:00.000Z', apiKey: 'v-0000000001'}, [id.recipient])
    const r = await runCli(['unseal', join(dir, 'sealed'), '-i', join(dir, 'me.txt'), '--json'])
    expect(r.code, r.stderr).toBe(0)
    expectSchema('schemas/unseal-result.schema.json', JSON.parse(r.stdout))
    const env = await runCli(['unseal', join(dir, 'sealed'), '-i', join(dir, 'me.txt'), '--format', 'env'])
    expect(env.stdout).toBe("PALETTE_KEY_A_EXAMPLE_COM__K='v-0000000001'\n")
    expect((await runCli(['unseal', join(dir, 'sealed'), '-i', join(dir, 'me.txt'), '--key', 'a@example.com/nope'])).code).toBe(1)
  })

  it('errors of any command: the error document, with the exit code in it', async () => {
    const r = await runCli(['plan', '-f', join(dir, 'missing.yaml'), '--json'])
    expect(r.code).toBe(64)
    const doc = JSON.parse(r.stdout)
    expectSchema('schemas/error.schema.json', doc)
    expect(doc.error.exitCode).toBe(64)
  })
})

describe('colour', () => {
  let emu: EmulatorProcess
  beforeAll(async () => {
    emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--rate-limit', '0'])
  })
  afterAll(async () => {
    await emu.stop()
  })

  /** The plan as a terminal shows it (`script` gives the CLI a pseudo-terminal). */
  function onTerminal(extraEnv: Record<string, string>): Promise<string> {
    return new Promise((resolve) => {
      const env: NodeJS.ProcessEnv = {...process.env, PALETTE_HOST: emu.url, PALETTE_API_KEY: 'demo-admin-key-0001', TERM: 'xterm', ...extraEnv}
      delete env.NO_COLOR
      if (extraEnv.NO_COLOR) env.NO_COLOR = extraEnv.NO_COLOR
      const child = spawn('script', ['-qec', `${process.execPath} ${BIN} plan -f examples/keys.yaml`, '/dev/null'], {cwd: ROOT, env})
      let out = ''
      child.stdout.on('data', (d) => (out += d))
      child.on('close', () => {
        recordOutput('plan on a terminal', out)
        resolve(out)
      })
    })
  }

  it('on a terminal, unless NO_COLOR is set; never when piped', async () => {
    // eslint-disable-next-line no-control-regex
    const ansi = /\u001B\[3\dm/
    expect(await onTerminal({})).toMatch(ansi)
    expect(await onTerminal({NO_COLOR: '1'})).not.toMatch(ansi)
    const piped = await runCli(['plan', '-f', 'examples/keys.yaml'], {env: {PALETTE_HOST: emu.url, PALETTE_API_KEY: 'demo-admin-key-0001', NO_COLOR: ''}})
    expect(piped.stdout).not.toMatch(ansi)
  })
})

describe('usage errors', () => {
  it.each([
    ['an unknown flag', ['plan', '--no-such-flag'], /Nonexistent flag: --no-such-flag/],
    ['a value outside the options', ['plan', '--format', 'xml'], /Expected --format=xml to be one of/],
    ['a flag without its value', ['plan', '--out'], /Flag --out expects a value/],
    ['an unknown command', ['nosuchcmd'], /Unknown command "nosuchcmd"/],
    ['an extra argument', ['validate', 'extra-arg'], /validate takes no argument "extra-arg"/],
    ['a missing argument', ['show'], /Missing 1 required arg/],
    ['too many arguments', ['apply', 'a.json', 'b.json'], /Unexpected argument: b\.json/],
  ])('%s: exit 64; with --json, one error document with the message', async (_name, args, says) => {
    const text = await runCli(args)
    expect(text.code).toBe(64)
    expect(text.stderr).toMatch(says)
    const json = await runCli([...args, '--json'])
    expect(json.code).toBe(64)
    expect(json.stdout.length).toBeLessThan(2000)
    const doc = JSON.parse(json.stdout)
    expectSchema('schemas/error.schema.json', doc)
    expect(doc.error.message).toMatch(says)
  })
})
