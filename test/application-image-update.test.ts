// applicationImageUpdate (the seed's app-update-weekly) against a real registry started here
// (tags pushed through its HTTP API) and the suite's real control plane, with a real worker.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryActivities, parseImage } from '../activities/registry.js';
import { ConfigError } from '../src/config/load.js';
import { freePort } from '../src/net.js';
import { applicationImageUpdate } from '../workflows/application-image-update.js';
import { clusterForFile, expectRbacExact, waitForDeployment, waitUntil, type TestCluster } from './helpers/cluster.js';
import { refusal } from './helpers/failures.js';
import { recordHistory } from './helpers/histories.js';
import { runActivity } from './helpers/kube.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { testConfig, withWorker } from './helpers/temporal.js';
import { startTokenServer } from './helpers/token-server.js';

describe('applicationImageUpdate', () => {
  let reg: TestRegistry;
  let t: TestCluster;
  let db: TestDatabase;
  beforeAll(async () => {
    [reg, t, db] = await Promise.all([
      startRegistry(),
      clusterForFile('image-update'),
      createTestDatabase('maint_image_update'),
    ]);
    await reg.push('trixtech/shop', ['1.0.0', '1.0.1', '1.1.0', '1.2.0-rc1', '2.0.0', 'latest', 'v1.9.0']);
    await reg.push('trixtech/cart', ['2.3.0', '2.3.1', '2.4.0']);
    await reg.push('trixtech/pay', ['3.0.0', '3.0.1']);
  });
  afterAll(async () => {
    if (t) {
      expectRbacExact(t, { everyGrantUsed: false });
      await t.cleanup();
    }
    await Promise.all([reg?.stop(), db?.drop()]);
  });

  const inCluster = <T>(
    imageUpdates: object[],
    fn: Parameters<typeof withWorker<T>>[1],
    { env = {}, registries = [] }: { env?: Record<string, string>; registries?: object[] } = {},
  ) =>
    withWorker(
      testConfig(
        { MAINT_DATABASE_URL: db.url, KUBECONFIG: t.workerKubeconfig, ...env },
        { targets: { kubernetes: { namespace: t.namespace } }, imageUpdates, registries },
      ),
      fn,
    );

  it('findNewestImageTag: the newest release the policy allows, never a pre-release or another prefix; refusals are findings', async () => {
    const acts = createRegistryActivities({ targets: [] });
    const image = `${reg.host}/trixtech/shop:1.0.0`;
    const newest = async (policy: 'patch' | 'minor' | 'major', from = image) =>
      (await acts.findNewestImageTag({ image: from, policy, registryUrl: reg.url })).newest;
    expect(await newest('patch')).toBe('1.0.1');
    expect(await newest('minor')).toBe('1.1.0');
    expect(await newest('major')).toBe('2.0.0');
    expect(await newest('major', `${reg.host}/trixtech/shop:2.0.0`)).toBeNull();
    expect(await acts.findNewestImageTag({ image, policy: 'minor', registryUrl: reg.url })).toEqual({
      repository: 'trixtech/shop',
      current: '1.0.0',
      newest: '1.1.0',
      image: `${reg.host}/trixtech/shop:1.1.0`,
      tags: 7,
    });

    const missing = await refusal(
      acts.findNewestImageTag({ image: `${reg.host}/trixtech/ghost:1.0.0`, policy: 'minor', registryUrl: reg.url }),
    );
    expect([missing.type, missing.nonRetryable, missing.message]).toEqual([
      'RegistryRefused',
      true,
      `registry ${reg.url} has no repository trixtech/ghost (404)`,
    ]);
    const latest = await refusal(
      acts.findNewestImageTag({ image: `${reg.host}/trixtech/shop:latest`, policy: 'minor', registryUrl: reg.url }),
    );
    expect(latest.message).toBe(
      `current tag "latest" of ${reg.host}/trixtech/shop:latest is not a release version (x.y.z): no minor policy applies`,
    );
    const down = `http://127.0.0.1:${await freePort()}`;
    const unreachable = await refusal(acts.findNewestImageTag({ image, policy: 'minor', registryUrl: down }));
    expect([unreachable.type, unreachable.nonRetryable]).toEqual(['RegistryUnavailable', false]);
    expect(unreachable.message).toBe(`registry ${down} did not answer the tag list of trixtech/shop: ECONNREFUSED`);

    expect(parseImage('nginx:1.25.3')).toEqual({
      host: 'registry-1.docker.io',
      repository: 'library/nginx',
      tag: '1.25.3',
    });
    expect(parseImage('ghcr.io/trixtech/backend:2.4.1')).toEqual({
      host: 'ghcr.io',
      repository: 'trixtech/backend',
      tag: '2.4.1',
    });
    expect(() =>
      testConfig({}, { imageUpdates: [{ deployment: 'shop', container: 'app', policy: 'weekly' }] }),
    ).toThrow(ConfigError);
    expect(() =>
      testConfig({}, { imageUpdates: [{ deployment: 'shop', container: 'app', policy: 'weekly' }] }),
    ).toThrow(/imageUpdates\[0\]\.policy/);
  });

  it('updates what has a newer allowed release, leaves the rest, and reports an unknown repository and a missing deployment without changing anything', async () => {
    await t.addNodes(1);
    await t.deploy('shop', { replicas: 1, image: `${reg.host}/trixtech/shop:1.0.0` });
    await t.deploy('cart', { replicas: 1, image: `${reg.host}/trixtech/cart:2.3.1` });
    await t.deploy('ghost', { replicas: 1, image: `${reg.host}/trixtech/ghost:1.0.0` });
    await Promise.all(['shop', 'cart', 'ghost'].map((d) => waitForDeployment(t, d)));
    const targets = [
      { deployment: 'shop', container: 'app', policy: 'minor', registryUrl: reg.url },
      { deployment: 'cart', container: 'app', policy: 'patch', registryUrl: reg.url },
      { deployment: 'ghost', container: 'app', policy: 'major', registryUrl: reg.url },
      { deployment: 'absent', container: 'app', policy: 'major', registryUrl: reg.url },
    ];
    const workflowId = `image-update-${t.namespace}`;
    const { report, history } = await inCluster(targets, async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(applicationImageUpdate, {
        taskQueue,
        workflowId,
        args: [{ rolloutTimeout: '60s', pollInterval: 200 }],
      });
      return { report: await handle.result(), history: await handle.fetchHistory() };
    });
    await recordHistory('applicationImageUpdate', history, workflowId);

    const by = Object.fromEntries(report.checks.map((c) => [c.target.split('/')[1], c]));
    expect(by.shop).toMatchObject({
      status: 'ok',
      value: '1.1.0',
      detail: 'updated 1.0.0 -> 1.1.0 (newest minor release of trixtech/shop)',
    });
    expect(by.cart).toMatchObject({
      status: 'ok',
      value: '2.3.1',
      detail: 'up to date: 2.3.1 is the newest patch release of trixtech/cart (3 tag(s) listed)',
    });
    expect(by.ghost).toMatchObject({
      status: 'warn',
      detail: `not updated (${reg.host}/trixtech/ghost:1.0.0 left as it is): registry ${reg.url} has no repository trixtech/ghost (404)`,
    });
    expect(by.absent).toMatchObject({
      status: 'warn',
      detail: `not updated: deployment ${t.namespace}/absent does not exist`,
    });
    expect(report.summary).toMatch(/^Weekly image update: 1 of 4 deployment container\(s\) updated/);
    expect(report.outcome).toBe('warn');

    const image = async (d: string) =>
      (
        (await runActivity(t.activities.readDeploymentRevision, { deployment: d })) as {
          images: Record<string, string>;
        }
      ).images.app;
    expect(await image('shop')).toBe(`${reg.host}/trixtech/shop:1.1.0`);
    expect(await image('cart')).toBe(`${reg.host}/trixtech/cart:2.3.1`);
    expect(await image('ghost')).toBe(`${reg.host}/trixtech/ghost:1.0.0`);
  });

  it('private registries: updated through the token flow; a wrong password is a finding that never shows it', async () => {
    const password = `pw-${randomUUID()}`;
    const wrong = `wrong-${randomUUID()}`;
    const tokens = await startTokenServer({ users: { bot: { password, actions: ['pull'] } }, expiresIn: 300 });
    const [open, locked] = await Promise.all([startRegistry({ token: tokens }), startRegistry({ token: tokens })]);
    try {
      await Promise.all([
        open.push('trixtech/vault', ['1.0.0', '1.0.1']),
        locked.push('trixtech/safe', ['1.0.0', '1.0.1']),
      ]);
      await t.addNodes(1);
      await t.deploy('vault', { replicas: 1, image: `${open.host}/trixtech/vault:1.0.0` });
      await t.deploy('safe', { replicas: 1, image: `${locked.host}/trixtech/safe:1.0.0` });
      await Promise.all(['vault', 'safe'].map((d) => waitForDeployment(t, d)));
      const realmHost = new URL(tokens.realm).host;
      const workflowId = `image-update-private-${t.namespace}`;
      const { report, history } = await inCluster(
        [
          { deployment: 'vault', container: 'app', policy: 'patch', registryUrl: open.url },
          { deployment: 'safe', container: 'app', policy: 'patch', registryUrl: locked.url },
        ],
        async ({ client, taskQueue }) => {
          const handle = await client.workflow.start(applicationImageUpdate, {
            taskQueue,
            workflowId,
            args: [{ rolloutTimeout: '60s', pollInterval: 200 }],
          });
          return { report: await handle.result(), history: await handle.fetchHistory() };
        },
        {
          env: { VAULT_REGISTRY_PASSWORD: password, SAFE_REGISTRY_PASSWORD: wrong },
          registries: [
            { host: open.host, username: 'bot', passwordEnv: 'VAULT_REGISTRY_PASSWORD', realmHost },
            { host: locked.host, username: 'bot', passwordEnv: 'SAFE_REGISTRY_PASSWORD', realmHost },
          ],
        },
      );
      const by = Object.fromEntries(report.checks.map((c) => [c.target.split('/')[1], c]));
      expect(by.vault).toMatchObject({
        status: 'ok',
        value: '1.0.1',
        detail: 'updated 1.0.0 -> 1.0.1 (newest patch release of trixtech/vault)',
      });
      expect(by.safe).toMatchObject({
        status: 'warn',
        detail: `not updated (${locked.host}/trixtech/safe:1.0.0 left as it is): token realm ${tokens.realm} of registry ${locked.url} answered 401 to user bot asking for repository:trixtech/safe:pull (wrong user name or password?)`,
      });
      for (const text of [JSON.stringify(report), JSON.stringify(history)]) {
        expect(text).not.toContain(password);
        expect(text).not.toContain(wrong);
      }
      expect(tokens.requests.map((r) => [r.scopes, r.status])).toEqual([
        [['repository:trixtech/vault:pull'], 200],
        [['repository:trixtech/safe:pull'], 401],
      ]);
    } finally {
      await Promise.all([open.stop(), locked.stop()]);
      await tokens.stop();
    }
  });

  it('a rollout the cluster cannot complete is rolled back to the recorded revision and reported critical', async () => {
    await t.addNodes(1);
    await t.deploy('pay', { replicas: 1, image: `${reg.host}/trixtech/pay:3.0.0`, progressDeadlineSeconds: 2 });
    await waitForDeployment(t, 'pay');
    // A pod quota at what runs now: the new release's surge pod is refused, the rollout passes its deadline.
    const pods = (await t.pods()).length;
    await t.core.createNamespacedResourceQuota({
      namespace: t.namespace,
      body: { metadata: { name: 'pods' }, spec: { hard: { pods: String(pods) } } },
    });
    await waitUntil(
      'the quota to be counted',
      async () =>
        (await t.core.readNamespacedResourceQuota({ name: 'pods', namespace: t.namespace })).status?.used?.pods ===
          String(pods) || undefined,
    );

    const report = await inCluster(
      [{ deployment: 'pay', container: 'app', policy: 'patch', registryUrl: reg.url }],
      ({ client, taskQueue }) =>
        client.workflow.execute(applicationImageUpdate, {
          taskQueue,
          workflowId: `image-update-fail-${t.namespace}`,
          args: [{ rolloutTimeout: '60s', pollInterval: 200 }],
        }),
    );
    expect(report.outcome).toBe('critical');
    expect(report.checks).toHaveLength(1);
    expect(report.checks[0]!.detail).toMatch(
      /^update failed: Failed: rollout of pay failed: ProgressDeadlineExceeded: .*; compensated: roll back to revision 1$/,
    );
    const after = (await runActivity(t.activities.readDeploymentRevision, { deployment: 'pay' })) as {
      images: Record<string, string>;
    };
    expect(after.images.app).toBe(`${reg.host}/trixtech/pay:3.0.0`);
    await waitForDeployment(t, 'pay');
  });
});
