// The alert gate (kured's rule: nothing disruptive starts while alerts fire) against a real
// Alertmanager started here and the suite's real control plane, with a real worker.
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlertActivities } from '../activities/alerts.js';
import type { WindowSilence } from '../domain/alerts.js';
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
import { testConfig, withWorker, type WorkerContext } from './helpers/temporal.js';
import { workflowFailureOf } from './helpers/failures.js';

const FAST = {
  drain: { timeout: '30s', pollInterval: 200, evictionRetry: 250 },
  readyTimeout: '30s',
  pollInterval: 200,
} satisfies Partial<NodeUpdateInput>;
/** Waits for the `nodeUpdated` signal (up to 2 minutes) once the node is drained. */
const SIGNALLED = { ...FAST, update: { doneWhen: 'signal', timeout: '2 minutes' } } satisfies Partial<NodeUpdateInput>;

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
  /** A window silence whose matchers carry this file's namespace: no other file's alerts match it. */
  const silencing = (over: object = {}) =>
    alertsConfig({
      silenceDuringWindows: {
        matchers: [
          { name: 'alertname', value: 'KubeNode(NotReady|Unreachable)', isRegex: true },
          { name: 'suite', value: t.namespace },
        ],
        comment: 'node maintenance',
        createdBy: 'alert-gate test',
      },
      ...over,
    });
  const matchers = () => `alertname=~"KubeNode(NotReady|Unreachable)", suite="${t.namespace}"`;
  /** The silences a run created (its marker in the comment), from GET /api/v2/silences. */
  const silencesOf = async (workflowId: string, server = am) =>
    (await server.silences()).filter((s) => s.comment.includes(`[workflow ${workflowId} run `));
  /** What the run adds to the silence's end beyond its timeouts (workflows/lib/alert-gate.ts). */
  const MARGIN = 10 * 60_000;
  /** A nodeUpdate of a node (a new one unless given) run to its failure, against the alerts config (default: the gate's). */
  async function failedNodeUpdate(
    name: string,
    options: Omit<NodeUpdateInput, 'node'>,
    alerts?: object,
    node?: string,
  ) {
    node ??= (await t.addNodes(1))[0]!;
    const workflowId = `${name}-${t.namespace}`;
    const failure = await inCluster(
      ({ client, taskQueue }) =>
        workflowFailureOf(client.workflow.execute(nodeUpdate, { taskQueue, workflowId, args: [{ ...options, node }] })),
      alerts,
    );
    return { node, workflowId, failure };
  }
  /** Starts a nodeUpdate that waits for the `nodeUpdated` signal once the node is drained. */
  const startSignalled = (
    { client, taskQueue }: WorkerContext,
    workflowId: string,
    node: string,
    alerts: NodeUpdateInput['alerts'] = {},
  ) => client.workflow.start(nodeUpdate, { taskQueue, workflowId, args: [{ node, ...SIGNALLED, alerts }] });
  const untilUpdating = (handle: WorkflowHandle) =>
    waitUntil(
      'the run to wait for the update',
      async () => (await handle.query(statusQuery)).waitingFor?.startsWith('signal nodeUpdated') || undefined,
    );
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
      const { workflowId, failure } = await failedNodeUpdate(
        'alert-refuse',
        { ...FAST, alerts: { whileFiring: 'refuse' } },
        undefined,
        node,
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
    const { report, history } = await inCluster(async (worker) => {
      const handle = await startSignalled(worker, workflowId, node!, {
        whileFiring: 'wait',
        waitUpTo: '5 minutes',
        pollInterval: 200,
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
      await untilUpdating(handle);
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
    const { node, workflowId, failure } = await failedNodeUpdate(
      'alert-down',
      FAST,
      silencing({ alertmanagerUrl: `http://127.0.0.1:${await freePort()}` }),
    );
    expect(failure.message).toMatch(/Alertmanager did not answer \/api\/v2\/\w+: ECONNREFUSED/);
    expect(await unschedulable(node!)).toBe(false);
    expect(nodePatches(node!)).toEqual([]);
    // Nothing half-done: no silence was asked for, nothing to undo.
    expect((await stored(workflowId))?.report.steps.map((s) => `${s.name}: ${s.outcome}`)).toEqual([
      `no blocking alert firing before cordoning ${node}: failed`,
    ]);
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
  it('createWindowSilence / expireWindowSilence: one silence per run however often asked, an expired or unknown one expires fine; checkAlertsCleared counts the expected alerts once unsilenced', async () => {
    const suite = t.namespace;
    const acts = createAlertActivities({
      alerts: testConfig({}, { alerts: silencing({ block: ['NodeDown'] }) }).alerts,
    });
    const endsAt = new Date(Date.now() + 10 * 60_000).toISOString();
    const req = { workflowId: `silence-${suite}`, runId: 'run-1', target: 'node-a', endsAt };
    const first = (await acts.createWindowSilence(req)) as WindowSilence;
    expect(first).toEqual({ id: expect.any(String), endsAt, matchers: matchers(), created: true });
    const again = (await acts.createWindowSilence(req)) as WindowSilence;
    expect(again).toMatchObject({ id: first.id, created: false });
    expect(Date.parse(again.endsAt)).toBe(Date.parse(endsAt));
    const other = (await acts.createWindowSilence({ ...req, runId: 'run-2' })) as WindowSilence;
    expect(other.id).not.toBe(first.id);
    const held = await silencesOf(req.workflowId);
    expect(held.map((h) => h.id).sort()).toEqual([first.id, other.id].sort());
    expect(held.find((h) => h.id === first.id)).toMatchObject({
      status: { state: 'active' },
      createdBy: 'alert-gate test',
      comment: `node maintenance: node-a [workflow silence-${suite} run run-1]`,
      matchers: [
        { name: 'alertname', value: 'KubeNode(NotReady|Unreachable)', isRegex: true, isEqual: true },
        { name: 'suite', value: suite, isRegex: false, isEqual: true },
      ],
    });
    expect(await acts.createWindowSilence({ ...req, endsAt: new Date(Date.now() - 1000).toISOString() })).toEqual({
      skipped: expect.stringMatching(/^the window ended at /),
    });
    expect(
      await createAlertActivities({ alerts: testConfig({}, { alerts: alertsConfig() }).alerts }).createWindowSilence(
        req,
      ),
    ).toEqual({ skipped: 'no alerts.silenceDuringWindows configured' });

    await am.fire('KubeNodeNotReady', { suite, node: 'node-a' });
    await am.fire('SomethingElse', { suite });
    try {
      const cleared = (status: string, value: number, detail: string) => [
        {
          check: 'alerts.cleared',
          target: 'alertmanager',
          status,
          value,
          unit: 'alerts',
          threshold: `blocking: NodeDown; expected during the window: ${matchers()}`,
          detail,
        },
      ];
      // Silenced, the expected alert is not "still firing"; the other one is neither blocking nor expected.
      expect(await acts.checkAlertsCleared()).toEqual(
        cleared('ok', 0, 'no blocking or expected alert firing (1 ignored)'),
      );
      expect(await acts.expireWindowSilence({ id: first.id })).toEqual({ id: first.id, detail: 'expired' });
      // Alertmanager 0.25 (Debian's) expires it again with a 200; later versions answer an error, then it reads as expired.
      expect(await acts.expireWindowSilence({ id: first.id })).toEqual({
        id: first.id,
        detail: expect.stringMatching(/^(expired|already expired at \S+)$/),
      });
      expect(await acts.expireWindowSilence({ id: other.id })).toEqual({ id: other.id, detail: 'expired' });
      const unknown = '00000000-0000-4000-8000-000000000000';
      expect(await acts.expireWindowSilence({ id: unknown })).toEqual({ id: unknown, detail: 'absent: already gone' });
      expect((await silencesOf(req.workflowId)).map((h) => h.status.state)).toEqual(['expired', 'expired']);
      expect(await acts.checkAlertsCleared()).toEqual(
        cleared(
          'warn',
          1,
          expect.stringMatching(
            new RegExp(`^still firing: KubeNodeNotReady \\{node=node-a, suite=${suite}\\} since \\S+ \\(1 ignored\\)$`),
          ) as unknown as string,
        ),
      );
    } finally {
      await am.resolve('KubeNodeNotReady', { suite, node: 'node-a' });
      await am.resolve('SomethingElse', { suite });
    }
  });

  it('nodeUpdate silences the expected alerts while it works (until its window ends at the latest), expires the silence when done, then finds the alerts cleared', async () => {
    const [node] = await t.addNodes(1);
    const workflowId = `silence-ok-${t.namespace}`;
    // Sooner than the run's own bound (30 s + 2 min + 30 s + the margin): the window's end caps the silence.
    const until = new Date(Date.now() + 5 * 60_000).toISOString();
    const { report, history, held } = await inCluster(async (worker) => {
      const handle = await startSignalled(worker, workflowId, node!, { whileFiring: 'refuse', silenceUntil: until });
      await untilUpdating(handle);
      const held = await silencesOf(workflowId);
      await handle.signal(nodeUpdatedSignal, { by: 'test' });
      return { report: await handle.result(), history: await handle.fetchHistory(), held };
    }, silencing());
    await recordHistory('nodeUpdate-window-silences', history, workflowId);
    expect(held).toHaveLength(1);
    const id = held[0]!.id;
    expect(held[0]).toMatchObject({
      status: { state: 'active' },
      comment: `node maintenance: ${node} [workflow ${workflowId} run ${report.runId}]`,
    });
    expect(Date.parse(held[0]!.endsAt)).toBe(Date.parse(until));
    const after = await silencesOf(workflowId);
    expect(after.map((s) => [s.id, s.status.state])).toEqual([[id, 'expired']]);
    expect(Date.parse(after[0]!.endsAt)).toBeLessThan(Date.parse(until));

    expect(report.outcome).toBe('ok');
    expect(report.steps.map((s) => s.name)).toEqual([
      `no blocking alert firing before cordoning ${node}`,
      `silence the expected alerts until ${until}`,
      `cordon ${node}`,
      `drain ${node}`,
      'wait for the update',
      `${node} Ready`,
      `uncordon ${node}`,
      `expire silence ${id}`,
      'monitoring alerts cleared',
    ]);
    expect(report.steps[1]).toMatchObject({ outcome: 'ok', detail: `silence ${id}: ${matchers()}` });
    expect(report.steps[7]).toMatchObject({ outcome: 'ok', detail: 'expired' });
    expect(report.checks.map((c) => `${c.check}: ${c.status}: ${c.detail}`)).toEqual([
      'alerts.configured: ok: routes alerts to oncall',
      'alerts.cleared: ok: no blocking or expected alert firing',
    ]);
    expect(await unschedulable(node!)).toBe(false);
  });

  it('nodeUpdate that fails while silenced: its compensations lift its cordon and expire its silence, which was bounded by its own timeouts', async () => {
    const { node, workflowId, failure } = await failedNodeUpdate(
      'silence-fail',
      { ...FAST, update: { doneWhen: 'signal', timeout: '1s' } },
      silencing(),
    );
    const silences = await silencesOf(workflowId);
    expect(silences.map((s) => s.status.state)).toEqual(['expired']);
    const { id } = silences[0]!;
    expect(failure.message).toContain(`no nodeUpdated signal for ${node} within 1 s`);
    expect(failure.message).toContain(`compensated: uncordon ${node}, expire silence ${id} (else it ends at `);
    expect(await unschedulable(node!)).toBe(false);
    const row = await stored(workflowId);
    expect(row?.outcome).toBe('failed');
    const steps = row!.report.steps;
    // The run's own bound: drain 30 s + update 1 s + Ready 30 s + the margin, from the moment it asked.
    const endsAt = new Date(Date.parse(steps[1]!.startedAt) + 30_000 + 1_000 + 30_000 + MARGIN).toISOString();
    expect(steps.map((s) => `${s.name}: ${s.outcome}`)).toEqual([
      `no blocking alert firing before cordoning ${node}: ok`,
      `silence the expected alerts until ${endsAt}: ok`,
      `cordon ${node}: ok`,
      `drain ${node}: ok`,
      'wait for the update: failed',
      `compensate: uncordon ${node}: ok`,
      `compensate: expire silence ${id} (else it ends at ${endsAt}): ok`,
    ]);
  });

  it('applicationUpdate silences the expected alerts during its rollout and expires the silence after it', async () => {
    await t.addNodes(1);
    await t.deploy('web', { replicas: 1, image: 'ghcr.io/trixtech/web:1.0.0' });
    await waitForDeployment(t, 'web');
    const workflowId = `silence-app-${t.namespace}`;
    const { report, history } = await inCluster(async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(applicationUpdate, {
        taskQueue,
        workflowId,
        args: [
          {
            deployment: 'web',
            container: 'app',
            image: 'ghcr.io/trixtech/web:1.1.0',
            rolloutTimeout: '60s',
            pollInterval: 200,
          },
        ],
      });
      return { report: await handle.result(), history: await handle.fetchHistory() };
    }, silencing());
    await recordHistory('applicationUpdate-window-silences', history, workflowId);
    const silences = await silencesOf(workflowId);
    expect(silences.map((s) => s.status.state)).toEqual(['expired']);
    const { id, comment } = silences[0]!;
    expect(comment).toBe(`node maintenance: default/web [workflow ${workflowId} run ${report.runId}]`);
    expect(report.outcome).toBe('ok');
    // The rollout and, on failure, the rollback's wait: twice the rollout timeout, and the margin.
    const endsAt = new Date(Date.parse(report.steps[2]!.startedAt) + 2 * 60_000 + MARGIN).toISOString();
    expect(report.steps.map((s) => `${s.name}: ${s.outcome}`)).toEqual([
      'record the current revision: ok',
      'no blocking alert firing before rolling out ghcr.io/trixtech/web:1.1.0: ok',
      `silence the expected alerts until ${endsAt}: ok`,
      'set app to ghcr.io/trixtech/web:1.1.0: ok',
      'wait for the rollout: ok',
      'health probes: skipped',
      `expire silence ${id}: ok`,
      'monitoring alerts cleared: ok',
    ]);
  });

  it('nodeUpdate with nothing to update (no cluster configured) does not leave its silence behind', async () => {
    const workflowId = `silence-skip-${t.namespace}`;
    const report = await withWorker(
      testConfig({ MAINT_DATABASE_URL: db.url }, { alerts: silencing() }),
      ({ client, taskQueue }) =>
        client.workflow.execute(nodeUpdate, { taskQueue, workflowId, args: [{ node: 'n1', ...FAST }] }),
    );
    expect(report).toMatchObject({ outcome: 'skipped', summary: 'Node update of n1 skipped: no cluster configured' });
    const silences = await silencesOf(workflowId);
    expect(silences.map((s) => s.status.state)).toEqual(['expired']);
    expect(report.steps.map((s) => `${s.name}: ${s.outcome}`)).toEqual([
      'no blocking alert firing before cordoning n1: ok',
      expect.stringMatching(/^silence the expected alerts until \S+: ok$/),
      'cordon n1: ok',
      `expire silence ${silences[0]!.id}: ok`,
    ]);
  });

  it('Alertmanager gone in the middle of the work: the node is uncordoned all the same; the report says the silence could not be expired and when it ends by itself, and that nobody can say the alerts cleared', async () => {
    const am2 = await startAlertmanager();
    let stopped = false;
    try {
      const [node] = await t.addNodes(1);
      const workflowId = `silence-down-${t.namespace}`;
      const { report, held } = await inCluster(
        async (worker) => {
          const handle = await startSignalled(worker, workflowId, node!);
          await untilUpdating(handle);
          const held = await silencesOf(workflowId, am2);
          await am2.stop();
          stopped = true;
          await handle.signal(nodeUpdatedSignal, { by: 'test' });
          return { report: await handle.result(), held };
        },
        silencing({ alertmanagerUrl: am2.url }),
      );
      expect(held.map((s) => s.status.state)).toEqual(['active']);
      const { id, endsAt } = held[0]!;
      const silenceStep = report.steps[1]!;
      expect(silenceStep.name).toMatch(/^silence the expected alerts until /);
      const until = silenceStep.name.replace('silence the expected alerts until ', '');
      expect(Date.parse(endsAt)).toBe(Date.parse(until));
      expect(report.outcome).toBe('warn');
      expect(report.checks).toEqual([
        expect.objectContaining({ check: 'alerts.configured', status: 'ok' }),
        {
          check: 'alerts.silence',
          target: 'alertmanager',
          status: 'warn',
          detail: `silence ${id} could not be expired (Alertmanager did not answer DELETE /api/v2/silence/${id}: ECONNREFUSED); it ends by itself at ${until}`,
        },
        {
          check: 'alerts.cleared',
          target: 'alertmanager',
          status: 'warn',
          detail: 'not known: Alertmanager did not answer /api/v2/alerts: ECONNREFUSED',
        },
      ]);
      expect(report.steps.slice(-3).map((s) => `${s.name}: ${s.outcome}`)).toEqual([
        `uncordon ${node}: ok`,
        `expire silence ${id}: failed`,
        'monitoring alerts cleared: warn',
      ]);
      expect(await unschedulable(node!)).toBe(false);
    } finally {
      if (!stopped) await am2.stop();
    }
  });
});
