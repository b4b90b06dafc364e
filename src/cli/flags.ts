import * as Flags from '@oclif/core/flags'

/** -f FILE: the desired-state file. */
export const fileFlag = {
  file: Flags.string({char: 'f', description: 'Desired-state file.', default: 'keys.yaml', env: 'PALETTE_KEYS_FILE'}),
}

/** How to reach Palette. The API key itself only comes from the environment or a file. */
export const connectionFlags = {
  host: Flags.string({description: 'Palette API host (env PALETTE_HOST or SPECTROCLOUD_HOST; default https://api.spectrocloud.com).'}),
  'api-key-file': Flags.string({description: 'File holding the API key (else env PALETTE_API_KEY or SPECTROCLOUD_APIKEY).'}),
  'insecure-http': Flags.boolean({description: 'Allow plain http:// to a non-loopback host (the key would travel unencrypted).', default: false}),
  trace: Flags.boolean({description: 'Log method, path, status and time of every API call to stderr (never headers or bodies).', default: false}),
  deadline: Flags.integer({description: 'Minutes the whole command may take; after that no request is sent (apply stops starting actions).', default: 60, min: 1, max: 24 * 60}),
  'request-timeout': Flags.integer({description: 'Seconds one request (answer included) may take before it is given up (not retried).', default: 120, min: 1, max: 3600}),
  'rate-limit': Flags.integer({description: 'Client-side limit, requests per second per path prefix (Palette documents 10); 0 turns it off.', default: 10, min: 0}),
}

export const formatFlag = {
  format: Flags.string({description: 'Output format.', options: ['text', 'json', 'markdown'], default: 'text'}),
}

/** --replace USER/NAME: rotate a declared key once, whatever its expiry (a leaked key). */
export const replaceFlag = {
  replace: Flags.string({description: 'Rotate this declared key (USER/NAME) once, whatever its expiry: a leaked key, say. Repeatable. A saved plan made with it is applied with the same.', multiple: true, default: []}),
}

/** --apply-as EMAIL: read the tenant with a key that may only read, for that user's apply (plan) or as they would see it (audit). */
export const applyAsFlag = {
  'apply-as': Flags.string({
    description: 'Plan for the apply of this user (an e-mail address), reading the tenant with a key that may only read (a least-privilege key in CI: its roles must list every key). The user is assumed to hold every apiKey permission; `apply PLAN` with their key checks it, and refuses (exit 4) a plan made for another user.',
    env: 'PALETTE_KEYS_APPLY_AS',
  }),
}

/** --rotations-only: a scheduled run nobody reviews may rotate keys and clean up after itself, nothing more. */
export const rotationsOnlyFlag = {
  'rotations-only': Flags.boolean({
    description: 'Refuse (exit 3, nothing changed) a plan holding any change a person should review: only rotations (expiry, rotateBefore, a lost or undelivered value, --replace) and palette-keys\' own clean-up (retired or interrupted keys, stale sealed files) pass. For a scheduled apply. A saved plan made with it is applied with it.',
    default: false,
  }),
}
