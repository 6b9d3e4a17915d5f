// The alert gate (kured's rule: nothing disruptive starts while alerts fire) against a real
// Alertmanager started here and the suite's real control plane, with a real worker.
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlertActivities } from '../activities/alerts.js';
import { freePort } from '../src/net.js';
import type { RunReport } from '../domain/run.js';
import { applicationUpdate } from '../workflows/application-update.js';
import { nodeUpdatedSignal, statusQuery } from '../workflows/lib/definitions.js';
import { nodeUpdate, type NodeUpdateInput } from '../workflows/node-update.js';
import { startAlertmanager, type TestAlertmanager } from './helpers/alertmanager.js';
import { clusterForFile, expectRbacExact, waitForDeployment, waitUntil, type TestCluster } from './helpers/cluster.js';
import { recordHistory } from './helpers/histories.js';
import { runActivity } from './helpers/kube.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { testConfig, withWorker } from './helpers/temporal.js';
import { workflowFailureOf } from './helpers/failures.js';

const FAST = {
  drain: { timeout: '30s', pollInterval: 200, evictionRetry: 250 },
  readyTimeout: '30s',
  pollInterval: 200,
} satisfies Partial<NodeUpdateInput>;

describe('alert gate', () => {
  let am: TestAlertmanager;
  let t: TestCluster;
  let db: TestDatabase;
  beforeAll(async () => {
    [am, t, db] = await Promise.all([
      startAlertmanager(),
      clusterForFile('alert-gate'),
      createTestDatabase('maint_alert_gate'),
    ]);
  });
  afterAll(async () => {
    if (t) {
      expectRbacExact(t, { everyGrantUsed: false });
      await t.cleanup();
    }
    await Promise.all([am?.stop(), db?.drop()]);
  });

  const alertsConfig = (over: object = {}) => ({ alertmanagerUrl: am.url, ignore: ['Watchdog'], ...over });
  const inCluster = <T>(fn: Parameters<typeof withWorker<T>>[1], alerts: object = alertsConfig()) =>
    withWorker(
      testConfig(
        { MAINT_DATABASE_URL: db.url, KUBECONFIG: t.workerKubeconfig },
        { targets: { kubernetes: { namespace: t.namespace } }, alerts },
      ),
      fn,
    );
  const stored = async (workflowId: string) =>
    (await db.pool.query('SELECT outcome, report FROM maintenance_runs WHERE workflow_id = $1', [workflowId]))
      .rows[0] as { outcome: string; report: RunReport } | undefined;
  const unschedulable = async (node: string) => (await t.core.readNode({ name: node })).spec?.unschedulable ?? false;
  /** This file's node patches (cordons) so far, from the audit log. */
  const nodePatches = (node: string) =>
    t.audit().filter((e) => e.verb === 'patch' && e.objectRef?.resource === 'nodes' && e.objectRef.name === node);

  it('checkMaintenanceAlerts: the ignore and block lists decide what blocks; receivers that notify nobody do not count; Alertmanager down is an error', async () => {
    const tag = t.namespace;
    await am.fire('Watchdog', { tag });
    await am.fire('DiskPressure', { tag, node: 'n7' });
    try {
      const gate = createAlertActivities({ alerts: alertsConfig() });
      const state = await gate.checkMaintenanceAlerts();
      expect(state.blocking.map((a) => a.name)).toEqual(['DiskPressure']);
      expect(state.blocking[0]!.labels).toBe(`node=n7, tag=${tag}`);
      expect(state.checks).toEqual([
        {
          check: 'alerts.configured',
          target: 'alertmanager',
          status: 'ok',
          value: 1,
          unit: 'receivers',
          detail: 'routes alerts to oncall',
        },
        expect.objectContaining({
          check: 'alerts.firing',
          status: 'warn',
          value: 1,
          threshold: 'blocking: all but Watchdog',
          detail: expect.stringMatching(/^firing: DiskPressure \{node=n7, tag=.*\} since .* \(1 ignored\)$/),
        }),
      ]);
      const onlyNodeDown = await createAlertActivities({
        alerts: alertsConfig({ block: ['NodeDown'] }),
      }).checkMaintenanceAlerts();
      expect(onlyNodeDown.blocking).toEqual([]);
      expect(onlyNodeDown.checks[1]).toMatchObject({
        status: 'ok',
        detail: 'no blocking alert firing (2 ignored)',
        threshold: 'blocking: NodeDown',
      });

      const down = createAlertActivities({
        alerts: { alertmanagerUrl: `http://127.0.0.1:${await freePort()}`, ignore: [] },
      });
      const err = await down.checkMaintenanceAlerts().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).type).toBe('AlertmanagerUnavailable');
      expect((err as ApplicationFailure).message).toMatch(/^Alertmanager did not answer \/api\/v2\/\w+: ECONNREFUSED$/);
      expect(await createAlertActivities({ alerts: { ignore: [] } }).checkMaintenanceAlerts()).toMatchObject({
        blocking: [],
        checks: [{ status: 'skipped' }, { status: 'skipped' }],
      });
    } finally {
      await am.resolve('Watchdog', { tag });
      await am.resolve('DiskPressure', { tag, node: 'n7' });
    }
  });

  it('nodeUpdate refuses while a blocking alert fires: nothing cordoned, the report names the alert', async () => {
    const [node] = await t.addNodes(1);
    await am.fire('NodeDown', { node: node! });
    try {
      const workflowId = `alert-refuse-${t.namespace}`;
      const failure = await inCluster(({ client, taskQueue }) =>
        workflowFailureOf(
          client.workflow.execute(nodeUpdate, {
            taskQueue,
            workflowId,
            args: [{ node: node!, ...FAST, alerts: { whileFiring: 'refuse' } }],
          }),
        ),
      );
      expect(failure.message).toContain(
        `refused: blocking alerts firing: NodeDown {node=${node}} (alerts.whileFiring: refuse)`,
      );
      expect(await unschedulable(node!)).toBe(false);
      expect(nodePatches(node!)).toEqual([]);
      const row = await stored(workflowId);
      expect(row?.outcome).toBe('failed');
      expect(row?.report.steps.map((s) => `${s.name}: ${s.outcome}`)).toEqual([
        `no blocking alert firing before cordoning ${node}: failed`,
      ]);
    } finally {
      await am.resolve('NodeDown', { node: node! });
    }
  });

  it('nodeUpdate waits while a blocking alert fires (an ignored one firing all along), cordons once it resolves, and reports alerts cleared', async () => {
    const [node] = await t.addNodes(1);
    await am.fire('Watchdog');
    await am.fire('NodeDown', { node: node! });
    const workflowId = `alert-wait-${t.namespace}`;
    const { report, history } = await inCluster(async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(nodeUpdate, {
        taskQueue,
        workflowId,
        args: [
          {
            node: node!,
            ...FAST,
            update: { doneWhen: 'signal', timeout: '2 minutes' },
            alerts: { whileFiring: 'wait', waitUpTo: '5 minutes', pollInterval: 200 },
          },
        ],
      });
      await waitUntil(
        'the run to wait for the alert',
        async () =>
          (await handle.query(statusQuery)).waitingFor?.startsWith(
            `blocking alerts to clear: NodeDown {node=${node}}`,
          ) || undefined,
      );
      expect(await unschedulable(node!)).toBe(false);
      await am.resolve('NodeDown', { node: node! });
      await waitUntil(
        'the run to wait for the update',
        async () => (await handle.query(statusQuery)).waitingFor?.startsWith('signal nodeUpdated') || undefined,
      );
      expect(await unschedulable(node!)).toBe(true);
      await handle.signal(nodeUpdatedSignal, { by: 'test' });
      return { report: await handle.result(), history: await handle.fetchHistory() };
    });
    await am.resolve('Watchdog');
    await recordHistory('nodeUpdate-alert-gate', history, workflowId);
    expect(report.outcome).toBe('ok');
    expect(report.checks.map((c) => `${c.check}: ${c.status}`)).toEqual([
      'alerts.configured: ok',
      'alerts.cleared: ok',
    ]);
    expect(report.checks[1]!.detail).toBe('no blocking alert firing (1 ignored)');
    expect(report.steps.map((s) => s.name)).toEqual([
      `no blocking alert firing before cordoning ${node}`,
      `cordon ${node}`,
      `drain ${node}`,
      'wait for the update',
      `${node} Ready`,
      `uncordon ${node}`,
      'monitoring alerts cleared',
    ]);
    expect(await unschedulable(node!)).toBe(false);
  });

  it('nodeUpdate with Alertmanager down: a clear failure, nothing cordoned', async () => {
    const [node] = await t.addNodes(1);
    const workflowId = `alert-down-${t.namespace}`;
    const failure = await inCluster(
      ({ client, taskQueue }) =>
        workflowFailureOf(
          client.workflow.execute(nodeUpdate, {
            taskQueue,
            workflowId,
            args: [{ node: node!, ...FAST }],
          }),
        ),
      alertsConfig({ alertmanagerUrl: `http://127.0.0.1:${await freePort()}` }),
    );
    expect(failure.message).toMatch(/Alertmanager did not answer \/api\/v2\/\w+: ECONNREFUSED/);
    expect(await unschedulable(node!)).toBe(false);
    expect(nodePatches(node!)).toEqual([]);
  });

  it('applicationUpdate: no rollout while a blocking alert fires; once quiet it rolls out and reports alerts cleared', async () => {
    await t.addNodes(1);
    await t.deploy('api', { replicas: 1, image: 'ghcr.io/trixtech/api:1.0.0' });
    await waitForDeployment(t, 'api');
    await am.fire('HighErrorRate', { service: 'api' });
    const args = {
      deployment: 'api',
      container: 'app',
      image: 'ghcr.io/trixtech/api:1.1.0',
      rolloutTimeout: '60s',
      pollInterval: 200,
    };
    const refused = await inCluster(({ client, taskQueue }) =>
      workflowFailureOf(
        client.workflow.execute(applicationUpdate, {
          taskQueue,
          workflowId: `alert-app-refuse-${t.namespace}`,
          args: [{ ...args, alerts: { whileFiring: 'refuse' } }],
        }),
      ),
    );
    expect(refused.message).toContain('refused: blocking alerts firing: HighErrorRate {service=api}');
    expect(await runActivity(t.activities.readDeploymentRevision, { deployment: 'api' })).toMatchObject({
      revision: '1',
      images: { app: 'ghcr.io/trixtech/api:1.0.0' },
    });

    await am.resolve('HighErrorRate', { service: 'api' });
    const workflowId = `alert-app-${t.namespace}`;
    const { report, history } = await inCluster(async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(applicationUpdate, {
        taskQueue,
        workflowId,
        args: [{ ...args, alerts: { whileFiring: 'refuse' } }],
      });
      return { report: await handle.result(), history: await handle.fetchHistory() };
    });
    await recordHistory('applicationUpdate-alert-gate', history, workflowId);
    expect(report.outcome).toBe('ok');
    expect(report.checks.map((c) => `${c.check}: ${c.status}`)).toEqual([
      'http: skipped',
      'alerts.configured: ok',
      'alerts.cleared: ok',
    ]);
    expect(await runActivity(t.activities.readDeploymentRevision, { deployment: 'api' })).toMatchObject({
      revision: '2',
      images: { app: 'ghcr.io/trixtech/api:1.1.0' },
    });
  });
});
