// clusterStorageCleanup (the seed's storage-maintenance CronJob) run by a real worker against the
// suite's real control plane, as a ServiceAccount bound to deploy/rbac.yaml: the volume, Job and
// deployment controllers produce every state it cleans up.
import { BatchV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CleanupCandidate } from '../domain/cluster.js';
import type { RunReport } from '../domain/run.js';
import { clusterStorageCleanup } from '../workflows/cluster-storage-cleanup.js';
import { stageCleanupCandidates } from './helpers/cleanup-fixture.js';
import { clusterForFile, expectRbacExact, waitForDeployment, waitUntil, type TestCluster } from './helpers/cluster.js';
import { expectWorkflowRejects } from './helpers/failures.js';
import { recordHistory } from './helpers/histories.js';
import { runActivity } from './helpers/kube.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { testConfig, withWorker } from './helpers/temporal.js';

describe('clusterStorageCleanup on a real control plane', () => {
  let t: TestCluster;
  let db: TestDatabase;
  beforeAll(async () => {
    [t, db] = await Promise.all([clusterForFile('storage-cleanup'), createTestDatabase('maint_cluster_cleanup')]);
  });
  afterAll(async () => {
    if (t) {
      expectRbacExact(t, { everyGrantUsed: false });
      await t.cleanup();
    }
    await db?.drop();
  });

  const inCluster = <T>(fn: Parameters<typeof withWorker<T>>[1]) =>
    withWorker(
      testConfig(
        { MAINT_DATABASE_URL: db.url, KUBECONFIG: t.workerKubeconfig },
        { targets: { kubernetes: { namespace: t.namespace } } },
      ),
      fn,
    );

  it('report dry-runs every deletion on the server and deletes nothing; apply deletes exactly that, keeps the rollback revision, and a second run finds nothing', async () => {
    const tag = t.namespace;
    const batch = t.admin.makeApiClient(BatchV1Api);
    await t.addNodes(1);
    const { revision1, revision2, jobs } = await stageCleanupCandidates(t, 'shop');
    expect(revision2.revision).toBe('2');

    const ours = (list: CleanupCandidate[]) =>
      list
        .filter((c) => c.namespace === t.namespace || c.name.startsWith(tag))
        .map((c) => `${c.kind}/${c.name}`)
        .sort();
    const auditMark = t.audit().length;
    const workflowId = `cluster-storage-cleanup-${tag}`;
    const { report, applied, again, history } = await inCluster(async ({ client, taskQueue }) => {
      // Report with the default age: the Job finished seconds ago is too young to go.
      const report = await client.workflow.execute(clusterStorageCleanup, {
        taskQueue,
        workflowId: `${workflowId}-report`,
        args: [{ mode: 'report' }],
      });
      const handle = await client.workflow.start(clusterStorageCleanup, {
        taskQueue,
        workflowId,
        args: [{ mode: 'apply', completedJobsOlderThan: 0 }],
      });
      const applied = await handle.result();
      const history = await handle.fetchHistory();
      const again = await waitUntil('the deletions to land', async () => {
        const r = await client.workflow.execute(clusterStorageCleanup, {
          taskQueue,
          workflowId: `${workflowId}-again-${Date.now()}`,
          args: [{ mode: 'report', completedJobsOlderThan: 0 }],
        });
        return ours(r.details!.deleted as CleanupCandidate[]).length === 0 ? r : undefined;
      });
      return { report, applied, again, history };
    });
    await recordHistory('clusterStorageCleanup', history, workflowId);

    const listed = (r: RunReport, key: 'deleted' | 'kept') => ours(r.details![key] as CleanupCandidate[]);
    expect(listed(report, 'deleted')).toEqual(
      ['claims/data-lost', `replicasets/${revision1.replicaSet}`, `volumes/${tag}-released`].sort(),
    );
    expect(listed(report, 'kept')).toEqual([`replicasets/${revision2.replicaSet}`]);
    expect((report.details!.kept as CleanupCandidate[])[0]!.reason).toMatch(
      /kept: the revision a rollback from 3 goes back to/,
    );
    expect(report.summary).toMatch(
      /^Cluster storage cleanup \(report only, server dry run\): \d+ object\(s\) would be deleted/,
    );
    expect(report.outcome).toBe('ok');

    // The report's deletions reached the API server as dry runs only; the apply run's for real.
    // (The runs after it repeat dry runs while deletions land: each object counted once.)
    const deletes = t
      .audit()
      .slice(auditMark)
      .filter((e) => e.verb === 'delete' && e.objectRef?.namespace === t.namespace) as (ReturnType<
      TestCluster['audit']
    >[number] & { requestURI: string })[];
    const objects = (dryRun: boolean) =>
      [
        ...new Set(
          deletes
            .filter((e) => e.requestURI.includes('dryRun=All') === dryRun)
            .map((e) => `${e.objectRef!.resource}/${e.objectRef!.name}`),
        ),
      ].sort();
    expect(objects(false)).toEqual(
      [`jobs/${jobs.done}`, 'persistentvolumeclaims/data-lost', `replicasets/${revision1.replicaSet}`].sort(),
    );
    // The report run's dry runs came first: the Job was too young for it, so only the apply run deleted it.
    const firstReal = deletes.findIndex((e) => !e.requestURI.includes('dryRun=All'));
    expect(
      [...new Set(deletes.slice(0, firstReal).map((e) => `${e.objectRef!.resource}/${e.objectRef!.name}`))].sort(),
    ).toEqual(['persistentvolumeclaims/data-lost', `replicasets/${revision1.replicaSet}`].sort());

    expect(listed(applied, 'deleted')).toEqual(
      [
        'claims/data-lost',
        `jobs/${jobs.done}`,
        `replicasets/${revision1.replicaSet}`,
        `volumes/${tag}-released`,
      ].sort(),
    );
    expect(applied.summary).toMatch(/^Cluster storage cleanup: \d+ object\(s\) deleted/);
    expect(applied.checks.find((c) => c.target === 'jobs')!.detail).toContain(
      `deleted: ${t.namespace}/${jobs.done} (completed `,
    );
    expect(listed(again, 'kept')).toEqual([`replicasets/${revision2.replicaSet}`]);
    const stored = await db.pool.query('SELECT outcome FROM maintenance_runs WHERE workflow_id = $1', [workflowId]);
    expect(stored.rows).toEqual([{ outcome: 'ok' }]);

    // What must stay stayed: the running Job, the Available volume, and the revision to roll back to, which still works.
    expect(
      (await batch.readNamespacedJob({ name: jobs.running, namespace: t.namespace })).metadata?.deletionTimestamp,
    ).toBeUndefined();
    expect((await t.core.readPersistentVolume({ name: `${tag}-available` })).status?.phase).toBe('Available');
    await t.core.deletePersistentVolume({ name: `${tag}-available` });
    expect(await runActivity(t.activities.rollbackDeployment, { deployment: 'shop', toRevision: '2' })).toEqual({
      changed: true,
      replicaSet: revision2.replicaSet,
    });
    await waitForDeployment(t, 'shop');
  });

  it('bad input: an unknown kind, repeated kinds, a negative age or another mode are refused, naming the field', async () => {
    await inCluster(({ client, taskQueue }) =>
      expectWorkflowRejects(client, taskQueue, 'clusterStorageCleanup', `cluster-cleanup-bad-${t.namespace}`, [
        [{ kinds: ['secrets'] }, 'kinds'],
        [{ kinds: ['jobs', 'jobs'] }, 'kinds'],
        [{ completedJobsOlderThan: -1 }, 'completedJobsOlderThan'],
        [{ mode: 'delete' }, 'mode'],
        [{ mode: 'apply', extra: true }, 'extra'],
      ]),
    );
  });
});
