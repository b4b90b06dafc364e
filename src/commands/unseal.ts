import {existsSync} from 'node:fs'
import {sep} from 'node:path'
import * as Flags from '@oclif/core/flags'
import {stringify} from 'yaml'
import {BaseCommand} from '../cli/base-command.js'
import {fileFlag} from '../cli/flags.js'
import {type DesiredState, loadDesiredStateFile} from '../config/desired-state.js'
import {recipientLists} from '../seal/lists.js'
import {givenIdentities, recipientsOfIdentities} from '../seal/identity.js'
import {safeName} from '../seal/sealed-file.js'
import type {SealedRecord} from '../seal/sealed-file.js'
import {notForUsLines, unsealPaths, unsealProblems} from '../seal/unseal.js'
import {ExitCode} from '../util/exit-codes.js'
import {PaletteKeysError, UsageError} from '../util/errors.js'

type Tree = Record<string, Record<string, {apiKey: string; uid: string; expiry: string; createdAt: string; host: string}>>

export default class Unseal extends BaseCommand {
  static override summary = 'Open sealed outputs and print the value of each key (yaml, json or env).'

  static override description = `Decrypts the files (or every *.age file under the folders) with the identities given by -i, and prints the value of each user and key name. This command prints key values on purpose: send its output where it belongs (a secret store, an env file), not to a log.
Files sealed only to other recipients are skipped (noted on stderr). A record counts only when its uid is the one in its file name; two records for one key are a conflict (reported, left out). Corrupt, renamed or conflicting files are reported by name and the rest still printed, with exit 1; exit 1 too when nothing could be opened. --format env prints NAME='value' lines (POSIX single quotes) and refuses keys whose names give one variable.`

  static override examples = [
    {description: 'Every value under sealed/, as YAML', command: '<%= config.bin %> <%= command.id %> sealed -i identity.txt'},
    {description: 'One value, for a script', command: 'PALETTE_API_KEY=$(<%= config.bin %> <%= command.id %> sealed -i identity.txt --key alice@example.com/ci-deploy)'},
    {description: 'As environment variables', command: '<%= config.bin %> <%= command.id %> sealed -i identity.txt --format env > .env'},
    {description: 'In a consuming CI job: the identity from a secret, one key\'s value', command: 'PALETTE_KEYS_IDENTITY="$DEPLOY_IDENTITY" <%= config.bin %> <%= command.id %> sealed --key alice@example.com/ci-deploy'},
  ]

  static override strict = false

  static override enableJsonFlag = true

  static override flags = {
    ...fileFlag,
    identity: Flags.string({char: 'i', description: 'age identity file (ours or age-keygen\'s); repeat for several; - reads one from standard input. Without -i, the identity text in PALETTE_KEYS_IDENTITY (a CI secret) is used.', multiple: true}),
    format: Flags.string({description: 'Output format.', options: ['yaml', 'json', 'env'], default: 'yaml'}),
    key: Flags.string({description: 'Print only the value of USER/NAME (e.g. alice@example.com/ci-deploy).'}),
  }

  async run(): Promise<Tree> {
    const {argv, flags} = await this.parse(Unseal)
    const paths = argv as string[]
    if (paths.length === 0) throw new UsageError('Give at least one sealed file or folder.', ['e.g. palette-keys unseal sealed -i identity.txt'])
    const identities = await givenIdentities(flags.identity ?? [], 'unseal')
    const opened = await unsealPaths(paths, identities)
    const {records, notForUs} = opened
    if (notForUs.length > 0) this.logToStderr(`${notForUs.length} file${notForUs.length === 1 ? ' is' : 's are'} sealed to other recipients only: skipped.`)
    const problems = unsealProblems(opened)
    // Nothing opened, or not the key asked for: whom those files are sealed to, and whether a reseal would help.
    const wanted = flags.key ? records.some((r) => `${r.user.toLowerCase()}/${r.name}` === keyId(flags.key!)) : records.length > 0
    if (notForUs.length > 0 && !wanted) {
      const lists = await this.desiredLists(flags.file)
      const only = flags.key ? {...opened, notForUs: notForUs.filter((f) => isFileOf(f, flags.key!))} : opened
      for (const l of notForUsLines(only, await recipientsOfIdentities(identities), lists)) this.logInert(`  ${l}`)
    }

    if (flags.key) {
      const conflict = opened.conflicts.find((c) => c.key === keyId(flags.key!))
      if (conflict) throw new PaletteKeysError(`${flags.key} has ${conflict.uids.length} sealed records (uids ${conflict.uids.join(', ')}): unseal cannot tell which key is live.`, {code: 'unseal-conflict', hints: problems?.hints ?? []})
      const record = findKey(records, flags.key)
      if (!this.jsonEnabled()) process.stdout.write(record.apiKey + '\n')
      return tree([record])
    }
    if (problems && records.length === 0) throw problems
    const result = tree(records)
    if (!this.jsonEnabled()) {
      if (flags.format === 'json') process.stdout.write(JSON.stringify(result, null, 2) + '\n')
      else if (flags.format === 'env') process.stdout.write(envLines(records))
      else process.stdout.write(stringify(result))
    }
    if (problems) {
      // The rest was served; what could not be is said, and the run fails.
      // File names come from the seal folder (anybody's, through git): quoted inertly.
      this.logInert(`Error: ${problems.message}`)
      for (const h of problems.hints) this.logInert(`  - ${h}`)
      process.exitCode = ExitCode.Error
    }
    return result
  }

