// Runs an actions/github-script step as the action does, in its own Node process in the job's
// checkout: the step's script as the body of an async function of (require, github, context,
// core), `github` an Octokit (here @octokit/rest against the fake's base URL, with the job's
// token), core.setOutput writing to GITHUB_OUTPUT and core.setFailed failing the step.
// Given by the harness (test/support/github-actions.ts) in the environment:
//   PK_GHS_SCRIPT, PK_GHS_CONTEXT (JSON), PK_GHS_API_URL, PK_GHS_TOKEN.
import {appendFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {Octokit} from '@octokit/rest'

const context = JSON.parse(process.env.PK_GHS_CONTEXT)
const github = new Octokit({auth: process.env.PK_GHS_TOKEN, baseUrl: process.env.PK_GHS_API_URL, log: {debug() {}, info() {}, warn: console.warn, error: console.error}})
const core = {
  setOutput(name, value) {
    appendFileSync(process.env.GITHUB_OUTPUT, `${name}=${String(value)}\n`)
  },
  setFailed(message) {
    console.log(`::error::${message}`)
    process.exitCode = 1
  },
  notice: (m) => console.log(`::notice::${m}`),
  warning: (m) => console.log(`::warning::${m}`),
  info: (m) => console.log(m),
}
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor
const run = new AsyncFunction('require', 'github', 'context', 'core', process.env.PK_GHS_SCRIPT)
try {
  await run(createRequire(join(process.cwd(), 'noop.js')), github, context, core)
} catch (e) {
  console.log(`::error::Unhandled error: ${e instanceof Error ? e.message : String(e)}`)
  process.exitCode = 1
}
