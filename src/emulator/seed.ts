import type {ValidateFunction} from 'ajv'
import {schemaValidator} from '../util/ajv.js'
import {type Diagnostic, UsageError} from '../util/errors.js'
import {type InputFileError, readInputFile} from '../util/input-file.js'
import {formatPath, invalidInput, locate, MAX_YAML_BYTES, parseYaml, schemaDiagnostics} from '../yaml/load.js'

/** The seed file (PRODUCT.md §6); these field names are a contract. */
export interface Seed {
  tenant?: {uid?: string; orgName?: string}
  /** Resource limits; apiKeysPerUser 0 enforces none. */
  limits?: {apiKeysPerUser?: number}
  /** Custom roles: name → permissions. */
  roles?: Record<string, string[]>
  users: SeedUser[]
}

export interface SeedUser {
  email: string
  uid?: string
  firstName?: string
  lastName?: string
  roles?: string[]
  /** Removed from the tenant (SSO): absent from user endpoints, keys kept. */
  removed?: boolean
  /** false: disabled. */
  active?: boolean
  lastSignIn?: string
  apiKeys?: SeedKey[]
}

export interface SeedKey {
  name: string
  value: string
  expiry?: string
  active?: boolean
  description?: string
  annotations?: Record<string, string>
}

function seedValidator(): ValidateFunction {
  return schemaValidator('schemas/emulator-seed.schema.json')
}

export async function loadSeedFile(path: string): Promise<Seed> {
  let text: string
  try {
    text = await readInputFile(path, MAX_YAML_BYTES)
  } catch (error) {
    throw new UsageError(`Cannot read seed file ${path} (${(error as InputFileError).reason}).`, [], 'seed-unreadable')
  }
  return parseSeed(text, path)
}

/** Validates a seed: schema first, then what a schema cannot say (uniqueness). */
export function parseSeed(text: string, file: string): Seed {
  const loaded = parseYaml(text, file)
  const validate = seedValidator()
  if (!validate(loaded.value)) throw invalidInput(file, schemaDiagnostics(loaded, validate.errors ?? []))
  const seed = loaded.value as Seed

  const problems: Diagnostic[] = []
  const at = (path: Array<string | number>, code: string, message: string, hint?: string) => {
    const pos = locate(loaded, path)
    problems.push({file, ...pos, path: formatPath(path), code, message, hint})
  }
  const emails = new Map<string, number>()
  const uids = new Map<string, number>()
  const values = new Map<string, string>()
  seed.users.forEach((u, i) => {
    const email = u.email.toLowerCase()
    const first = emails.get(email)
    if (first !== undefined) at(['users', i, 'email'], 'seed.duplicate-email', `e-mail ${u.email} is already used by users[${first}]`)
    else emails.set(email, i)
    if (u.uid !== undefined) {
      const firstUid = uids.get(u.uid)
      if (firstUid !== undefined) at(['users', i, 'uid'], 'seed.duplicate-uid', `uid ${u.uid} is already used by users[${firstUid}]`)
      else uids.set(u.uid, i)
    }
    u.apiKeys?.forEach((k, j) => {
      const owner = values.get(k.value)
      // Never echo a key value, not even a seed's.
      if (owner !== undefined) at(['users', i, 'apiKeys', j, 'value'], 'seed.duplicate-value', `this key value is already used by ${owner}`, 'Every key value must be unique: it is what identifies the caller.')
      else values.set(k.value, `users[${i}].apiKeys[${j}]`)
    })
  })
  if (problems.length > 0) throw invalidInput(file, problems)
  return seed
}
