// The foundation demo: the emulator and the client, end to end, in plain steps.
// (Grows into validate → plan → apply → plan → unseal as those commands land.)
import {readFile} from 'node:fs/promises'
import {makePlan} from '../dist/cli/planning.js'
import {loadDesiredStateFile} from '../dist/config/desired-state.js'
import {renderText} from '../dist/render/text.js'
import {parseSeed} from '../dist/emulator/seed.js'
import {startEmulator} from '../dist/emulator/server.js'
import {EmulatorState} from '../dist/emulator/state.js'
import {PaletteHttpClient} from '../dist/palette/http-client.js'
import {Secret} from '../dist/util/secret.js'

const step = (n, text) => console.log(`\n[${n}] ${text}`)
const seedFile = 'examples/tenant.yaml'

step(1, `Start the Palette emulator in-process, seeded from ${seedFile}`)
const seed = parseSeed(await readFile(seedFile, 'utf8'), seedFile)
const emulator = await startEmulator({state: EmulatorState.fromSeed(seed, new Date())})
console.log(`    listening on ${emulator.url} (rate limit 10/s, burst 5, as Palette documents)`)

try {
  // DEMO ONLY: this admin key value is public, from examples/tenant.yaml.
  const admin = new PaletteHttpClient({host: emulator.url, apiKey: new Secret('demo-admin-key-0001')})

  step(2, 'Who am I? (GET /v1/users/info) and every user (GET /v1/users/meta)')
  const me = await admin.whoAmI()
  const users = await admin.listUsersMeta()
  const email = (uid) => users.find((u) => u.uid === uid)?.emailId
  console.log(`    caller ${email(me.userUid)} in tenant ${me.orgName}; ${users.length} users`)

  step(3, 'List the keys (GET /v1/apiKeys): values are never returned')
  for (const k of await admin.listApiKeys()) {
    console.log(`    ${email(k.spec.user.uid)}/${k.metadata.name}  active=${k.status.isActive}  expires ${k.spec.expiry.slice(0, 10)}`)
  }

  step('3b', 'Plan examples/keys.yaml against it (palette-keys plan -f examples/keys.yaml)')
  const now = new Date()
  const desired = await loadDesiredStateFile('examples/keys.yaml', now)
  const {plan} = await makePlan({desired, api: admin, host: emulator.url, force: false, toolVersion: 'demo', now})
  process.stdout.write(renderText(plan, {color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR}).replace(/^/gm, '    '))

  step(4, 'Create a key for alice@example.com (POST /v1/apiKeys): the only time its value exists')
  const alice = users.find((u) => u.emailId === 'alice@example.com')
  const created = await admin.createApiKey({
    metadata: {name: 'demo-ci', annotations: {description: 'Created by npm run demo'}},
    spec: {expiry: new Date(Date.now() + 90 * 86_400_000).toISOString(), userUid: alice.uid},
  })
  console.log(`    created ${created.uid}; value: ${created.apiKey}   <- a Secret prints as (sensitive)`)

  step(5, 'Prove the new value authenticates as alice (GET /v1/users/info with it)')
  const asAlice = new PaletteHttpClient({host: emulator.url, apiKey: created.apiKey})
  const who = await asAlice.whoAmI()
  console.log(`    answered as ${email(who.userUid)}: ${who.userUid === alice.uid ? 'OK' : 'WRONG USER'}`)
  if (who.userUid !== alice.uid) process.exitCode = 1

  step(6, 'Revoke it (PUT /v1/apiKeys/{uid}/state) and prove it no longer authenticates')
  await admin.setApiKeyActive(created.uid, false)
  const refused = await asAlice.whoAmI().then(() => undefined, (e) => e)
  console.log(refused ? `    refused: ${refused.message}` : '    NOT refused: something is wrong')
  if (!refused) process.exitCode = 1

  step(7, 'Delete it (DELETE /v1/apiKeys/{uid})')
  await admin.deleteApiKey(created.uid)
  console.log(`    ${emulator.stats.requests} requests served, ${emulator.stats.mutations} mutations, ${emulator.stats.rateLimited} rate-limited`)
} finally {
  await emulator.close()
}
console.log(process.exitCode ? '\nDemo FAILED' : '\nDemo done.')
