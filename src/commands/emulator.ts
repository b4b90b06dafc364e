import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {ExitCode} from '../util/exit-codes.js'
import {loadSeedFile} from '../emulator/seed.js'
import {type Fidelity, startEmulator} from '../emulator/server.js'
import {EmulatorState} from '../emulator/state.js'
import {PaletteKeysError, UsageError} from '../util/errors.js'

export default class Emulator extends BaseCommand {
  static override summary = 'Run a local Palette API emulator (API keys and users) for tests, demos and CI dry runs.'

  static override description = `Serves the Palette endpoints palette-keys uses (/v1/apiKeys..., /v1/users...) on 127.0.0.1, faithful to Palette's official spec: same paths, bodies, status codes and error shape, the admin/user permission table, one-time key values, and the per-prefix rate limit.
The first line on stdout is "listening on http://127.0.0.1:PORT". Stop it with Ctrl-C (SIGINT) or SIGTERM.
With --state FILE the tenant is kept in FILE (written atomically after each change; it holds key hashes, never values) and a restart resumes it; the seed is read only when FILE does not exist yet.`

  static override examples = [
    {description: 'Start the demo tenant on a free port', command: '<%= config.bin %> <%= command.id %> --seed examples/tenant.yaml --port 0'},
    {description: 'Keep state across restarts, no rate limit', command: '<%= config.bin %> <%= command.id %> --seed examples/tenant.yaml --state .tmp/tenant.json --rate-limit 0'},
    {description: 'Play a tenant that answers a create with the owner\'s uid, replaces annotations on update and caps keys at 5', command: '<%= config.bin %> <%= command.id %> --seed examples/tenant.yaml --create-uid user --update-annotations replace --key-limit 5'},
    {description: 'Inject faults for reliability tests', command: '<%= config.bin %> <%= command.id %> --seed examples/tenant.yaml --fail-rate 0.2 --drop-after-commit-rate 0.1 --fault-seed 42'},
  ]

  static override flags = {
    port: Flags.integer({description: 'Port on 127.0.0.1; 0 picks a free one.', default: 0, min: 0, max: 65535}),
    seed: Flags.string({description: 'Seed file (YAML): tenant, users, roles, bootstrap keys.'}),
    state: Flags.string({description: 'JSON file holding the state across restarts.'}),
    'rate-limit': Flags.integer({description: 'Requests per second per path prefix; 0 turns the limit off.', default: 10, min: 0}),
    burst: Flags.integer({description: 'Token-bucket size per prefix.', default: 5, min: 1}),
    latency: Flags.integer({description: 'Milliseconds added to every request.', default: 0, min: 0}),
    'fail-rate': Flags.string({description: 'Share (0..1) of requests answered 500 or 503.', default: '0'}),
    'drop-after-commit-rate': Flags.string({description: 'Share (0..1) of mutations committed whose connection is then dropped.', default: '0'}),
    'fault-seed': Flags.integer({description: 'Seed of the fault-injection random numbers (reproducible runs).'}),
    'create-uid': Flags.string({description: 'What a create answer\'s uid holds: the new key\'s uid, the owner\'s ("User uid", as the spec says), or nothing.', options: ['key', 'user', 'absent'], default: 'key'}),
    'update-annotations': Flags.string({description: 'An update\'s annotations: merged over Palette\'s own, replacing the whole map, or refused (400) when one Palette sets is sent.', options: ['merge', 'replace', 'reject'], default: 'merge'}),
    'auth-failure': Flags.string({description: 'How a refused API key is answered: 401, 403, or 404 ResourceNotFound.', options: ['401', '403', '404'], default: '401'}),
    'list-keys-with': Flags.string({description: 'The one permission that lets a role list every user\'s keys (e.g. apiKey.list, which Palette\'s docs give Tenant Viewer). Default: every apiKey permission (admins only).'}),
    'unique-key-names': Flags.string({description: 'Whether two keys may share a name: yes (none), not within a user\'s keys (user), not within the tenant (tenant); revoked keys count. A clash is answered 409 ResourceConflict.', options: ['none', 'user', 'tenant'], default: 'none'}),
    'list-limit': Flags.integer({description: 'Cut every list the spec gives no paging (apiKeys, users/meta, users/summary) to its first N items, with no continuation (the docs\' page size is 50).', min: 1}),
    'key-limit': Flags.integer({description: 'API keys a user may hold (revoked and expired ones count); 0 enforces none. Default: the seed\'s limits.apiKeysPerUser, else 20.', min: 0}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Emulator)
    const failRate = share(flags['fail-rate'], '--fail-rate')
    const dropRate = share(flags['drop-after-commit-rate'], '--drop-after-commit-rate')
    const state = await this.loadState(flags.seed, flags.state)

    const emulator = await startEmulator({
      state,
      statePath: flags.state,
      port: flags.port,
      rateLimit: {ratePerSecond: flags['rate-limit'], burst: flags.burst},
      latencyMs: flags.latency,
      failRate,
      dropAfterCommitRate: dropRate,
      faultSeed: flags['fault-seed'],
      keyLimit: flags['key-limit'],
      fidelity: {
        createUid: flags['create-uid'] as Fidelity['createUid'],
        updateAnnotations: flags['update-annotations'] as Fidelity['updateAnnotations'],
        authFailure: Number(flags['auth-failure']) as Fidelity['authFailure'],
        ...(flags['list-keys-with'] ? {listKeysWith: flags['list-keys-with']} : {}),
        ...(flags['list-limit'] ? {listLimit: flags['list-limit']} : {}),
        uniqueKeyNames: flags['unique-key-names'] as Fidelity['uniqueKeyNames'],
      },
    })
    this.log(`listening on ${emulator.url}`)
    const users = state.allUsers().length
    const keys = state.allKeys().length
    const limit = state.limits.apiKeysPerUser === 0 ? 'no key limit' : `${state.limits.apiKeysPerUser} keys per user`
    this.logToStderr(`emulator: tenant ${state.tenant.orgName} (${state.tenant.uid}), ${users} users, ${keys} keys; rate limit ${flags['rate-limit'] === 0 ? 'off' : `${flags['rate-limit']}/s burst ${flags.burst}`}; ${limit}; create uid ${flags['create-uid']}, update annotations ${flags['update-annotations']}, auth failure ${flags['auth-failure']}; every key listed with ${flags['list-keys-with'] ?? 'every apiKey permission'}; lists ${flags['list-limit'] ? `cut at ${flags['list-limit']}` : 'whole'}; unique key names ${flags['unique-key-names']}`)

    await new Promise<void>((resolve) => {
      const stop = () => resolve()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
    await emulator.close()
    this.logToStderr('emulator: stopped')
  }

  private async loadState(seedPath: string | undefined, statePath: string | undefined): Promise<EmulatorState> {
    if (statePath !== undefined && existsSync(statePath)) {
      try {
        return EmulatorState.fromJson(await readFile(statePath, 'utf8'))
      } catch (error) {
        throw new PaletteKeysError(`Cannot load emulator state ${statePath}: ${(error as Error).message}`, {
          code: 'emulator-state',
          exitCode: ExitCode.InvalidInput,
          hints: ['Delete the file to start again from --seed.'],
        })
      }
    }
    if (seedPath === undefined) throw new UsageError('The emulator needs --seed FILE (or an existing --state FILE).', ['See examples/tenant.yaml for a seed.'])
    return EmulatorState.fromSeed(await loadSeedFile(seedPath), new Date())
  }
}

function share(raw: string, flag: string): number {
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`${flag} must be a number from 0 to 1, got "${raw}".`)
  return n
}
