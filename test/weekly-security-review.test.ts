import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReportActivities } from '../activities/reports.js';
import type { CheckResult } from '../domain/checks.js';
import { weeklySecurityReview } from '../workflows/weekly-security-review.js';
import { addDeployment } from './k8s-double/fixtures.js';
import { recordHistory } from './helpers/histories.js';
import { expectAllGranted } from './helpers/kube.js';
import { startStack, uniqueId, type Stack } from './helpers/stack.js';
import { startTlsServer } from './helpers/targets.js';

describe('weeklySecurityReview', () => {
  let stack: Stack;
  let tls: Awaited<ReturnType<typeof startTlsServer>>;
  const rogue = `rogue_${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    tls = await startTlsServer(10);
    stack = await startStack({}, { targets: { tls: [{ name: 'api-cert', host: '127.0.0.1', port: tls.port }] } });
    addDeployment(stack.k8s, 'trixtech-frontend', { image: 'trixtech/frontend:latest' });
    addDeployment(stack.k8s, 'trixtech-backend', { image: 'registry.example:5000/trixtech/backend:2.4.1' });
    addDeployment(stack.k8s, 'trixtech-worker', { image: 'trixtech/worker' });
    for (const [name, subject] of [['ops-admins', { kind: 'User', name: 'bob@trixtech.com' }], ['kubeadm', { kind: 'Group', name: 'system:masters' }]] as const) {
      stack.k8s.create('rbac.authorization.k8s.io', 'clusterrolebindings', {
        metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [subject],
      });
    }
    await stack.db.pool.query(`CREATE ROLE ${rogue} SUPERUSER LOGIN`);
    await createReportActivities({ reports: stack.db.pool }).persistRunReport({
      workflowId: 'emergency-old', runId: 'r', kind: 'emergencyMaintenance', target: 'x', outcome: 'ok',
      startedAt: new Date(Date.now() - 86_400_000).toISOString(), finishedAt: new Date().toISOString(), summary: 's', checks: [], steps: [],
      approvals: [
        { decision: 'approve', approver: 'mallory', at: new Date().toISOString(), via: 'temporal-cli', ignored: 'not an approver (allowed: sre-lead)' },
        { decision: 'approve', approver: 'sre-lead (unverified)', at: new Date().toISOString(), via: 'temporal-cli', ignored: 'no proof: the decision is unsigned' },
        { decision: 'approve', approver: 'sre-lead', at: new Date().toISOString(), via: 'slack' },
      ],
    });
  });
  afterAll(async () => {
    await stack?.db.pool.query(`DROP ROLE IF EXISTS ${rogue}`);
    const served = [...(stack?.served() ?? [])];
    await Promise.all([stack?.stop(), tls?.close()]);
    expectAllGranted(served);
  });

  it('flags the expiring certificate, the rogue superuser, the human cluster-admin, mutable image tags and ignored approval attempts', async () => {
    const report = await stack.withBridge(async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(weeklySecurityReview, { taskQueue, workflowId: uniqueId('weekly-security-review'), args: [{}] });
      const result = await handle.result();
      await recordHistory('weeklySecurityReview', await handle.fetchHistory(), handle.workflowId);
      return result;
    });
    const find = (check: string, target: string) => report.checks.find((c: CheckResult) => c.check === check && c.target === target);
    expect(find('tls', 'api-cert')).toMatchObject({ status: 'warn' });
    expect(find('db.privileged-roles', rogue)).toMatchObject({ status: 'critical' });
    expect(find('db.privileged-roles', 'postgres')).toBeUndefined();
    expect(find('k8s.cluster-admin', 'User/bob@trixtech.com')).toMatchObject({ status: 'warn' });
    expect(report.checks.some((c) => c.check === 'k8s.cluster-admin' && c.target.includes('system:masters'))).toBe(false);
    expect(find('image-tag', 'default/trixtech-frontend')).toMatchObject({ status: 'warn' });
    expect(find('image-tag', 'default/trixtech-worker')).toMatchObject({ status: 'warn' });
    expect(find('image-tag', 'default/trixtech-backend')).toMatchObject({ status: 'ok' });
    expect(find('approval-log', 'mallory')?.detail).toContain('ignored, not an approver');
    expect(find('approval-log', 'sre-lead (unverified)')?.detail).toBe('sre-lead (unverified) tried to approve emergencyMaintenance emergency-old via temporal-cli: ignored, no proof: the decision is unsigned');
    expect(find('approval-log', 'decisions')).toMatchObject({ value: 1, detail: '1 counted decision(s) by sre-lead; 2 ignored' });
    expect(report.outcome).toBe('critical');
    // A critical finding alerts.
    expect(stack.slack.postsTo('/alert').some((p) => p.body.text?.includes(rogue))).toBe(true);
  });
});
