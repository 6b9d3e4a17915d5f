import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure, type ApplicationFailure } from '@temporalio/common';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CORDONED_BY } from '../activities/kubernetes/nodes.js';
import type { RunReport } from '../src/domain/run.js';
import { applicationUpdate } from '../workflows/application-update.js';
import { dailyHealthCheck } from '../workflows/daily-health-check.js';
import { nodeUpdatedSignal, statusQuery } from '../workflows/lib/definitions.js';
import { nodeUpdate, type NodeUpdateInput } from '../workflows/node-update.js';
import { rollingNodeUpdate } from '../workflows/rolling-node-update.js';
import { isReady, KubeDouble, type ServedRequest } from './k8s-double/double.js';
import { addDeployment, addNode, addPdb } from './k8s-double/fixtures.js';
import { recordHistory } from './helpers/histories.js';
import { APP_NAMESPACE, expectAllGranted, sleep, startUpdateHook } from './helpers/kube.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { startProbeTargets } from './helpers/targets.js';
import { testConfig, withWorker, type WorkerContext } from './helpers/temporal.js';

const served: ServedRequest[] = [];
const FAST = { drain: { timeout: '10s', pollInterval: 20, evictionRetry: 50 }, readyTimeout: '10s', pollInterval: 20 } satisfies Partial<NodeUpdateInput>;
const id = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`;

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return (err as WorkflowFailedError).cause as ApplicationFailure;
}

async function until(what: string, predicate: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const waitingFor = async (handle: WorkflowHandle) => (await handle.query(statusQuery)).waitingFor;

describe('Kubernetes maintenance workflows against the API double', () => {
  let reportDb: TestDatabase;
  let k8s: KubeDouble;
  let kubeconfig: string;

  beforeAll(async () => {
    reportDb = await createTestDatabase('maint_k8s_reports');
  });
  afterAll(async () => {
    await reportDb?.drop();
    expectAllGranted(served);
  });
  beforeEach(async () => {
    k8s = await new KubeDouble({ podTerminationMs: 50, replacementDelayMs: 100, rolloutDelayMs: 100 }).start();
    kubeconfig = k8s.writeKubeconfig(APP_NAMESPACE);
  });
  afterEach(async () => {
    served.push(...k8s.served);
    await k8s.stop();
  });

  const inCluster = <T>(fn: (ctx: WorkerContext) => Promise<T>) =>
    withWorker(testConfig({ MAINT_DATABASE_URL: reportDb.url, KUBECONFIG: kubeconfig }), fn);
  const storedOutcome = async (workflowId: string) =>
    (await reportDb.pool.query('SELECT outcome, report FROM maintenance_runs WHERE workflow_id = $1', [workflowId])).rows[0] as { outcome: string; report: RunReport } | undefined;

  /** n1 holds both `web` pods (it is the only node when they are scheduled); n2 takes them over. */
  function twoNodesWithWeb() {
    addNode(k8s, 'n1');
    addDeployment(k8s, 'web', { replicas: 2 });
    addNode(k8s, 'n2');
  }

  it('nodeUpdate: cordon, drain past a PDB, wait for the nodeUpdated signal and Ready, uncordon', async () => {
    twoNodesWithWeb();
    addPdb(k8s, 'web', 'web', { minAvailable: 1 });
    const workflowId = id('node-update');
    const report = await inCluster(async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(nodeUpdate, { taskQueue, workflowId, args: [{ node: 'n1', ...FAST, update: { doneWhen: 'signal', timeout: '30s' } }] });
      await until('the run to wait for the update', async () => (await waitingFor(handle))?.startsWith('signal nodeUpdated') ?? false);
      expect(k8s.get('', 'nodes', undefined, 'n1')!.spec.unschedulable).toBe(true);
      expect(k8s.list('', 'pods').filter((p) => p.spec.nodeName === 'n1')).toEqual([]);
      // The update reboots the node: it is NotReady when the signal arrives, so the run waits for Ready.
      k8s.rebootNode('n1', 300, 'v1.31.0');
      await handle.signal(nodeUpdatedSignal, { by: 'test' });
      const result = await handle.result();
      await recordHistory('nodeUpdate', await handle.fetchHistory());
      return result;
    });
    expect(report.outcome).toBe('ok');
    expect(report.summary).toContain('2 pod(s) evicted, kubelet v1.30.2 -> v1.31.0');
    const n1 = k8s.get('', 'nodes', undefined, 'n1')!;
    expect(n1.spec.unschedulable).toBeUndefined();
    expect(n1.metadata.annotations?.[CORDONED_BY]).toBeUndefined();
    expect(isReady(n1)).toBe(true);
    expect(k8s.served.some((r) => r.subresource === 'eviction' && r.code === 429)).toBe(true);
    expect((await storedOutcome(workflowId))?.outcome).toBe('ok');
  });

  it('nodeUpdate: API errors are retried and every step still lands once', async () => {
    twoNodesWithWeb();
    // One failure each: the cordon and uncordon (local activities) and an eviction (fails the drain attempt, which Temporal retries).
    k8s.faults.push({ verb: 'patch', resource: 'nodes' }, { verb: 'create', resource: 'pods', subresource: 'eviction' }, { verb: 'patch', resource: 'nodes' });
    const hook = await startUpdateHook(k8s, 50);
    try {
      const report = await inCluster(({ client, taskQueue }) => client.workflow.execute(nodeUpdate, {
        taskQueue, workflowId: id('node-update-faults'), args: [{ node: 'n1', ...FAST, update: { hookUrl: hook.url, doneWhen: 'rebooted', timeout: '10s' } }],
      }));
      expect(report.outcome).toBe('ok');
      expect(k8s.faults).toEqual([]);
      expect(k8s.served.filter((r) => r.code === 500)).toHaveLength(3);
      expect(hook.requests).toEqual(['n1']);
      const n1 = k8s.get('', 'nodes', undefined, 'n1')!;
      expect([n1.spec.unschedulable, n1.metadata.annotations?.[CORDONED_BY]]).toEqual([undefined, undefined]);
      const web = k8s.list('', 'pods', APP_NAMESPACE).filter((p) => !p.metadata.deletionTimestamp);
      expect(web.map((p) => p.spec.nodeName)).toEqual(['n2', 'n2']);
    } finally {
      await hook.close();
    }
  });

  it('nodeUpdate: a drain that times out leaves the node uncordoned and reports why', async () => {
    twoNodesWithWeb();
    addPdb(k8s, 'web-strict', 'web', { minAvailable: 2 });
    const workflowId = id('node-update-timeout');
    const failure = await inCluster(({ client, taskQueue }) =>
      failureOf(client.workflow.execute(nodeUpdate, { taskQueue, workflowId, args: [{ node: 'n1', ...FAST, drain: { ...FAST.drain, timeout: '1s' } }] })));
    expect(failure.type).toBe('nodeUpdateFailed');
    expect(failure.message).toContain('drain of n1 timed out after 1 s');
    expect(failure.message).toContain('The disruption budget web-strict needs 2 healthy pods and has 2 currently');
    expect(failure.message).toContain('compensated: uncordon n1');
    expect(k8s.get('', 'nodes', undefined, 'n1')!.spec.unschedulable).toBeUndefined();
    const stored = await storedOutcome(workflowId);
    expect(stored?.outcome).toBe('failed');
    expect(stored?.report.steps.map((s) => `${s.name}: ${s.outcome}`)).toEqual(['cordon n1: ok', 'drain n1: failed', 'compensate: uncordon n1: ok']);
  });

  it('nodeUpdate: cancelled while waiting for the update, it uncordons and reports the cancellation', async () => {
    twoNodesWithWeb();
    const workflowId = id('node-update-cancel');
    const err = await inCluster(async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(nodeUpdate, { taskQueue, workflowId, args: [{ node: 'n1', ...FAST }] });
      await until('the run to wait for the update', async () => (await waitingFor(handle)) !== null);
      expect(k8s.get('', 'nodes', undefined, 'n1')!.spec.unschedulable).toBe(true);
      await handle.cancel();
      return handle.result().catch((e: unknown) => e);
    });
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(k8s.get('', 'nodes', undefined, 'n1')!.spec.unschedulable).toBeUndefined();
    expect((await storedOutcome(workflowId))?.outcome).toBe('cancelled');
  });

  it("nodeUpdate leaves an operator's own cordon in place", async () => {
    addNode(k8s, 'n1', { unschedulable: true });
    const hook = await startUpdateHook(k8s, 50);
    try {
      const report = await inCluster(({ client, taskQueue }) => client.workflow.execute(nodeUpdate, {
        taskQueue, workflowId: id('node-update-operator'), args: [{ node: 'n1', ...FAST, update: { hookUrl: hook.url, doneWhen: 'rebooted', timeout: '10s' } }],
      }));
      expect(report.summary).toContain('left cordoned: cordoned by someone else');
      expect(hook.requests).toEqual(['n1']);
      expect(k8s.get('', 'nodes', undefined, 'n1')!.spec.unschedulable).toBe(true);
    } finally {
      await hook.close();
    }
  });

  it('rollingNodeUpdate: children at most `concurrency` at a time; it stops at the first failure', async () => {
    for (const n of ['n1', 'n2', 'n3', 'n4']) addNode(k8s, n);
    addDeployment(k8s, 'web', { replicas: 4 });
    let maxCordoned = 0;
    k8s.onServed = () => {
      maxCordoned = Math.max(maxCordoned, k8s.list('', 'nodes').filter((n) => n.spec.unschedulable).length);
    };
    const hook = await startUpdateHook(k8s, 400, 'v1.31.0');
    try {
      const node = { ...FAST, update: { hookUrl: hook.url, doneWhen: 'rebooted' as const, timeout: '10s' } };
      // Each node's update ends when the test signals it: a lane is held out of service until the test has seen both.
      const signalled = { ...FAST, update: { doneWhen: 'signal' as const, timeout: '10 minutes' } };
      const cordoned = () => k8s.list('', 'nodes').filter((n) => n.spec.unschedulable).map((n) => n.metadata.name).sort();
      const report = await inCluster(async ({ client, taskQueue }) => {
        // Child ids derive from the parent's id: the stored history keeps it for the replay test.
        const handle = await client.workflow.start(rollingNodeUpdate, { taskQueue, workflowId: id('rolling-node-update'), args: [{ nodes: ['n1', 'n2', 'n3', 'n4'], concurrency: 2, node: signalled }] });
        const child = (n: string) => client.workflow.getHandle(`${handle.workflowId}/${n}`);
        const awaitingUpdate = async (n: string) => (await waitingFor(child(n)).catch(() => null))?.startsWith('signal nodeUpdated') ?? false;
        // n3 starts only once n1 or n2 is done, n4 once both are: each lane is exactly two nodes.
        for (const lane of [['n1', 'n2'], ['n3', 'n4']]) {
          await until(`${lane.join(' and ')} cordoned, drained and waiting for their update`, async () => (await Promise.all(lane.map(awaitingUpdate))).every(Boolean), 60_000);
          expect(cordoned()).toEqual(lane);
          for (const n of lane) await child(n).signal(nodeUpdatedSignal, { by: 'test' });
        }
        const result = await handle.result();
        await recordHistory('rollingNodeUpdate-signalled', await handle.fetchHistory(), handle.workflowId);
        return result;
      });
      expect(report.outcome).toBe('ok');
      expect(maxCordoned).toBe(2);
      expect(cordoned()).toEqual([]);

      // A budget that never allows a disruption fails the second node; the third is never touched.
      addPdb(k8s, 'web-strict', 'web', { minAvailable: 4 });
      const cordonedNodes = new Set<string>();
      k8s.onServed = (r) => {
        if (r.resource === 'nodes' && r.verb === 'patch') for (const n of k8s.list('', 'nodes').filter((x) => x.spec.unschedulable)) cordonedNodes.add(n.metadata.name);
      };
      const workflowId = id('rolling-fail');
      const failure = await inCluster(({ client, taskQueue }) => failureOf(client.workflow.execute(rollingNodeUpdate, {
        taskQueue, workflowId, args: [{ nodes: ['n4', 'n1', 'n3'], node: { ...node, drain: { ...node.drain, timeout: '1s' } } }],
      })));
      expect(failure.type).toBe('rollingNodeUpdateFailed');
      expect(failure.message).toMatch(/Rolling update stopped: n1: drain of n1 timed out/);
      expect(failure.message).toContain('1 updated, not started: n3');
      expect([...cordonedNodes].sort()).toEqual(['n1', 'n4']);
      expect(k8s.list('', 'nodes').every((n) => !n.spec.unschedulable)).toBe(true);
      const stored = await storedOutcome(workflowId);
      expect((stored?.report.details?.nodes as { outcome: string }[]).map((n) => n.outcome)).toEqual(['ok', 'failed', 'not started']);
    } finally {
      await hook.close();
    }
  });

  it('applicationUpdate: a rollout past its progress deadline is rolled back to the recorded revision', async () => {
    addNode(k8s, 'n1');
    addDeployment(k8s, 'backend', { replicas: 2, image: 'trixtech/backend:1.0', progressDeadlineSeconds: 1 });
    k8s.failingImages.add('trixtech/backend:2.0');
    const workflowId = id('app-update-fail');
    const failure = await inCluster(({ client, taskQueue }) => failureOf(client.workflow.execute(applicationUpdate, {
      taskQueue, workflowId, args: [{ deployment: 'backend', container: 'app', image: 'trixtech/backend:2.0', rolloutTimeout: '20s', pollInterval: 50 }],
    })));
    expect(failure.type).toBe('applicationUpdateFailed');
    expect(failure.message).toContain('ProgressDeadlineExceeded');
    expect(failure.message).toContain('compensated: roll back to revision 1');
    const dep = k8s.get('apps', 'deployments', APP_NAMESPACE, 'backend')!;
    expect(dep.spec.template.spec.containers[0].image).toBe('trixtech/backend:1.0');
    expect(dep.status.availableReplicas).toBe(2);
    const live = k8s.list('', 'pods', APP_NAMESPACE).filter((p) => !p.metadata.deletionTimestamp);
    expect(live.map((p) => p.spec.containers[0].image)).toEqual(['trixtech/backend:1.0', 'trixtech/backend:1.0']);
    expect((await storedOutcome(workflowId))?.report.steps.map((s) => `${s.name}: ${s.outcome}`)).toEqual([
      'record the current revision: ok', 'set app to trixtech/backend:2.0: ok', 'wait for the rollout: failed', 'compensate: roll back to revision 1: ok',
    ]);
  });

  it('applicationUpdate: keeps a healthy rollout, rolls back one whose health probe fails', async () => {
    addNode(k8s, 'n1');
    addDeployment(k8s, 'backend', { replicas: 2, image: 'trixtech/backend:1.0' });
    const probes = await startProbeTargets(10);
    try {
      const update = (image: string, path: string) => ({
        deployment: 'backend', container: 'app', image, rolloutTimeout: '20s', pollInterval: 20, healthChecks: [{ name: 'backend', url: `${probes.url}${path}` }],
      });
      const report = await inCluster(async ({ client, taskQueue }) => {
        const handle = await client.workflow.start(applicationUpdate, { taskQueue, workflowId: id('app-update'), args: [update('trixtech/backend:1.1', '/ok')] });
        const result = await handle.result();
        await recordHistory('applicationUpdate', await handle.fetchHistory());
        return result;
      });
      expect(report.outcome).toBe('ok');
      expect(report.summary).toContain('backend runs trixtech/backend:1.1 (revision 2, was 1 with trixtech/backend:1.0)');

      const failure = await inCluster(({ client, taskQueue }) =>
        failureOf(client.workflow.execute(applicationUpdate, { taskQueue, workflowId: id('app-update-probe'), args: [update('trixtech/backend:1.2', '/error')] })));
      expect(failure.message).toMatch(/health probes failed after the rollout: backend: .* answered HTTP 500/);
      expect(failure.message).toContain('roll back to revision 2');
      expect(k8s.get('apps', 'deployments', APP_NAMESPACE, 'backend')!.spec.template.spec.containers[0].image).toBe('trixtech/backend:1.1');
    } finally {
      await probes.close();
    }
  });

  it('without a cluster, node and application updates report "skipped: no cluster configured"', async () => {
    const config = testConfig({ MAINT_DATABASE_URL: reportDb.url });
    const [node, app] = await withWorker(config, ({ client, taskQueue }) => Promise.all([
      client.workflow.execute(rollingNodeUpdate, { taskQueue, workflowId: id('rolling-no-cluster'), args: [{ nodes: ['n1'] }] }),
      client.workflow.execute(applicationUpdate, { taskQueue, workflowId: id('app-no-cluster'), args: [{ deployment: 'backend', container: 'app', image: 'x:2' }] }),
    ]));
    expect(node).toMatchObject({ outcome: 'skipped', summary: 'Rolling update of 1 node(s), 1 at a time: 0 updated, 1 skipped' });
    expect(node.steps.map((s) => `${s.name}: ${s.outcome}`)).toEqual(['update n1: skipped']);
    expect((node.details?.nodes as { detail: string }[])[0]!.detail).toBe('Node update of n1 skipped: no cluster configured');
    expect(app).toMatchObject({ outcome: 'skipped', summary: 'Update of backend skipped: no cluster configured' });
  });

  it('applicationUpdate names the bad field and changes nothing', async () => {
    addNode(k8s, 'n1');
    addDeployment(k8s, 'backend', { replicas: 1 });
    const failure = await inCluster(({ client, taskQueue }) => failureOf(client.workflow.execute('applicationUpdate', {
      taskQueue, workflowId: id('app-update-bad'), args: [{ deployment: 'backend', container: 'app', image: 'x:1', rolloutTimeout: 'soon' }],
    })));
    expect(failure.type).toBe('InvalidInput');
    expect(failure.message).toContain('rolloutTimeout');
    expect(k8s.served.filter((r) => r.verb !== 'get' && r.verb !== 'list')).toEqual([]);
  });

  it('dailyHealthCheck runs its Kubernetes items against the configured cluster', async () => {
    addNode(k8s, 'n1');
    addNode(k8s, 'n2', { ready: false });
    addDeployment(k8s, 'backend', { replicas: 1, resources: { limits: { cpu: '1', memory: '1Gi' } } });
    k8s.podLogs = () => 'started\nERROR payment gateway timeout\n';
    k8s.podUsage = () => ({ cpu: '250m', memory: '900Mi' });
    const report = await inCluster(({ client, taskQueue }) =>
      client.workflow.execute(dailyHealthCheck, { taskQueue, workflowId: id('dhc-k8s'), args: [{ checks: ['kubernetes'] }] }));
    const byCheck = (check: string) => report.checks.filter((c) => c.check === check).map((c) => [c.target, c.status, c.value]);
    expect(byCheck('k8s.error-logs')).toEqual([['default', 'warn', 1]]);
    expect(byCheck('k8s.pod-resources')).toEqual([[expect.stringMatching(/^backend-/), 'warn', 87.9]]);
    expect(byCheck('k8s.node')).toEqual([['n1', 'ok', 'v1.30.2'], ['n2', 'critical', 'v1.30.2']]);
    expect(report.outcome).toBe('critical');
  });
});
