// What clusterStorageCleanup cleans, produced by the real controllers: a Deployment whose old
// revisions sit at zero replicas beyond its history limit, a finished and a running Job, a Released
// volume, an Available one and a Lost claim. The activity's and the workflow's tests share it.
import { BatchV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { runActivity } from './kube.js';
import { waitForDeployment, waitUntil, type TestCluster } from './cluster.js';

const STUCK = { 'pod-ready.stage.kwok.x-k8s.io/delay': '1h', 'pod-ready.stage.kwok.x-k8s.io/jitter-delay': '1h' };

export interface CleanupFixture {
  deployment: string;
  /** Beyond the history limit: to be deleted. */
  revision1: { replicaSet: string };
  /** Beyond the limit too, but the revision a rollback from 3 goes back to: to be kept. */
  revision2: { replicaSet: string; revision: string };
  jobs: { done: string; running: string };
  volumes: { released: string; available: string };
  claim: string;
}

export async function stageCleanupCandidates(t: TestCluster, deployment: string): Promise<CleanupFixture> {
  const tag = t.namespace;
  const batch = t.admin.makeApiClient(BatchV1Api);
  const image = (v: string) => `ghcr.io/trixtech/${deployment}:${v}`;
  const revision = async () =>
    (await runActivity(t.activities.readDeploymentRevision, { deployment })) as {
      replicaSet: string;
      revision: string;
    };

  // Recreate scales the old ReplicaSet to zero before the new one starts: with the new release
  // stuck and the history limit lowered to 0, revision 2 (the one to roll back to) is at zero
  // replicas beyond the limit, and so is revision 1.
  await t.deploy(deployment, { replicas: 1, image: image('1.0') });
  await waitForDeployment(t, deployment);
  const revision1 = await revision();
  await runActivity(t.activities.setDeploymentImage, { deployment, container: 'app', image: image('1.1') });
  await waitForDeployment(t, deployment);
  const revision2 = await revision();
  // One patch: a lowered limit on a completed rollout would let the controller delete revision 1
  // before the stuck release starts (a 404 seen in CI on a loaded machine).
  await t.apps.patchNamespacedDeployment(
    {
      name: deployment,
      namespace: t.namespace,
      body: {
        spec: {
          revisionHistoryLimit: 0,
          strategy: { type: 'Recreate', rollingUpdate: null },
          template: {
            metadata: { annotations: STUCK },
            spec: { containers: [{ name: 'app', image: image('1.2') }] },
          },
        },
      },
    },
    setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
  );

  // A Job kwok completes at once (the Job controller marks it Complete), and one still running.
  const jobs = { done: `${deployment}-job-done`, running: `${deployment}-job-running` };
  for (const [name, delay] of [
    [jobs.done, '0s'],
    [jobs.running, '1h'],
  ] as const) {
    await batch.createNamespacedJob({
      namespace: t.namespace,
      body: {
        metadata: { name },
        spec: {
          template: {
            metadata: {
              annotations: {
                'pod-complete.stage.kwok.x-k8s.io/delay': delay,
                'pod-complete.stage.kwok.x-k8s.io/jitter-delay': delay,
              },
            },
            spec: {
              restartPolicy: 'Never',
              containers: [{ name: 'export', image: 'ghcr.io/trixtech/export:1.0' }],
              tolerations: [{ key: 'trixtech.test/pool', operator: 'Exists' }],
              nodeSelector: { 'trixtech.test/pool': t.namespace },
            },
          },
        },
      },
    });
  }
  // A Retain volume whose claim is gone (Released), one never claimed (Available), a claim whose volume is gone (Lost).
  const volumes = { released: `${tag}-released`, available: `${tag}-available` };
  const volume = (name: string, claimRef?: object) =>
    t.core.createPersistentVolume({
      body: {
        metadata: { name },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: 'Retain',
          hostPath: { path: `/tmp/${name}` },
          ...(claimRef ? { claimRef } : {}),
        },
      },
    });
  await volume(volumes.released, {
    namespace: t.namespace,
    name: 'old-data',
    uid: '00000000-0000-0000-0000-000000000001',
  });
  await volume(volumes.available);
  const claim = 'data-lost';
  await t.core.createNamespacedPersistentVolumeClaim({
    namespace: t.namespace,
    body: {
      metadata: { name: claim, annotations: { 'pv.kubernetes.io/bind-completed': 'yes' } },
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '1Gi' } },
        volumeName: `${tag}-gone`,
        storageClassName: '',
      },
    },
  });
  await waitUntil('the Job, volumes, claim and ReplicaSets to reach their states', async () => {
    const [job, released, available, lost, rs1, rs2] = await Promise.all([
      batch.readNamespacedJob({ name: jobs.done, namespace: t.namespace }),
      t.core.readPersistentVolume({ name: volumes.released }),
      t.core.readPersistentVolume({ name: volumes.available }),
      t.core.readNamespacedPersistentVolumeClaim({ name: claim, namespace: t.namespace }),
      t.apps.readNamespacedReplicaSet({ name: revision1.replicaSet, namespace: t.namespace }),
      t.apps.readNamespacedReplicaSet({ name: revision2.replicaSet, namespace: t.namespace }),
    ]);
    const complete = job.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True');
    const drained = [rs1, rs2].every((rs) => rs.spec?.replicas === 0 && (rs.status?.replicas ?? 0) === 0);
    return complete &&
      drained &&
      released.status?.phase === 'Released' &&
      available.status?.phase === 'Available' &&
      lost.status?.phase === 'Lost'
      ? true
      : undefined;
  });
  return { deployment, revision1, revision2, jobs, volumes, claim };
}
