import { randomBytes } from 'node:crypto';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult } from '../domain/checks.js';
import { freePort } from '../src/net.js';
import { weeklySecurityReview } from '../workflows/weekly-security-review.js';
import { expectRbacExact, waitForDeployment } from './helpers/cluster.js';
import { storeReport } from './helpers/checklists.js';
import { runAndRecord } from './helpers/histories.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { startStack, type Stack } from './helpers/stack.js';
import { startTlsServer } from './helpers/targets.js';

describe('weeklySecurityReview', () => {
  let stack: Stack;
  let tls: Awaited<ReturnType<typeof startTlsServer>>;
  let reg: TestRegistry;
  let deadRegistry: string;
  const rogue = `rogue_${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    [tls, reg] = await Promise.all([startTlsServer(10), startRegistry()]);
    await reg.push('trixtech/shop', ['1.0.1', '1.0.3', '1.1.0']);
    await reg.push('trixtech/cart', ['2.0.0', '2.0.1']);
    // Nothing listens here: the backend's registry cannot be asked.
    deadRegistry = `http://127.0.0.1:${await freePort()}`;
    const follows = (deployment: string, registryUrl: string) => ({
      deployment,
      container: 'app',
      policy: 'patch',
      registryUrl,
    });
    stack = await startStack(
      {},
      {
        name: 'weekly-review',
        targets: { tls: [{ name: 'api-cert', host: '127.0.0.1', port: tls.port }] },
        file: {
          imageUpdates: [
            follows('trixtech-shop', reg.url),
            follows('trixtech-cart', reg.url),
            follows('trixtech-backend', deadRegistry),
          ],
        },
      },
    );
    const { kube } = stack;
    await kube.addNodes(1);
    await kube.deploy('trixtech-frontend', { image: 'trixtech/frontend:latest' });
    await kube.deploy('trixtech-backend', { image: 'registry.example:5000/trixtech/backend:2.4.1' });
    await kube.deploy('trixtech-worker', { image: 'trixtech/worker' });
    // Two deployments running the same image: one lookup, one finding naming both.
    await kube.deploy('trixtech-shop', { image: `${reg.host}/trixtech/shop:1.0.1` });
    await kube.deploy('trixtech-shop-canary', { image: `${reg.host}/trixtech/shop:1.0.1` });
    await kube.deploy('trixtech-cart', { image: `${reg.host}/trixtech/cart:2.0.1` });
    // The real cluster binds system:masters itself (cluster-admin); a person is added here under this file's own names.
    await kube.admin.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
      body: {
        metadata: { name: `${kube.namespace}-ops-admins` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'User', name: `bob@${kube.namespace}.trixtech.com`, apiGroup: 'rbac.authorization.k8s.io' }],
      },
    });
    await Promise.all(
      [
        'trixtech-frontend',
        'trixtech-backend',
        'trixtech-worker',
        'trixtech-shop',
        'trixtech-shop-canary',
        'trixtech-cart',
      ].map((d) => waitForDeployment(kube, d)),
    );
    await stack.db.pool.query(`CREATE ROLE ${rogue} SUPERUSER LOGIN`);
    await storeReport(stack.db.pool, {
      workflowId: 'emergency-old',
      kind: 'emergencyMaintenance',
      startedAt: new Date(Date.now() - 86_400_000).toISOString(),
      approvals: [
        {
          decision: 'approve',
          approver: 'mallory',
          at: new Date().toISOString(),
          via: 'temporal-cli',
          ignored: 'not an approver (allowed: sre-lead)',
        },
        {
          decision: 'approve',
          approver: 'sre-lead (unverified)',
          at: new Date().toISOString(),
          via: 'temporal-cli',
          ignored: 'no proof: the decision is unsigned',
        },
        { decision: 'approve', approver: 'sre-lead', at: new Date().toISOString(), via: 'slack' },
      ],
    });
  });
  afterAll(async () => {
    await stack?.db.pool.query(`DROP ROLE IF EXISTS ${rogue}`);
    if (stack) expectRbacExact(stack.kube, { everyGrantUsed: false });
    await stack?.kube.admin
      .makeApiClient(RbacAuthorizationV1Api)
      .deleteClusterRoleBinding({ name: `${stack.kube.namespace}-ops-admins` })
      .catch(() => undefined);
    await Promise.all([stack?.stop(), tls?.close(), reg?.stop()]);
  });

  it('flags the expiring certificate, the rogue superuser, the human cluster-admin, mutable image tags, images behind their patch release and ignored approval attempts', async () => {
    const report = await stack.withBridge(async ({ client, taskQueue }) => {
      return runAndRecord(
        client,
        'weeklySecurityReview',
        weeklySecurityReview,
        taskQueue,
        {},
        'weeklySecurityReview-patch-releases',
      );
    });
    const find = (check: string, target: string) =>
      report.checks.find((c: CheckResult) => c.check === check && c.target === target);
    expect(find('tls', 'api-cert')).toMatchObject({ status: 'warn' });
    expect(find('db.privileged-roles', rogue)).toMatchObject({ status: 'critical' });
    expect(find('db.privileged-roles', 'postgres')).toBeUndefined();
    const ns = stack.kube.namespace;
    expect(find('k8s.cluster-admin', `User/bob@${ns}.trixtech.com`)).toMatchObject({ status: 'warn' });
    expect(report.checks.some((c) => c.check === 'k8s.cluster-admin' && c.target.includes('system:masters'))).toBe(
      false,
    );
    expect(find('image-tag', `${ns}/trixtech-frontend`)).toMatchObject({ status: 'warn' });
    expect(find('image-tag', `${ns}/trixtech-worker`)).toMatchObject({ status: 'warn' });
    expect(find('image-tag', `${ns}/trixtech-backend`)).toMatchObject({ status: 'ok' });
    // Patch releases: the newest 1.0.x (1.0.3), not the newer minor 1.1.0; one finding per image.
    const patchReleases = report.checks.filter((c) => c.check === 'image.patch-release');
    expect(patchReleases.map((c) => c.target).sort()).toEqual(
      [
        `${reg.host}/trixtech/cart:2.0.1`,
        `${reg.host}/trixtech/shop:1.0.1`,
        'registry.example:5000/trixtech/backend:2.4.1',
      ].sort(),
    );
    expect(find('image.patch-release', `${reg.host}/trixtech/shop:1.0.1`)).toMatchObject({
      status: 'warn',
      value: '1.0.1',
      detail: `1.0.1 running, 1.0.3 released (run by ${ns}/trixtech-shop, ${ns}/trixtech-shop-canary)`,
    });
    expect(find('image.patch-release', `${reg.host}/trixtech/cart:2.0.1`)).toMatchObject({
      status: 'ok',
      detail: `2.0.1 is the newest 2.0.x (run by ${ns}/trixtech-cart)`,
    });
    expect(find('image.patch-release', 'registry.example:5000/trixtech/backend:2.4.1')).toMatchObject({
      status: 'warn',
      detail: `not checked (run by ${ns}/trixtech-backend): registry ${deadRegistry} did not answer the tag list of trixtech/backend: ECONNREFUSED`,
    });
    expect(report.checklist?.items.find((i) => i.id === 'wednesday.patches')).toMatchObject({ state: 'warn' });
    expect(find('approval-log', 'mallory')?.detail).toContain('ignored, not an approver');
    expect(find('approval-log', 'sre-lead (unverified)')?.detail).toBe(
      'sre-lead (unverified) tried to approve emergencyMaintenance emergency-old via temporal-cli: ignored, no proof: the decision is unsigned',
    );
    expect(find('approval-log', 'decisions')).toMatchObject({
      value: 1,
      detail: '1 counted decision(s) by sre-lead; 2 ignored',
    });
    expect(report.outcome).toBe('critical');
    // A critical finding alerts.
    expect(stack.slack.postsTo('/alert').some((p) => p.body.text?.includes(rogue))).toBe(true);
  });
});
