import { randomBytes } from 'node:crypto';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult } from '../domain/checks.js';
import { weeklySecurityReview } from '../workflows/weekly-security-review.js';
import { expectRbacExact, waitForDeployment } from './helpers/cluster.js';
import { storeReport } from './helpers/checklists.js';
import { runAndRecord } from './helpers/histories.js';
import { startStack, type Stack } from './helpers/stack.js';
import { startTlsServer } from './helpers/targets.js';

describe('weeklySecurityReview', () => {
  let stack: Stack;
  let tls: Awaited<ReturnType<typeof startTlsServer>>;
  const rogue = `rogue_${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    tls = await startTlsServer(10);
    stack = await startStack(
      {},
      { name: 'weekly-review', targets: { tls: [{ name: 'api-cert', host: '127.0.0.1', port: tls.port }] } },
    );
    const { kube } = stack;
    await kube.addNodes(1);
    await kube.deploy('trixtech-frontend', { image: 'trixtech/frontend:latest' });
    await kube.deploy('trixtech-backend', { image: 'registry.example:5000/trixtech/backend:2.4.1' });
    await kube.deploy('trixtech-worker', { image: 'trixtech/worker' });
    // The real cluster binds system:masters itself (cluster-admin); a person is added here under this file's own names.
    await kube.admin.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
      body: {
        metadata: { name: `${kube.namespace}-ops-admins` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'User', name: `bob@${kube.namespace}.trixtech.com`, apiGroup: 'rbac.authorization.k8s.io' }],
      },
    });
    await Promise.all(
      ['trixtech-frontend', 'trixtech-backend', 'trixtech-worker'].map((d) => waitForDeployment(kube, d)),
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
    await Promise.all([stack?.stop(), tls?.close()]);
  });

  it('flags the expiring certificate, the rogue superuser, the human cluster-admin, mutable image tags and ignored approval attempts', async () => {
    const report = await stack.withBridge(async ({ client, taskQueue }) => {
      return runAndRecord(client, 'weeklySecurityReview', weeklySecurityReview, taskQueue, {});
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
