// The Kubernetes activities against the suite's real control plane (kube-apiserver with RBAC,
// controller-manager, scheduler; kwok nodes and kubelets), as a ServiceAccount bound to the roles
// of deploy/rbac.yaml: every 403, 429 and revision here comes from Kubernetes itself.
import { BatchV1Api, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CleanupResult } from '../activities/kubernetes/cleanup.js';
import { createKubernetesActivities } from '../activities/kubernetes/index.js';
import { NODE_JOB_LABELS } from '../activities/kubernetes/node-jobs.js';
import type { DrainResult } from '../activities/kubernetes/nodes.js';
import {
  DEFAULT_NODE_JOB_IMAGE,
  DISK_CLEANUP_COMMANDS,
  nodeJobName,
  type NodeJobRef,
  type NodeJobResult,
} from '../domain/node-jobs.js';
import {
  clusterForFile,
  expectRbacExact,
  isReady,
  waitForDeployment,
  waitUntil,
  type TestCluster,
  serveLogs,
} from './helpers/cluster.js';
import { stageCleanupCandidates } from './helpers/cleanup-fixture.js';
import { runActivity } from './helpers/kube.js';
import { rejectionOf } from './helpers/failures.js';

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await rejectionOf(p);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('Kubernetes activities on a real control plane', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await clusterForFile('k8s-activities');
  });
  afterAll(async () => {
    // These tests call every Kubernetes activity: each grant of deploy/rbac.yaml must have been needed.
    expectRbacExact(t, { everyGrantUsed: true });
    await t.cleanup();
  });

  const podsOn = async (node: string) => (await t.pods()).filter((p) => p.spec?.nodeName === node);

  it('drain honours a PodDisruptionBudget: Kubernetes answers 429 until the replacement is Ready, then the drain finishes', async () => {
    const [n1] = await t.addNodes(1);
    await t.deploy('web', { replicas: 2 });
    await t.pdb('web', 'web', { minAvailable: 1 });
    await waitForDeployment(t, 'web');
    expect((await podsOn(n1!)).map((p) => p.metadata?.labels?.app)).toEqual(['web', 'web']);
    const [n2] = await t.addNodes(1);
    await waitUntil('the PDB to allow one disruption', async () => {
      const pdb = await t.policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace: t.namespace });
      return pdb.status?.disruptionsAllowed === 1 ? true : undefined;
    });

    await runActivity(t.activities.cordonNode, { node: n1!, owner: 'test' });
    const result = (await runActivity(t.activities.drainNode, {
      node: n1!,
      timeoutSeconds: 60,
      pollIntervalMs: 200,
      evictionRetryMs: 250,
    })) as DrainResult;

    expect(result.evicted).toHaveLength(2);
    const evictions = t
      .audit()
      .filter((e) => e.objectRef?.subresource === 'eviction' && e.objectRef.namespace === t.namespace);
    expect(
      evictions.some((e) => e.responseStatus?.code === 429),
      'a 429 from the disruption budget',
    ).toBe(true);
    expect(evictions.filter((e) => e.responseStatus?.code === 201)).toHaveLength(2);
    expect(await podsOn(n1!)).toEqual([]);
    await waitForDeployment(t, 'web');
    const web = await t.pods('app=web');
    expect(web.map((p) => [p.spec?.nodeName, isReady(p)])).toEqual([
      [n2, true],
      [n2, true],
    ]);
  });

  it("drain times out with the budget's own reason when the PDB never allows a disruption", async () => {
    const nodes = await t.addNodes(2);
    await t.deploy('strict', { replicas: 2, nodes: [nodes[0]!] });
    await t.pdb('strict', 'strict', { minAvailable: 2 });
    await waitForDeployment(t, 'strict');
    await runActivity(t.activities.cordonNode, { node: nodes[0]!, owner: 'test' });
    const failure = await failureOf(
      runActivity(t.activities.drainNode, {
        node: nodes[0]!,
        timeoutSeconds: 2,
        pollIntervalMs: 100,
        evictionRetryMs: 200,
      }),
    );
    expect(failure.type).toBe('DrainTimeout');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('The disruption budget strict needs 2 healthy pods and has 2 currently');
    expect(await podsOn(nodes[0]!)).toHaveLength(2);
  });

  it('drain refuses pods that would be lost before evicting anything, and evicts them when allowed', async () => {
    const [n1] = await t.addNodes(1);
    await t.deploy('cache', { replicas: 1, nodes: [n1!], volumes: [{ name: 'scratch', emptyDir: {} }] });
    await t.core.createNamespacedPod({
      namespace: t.namespace,
      body: {
        metadata: { name: 'debug-shell', labels: { app: 'debug' } },
        spec: { nodeName: n1!, containers: [{ name: 'sh', image: 'busybox:1.36' }] },
      },
    });
    await waitForDeployment(t, 'cache');
    await runActivity(t.activities.cordonNode, { node: n1!, owner: 'test' });
    const before = t.audit().filter((e) => e.objectRef?.subresource === 'eviction').length;
    const failure = await failureOf(runActivity(t.activities.drainNode, { node: n1!, timeoutSeconds: 5 }));
    expect(failure.type).toBe('DrainRefused');
    expect(failure.message).toContain(`${t.namespace}/debug-shell: not managed by a controller`);
    expect(failure.message).toMatch(/\/cache-\w+-\w+: has emptyDir data/);
    expect(t.audit().filter((e) => e.objectRef?.subresource === 'eviction')).toHaveLength(before);

    const result = (await runActivity(t.activities.drainNode, {
      node: n1!,
      timeoutSeconds: 30,
      pollIntervalMs: 200,
      deleteEmptyDirData: true,
      evictUnmanagedPods: true,
    })) as DrainResult;
    expect(result.evicted).toContain(`${t.namespace}/debug-shell`);
    expect(await podsOn(n1!)).toEqual([]);
  });

  it('cordon, drain and uncordon run twice leave the same end state as once; a node not cordoned is not drained', async () => {
    const [n1] = await t.addNodes(1);
    expect((await failureOf(runActivity(t.activities.drainNode, { node: n1!, timeoutSeconds: 1 }))).type).toBe(
      'NodeNotCordoned',
    );
    const first = await runActivity(t.activities.cordonNode, { node: n1!, owner: 'wf-1' });
    const second = await runActivity(t.activities.cordonNode, { node: n1!, owner: 'wf-1' });
    expect(first).toMatchObject({ changed: true, unschedulable: true, cordonedBy: 'wf-1', kubeletVersion: 'v1.34.2' });
    expect(second).toMatchObject({ changed: false, unschedulable: true, cordonedBy: 'wf-1' });
    const again = (await runActivity(t.activities.drainNode, { node: n1!, timeoutSeconds: 5 })) as DrainResult;
    expect(again.evicted).toEqual([]);
    // An uncordon for someone else's cordon is a no-op; ours lifts it once.
    expect(await runActivity(t.activities.uncordonNode, { node: n1!, onlyIfCordonedBy: 'wf-2' })).toMatchObject({
      changed: false,
      unschedulable: true,
    });
    expect(await runActivity(t.activities.uncordonNode, { node: n1!, onlyIfCordonedBy: 'wf-1' })).toMatchObject({
      changed: true,
      unschedulable: false,
      cordonedBy: null,
    });
    expect(await runActivity(t.activities.uncordonNode, { node: n1!, onlyIfCordonedBy: 'wf-1' })).toMatchObject({
      changed: false,
      unschedulable: false,
    });
    expect((await t.core.readNode({ name: n1! })).spec?.unschedulable).toBeUndefined();
  });

  it('waits for a rebooted node (new boot id) to be Ready, and names the node that is not there', async () => {
    const [n1] = await t.addNodes(1);
    const before = (await runActivity(t.activities.cordonNode, { node: n1!, owner: 't' })) as { bootId: string };
    const waiting = runActivity(t.activities.waitForNodeReady, {
      node: n1!,
      timeoutSeconds: 30,
      pollIntervalMs: 100,
      rebootedFrom: before.bootId,
    });
    // What a kubelet reports after a reboot: a new boot id in the node's status.
    await t.core.patchNodeStatus(
      { name: n1!, body: { status: { nodeInfo: { bootID: 'rebooted-boot-id' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(await waiting).toMatchObject({ ready: true, bootId: 'rebooted-boot-id' });
    expect((await failureOf(runActivity(t.activities.cordonNode, { node: `${n1}-absent`, owner: 't' }))).type).toBe(
      'NodeNotFound',
    );
  });

  it('restarts and OOMKilled are read from pod status: OOMKilled critical, restarts past the threshold a warning', async () => {
    await t.addNodes(1);
    await t.deploy('leaky', { replicas: 2 });
    await waitForDeployment(t, 'leaky');
    const [oomPod, restartingPod] = (await t.pods('app=leaky')).map((p) => p.metadata!.name!).sort();
    const leaky = (findings: { target: string; status: string }[]) =>
      findings.filter((f) => f.target.startsWith('leaky-')).map((f) => [f.target, f.status]);
    expect(leaky(await runActivity(t.activities.checkContainerRestarts, 3))).toEqual([]);
    // What a kubelet reports after its container was killed at the memory limit, or restarted.
    const report = (pod: string, restartCount: number, reason: string) =>
      t.core.patchNamespacedPodStatus(
        {
          name: pod,
          namespace: t.namespace,
          body: {
            status: {
              containerStatuses: [
                {
                  name: 'app',
                  restartCount,
                  lastState: { terminated: { exitCode: 137, reason, finishedAt: new Date('2026-11-29T03:04:05Z') } },
                },
              ],
            },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
    await report(oomPod!, 1, 'OOMKilled');
    await report(restartingPod!, 4, 'Error');

    const findings = await runActivity(t.activities.checkContainerRestarts, 3);
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          check: 'k8s.restarts',
          target: `${oomPod}/app`,
          status: 'critical',
          value: 1,
          detail: '1 restart(s); last terminated OOMKilled at 2026-11-29T03:04:05.000Z',
        }),
        expect.objectContaining({ target: `${restartingPod}/app`, status: 'warn', value: 4 }),
      ]),
    );
    // Four restarts are within a threshold of 10; OOMKilled is critical whatever the threshold.
    expect(leaky(await runActivity(t.activities.checkContainerRestarts, 10))).toEqual([[`${oomPod}/app`, 'critical']]);
    // kwok left the reported status alone: it is still what the kubelet said.
    const status = (await t.core.readNamespacedPodStatus({ name: oomPod!, namespace: t.namespace })).status;
    expect(status?.containerStatuses?.[0]).toMatchObject({
      restartCount: 1,
      lastState: { terminated: { reason: 'OOMKilled' } },
    });
  });

  it("a rollout past its progress deadline fails with the controller's reason; rollback lands on the recorded revision, however often it runs", async () => {
    await t.addNodes(1);
    await t.deploy('backend', { replicas: 2, image: 'ghcr.io/trixtech/backend:1.0', progressDeadlineSeconds: 2 });
    await waitForDeployment(t, 'backend');
    const recorded = await runActivity(t.activities.readDeploymentRevision, { deployment: 'backend' });
    expect(recorded).toMatchObject({ revision: '1', images: { app: 'ghcr.io/trixtech/backend:1.0' } });

    // A release whose pods never become Ready (kwok's ready stage waits an hour for them).
    await t.apps.patchNamespacedDeployment(
      {
        name: 'backend',
        namespace: t.namespace,
        body: {
          spec: {
            template: {
              metadata: {
                annotations: {
                  'pod-ready.stage.kwok.x-k8s.io/delay': '1h',
                  'pod-ready.stage.kwok.x-k8s.io/jitter-delay': '1h',
                },
              },
            },
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    const setImage = () =>
      runActivity(t.activities.setDeploymentImage, {
        deployment: 'backend',
        container: 'app',
        image: 'ghcr.io/trixtech/backend:2.0',
      });
    expect(await setImage()).toEqual({ changed: true, previousImage: 'ghcr.io/trixtech/backend:1.0' });
    // Idempotent: the same image again changes nothing.
    expect(await setImage()).toEqual({ changed: false, previousImage: 'ghcr.io/trixtech/backend:2.0' });
    const failure = await failureOf(
      runActivity(t.activities.waitForRollout, { deployment: 'backend', timeoutSeconds: 60, pollIntervalMs: 200 }),
    );
    expect(failure.type).toBe('RolloutFailed');
    expect(failure.message).toMatch(/ProgressDeadlineExceeded: ReplicaSet "backend-\w+" has timed out progressing/);

    const first = await runActivity(t.activities.rollbackDeployment, { deployment: 'backend', toRevision: '1' });
    const retried = await runActivity(t.activities.rollbackDeployment, { deployment: 'backend', toRevision: '1' });
    expect(first).toMatchObject({ changed: true, replicaSet: (recorded as { replicaSet: string }).replicaSet });
    expect(retried).toEqual({ ...first, changed: false });
    await runActivity(t.activities.waitForRollout, { deployment: 'backend', timeoutSeconds: 60, pollIntervalMs: 200 });

    // The controller reused revision 1's ReplicaSet as revision 4 (the broken release took two:
    // its annotation, then its image), remembering 1.
    const reused = await t.apps.readNamespacedReplicaSet({
      name: (first as { replicaSet: string }).replicaSet,
      namespace: t.namespace,
    });
    expect(reused.metadata?.annotations).toMatchObject({
      'deployment.kubernetes.io/revision': '4',
      'deployment.kubernetes.io/revision-history': '1',
    });
    expect(
      await runActivity(t.activities.rollbackDeployment, { deployment: 'backend', toRevision: '1' }),
    ).toMatchObject({ changed: false });
    expect(
      (await failureOf(runActivity(t.activities.rollbackDeployment, { deployment: 'backend', toRevision: '7' }))).type,
    ).toBe('RevisionNotFound');
    await waitForDeployment(t, 'backend');
    const pods = await t.pods('app=backend');
    expect(pods.map((p) => [p.spec?.containers[0]!.image, isReady(p)])).toEqual([
      ['ghcr.io/trixtech/backend:1.0', true],
      ['ghcr.io/trixtech/backend:1.0', true],
    ]);
  });

  it('restart and scale: idempotent, and the controller carries them out', async () => {
    await t.addNodes(1);
    await t.deploy('worker', { replicas: 1 });
    await waitForDeployment(t, 'worker');
    const stamp = '2026-11-24T10:00:00Z';
    expect(await runActivity(t.activities.restartDeployment, { deployment: 'worker', restartedAt: stamp })).toEqual({
      changed: true,
    });
    expect(await runActivity(t.activities.restartDeployment, { deployment: 'worker', restartedAt: stamp })).toEqual({
      changed: false,
    });
    expect(await runActivity(t.activities.scaleDeployment, { deployment: 'worker', replicas: 3 })).toEqual({
      changed: true,
      previousReplicas: 1,
    });
    expect(await runActivity(t.activities.scaleDeployment, { deployment: 'worker', replicas: 3 })).toEqual({
      changed: false,
      previousReplicas: 3,
    });
    expect(
      await runActivity(t.activities.waitForRollout, { deployment: 'worker', timeoutSeconds: 60, pollIntervalMs: 200 }),
    ).toMatchObject({ revision: '2', replicas: 3 });
    const pods = await t.pods('app=worker');
    expect(pods).toHaveLength(3);
    expect(pods.every((p) => p.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'] === stamp)).toBe(true);
    expect(
      (await failureOf(runActivity(t.activities.scaleDeployment, { deployment: 'absent', replicas: 1 }))).type,
    ).toBe('DeploymentNotFound');
  });

  it('node jobs: a retried start finds the Job it made, the wait reads its verdict and log, delete is idempotent', async () => {
    const [n1] = await t.addNodes(1);
    const input = { node: n1!, purpose: 'disk-cleanup' as const, workflowId: `wf/${t.namespace}`, deadlineSeconds: 60 };
    const first = (await runActivity(t.activities.startNodeJob, input)) as NodeJobRef;
    expect(first).toMatchObject({
      created: true,
      name: nodeJobName(input.workflowId, n1!, 'disk-cleanup'),
      namespace: t.namespace,
      image: DEFAULT_NODE_JOB_IMAGE,
      commands: DISK_CLEANUP_COMMANDS,
    });
    // The retry of an attempt whose reply was lost: the same Job, not a second one.
    expect(await runActivity(t.activities.startNodeJob, input)).toMatchObject({ created: false, name: first.name });
    const batch = t.admin.makeApiClient(BatchV1Api);
    const ours = await batch.listNamespacedJob({
      namespace: t.namespace,
      labelSelector: `${NODE_JOB_LABELS.node}=${n1}`,
    });
    expect(ours.items.map((j) => j.metadata?.name)).toEqual([first.name]);
    const done = (await runActivity(t.activities.waitForNodeJob, {
      name: first.name,
      node: n1!,
      timeoutSeconds: 60,
      pollIntervalMs: 200,
      expectMarker: false,
    })) as NodeJobResult;
    expect(done).toMatchObject({ name: first.name, node: n1 });
    expect(done.rebootRequired).toBeUndefined();
    expect((await batch.readNamespacedJob({ name: first.name, namespace: t.namespace })).status?.succeeded).toBe(1);
    expect(await runActivity(t.activities.deleteNodeJob, { name: first.name })).toEqual({
      name: first.name,
      deleted: true,
    });
    expect(await runActivity(t.activities.deleteNodeJob, { name: first.name })).toEqual({
      name: first.name,
      deleted: false,
    });
  });

  it('health checks: real log lines per container, no metrics API said plainly, node conditions and inventory', async () => {
    const nodes = await t.addNodes(2);
    await t.deploy('api', { replicas: 2, resources: { limits: { cpu: '500m', memory: '256Mi' } } });
    await t.pdb('api', 'api', { minAvailable: 2 });
    await waitForDeployment(t, 'api');
    // kwok serves these lines as the api pods' kubelet would (CRI log format); the namespace's
    // other pods have no logs configured, which the scan must say plainly.
    const apiPods = (await t.pods('app=api')).map((p) => p.metadata!.name!);
    await serveLogs(t, ['GET /health 200', 'ERROR db timeout', 'panic: nil map'], apiPods);

    const [logs] = await waitUntil(
      'kwok to serve the logs',
      async () => {
        const r = await runActivity(t.activities.scanApplicationErrorLogs, 3600);
        return r[0]?.value === 4 ? r : undefined;
      },
      30_000,
    );
    expect(logs).toMatchObject({ check: 'k8s.error-logs', status: 'warn', value: 4 });
    for (const pod of apiPods) expect(logs!.detail).toContain(`${pod}/app: 2`);
    expect(logs!.detail).toMatch(/logs unreadable: .*worker-\w+-\w+\/app: no logs found for container "app"/);

    expect(await runActivity(t.activities.checkPodResourceUsage)).toEqual([
      expect.objectContaining({
        status: 'skipped',
        detail:
          'the metrics API (metrics.k8s.io) is not installed in this cluster: install metrics-server for pod usage',
      }),
    ]);

    // A node whose kubelet reported NotReady (no kwok behind it to report otherwise).
    const sick = `${t.namespace}-sick`;
    await t.core.createNode({
      body: {
        metadata: { name: sick },
        status: {
          conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'PLEG is not healthy' }],
        },
      },
    });
    try {
      const health = (await runActivity(t.activities.checkNodeHealth)).filter((r) =>
        [...nodes, sick].includes(r.target),
      );
      expect(Object.fromEntries(health.map((r) => [r.target, r.status]))).toEqual({
        [nodes[0]!]: 'ok',
        [nodes[1]!]: 'ok',
        [sick]: 'critical',
      });
      expect(health.find((r) => r.target === sick)!.detail).toBe('NotReady: KubeletNotReady (PLEG is not healthy)');
    } finally {
      await t.core.deleteNode({ name: sick });
    }

    const inventory = await runActivity(t.activities.collectClusterInventory);
    const inv = inventory as {
      nodes: { name: string }[];
      deployments: { name: string }[];
      pdbs: { namespace: string; name: string; disruptionsAllowed: number; expectedPods: number }[];
    };
    expect(inv.deployments.filter((d) => d.name === 'api')).toEqual([
      {
        namespace: t.namespace,
        name: 'api',
        images: ['ghcr.io/trixtech/api:1.0.0'],
        replicas: 2,
        available: 2,
        revision: '1',
      },
    ]);
    expect(inv.nodes.map((n) => n.name)).toEqual(expect.arrayContaining(nodes));
    expect(inv.pdbs.filter((p) => p.namespace === t.namespace && p.name === 'api')).toEqual([
      expect.objectContaining({ disruptionsAllowed: 0, expectedPods: 2 }),
    ]);
  });

  it('cleanup: report-only by default, a dry run lists exactly what a real run deletes, and a second run finds nothing', async () => {
    await t.addNodes(1);
    const tag = t.namespace;
    const batch = t.admin.makeApiClient(BatchV1Api);
    // Revision 2 is beyond the history limit as well, but kept: a rollback from 3 goes back to it.
    const { revision1, revision2, jobs } = await stageCleanupCandidates(t, 'hist');

    const ours = (r: CleanupResult['deleted']) =>
      r
        .filter((c) => c.namespace === t.namespace || c.name.startsWith(tag))
        .map((c) => `${c.kind}/${c.name}`)
        .sort();
    const expected = [
      'claims/data-lost',
      `jobs/${jobs.done}`,
      `replicasets/${revision1.replicaSet}`,
      `volumes/${tag}-released`,
    ].sort();
    const report = (await runActivity(t.activities.cleanupClusterResources, {
      mode: 'report',
      completedJobMinAgeSeconds: 0,
    })) as CleanupResult;
    expect(ours(report.candidates)).toEqual(expected);
    expect(report.deleted).toEqual([]);
    expect(ours(report.kept)).toEqual([`replicasets/${revision2.replicaSet}`]);
    const dryRun = (await runActivity(t.activities.cleanupClusterResources, {
      mode: 'dry-run',
      completedJobMinAgeSeconds: 0,
    })) as CleanupResult;
    expect(ours(dryRun.deleted)).toEqual(expected);
    expect(
      (await batch.readNamespacedJob({ name: jobs.done, namespace: t.namespace })).metadata?.deletionTimestamp,
    ).toBeUndefined();

    const real = (await runActivity(t.activities.cleanupClusterResources, {
      mode: 'delete',
      completedJobMinAgeSeconds: 0,
    })) as CleanupResult;
    expect(ours(real.deleted)).toEqual(expected);
    expect(real.failed.filter((f) => f.namespace === t.namespace || f.name.startsWith(tag))).toEqual([]);
    await waitUntil('the deletions to land', async () => {
      const again = (await runActivity(t.activities.cleanupClusterResources, {
        mode: 'report',
        completedJobMinAgeSeconds: 0,
      })) as CleanupResult;
      return ours(again.candidates).length === 0 ? true : undefined;
    });
    expect((await batch.readNamespacedJob({ name: jobs.running, namespace: t.namespace })).metadata?.name).toBe(
      jobs.running,
    );
  });

  it('reviewClusterAdminBindings names a person holding cluster-admin', async () => {
    const name = `${t.namespace}-ops`;
    await t.admin.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
      body: {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'User', name: `bob-${t.namespace}`, apiGroup: 'rbac.authorization.k8s.io' }],
      },
    });
    try {
      const findings = await runActivity(t.activities.reviewClusterAdminBindings);
      expect(findings.filter((f) => f.target === `User/bob-${t.namespace}`)).toMatchObject([{ status: 'warn' }]);
    } finally {
      await t.admin.makeApiClient(RbacAuthorizationV1Api).deleteClusterRoleBinding({ name });
    }
  });
});

it('every activity answers "skipped: no cluster configured" without a cluster', async () => {
  const none = createKubernetesActivities({ kube: null, namespace: 'default', appLabelSelector: 'app=x' });
  const skipped = { skipped: 'no cluster configured' };
  expect(await none.cordonNode({ node: 'n1', owner: 'x' })).toEqual(skipped);
  expect(await none.uncordonNode({ node: 'n1' })).toEqual(skipped);
  expect(await none.drainNode({ node: 'n1', timeoutSeconds: 1 })).toEqual(skipped);
  expect(await none.waitForNodeReady({ node: 'n1', timeoutSeconds: 1 })).toEqual(skipped);
  expect(await none.readDeploymentRevision({ deployment: 'd' })).toEqual(skipped);
  expect(await none.setDeploymentImage({ deployment: 'd', container: 'c', image: 'i' })).toEqual(skipped);
  expect(await none.waitForRollout({ deployment: 'd', timeoutSeconds: 1 })).toEqual(skipped);
  expect(await none.rollbackDeployment({ deployment: 'd', toRevision: '1' })).toEqual(skipped);
  expect(await none.cleanupClusterResources({ mode: 'delete' })).toEqual(skipped);
  expect(await none.collectClusterInventory()).toEqual(skipped);
  expect(
    await none.startNodeJob({ node: 'n1', purpose: 'system-update', workflowId: 'w', deadlineSeconds: 1 }),
  ).toEqual(skipped);
  expect(await none.waitForNodeJob({ name: 'j', node: 'n1', timeoutSeconds: 1, expectMarker: true })).toEqual(skipped);
  expect(await none.deleteNodeJob({ name: 'j' })).toEqual(skipped);
  expect(await none.surveyNodeDisks()).toEqual(skipped);
  expect(await none.measureDeploymentMemory()).toEqual(skipped);
  for (const check of [
    none.scanApplicationErrorLogs,
    none.checkPodResourceUsage,
    () => none.checkContainerRestarts(3),
    none.checkNodeHealth,
  ]) {
    expect((await check())[0]).toMatchObject({ status: 'skipped', detail: 'no cluster configured' });
  }
});
