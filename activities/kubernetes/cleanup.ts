import { AppsV1Api, BatchV1Api, CoreV1Api } from '@kubernetes/client-node';
import { heartbeat } from '@temporalio/activity';
import { annotation, apiStatus, isNotFound, type KubernetesDeps } from './common.js';
import { CLEANUP_KINDS, SKIPPED, type CleanupCandidate, type CleanupKind, type Skipped } from '../../domain/cluster.js';

/** `report`: list only; `dry-run`: ask the API server to validate each deletion (dryRun=All); `delete`: delete. */
export type CleanupMode = 'report' | 'dry-run' | 'delete';

export interface CleanupInput {
  mode: CleanupMode;
  kinds?: CleanupKind[];
  /** Completed Jobs younger than this are kept (their logs may still be wanted). */
  completedJobMinAgeSeconds?: number;
}

export interface CleanupResult {
  mode: CleanupMode;
  candidates: CleanupCandidate[];
  /** In `delete` mode what was deleted; in `dry-run` mode what the server accepted for deletion. */
  deleted: CleanupCandidate[];
  failed: (CleanupCandidate & { error: string })[];
  /** ReplicaSets beyond the history limit kept all the same: the revision a rollback goes back to. */
  kept: CleanupCandidate[];
}

const REVISION = 'deployment.kubernetes.io/revision';

/**
 * The seed's storage-maintenance CronJob, made safe: completed Jobs, ReplicaSets a Deployment
 * keeps beyond its revisionHistoryLimit (never its current one), Released PersistentVolumes and
 * claims whose volume is lost. Jobs, ReplicaSets and claims in the application namespace.
 */
export function createCleanupActivities({ kube, namespace }: KubernetesDeps) {
  async function findCandidates(
    kinds: readonly CleanupKind[],
    minAgeSeconds: number,
    kept: CleanupCandidate[],
  ): Promise<CleanupCandidate[]> {
    const core = kube!.makeApiClient(CoreV1Api);
    const found: CleanupCandidate[] = [];
    if (kinds.includes('jobs')) {
      const cutoff = Date.now() - minAgeSeconds * 1000;
      for (const job of (await kube!.makeApiClient(BatchV1Api).listNamespacedJob({ namespace })).items) {
        const complete = job.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True');
        const finished = job.status?.completionTime ? new Date(job.status.completionTime).getTime() : NaN;
        if (complete && finished <= cutoff)
          found.push({
            kind: 'jobs',
            namespace,
            name: job.metadata!.name!,
            reason: `completed ${new Date(finished).toISOString()}`,
          });
      }
    }
    if (kinds.includes('replicasets')) {
      const apps = kube!.makeApiClient(AppsV1Api);
      const [deployments, replicaSets] = await Promise.all([
        apps.listNamespacedDeployment({ namespace }),
        apps.listNamespacedReplicaSet({ namespace }),
      ]);
      for (const d of deployments.items) {
        const limit = d.spec?.revisionHistoryLimit ?? 10;
        const current = Number(annotation(d, REVISION) ?? 0);
        const revision = (rs: (typeof replicaSets.items)[number]) => Number(annotation(rs, REVISION) ?? 0);
        const owned = replicaSets.items.filter((rs) =>
          rs.metadata?.ownerReferences?.some((o) => o.controller && o.uid === d.metadata?.uid),
        );
        // What `kubectl rollout undo` and applicationUpdate's recorded rollback go back to while a
        // rollout is under way: the newest revision below the current one. Never deleted.
        const rollbackTarget = Math.max(0, ...owned.map(revision).filter((r) => r < current));
        const old = owned
          .filter(
            (rs) => (rs.spec?.replicas ?? 0) === 0 && (rs.status?.replicas ?? 0) === 0 && revision(rs) !== current,
          )
          .sort((a, b) => revision(b) - revision(a));
        for (const rs of old.slice(limit)) {
          const candidate = {
            kind: 'replicasets' as const,
            namespace,
            name: rs.metadata!.name!,
            reason: `revision ${revision(rs)} of ${d.metadata!.name}, beyond revisionHistoryLimit ${limit}`,
          };
          if (revision(rs) === rollbackTarget)
            kept.push({
              ...candidate,
              reason: `${candidate.reason}, kept: the revision a rollback from ${current} goes back to`,
            });
          else found.push(candidate);
        }
      }
    }
    const volumes =
      kinds.includes('volumes') || kinds.includes('claims') ? (await core.listPersistentVolume()).items : [];
    if (kinds.includes('volumes')) {
      for (const pv of volumes.filter((v) => v.status?.phase === 'Released')) {
        const claim = pv.spec?.claimRef ? ` (was ${pv.spec.claimRef.namespace}/${pv.spec.claimRef.name})` : '';
        found.push({
          kind: 'volumes',
          name: pv.metadata!.name!,
          reason: `Released, reclaim policy ${pv.spec?.persistentVolumeReclaimPolicy ?? '?'}${claim}`,
        });
      }
    }
    if (kinds.includes('claims')) {
      const volumeNames = new Set(volumes.map((v) => v.metadata?.name));
      for (const pvc of (await core.listNamespacedPersistentVolumeClaim({ namespace })).items) {
        const lost = pvc.status?.phase === 'Lost';
        const missing = pvc.spec?.volumeName && !volumeNames.has(pvc.spec.volumeName);
        if (lost || missing)
          found.push({
            kind: 'claims',
            namespace,
            name: pvc.metadata!.name!,
            reason: lost ? 'Lost: its volume is gone' : `bound volume ${pvc.spec!.volumeName} does not exist`,
          });
      }
    }
    return found;
  }

  async function remove(c: CleanupCandidate, dryRun: 'All' | undefined): Promise<void> {
    const name = c.name;
    const ns = c.namespace ?? namespace;
    // Background propagation: a Job's pods and a ReplicaSet's (none) go with them, as kubectl does.
    const options = { dryRun, propagationPolicy: 'Background' };
    switch (c.kind) {
      case 'jobs':
        await kube!.makeApiClient(BatchV1Api).deleteNamespacedJob({ name, namespace: ns, ...options });
        break;
      case 'replicasets':
        await kube!.makeApiClient(AppsV1Api).deleteNamespacedReplicaSet({ name, namespace: ns, ...options });
        break;
      case 'volumes':
        await kube!.makeApiClient(CoreV1Api).deletePersistentVolume({ name, ...options });
        break;
      case 'claims':
        await kube!.makeApiClient(CoreV1Api).deleteNamespacedPersistentVolumeClaim({ name, namespace: ns, ...options });
        break;
    }
  }

  return {
    /** Report-only unless `mode` says otherwise; a candidate already gone (404) counts as deleted. */
    async cleanupClusterResources(input: CleanupInput): Promise<CleanupResult | Skipped> {
      if (!kube) return SKIPPED;
      const kept: CleanupCandidate[] = [];
      const candidates = await findCandidates(input.kinds ?? CLEANUP_KINDS, input.completedJobMinAgeSeconds ?? 0, kept);
      const result: CleanupResult = { mode: input.mode, candidates, deleted: [], failed: [], kept };
      if (input.mode === 'report') return result;
      for (const c of candidates) {
        heartbeat({ done: result.deleted.length + result.failed.length, of: candidates.length });
        try {
          await remove(c, input.mode === 'dry-run' ? 'All' : undefined);
          result.deleted.push(c);
        } catch (err) {
          if (isNotFound(err) && input.mode === 'delete') result.deleted.push(c);
          else result.failed.push({ ...c, error: apiStatus(err).message });
        }
      }
      return result;
    },
  };
}
