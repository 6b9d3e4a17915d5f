import { PatchStrategy, setHeaderOptions, type V1Node } from '@kubernetes/client-node';
import type { WorkflowFailedError, WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORDONED_BY } from '../activities/kubernetes/nodes.js';
import type { RunReport } from '../domain/run.js';
import { applicationUpdate } from '../workflows/application-update.js';
import { dailyHealthCheck } from '../workflows/daily-health-check.js';
import { nodeUpdatedSignal, statusQuery } from '../workflows/lib/definitions.js';
import { nodeUpdate } from '../workflows/node-update.js';
import { rollingNodeUpdate } from '../workflows/rolling-node-update.js';
import {
  clusterForFile,
  expectRbacExact,
  QUICK_PODS,
  waitForDeployment,
  waitUntil,
  type DeploymentSpec,
  type TestCluster,
  serveLogs,
} from './helpers/cluster.js';
import { recordHistory } from './helpers/histories.js';
import { startKubeProxy, type KubeProxy, type ProxiedRequest } from './helpers/kube-proxy.js';
import { NEXT_VERSION, rebootNode, startUpdateHook, TEST_PACE_NODE_UPDATE as FAST, VERSION } from './helpers/kube.js';
import { uniqueId, until } from './helpers/stack.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { startProbeTargets } from './helpers/targets.js';
import { testConfig, withWorker, type WorkerContext } from './helpers/temporal.js';
import { workflowFailureOf } from './helpers/failures.js';

const waitingFor = async (handle: WorkflowHandle) => (await handle.query(statusQuery)).waitingFor;

const nodeReady = (n: V1Node) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

