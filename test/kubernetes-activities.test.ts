import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { createKubernetesActivities } from '../activities/kubernetes/index.js';
import type { CleanupResult } from '../activities/kubernetes/cleanup.js';
import type { DrainResult } from '../activities/kubernetes/nodes.js';
import { isReady, type KubeDouble, type ServedRequest } from './k8s-double/double.js';
import { addClaim, addDaemonSet, addDeployment, addJob, addNode, addPdb, addPod, addVolume } from './k8s-double/fixtures.js';
import { APP_NAMESPACE, expectAllGranted, expectEveryGrantUsed, runActivity, startCluster } from './helpers/kube.js';

type Activities = ReturnType<typeof createKubernetesActivities>;
const served: ServedRequest[] = [];

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

const podsOn = (k8s: KubeDouble, node: string) => k8s.list('', 'pods').filter((p) => p.spec.nodeName === node && !p.metadata.deletionTimestamp);

describe('Kubernetes activities against the API double', () => {
  let k8s: KubeDouble;
  let a: Activities;

  beforeEach(async () => {
    ({ k8s, activities: a } = await startCluster({ podTerminationMs: 50, replacementDelayMs: 300, rolloutDelayMs: 100 }));
  });
  afterEach(async () => {
    served.push(...k8s.served);
    await k8s.stop();
  });
  // Every request the tests here made must be granted by the RBAC shipped in deploy/, and,
  // as they exercise every activity, every grant must have been needed.
  afterAll(() => {
    expectAllGranted(served);
    expectEveryGrantUsed(served);
  });

  it('drain honours a PodDisruptionBudget: the second pod waits for the first one\'s replacement, then the drain finishes', async () => {
    addNode(k8s, 'n1');
    addDeployment(k8s, 'web', { replicas: 2 });
    addNode(k8s, 'n2');
    addDaemonSet(k8s, 'fluent-bit', ['n1', 'n2']);
    addPod(k8s, 'kube-proxy-n1', 'n1', { namespace: 'kube-system', mirror: true });
    addPdb(k8s, 'web', 'web', { minAvailable: 1 });
    expect(podsOn(k8s, 'n1').filter((p) => p.metadata.labels.app === 'web')).toHaveLength(2);

    await runActivity(a.cordonNode, { node: 'n1', owner: 'test' });
    const started = Date.now();
    const result = (await runActivity(a.drainNode, { node: 'n1', timeoutSeconds: 10, pollIntervalMs: 20, evictionRetryMs: 50 })) as DrainResult;
    const elapsed = Date.now() - started;

    expect(result.evicted).toHaveLength(2);
    expect(result.left.map((l) => l.pod).sort()).toEqual(['kube-system/fluent-bit-n1', 'kube-system/kube-proxy-n1']);
    // The budget answered 429 at least once, and the drain waited for the replacement (300 ms).
    expect(k8s.served.some((r) => r.subresource === 'eviction' && r.code === 429)).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(podsOn(k8s, 'n1').map((p) => p.metadata.name).sort()).toEqual(['fluent-bit-n1', 'kube-proxy-n1']);
    const web = k8s.list('', 'pods', APP_NAMESPACE).filter((p) => p.metadata.labels.app === 'web');
    expect(web.every((p) => p.spec.nodeName === 'n2' && isReady(p))).toBe(true);
  });

  it('drain times out with the budget\'s reason when the PDB never allows a disruption', async () => {
    addNode(k8s, 'n1');
    addNode(k8s, 'n2');
    addDeployment(k8s, 'web', { replicas: 2 });
    addPdb(k8s, 'web-strict', 'web', { minAvailable: 2 });
    await runActivity(a.cordonNode, { node: 'n1', owner: 'test' });
    const failure = await failureOf(runActivity(a.drainNode, { node: 'n1', timeoutSeconds: 1, pollIntervalMs: 20, evictionRetryMs: 100 }));
    expect(failure.type).toBe('DrainTimeout');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('The disruption budget web-strict needs 2 healthy pods and has 2 currently');
    expect(podsOn(k8s, 'n1')).toHaveLength(1);
  });

  it('drain refuses pods that would be lost before evicting anything, and evicts them when allowed', async () => {
    addNode(k8s, 'n1');
    addNode(k8s, 'n2');
    addDeployment(k8s, 'cache', { replicas: 2, volumes: [{ name: 'scratch', emptyDir: {} }] });
    addPod(k8s, 'debug-shell', 'n1');
    await runActivity(a.cordonNode, { node: 'n1', owner: 'test' });
    const failure = await failureOf(runActivity(a.drainNode, { node: 'n1', timeoutSeconds: 5, pollIntervalMs: 20 }));
    expect(failure.type).toBe('DrainRefused');
    expect(failure.message).toMatch(/default\/debug-shell: not managed by a controller/);
    expect(failure.message).toMatch(/default\/cache-\w+-\w+: has emptyDir data/);
    expect(k8s.served.some((r) => r.subresource === 'eviction')).toBe(false);

    const result = (await runActivity(a.drainNode, { node: 'n1', timeoutSeconds: 5, pollIntervalMs: 20, deleteEmptyDirData: true, evictUnmanagedPods: true })) as DrainResult;
    expect(result.evicted).toContain('default/debug-shell');
    expect(podsOn(k8s, 'n1')).toHaveLength(0);
  });

  it('refuses to drain a node that is not cordoned', async () => {
    addNode(k8s, 'n1');
    expect((await failureOf(runActivity(a.drainNode, { node: 'n1', timeoutSeconds: 1 }))).type).toBe('NodeNotCordoned');
  });

  it('every node operation run twice leaves the same end state as once', async () => {
    addNode(k8s, 'n1');
    addDeployment(k8s, 'web', { replicas: 2 });
    addNode(k8s, 'n2');
    const first = await runActivity(a.cordonNode, { node: 'n1', owner: 'wf-1' });
    const second = await runActivity(a.cordonNode, { node: 'n1', owner: 'wf-1' });
    expect(first).toMatchObject({ changed: true, unschedulable: true, cordonedBy: 'wf-1' });
    expect(second).toMatchObject({ changed: false, unschedulable: true, cordonedBy: 'wf-1' });

    const drained = (await runActivity(a.drainNode, { node: 'n1', timeoutSeconds: 5, pollIntervalMs: 20 })) as DrainResult;
    const again = (await runActivity(a.drainNode, { node: 'n1', timeoutSeconds: 5, pollIntervalMs: 20 })) as DrainResult;
    expect(drained.evicted).toHaveLength(2);
    expect(again.evicted).toHaveLength(0);

    // An uncordon for someone else's cordon is a no-op; ours lifts it once.
    expect(await runActivity(a.uncordonNode, { node: 'n1', onlyIfCordonedBy: 'wf-2' })).toMatchObject({ changed: false, unschedulable: true });
    expect(await runActivity(a.uncordonNode, { node: 'n1', onlyIfCordonedBy: 'wf-1' })).toMatchObject({ changed: true, unschedulable: false, cordonedBy: null });
    expect(await runActivity(a.uncordonNode, { node: 'n1', onlyIfCordonedBy: 'wf-1' })).toMatchObject({ changed: false, unschedulable: false });
    expect(k8s.get('', 'nodes', undefined, 'n1')!.spec.unschedulable).toBeUndefined();
  });

  it('a pod already gone when its eviction is asked counts as evicted (404)', async () => {
    addNode(k8s, 'n1');
    addNode(k8s, 'n2');
    addDeployment(k8s, 'web', { replicas: 1 });
    const name = podsOn(k8s, 'n1')[0]!.metadata.name;
    await runActivity(a.cordonNode, { node: 'n1', owner: 'test' });
    // The pod disappears between the drain's listing and its eviction.
    k8s.onServed = (r) => {
      if (r.verb === 'list' && r.resource === 'pods' && k8s.get('', 'pods', APP_NAMESPACE, name)) k8s.deleteNow('', 'pods', APP_NAMESPACE, name);
    };
    const result = (await runActivity(a.drainNode, { node: 'n1', timeoutSeconds: 5, pollIntervalMs: 20 })) as DrainResult;
    expect(result).toMatchObject({ evicted: [], alreadyGone: [`default/${name}`] });
    expect(k8s.served.some((r) => r.subresource === 'eviction' && r.code === 404)).toBe(true);
  });

  it('waits for a rebooted node to come back Ready, and reports a node that does not', async () => {
    addNode(k8s, 'n1');
    const before = (await runActivity(a.cordonNode, { node: 'n1', owner: 't' })) as { bootId: string };
    k8s.rebootNode('n1', 200, 'v1.31.0');
    const after = await runActivity(a.waitForNodeReady, { node: 'n1', timeoutSeconds: 5, pollIntervalMs: 20, rebootedFrom: before.bootId });
    expect(after).toMatchObject({ ready: true, kubeletVersion: 'v1.31.0' });
    expect((after as { bootId: string }).bootId).not.toBe(before.bootId);

    k8s.setNodeReady('n1', false);
    const failure = await failureOf(runActivity(a.waitForNodeReady, { node: 'n1', timeoutSeconds: 0.3, pollIntervalMs: 20 }));
    expect(failure.type).toBe('NodeNotReady');
    expect(failure.message).toContain('Ready=False (KubeletNotReady');
  });

  it('a failing rollout fails with the controller\'s reason and a rollback lands on the recorded revision, however often it runs', async () => {
    addNode(k8s, 'n1');
    addDeployment(k8s, 'backend', { replicas: 3, image: 'trixtech/backend:1.0', progressDeadlineSeconds: 1 });
    const recorded = await runActivity(a.readDeploymentRevision, { deployment: 'backend' });
    expect(recorded).toMatchObject({ revision: '1', images: { app: 'trixtech/backend:1.0' } });

    k8s.failingImages.add('trixtech/backend:2.0');
    expect(await runActivity(a.setDeploymentImage, { deployment: 'backend', container: 'app', image: 'trixtech/backend:2.0' })).toEqual({ changed: true, previousImage: 'trixtech/backend:1.0' });
    expect(await runActivity(a.setDeploymentImage, { deployment: 'backend', container: 'app', image: 'trixtech/backend:2.0' })).toEqual({ changed: false, previousImage: 'trixtech/backend:2.0' });
    const failure = await failureOf(runActivity(a.waitForRollout, { deployment: 'backend', timeoutSeconds: 10, pollIntervalMs: 50 }));
    expect(failure.type).toBe('RolloutFailed');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/ProgressDeadlineExceeded: ReplicaSet "backend-\w+" has timed out progressing/);

    const first = await runActivity(a.rollbackDeployment, { deployment: 'backend', toRevision: '1' });
    const retried = await runActivity(a.rollbackDeployment, { deployment: 'backend', toRevision: '1' });
    expect(first).toMatchObject({ changed: true, replicaSet: (recorded as { replicaSet: string }).replicaSet });
    expect(retried).toEqual({ ...first, changed: false });
    await runActivity(a.waitForRollout, { deployment: 'backend', timeoutSeconds: 10, pollIntervalMs: 20 });

    const dep = k8s.get('apps', 'deployments', APP_NAMESPACE, 'backend')!;
    expect(dep.spec.template.spec.containers[0].image).toBe('trixtech/backend:1.0');
    // The controller reused revision 1's ReplicaSet as revision 3, remembering 1: a later rollback to 1 still finds it.
    const reused = k8s.get('apps', 'replicasets', APP_NAMESPACE, first && (first as { replicaSet: string }).replicaSet)!;
    expect(reused.metadata.annotations).toMatchObject({ 'deployment.kubernetes.io/revision': '3', 'deployment.kubernetes.io/revision-history': '1' });
    expect(await runActivity(a.rollbackDeployment, { deployment: 'backend', toRevision: '1' })).toMatchObject({ changed: false });
    expect((await failureOf(runActivity(a.rollbackDeployment, { deployment: 'backend', toRevision: '7' }))).type).toBe('RevisionNotFound');
    const pods = k8s.list('', 'pods', APP_NAMESPACE).filter((p) => !p.metadata.deletionTimestamp);
    expect(pods.every((p) => p.spec.containers[0].image === 'trixtech/backend:1.0' && isReady(p))).toBe(true);
  });

  it('cleanup: report-only by default, a dry run lists exactly what a real run deletes, and a second run finds nothing', async () => {
    addNode(k8s, 'n1');
    addDeployment(k8s, 'web', { replicas: 1, revisionHistoryLimit: 1 });
    for (const v of ['1.1', '1.2', '1.3']) {
      await runActivity(a.setDeploymentImage, { deployment: 'web', container: 'app', image: `trixtech/web:${v}` });
      await runActivity(a.waitForRollout, { deployment: 'web', timeoutSeconds: 5, pollIntervalMs: 20 });
    }
    addJob(k8s, 'report-1', 'complete');
    addJob(k8s, 'report-2', 'failed');
    addJob(k8s, 'report-3', 'running');
    addVolume(k8s, 'pv-released', 'Released', 'Retain', { namespace: 'default', name: 'old-data' });
    addVolume(k8s, 'pv-bound', 'Bound');
    addClaim(k8s, 'data-bound', 'Bound', 'pv-bound');
    addClaim(k8s, 'data-lost', 'Lost', 'pv-gone');
    const inventory = () => ['jobs', 'replicasets', 'persistentvolumes', 'persistentvolumeclaims'].map((r) => k8s.list(r === 'jobs' ? 'batch' : r === 'replicasets' ? 'apps' : '', r).map((o) => o.metadata.name).sort());
    const before = inventory();

    const report = (await runActivity(a.cleanupClusterResources, { mode: 'report' })) as CleanupResult;
    const dryRun = (await runActivity(a.cleanupClusterResources, { mode: 'dry-run' })) as CleanupResult;
    expect(inventory()).toEqual(before);
    const names = (r: CleanupResult['deleted']) => r.map((c) => `${c.kind}/${c.name}`).sort();
    // Revisions 1 and 2 are beyond revisionHistoryLimit 1 (revision 3 is kept, revision 4 is current).
    const rsByRevision = Object.fromEntries(k8s.list('apps', 'replicasets').map((rs) => [rs.metadata.annotations['deployment.kubernetes.io/revision'], rs.metadata.name]));
    expect(names(report.candidates)).toEqual([
      'claims/data-lost', 'jobs/report-1', `replicasets/${rsByRevision['1']}`, `replicasets/${rsByRevision['2']}`, 'volumes/pv-released',
    ].sort());
    expect(report.deleted).toEqual([]);
    expect(names(dryRun.deleted)).toEqual(names(report.candidates));
    expect(k8s.served.some((r) => r.verb === 'delete')).toBe(true);

    const real = (await runActivity(a.cleanupClusterResources, { mode: 'delete' })) as CleanupResult;
    expect(names(real.deleted)).toEqual(names(dryRun.deleted));
    expect(real.failed).toEqual([]);
    for (const c of real.deleted) {
      const group = c.kind === 'jobs' ? 'batch' : c.kind === 'replicasets' ? 'apps' : '';
      const res = { jobs: 'jobs', replicasets: 'replicasets', volumes: 'persistentvolumes', claims: 'persistentvolumeclaims' }[c.kind];
      expect(k8s.get(group, res, c.namespace, c.name), `${c.kind}/${c.name}`).toBeUndefined();
    }
    expect(k8s.get('apps', 'replicasets', APP_NAMESPACE, rsByRevision['3']!)).toBeDefined();
    expect(k8s.get('apps', 'replicasets', APP_NAMESPACE, rsByRevision['4']!)).toBeDefined();
    expect(((await runActivity(a.cleanupClusterResources, { mode: 'delete' })) as CleanupResult).candidates).toEqual([]);
  });

  it('health checks: error lines per container, usage against limits, node conditions, inventory, cluster-admin holders', async () => {
    addNode(k8s, 'n1', { kubeletVersion: 'v1.30.2' });
    addNode(k8s, 'n2', { kubeletVersion: 'v1.29.9', ready: false });
    addDeployment(k8s, 'backend', { replicas: 2, resources: { limits: { cpu: '500m', memory: '256Mi' } } });
    addPdb(k8s, 'backend', 'backend', { minAvailable: 2 });
    k8s.podLogs = () => 'GET /health 200\nERROR db timeout\npanic: nil map\n';
    let n = 0;
    k8s.podUsage = () => (n++ === 0 ? { cpu: '490m', memory: '100Mi' } : { cpu: '100m', memory: '64Mi' });

    const [logs] = await runActivity(a.scanApplicationErrorLogs, 3600);
    expect(logs).toMatchObject({ check: 'k8s.error-logs', status: 'warn', value: 4 });
    expect(logs!.detail).toMatch(/backend-\w+-\w+\/app: 2/);

    const usage = await runActivity(a.checkPodResourceUsage);
    expect(usage.map((u) => u.status).sort()).toEqual(['critical', 'ok']);
    expect(usage.find((u) => u.status === 'critical')).toMatchObject({ value: 98, detail: expect.stringContaining('app cpu 490m of 500m') });

    const nodes = await runActivity(a.checkNodeHealth);
    expect(nodes.map((r) => [r.target, r.status])).toEqual([['n1', 'ok'], ['n2', 'critical']]);

    const inventory = await runActivity(a.collectClusterInventory);
    expect(inventory).toMatchObject({
      nodes: [{ name: 'n1', kubeletVersion: 'v1.30.2', ready: true }, { name: 'n2', kubeletVersion: 'v1.29.9', ready: false }],
      deployments: [{ name: 'backend', images: ['trixtech/backend:1.0.0'], replicas: 2, revision: '1' }],
      pdbs: [{ name: 'backend', minAvailable: '2', disruptionsAllowed: 0, expectedPods: 2 }],
    });
    const findings = (inventory as { findings: { check: string; status: string }[] }).findings.map((f) => `${f.check}:${f.status}`);
    expect(findings).toEqual(expect.arrayContaining(['k8s.kubelet-versions:warn', 'k8s.pdb:warn', 'k8s.node:critical']));

    k8s.create('rbac.authorization.k8s.io', 'clusterrolebindings', {
      metadata: { name: 'ops' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'bob' }],
    });
    expect(await runActivity(a.reviewClusterAdminBindings)).toMatchObject([{ target: 'User/bob', status: 'warn' }]);

    k8s.metricsApi = false;
    expect((await runActivity(a.checkPodResourceUsage))[0]).toMatchObject({ status: 'skipped', detail: expect.stringContaining('metrics API unavailable') });
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
    for (const check of [none.scanApplicationErrorLogs, none.checkPodResourceUsage, none.checkNodeHealth]) {
      expect((await check())[0]).toMatchObject({ status: 'skipped', detail: 'no cluster configured' });
    }
  });
});
