import {Gitlab} from '@gitbeaker/rest'
import {Octokit} from '@octokit/rest'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type RunningGithubFake, startGithubFake} from '../support/github-fake.js'
import {type RunningGitlabFake, startGitlabFake} from '../support/gitlab-fake.js'
import {havePyNacl, openSealedBox, sealBox} from '../support/pynacl.js'

/**
 * The delivery fakes against clients nobody here wrote (issue 18.4): @octokit/rest drives the
 * GitHub fake and @gitbeaker/rest the GitLab fake through each operation palette-keys uses. The
 * fakes check every request against the spec subset (GitHub's OpenAPI description; GitLab's
 * documented variables API) and every answer too: `contractViolations` must stay empty, so a
 * fake that drifted from what real clients send and expect fails here, not in a user's CI.
 */
const TOKEN = 'contract-test-token-0000000000000001'
/** Octokit logs each failed request; the failures here are on purpose. */
const QUIET = {debug: () => {}, info: () => {}, warn: () => {}, error: () => {}}

describe.skipIf(!havePyNacl())('the GitHub fake, driven by @octokit/rest', () => {
  let gh: RunningGithubFake
  let octokit: Octokit
  beforeAll(async () => {
    gh = await startGithubFake(TOKEN)
    octokit = new Octokit({auth: TOKEN, baseUrl: gh.url, request: {retries: 0}, log: QUIET})
  })
  afterAll(async () => {
    await gh.close()
  })

  it('repository, environment and organisation secrets: public key, create (201), update (204), read; sealed by PyNaCl, opened with the scope\'s key; no contract violation', async () => {
    const repoKey = await octokit.rest.actions.getRepoPublicKey({owner: 'acme', repo: 'app'})
    expect(repoKey.status).toBe(200)
    expect(Buffer.from(repoKey.data.key, 'base64')).toHaveLength(32)
    const put = (value: string) => octokit.rest.actions.createOrUpdateRepoSecret({owner: 'acme', repo: 'app', secret_name: 'DEPLOY_KEY', encrypted_value: sealBox(repoKey.data.key, value), key_id: repoKey.data.key_id})
    expect((await put('first-value-0001')).status).toBe(201)
    expect((await put('second-value-0002')).status).toBe(204)
    const read = await octokit.rest.actions.getRepoSecret({owner: 'acme', repo: 'app', secret_name: 'DEPLOY_KEY'})
    expect(read.data.name).toBe('DEPLOY_KEY')
    expect(openSealedBox(gh.privateKey('repos/acme/app'), gh.secret('repos/acme/app', 'DEPLOY_KEY')!.encrypted_value)).toBe('second-value-0002')

    const envKey = await octokit.rest.actions.getEnvironmentPublicKey({owner: 'acme', repo: 'app', environment_name: 'production'})
    expect(envKey.data.key_id).not.toBe(repoKey.data.key_id)
    const env = await octokit.rest.actions.createOrUpdateEnvironmentSecret({owner: 'acme', repo: 'app', environment_name: 'production', secret_name: 'DEPLOY_KEY', encrypted_value: sealBox(envKey.data.key, 'env-value-0003'), key_id: envKey.data.key_id})
    expect(env.status).toBe(201)
    expect(openSealedBox(gh.privateKey('repos/acme/app/environments/production'), gh.secret('repos/acme/app/environments/production', 'DEPLOY_KEY')!.encrypted_value)).toBe('env-value-0003')

    const orgKey = await octokit.rest.actions.getOrgPublicKey({org: 'acme'})
    const org = await octokit.rest.actions.createOrUpdateOrgSecret({org: 'acme', secret_name: 'DEPLOY_KEY', encrypted_value: sealBox(orgKey.data.key, 'org-value-0004'), key_id: orgKey.data.key_id, visibility: 'private'})
    expect(org.status).toBe(201)
    expect((await octokit.rest.actions.getOrgSecret({org: 'acme', secret_name: 'DEPLOY_KEY'})).data.visibility).toBe('private')
    expect(gh.contractViolations).toEqual([])
  })

  it('a bad token is refused with 401 (octokit\'s RequestError), and a key_id of another scope with 422', async () => {
    const other = new Octokit({auth: 'wrong-token', baseUrl: gh.url, request: {retries: 0}, log: QUIET})
    await expect(other.rest.actions.getRepoPublicKey({owner: 'acme', repo: 'app'})).rejects.toMatchObject({status: 401})
    const orgKey = await octokit.rest.actions.getOrgPublicKey({org: 'acme'})
    await expect(octokit.rest.actions.createOrUpdateRepoSecret({owner: 'acme', repo: 'app', secret_name: 'X', encrypted_value: sealBox(orgKey.data.key, 'v-0005'), key_id: orgKey.data.key_id})).rejects.toMatchObject({status: 422})
    expect(gh.contractViolations).toEqual([])
  })
})

describe('the GitLab fake, driven by @gitbeaker/rest', () => {
  let gl: RunningGitlabFake
  let api: InstanceType<typeof Gitlab>
  beforeAll(async () => {
    gl = await startGitlabFake(TOKEN)
    api = new Gitlab({host: gl.url, token: TOKEN})
  })
  afterAll(async () => {
    await gl.close()
  })

  it('project and group variables: create, show, edit under an environment scope; masking refused for a value GitLab cannot mask; no contract violation', async () => {
    const made = await api.ProjectVariables.create('acme/app', 'DEPLOY_KEY', 'first-value-0001', {masked: true, protected: true, environmentScope: 'production', raw: true})
    expect(made).toMatchObject({key: 'DEPLOY_KEY', masked: true, protected: true, environment_scope: 'production'})
    const shown = await api.ProjectVariables.show('acme/app', 'DEPLOY_KEY', {filter: {environment_scope: 'production'}})
    expect(shown.value).toBe('first-value-0001')
    await api.ProjectVariables.edit('acme/app', 'DEPLOY_KEY', 'second-value-0002', {filter: {environment_scope: 'production'}, masked: true})
    expect(gl.variable('projects/acme/app', 'DEPLOY_KEY', 'production')?.value).toBe('second-value-0002')
    // A second variable of the same key in another scope is its own.
    await api.ProjectVariables.create('acme/app', 'DEPLOY_KEY', 'staging-value-0003', {environmentScope: 'staging'})
    expect(gl.variable('projects/acme/app', 'DEPLOY_KEY', 'production')?.value).toBe('second-value-0002')
    // The same key and scope twice: 400 "has already been taken", as GitLab answers.
    await expect(api.ProjectVariables.create('acme/app', 'DEPLOY_KEY', 'again-0004', {environmentScope: 'staging'})).rejects.toMatchObject({cause: {response: {status: 400}}})
    // A value GitLab cannot mask (too short, or with a space) is refused when masked.
    await expect(api.ProjectVariables.create('acme/app', 'SHORT', 'abc', {masked: true})).rejects.toMatchObject({cause: {response: {status: 400}}})
    const group = await api.GroupVariables.create('acme', 'DEPLOY_KEY', 'group-value-0005', {protected: false})
    expect(group).toMatchObject({key: 'DEPLOY_KEY', environment_scope: '*'})
    expect(gl.contractViolations).toEqual([])
  })

  it('a bad token is refused with 401', async () => {
    const other = new Gitlab({host: gl.url, token: 'wrong-token'})
    await expect(other.ProjectVariables.show('acme/app', 'DEPLOY_KEY')).rejects.toMatchObject({cause: {response: {status: 401}}})
  })
})