describe('Kubernetes maintenance workflows on the real control plane', { timeout: 240_000 }, () => {
  let reportDb: TestDatabase;
  let t: TestCluster;
  /** The worker reaches the apiserver through the fault-injecting proxy, with its ServiceAccount token. */
  let proxy: KubeProxy;

  beforeAll(async () => {
    [reportDb, t] = await Promise.all([createTestDatabase('maint_k8s_reports'), clusterForFile('k8s-workflows')]);
    proxy = await startKubeProxy(t.worker, t.workDir);
  });
  afterAll(async () => {
    await proxy?.close();
    await reportDb?.drop();
    if (t) expectRbacExact(t, { everyGrantUsed: false });
    await t?.cleanup();
  });

  const inCluster = <T>(
    fn: (ctx: WorkerContext) => Promise<T>,
    kubeconfig = proxy.kubeconfig,
    namespace = t.namespace,
  ) =>
    withWorker(
      testConfig(
        { MAINT_DATABASE_URL: reportDb.url, KUBECONFIG: kubeconfig },
        { targets: { kubernetes: { namespace } } },
      ),
      fn,
    );
  const storedOutcome = async (workflowId: string) =>
    (await reportDb.pool.query('SELECT outcome, report FROM maintenance_runs WHERE workflow_id = $1', [workflowId]))
      .rows[0] as { outcome: string; report: RunReport } | undefined;
  const node = (name: string) => t.core.readNode({ name });
  /** nodeUpdate of `target` through a fresh update hook (it "reboots" a node 50 ms after asked): the report and the nodes it was asked for. */
  const updateThroughHook = async (target: string, name: string) => {
    const hook = await startUpdateHook(t.admin, 50);
    try {
      const report = await inCluster(({ client, taskQueue }) =>
        client.workflow.execute(nodeUpdate, {
          taskQueue,
          workflowId: uniqueId(name),
          args: [{ node: target, ...FAST, update: { hookUrl: hook.url, doneWhen: 'rebooted', timeout: '30s' } }],
        }),
      );
      return { report, updated: hook.requests };
    } finally {
      await hook.close();
    }
  };
  const setUnschedulable = (name: string, unschedulable: boolean) =>
    t.core.patchNode(
      { name, body: { spec: { unschedulable: unschedulable || null } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
  const podsOf = async (app: string) =>
    (await t.pods(`app=${app}`)).filter((p) => p.status?.phase !== 'Pending' || p.spec?.nodeName);
  /** The requests the proxy passed from here on. */
  const requestsFrom = () => {
    const from = proxy.served.length;
    return () => proxy.served.slice(from);
  };
  const waitForPdb = (name: string, disruptionsAllowed: number) =>
    waitUntil(`PDB ${name} to allow ${disruptionsAllowed} disruption(s)`, async () => {
      const pdb = await t.policy.readNamespacedPodDisruptionBudget({ name, namespace: t.namespace });
      return (pdb.status?.observedGeneration ?? 0) >= (pdb.metadata?.generation ?? 1) &&
        pdb.status?.disruptionsAllowed === disruptionsAllowed
        ? true
        : undefined;
    });

  /** n1 holds both pods of `app` (n2 is cordoned while they are scheduled); n2 takes them over. */
  async function twoNodesWith(app: string, spec: DeploymentSpec = {}): Promise<[string, string]> {
    const [n1, n2] = (await t.addNodes(2)) as [string, string];
    await setUnschedulable(n2, true);
    await t.deploy(app, { replicas: 2, nodes: [n1, n2], podAnnotations: QUICK_PODS, ...spec });
    await waitForDeployment(t, app);
    await setUnschedulable(n2, false);
    expect((await podsOf(app)).map((p) => p.spec?.nodeName)).toEqual([n1, n1]);
    return [n1, n2];
  }

  it('nodeUpdate: cordon, drain past a PDB, wait for the nodeUpdated signal and a new boot, uncordon', async () => {
    const [n1, n2] = await twoNodesWith('web-signal');
    // A budget allowing no disruption: the drain meets Kubernetes' own 429 until a third replica
    // (placed on n2, n1 being cordoned) gives the budget room.
    await t.pdb('web-signal', 'web-signal', { minAvailable: 2 });
    await waitForPdb('web-signal', 0);
    const requests = requestsFrom();
    const workflowId = uniqueId('node-update');
    const report = await inCluster(async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(nodeUpdate, {
        taskQueue,
        workflowId,
        args: [{ node: n1, ...FAST, update: { doneWhen: 'signal', timeout: '60s' } }],
      });
      await until('an eviction refused with 429 by the budget', async () =>
        requests().some((r) => r.subresource === 'eviction' && r.code === 429),
      );
      await t.apps.replaceNamespacedDeploymentScale({
        name: 'web-signal',
        namespace: t.namespace,
        body: { metadata: { name: 'web-signal', namespace: t.namespace }, spec: { replicas: 3 } },
      });
      await until(
        'the run to wait for the update',
        async () => (await waitingFor(handle))?.startsWith('signal nodeUpdated') ?? false,
      );
      expect((await node(n1)).spec?.unschedulable).toBe(true);
      expect((await t.pods()).filter((p) => p.spec?.nodeName === n1)).toEqual([]);
      // The people's update reboots the node onto the next kubelet, then they signal: the run reads the new version.
      await rebootNode(t.admin, n1, 0, NEXT_VERSION);
      await handle.signal(nodeUpdatedSignal, { by: 'test' });
      const result = await handle.result();
      await recordHistory('nodeUpdate', await handle.fetchHistory());
      return result;
    });
    expect(report.outcome).toBe('ok');
    expect(report.summary).toContain(`2 pod(s) evicted, kubelet ${VERSION} -> ${NEXT_VERSION}`);
    const after = await node(n1);
    expect(after.spec?.unschedulable).toBeUndefined();
    expect(after.metadata?.annotations?.[CORDONED_BY]).toBeUndefined();
    expect(nodeReady(after)).toBe(true);
    expect((await podsOf('web-signal')).map((p) => p.spec?.nodeName)).toEqual([n2, n2, n2]);
    expect((await storedOutcome(workflowId))?.outcome).toBe('ok');
  });

  it('nodeUpdate: API errors are retried and every step still lands once', async () => {
    const [n1, n2] = await twoNodesWith('web-faults');
    // One 500 each from the proxy: the cordon and uncordon (local activities) and an eviction (fails the drain attempt, which Temporal retries).
    proxy.faults.push(
      { kind: 'error', verb: 'patch', resource: 'nodes', name: n1 },
      { kind: 'error', verb: 'create', resource: 'pods', subresource: 'eviction' },
      { kind: 'error', verb: 'patch', resource: 'nodes', name: n1 },
    );
    const requests = requestsFrom();
    const { report, updated } = await updateThroughHook(n1, 'node-update-faults');
    expect(report.outcome).toBe('ok');
    expect(proxy.faults).toEqual([]);
    expect(requests().filter((r) => r.code === 500)).toHaveLength(3);
    expect(updated).toEqual([n1]);
    const after = await node(n1);
    expect([after.spec?.unschedulable, after.metadata?.annotations?.[CORDONED_BY]]).toEqual([undefined, undefined]);
    await waitForDeployment(t, 'web-faults');
    expect((await podsOf('web-faults')).map((p) => p.spec?.nodeName)).toEqual([n2, n2]);
  });

  it('nodeUpdate: an apiserver answer held back 1.5 s changes nothing in the outcome', async () => {
    const [n1] = await t.addNodes(1);
    // The cordon's read of the node held back: the local activity waits for it rather than failing or repeating the cordon.
    proxy.faults.push({ kind: 'delay', verb: 'get', resource: 'nodes', name: n1, ms: 1_500 });
    const requests = requestsFrom();
    try {
      const { report } = await updateThroughHook(n1!, 'node-update-slow');
      expect(report.outcome).toBe('ok');
      expect(proxy.faults).toEqual([]);
      expect(requests().filter((r) => r.resource === 'nodes' && r.verb === 'patch' && r.code === 200)).toHaveLength(2);
      expect((await node(n1!)).spec?.unschedulable).toBeUndefined();
    } finally {
      proxy.faults.length = 0;
    }
  });

  it('nodeUpdate: a drain that times out leaves the node uncordoned and reports why', async () => {
    const [n1] = await twoNodesWith('web-strict');
    await t.pdb('web-strict', 'web-strict', { minAvailable: 2 });
    await waitForPdb('web-strict', 0);
    const workflowId = uniqueId('node-update-timeout');
    const failure = await inCluster(({ client, taskQueue }) =>
      workflowFailureOf(
        client.workflow.execute(nodeUpdate, {
          taskQueue,
          workflowId,
          args: [{ node: n1, ...FAST, drain: { ...FAST.drain, timeout: '1s' } }],
        }),
      ),
    );
    expect(failure.type).toBe('nodeUpdateFailed');
    expect(failure.message).toContain(`drain of ${n1} timed out after 1 s`);
    expect(failure.message).toContain('The disruption budget web-strict needs 2 healthy pods and has 2 currently');
    expect(failure.message).toContain(`compensated: uncordon ${n1}`);
    expect((await node(n1)).spec?.unschedulable).toBeUndefined();
    const stored = await storedOutcome(workflowId);
    expect(stored?.outcome).toBe('failed');
    expect(stored?.report.steps.map((s) => `${s.name}: ${s.outcome}`)).toEqual([
      `no blocking alert firing before cordoning ${n1}: ok`,
      `cordon ${n1}: ok`,
      `drain ${n1}: failed`,
      `compensate: uncordon ${n1}: ok`,
    ]);
  });

  it('nodeUpdate: cancelled while waiting for the update, it uncordons and reports the cancellation', async () => {
    const [n1] = await twoNodesWith('web-cancel');
    const workflowId = uniqueId('node-update-cancel');
    const err = await inCluster(async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(nodeUpdate, { taskQueue, workflowId, args: [{ node: n1, ...FAST }] });
      await until('the run to wait for the update', async () => (await waitingFor(handle)) !== null);
      expect((await node(n1)).spec?.unschedulable).toBe(true);
      await handle.cancel();
      return handle.result().catch((e: unknown) => e);
    });
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect((await node(n1)).spec?.unschedulable).toBeUndefined();
    expect((await storedOutcome(workflowId))?.outcome).toBe('cancelled');
  });

  it("nodeUpdate leaves an operator's own cordon in place", async () => {
    const [n1] = (await t.addNodes(1)) as [string];
    await setUnschedulable(n1, true);
    const { report, updated } = await updateThroughHook(n1, 'node-update-operator');
    expect(report.summary).toContain('left cordoned: cordoned by someone else');
    expect(updated).toEqual([n1]);
    expect((await node(n1)).spec?.unschedulable).toBe(true);
  });

  /** Which nodes each successful cordon/uncordon request left cordoned, in the order the apiserver answered them. */
  const cordonTrail = (requests: ProxiedRequest[]) => {
    const cordoned = new Set<string>();
    let most = 0;
    const ever = new Set<string>();
    for (const r of requests.filter((x) => x.resource === 'nodes' && x.verb === 'patch' && x.code === 200)) {
      const unschedulable = (JSON.parse(r.body) as { spec?: { unschedulable?: boolean | null } }).spec?.unschedulable;
      if (unschedulable) {
        cordoned.add(r.name);
        ever.add(r.name);
      } else cordoned.delete(r.name);
      most = Math.max(most, cordoned.size);
    }
    return { most, ever: [...ever].sort() };
  };

  it('rollingNodeUpdate: children at most `concurrency` at a time; it stops at the first failure', async () => {
    const nodes = await t.addNodes(4);
    await t.deploy('web-rolling', { replicas: 4, nodes, podAnnotations: QUICK_PODS });
    await waitForDeployment(t, 'web-rolling');
    const hook = await startUpdateHook(t.admin, 400, NEXT_VERSION);
    try {
      const nodeInput = { ...FAST, update: { hookUrl: hook.url, doneWhen: 'rebooted' as const, timeout: '30s' } };
      const requests = requestsFrom();
      const report = await inCluster(async ({ client, taskQueue }) => {
        // Child ids derive from the parent's id: the stored history keeps it for the replay test.
        const handle = await client.workflow.start(rollingNodeUpdate, {
          taskQueue,
          workflowId: uniqueId('rolling-node-update'),
          args: [{ nodes, concurrency: 2, node: nodeInput }],
        });
        const result = await handle.result();
        await recordHistory('rollingNodeUpdate', await handle.fetchHistory(), handle.workflowId);
        return result;
      });
      expect(report.outcome).toBe('ok');
      expect(cordonTrail(requests()).most).toBe(2);
      const after = await Promise.all(nodes.map(node));
      expect(after.map((n) => [n.status?.nodeInfo?.kubeletVersion, Boolean(n.spec?.unschedulable)])).toEqual(
        Array(4).fill([NEXT_VERSION, false]),
      );

      // A budget that never allows a disruption fails the second node; the third is never touched.
      // First a node with nothing to evict (the deployment keeps to the four), then one holding a pod.
      await waitForDeployment(t, 'web-rolling');
      const [idle] = await t.addNodes(1);
      const busy = (await podsOf('web-rolling'))[0]!.spec!.nodeName!;
      const untouched = nodes.find((n) => n !== busy)!;
      await t.pdb('web-rolling-strict', 'web-rolling', { minAvailable: 4 });
      await waitForPdb('web-rolling-strict', 0);
      const failing = requestsFrom();
      const workflowId = uniqueId('rolling-fail');
      const failure = await inCluster(({ client, taskQueue }) =>
        workflowFailureOf(
          client.workflow.execute(rollingNodeUpdate, {
            taskQueue,
            workflowId,
            args: [
              { nodes: [idle!, busy, untouched], node: { ...nodeInput, drain: { ...nodeInput.drain, timeout: '1s' } } },
            ],
          }),
        ),
      );
      expect(failure.type).toBe('rollingNodeUpdateFailed');
      expect(failure.message).toContain(`Rolling update stopped: ${busy}: drain of ${busy} timed out`);
      expect(failure.message).toContain(`1 updated, not started: ${untouched}`);
      expect(cordonTrail(failing()).ever).toEqual([idle!, busy].sort());
      expect((await Promise.all([idle!, ...nodes].map(node))).every((n) => !n.spec?.unschedulable)).toBe(true);
      const stored = await storedOutcome(workflowId);
      expect((stored?.report.details?.nodes as { outcome: string }[]).map((n) => n.outcome)).toEqual([
        'ok',
        'failed',
        'not started',
      ]);
    } finally {
      await hook.close();
    }
  });

  it('applicationUpdate: a rollout past its progress deadline is rolled back to the recorded revision', async () => {
    // The node fits two pods of 500m: the new release's surge pod stays Pending (Insufficient cpu) until the deadline.
    const [n1] = await t.addNodes(1, { cpu: '1' });
    const resources = { requests: { cpu: '500m' }, limits: { cpu: '500m' } };
    await t.deploy('backend-deadline', {
      replicas: 2,
      image: 'trixtech/backend:1.0',
      progressDeadlineSeconds: 2,
      nodes: [n1!],
      resources,
      podAnnotations: QUICK_PODS,
    });
    await waitForDeployment(t, 'backend-deadline');
    const workflowId = uniqueId('app-update-fail');
    const failure = await inCluster(({ client, taskQueue }) =>
      workflowFailureOf(
        client.workflow.execute(applicationUpdate, {
          taskQueue,
          workflowId,
          args: [
            {
              deployment: 'backend-deadline',
              container: 'app',
              image: 'trixtech/backend:2.0',
              rolloutTimeout: '60s',
              pollInterval: 200,
            },
          ],
        }),
      ),
    );
    expect(failure.type).toBe('applicationUpdateFailed');
    expect(failure.message).toContain('ProgressDeadlineExceeded');
    expect(failure.message).toContain('compensated: roll back to revision 1');
    const dep = await waitForDeployment(t, 'backend-deadline');
    expect(dep.spec?.template.spec?.containers[0]!.image).toBe('trixtech/backend:1.0');
    expect(dep.status?.availableReplicas).toBe(2);
    const live = await waitUntil("the new release's pod gone", async () => {
      const pods = await t.pods('app=backend-deadline');
      return pods.length === 2 ? pods : undefined;
    });
    expect(live.map((p) => p.spec?.containers[0]!.image)).toEqual(['trixtech/backend:1.0', 'trixtech/backend:1.0']);
    expect((await storedOutcome(workflowId))?.report.steps.map((s) => `${s.name}: ${s.outcome}`)).toEqual([
      'record the current revision: ok',
      'no blocking alert firing before rolling out trixtech/backend:2.0: ok',
      'set app to trixtech/backend:2.0: ok',
      'wait for the rollout: failed',
      'compensate: roll back to revision 1: ok',
    ]);
  });

  it('applicationUpdate: keeps a healthy rollout, rolls back one whose health probe fails', async () => {
    const [n1] = await t.addNodes(1);
    await t.deploy('backend', { replicas: 2, image: 'trixtech/backend:1.0', nodes: [n1!], podAnnotations: QUICK_PODS });
    await waitForDeployment(t, 'backend');
    const probes = await startProbeTargets(10);
    try {
      const update = (image: string, path: string) => ({
        deployment: 'backend',
        container: 'app',
        image,
        rolloutTimeout: '60s',
        pollInterval: 200,
        healthChecks: [{ name: 'backend', url: `${probes.url}${path}` }],
      });
      const report = await inCluster(async ({ client, taskQueue }) => {
        const handle = await client.workflow.start(applicationUpdate, {
          taskQueue,
          workflowId: uniqueId('app-update'),
          args: [update('trixtech/backend:1.1', '/ok')],
        });
        const result = await handle.result();
        await recordHistory('applicationUpdate', await handle.fetchHistory());
        return result;
      });
      expect(report.outcome).toBe('ok');
      expect(report.summary).toContain(
        'backend runs trixtech/backend:1.1 (revision 2, was 1 with trixtech/backend:1.0)',
      );

      const failure = await inCluster(({ client, taskQueue }) =>
        workflowFailureOf(
          client.workflow.execute(applicationUpdate, {
            taskQueue,
            workflowId: uniqueId('app-update-probe'),
            args: [update('trixtech/backend:1.2', '/error')],
          }),
        ),
      );
      expect(failure.message).toMatch(/health probes failed after the rollout: backend: .* answered HTTP 500/);
      expect(failure.message).toContain('roll back to revision 2');
      const dep = await waitForDeployment(t, 'backend');
      expect(dep.spec?.template.spec?.containers[0]!.image).toBe('trixtech/backend:1.1');
    } finally {
      await probes.close();
    }
  });

  it('without a cluster, node and application updates report "skipped: no cluster configured"', async () => {
    const config = testConfig({ MAINT_DATABASE_URL: reportDb.url });
    const [nodeReport, app] = await withWorker(config, ({ client, taskQueue }) =>
      Promise.all([
        client.workflow.execute(rollingNodeUpdate, {
          taskQueue,
          workflowId: uniqueId('rolling-no-cluster'),
          args: [{ nodes: ['n1'] }],
        }),
        client.workflow.execute(applicationUpdate, {
          taskQueue,
          workflowId: uniqueId('app-no-cluster'),
          args: [{ deployment: 'backend', container: 'app', image: 'x:2' }],
        }),
      ]),
    );
    expect(nodeReport).toMatchObject({
      outcome: 'skipped',
      summary: 'Rolling update of 1 node(s), 1 at a time: 0 updated, 1 skipped',
    });
    expect(nodeReport.steps.map((s) => `${s.name}: ${s.outcome}`)).toEqual(['update n1: skipped']);
    expect((nodeReport.details?.nodes as { detail: string }[])[0]!.detail).toBe(
      'Node update of n1 skipped: no cluster configured',
    );
    expect(app).toMatchObject({ outcome: 'skipped', summary: 'Update of backend skipped: no cluster configured' });
  });

  it('applicationUpdate names the bad field and changes nothing', async () => {
    const requests = requestsFrom();
    const failure = await inCluster(({ client, taskQueue }) =>
      workflowFailureOf(
        client.workflow.execute('applicationUpdate', {
          taskQueue,
          workflowId: uniqueId('app-update-bad'),
          args: [{ deployment: 'backend', container: 'app', image: 'x:1', rolloutTimeout: 'soon' }],
        }),
      ),
    );
    expect(failure.type).toBe('InvalidInput');
    expect(failure.message).toContain('rolloutTimeout');
    expect(requests().filter((r) => r.verb !== 'get' && r.verb !== 'list')).toEqual([]);
  });

  it('dailyHealthCheck runs its Kubernetes items against the configured cluster', async () => {
    // A namespace of its own: the scan covers every application pod there, and only this one's.
    const h = await clusterForFile('k8s-health');
    try {
      const [n1] = await h.addNodes(1);
      // A node whose kubelet reported NotReady (no kwok manages it to report otherwise).
      const sick = `${h.namespace}-sick`;
      await h.core.createNode({
        body: {
          metadata: { name: sick },
          status: {
            conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'PLEG is not healthy' }],
            nodeInfo: { kubeletVersion: VERSION } as never,
          },
        },
      });
      await h.deploy('backend', {
        replicas: 1,
        resources: { limits: { cpu: '1', memory: '1Gi' } },
        podAnnotations: QUICK_PODS,
      });
      await waitForDeployment(h, 'backend');
      // The pod's log as its kubelet (kwok) serves it, in the CRI format.
      await serveLogs(h, ['started', 'ERROR payment gateway timeout']);
      try {
        const report = await inCluster(
          ({ client, taskQueue }) =>
            client.workflow.execute(dailyHealthCheck, {
              taskQueue,
              workflowId: uniqueId('dhc-k8s'),
              args: [{ checks: ['kubernetes'] }],
            }),
          h.workerKubeconfig,
          h.namespace,
        );
        const byCheck = (check: string) =>
          report.checks.filter((c) => c.check === check).map((c) => [c.target, c.status, c.value]);
        expect(byCheck('k8s.error-logs')).toEqual([[h.namespace, 'warn', 1]]);
        // No metrics-server in the suite's cluster: the check says so plainly rather than failing.
        expect(report.checks.filter((c) => c.check === 'k8s.pod-resources')).toEqual([
          expect.objectContaining({
            status: 'skipped',
            detail:
              'the metrics API (metrics.k8s.io) is not installed in this cluster: install metrics-server for pod usage',
          }),
        ]);
        expect(byCheck('k8s.node').filter(([target]) => target === n1 || target === sick)).toEqual([
          [n1, 'ok', VERSION],
          [sick, 'critical', VERSION],
        ]);
        expect(report.outcome).toBe('critical');
        expectRbacExact(h, { everyGrantUsed: false });
      } finally {
        await h.core.deleteNode({ name: sick });
      }
    } finally {
      await h.cleanup();
    }
  });
});