  /**
   * The lists of the desired file (-f, keys.yaml by default), when there is one, to tell whether a
   * reseal would help: unseal works without it (a consuming job has only the sealed files).
   */
  private async desiredLists(file: string): Promise<((f: string) => {key: string; recipients: string[]; from: string} | undefined) | undefined> {
    if (!existsSync(file)) return undefined
    const desired: DesiredState | undefined = await loadDesiredStateFile(file, new Date()).catch(() => undefined)
    if (!desired) {
      this.logToStderr(`(${file} could not be read as a desired-state file: whether a reseal would help is not said.)`)
      return undefined
    }
    const lists = recipientLists(desired)
    return (f: string) => lists.ofFile(f)
  }
}

/** EMAIL/NAME--UID.age: the last two parts of a sealed file's path. */
function lastTwo(f: string): string {
  return f.split(sep).slice(-2).join('/')
}

/** Whether a sealed file's path is one of USER/NAME's, by its folder and name (data, for a hint only). */
function isFileOf(f: string, key: string): boolean {
  const slash = key.lastIndexOf('/')
  const [folder, name] = lastTwo(f).split('/')
  return folder === safeName(key.slice(0, slash)) && (name ?? '').startsWith(`${safeName(key.slice(slash + 1))}--`)
}

/** `user/name` as unsealPaths keys it (e-mail in lower case). */
function keyId(key: string): string {
  const slash = key.lastIndexOf('/')
  if (slash <= 0) throw new UsageError(`--key takes USER/NAME, e.g. alice@example.com/ci-deploy; got "${key}".`)
  return `${key.slice(0, slash).toLowerCase()}/${key.slice(slash + 1)}`
}

function findKey(records: SealedRecord[], key: string): SealedRecord {
  const id = keyId(key)
  const found = records.find((r) => `${r.user.toLowerCase()}/${r.name}` === id)
  if (!found) throw new PaletteKeysError(`No sealed value for ${key} in the given files.`, {code: 'unseal-not-found'})
  return found
}

function tree(records: SealedRecord[]): Tree {
  const out: Tree = {}
  for (const r of records) (out[r.user] ??= {})[r.name] = {apiKey: r.apiKey, uid: r.uid, expiry: r.expiry, createdAt: r.createdAt, host: r.host}
  return out
}

/**
 * `NAME='value'` lines a POSIX shell can source: the value single-quoted (a quote inside
 * becomes '\''), so whatever a value holds it stays data. Two keys whose names give one
 * variable (ci-deploy, ci_deploy, ci.deploy) are refused, never one silently dropped.
 */
function envLines(records: SealedRecord[]): string {
  const byName = new Map<string, SealedRecord[]>()
  for (const r of records) byName.set(envName(r), [...(byName.get(envName(r)) ?? []), r])
  const clashes = [...byName].filter(([, rs]) => rs.length > 1)
  if (clashes.length > 0) {
    throw new PaletteKeysError(`${clashes.length} environment variable name${clashes.length === 1 ? ' stands' : 's stand'} for several keys: ${clashes.map(([n, rs]) => `${n} (${rs.map((r) => `${r.user}/${r.name}`).join(', ')})`).join('; ')}. Nothing was printed.`, {
      code: 'unseal-env-clash',
      hints: ['Use --format json or yaml, or --key USER/NAME for each of them.'],
    })
  }
  return records.map((r) => `${envName(r)}='${r.apiKey.replace(/'/g, `'\\''`)}'\n`).join('')
}

/** PALETTE_KEY_<USER>__<NAME>, upper case, anything but A-Z and 0-9 as _. */
function envName(r: Pick<SealedRecord, 'user' | 'name'>): string {
  const part = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, '_')
  return `PALETTE_KEY_${part(r.user)}__${part(r.name)}`
}
