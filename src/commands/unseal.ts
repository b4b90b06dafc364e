import {Flags} from '@oclif/core'
import {stringify} from 'yaml'
import {BaseCommand} from '../cli/base-command.js'
import {readIdentityFile} from '../seal/identity.js'
import type {SealedRecord} from '../seal/sealed-file.js'
import {unsealPaths} from '../seal/unseal.js'
import {PaletteKeysError, UsageError} from '../util/errors.js'

type Tree = Record<string, Record<string, {apiKey: string; uid: string; expiry: string; createdAt: string; host: string}>>

export default class Unseal extends BaseCommand {
  static override summary = 'Open sealed outputs and print the newest value of each key (yaml, json or env).'

  static override description = `Decrypts the files (or every *.age file under the folders) with the identities given by -i, and prints the newest value per user and key name. This command prints key values on purpose: send its output where it belongs (a secret store, an env file), not to a log.
Files sealed only to other recipients are skipped (noted on stderr); a corrupt file is an error (exit 1).`

  static override examples = [
    {description: 'Every value under sealed/, as YAML', command: '<%= config.bin %> <%= command.id %> sealed -i identity.txt'},
    {description: 'One value, for a script', command: 'PALETTE_API_KEY=$(<%= config.bin %> <%= command.id %> sealed -i identity.txt --key alice@example.com/ci-deploy)'},
    {description: 'As environment variables', command: '<%= config.bin %> <%= command.id %> sealed -i identity.txt --format env > .env'},
  ]

  static override strict = false

  static override enableJsonFlag = true

  static override flags = {
    identity: Flags.string({char: 'i', description: 'age identity file (ours or age-keygen\'s); repeat for several.', required: true, multiple: true}),
    format: Flags.string({description: 'Output format.', options: ['yaml', 'json', 'env'], default: 'yaml'}),
    key: Flags.string({description: 'Print only the value of USER/NAME (e.g. alice@example.com/ci-deploy).'}),
  }

  async run(): Promise<Tree> {
    const {argv, flags} = await this.parse(Unseal)
    const paths = argv as string[]
    if (paths.length === 0) throw new UsageError('Give at least one sealed file or folder.', ['e.g. palette-keys unseal sealed -i identity.txt'])
    const identities = (await Promise.all(flags.identity.map(readIdentityFile))).flat()
    const {records, notForUs} = await unsealPaths(paths, identities)
    if (notForUs.length > 0) this.logToStderr(`${notForUs.length} file${notForUs.length === 1 ? ' is' : 's are'} sealed to other recipients only: skipped.`)

    if (flags.key) {
      const record = findKey(records, flags.key)
      if (!this.jsonEnabled()) process.stdout.write(record.apiKey + '\n')
      return tree([record])
    }
    const result = tree(records)
    if (!this.jsonEnabled()) {
      if (flags.format === 'json') process.stdout.write(JSON.stringify(result, null, 2) + '\n')
      else if (flags.format === 'env') process.stdout.write(records.map((r) => `${envName(r)}=${r.apiKey}\n`).join(''))
      else process.stdout.write(records.length === 0 ? '{}\n' : stringify(result))
    }
    return result
  }
}

function findKey(records: SealedRecord[], key: string): SealedRecord {
  const slash = key.lastIndexOf('/')
  if (slash <= 0) throw new UsageError(`--key takes USER/NAME, e.g. alice@example.com/ci-deploy; got "${key}".`)
  const [user, name] = [key.slice(0, slash).toLowerCase(), key.slice(slash + 1)]
  const found = records.find((r) => r.user.toLowerCase() === user && r.name === name)
  if (!found) throw new PaletteKeysError(`No sealed value for ${key} in the given files.`, {code: 'unseal-not-found'})
  return found
}

function tree(records: SealedRecord[]): Tree {
  const out: Tree = {}
  for (const r of records) (out[r.user] ??= {})[r.name] = {apiKey: r.apiKey, uid: r.uid, expiry: r.expiry, createdAt: r.createdAt, host: r.host}
  return out
}

/** PALETTE_KEY_<USER>__<NAME>, upper case, anything but A-Z and 0-9 as _. */
function envName(r: Pick<SealedRecord, 'user' | 'name'>): string {
  const part = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, '_')
  return `PALETTE_KEY_${part(r.user)}__${part(r.name)}`
}
