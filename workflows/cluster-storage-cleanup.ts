import { z } from 'zod';
import { skipped, type CheckResult } from '../domain/checks.js';
import type { CleanupCandidate, CleanupKind } from '../domain/cluster.js';
import type { RunReport } from '../domain/run.js';
import { boundedWait } from './lib/activity-profiles.js';
import { DAY, duration, seconds } from './lib/duration.js';
import { reportedWorkflow } from './lib/run.js';

const { cleanupClusterResources } = boundedWait;

const KINDS = ['volumes', 'claims', 'jobs', 'replicasets'] as const satisfies readonly CleanupKind[];

export const ClusterStorageCleanupInput = z
  .object({
    /**
     * report: every deletion sent as a server-side dry run (`kubectl delete --dry-run=server`): the
     * API server validates and authorizes each one, nothing is deleted. apply: deleted.
     */
    mode: z.enum(['report', 'apply']).default('report'),
    kinds: z
      .array(z.enum(KINDS))
      .min(1)
      .max(KINDS.length)
      .refine((k) => new Set(k).size === k.length, 'kinds must be distinct')
      .default([...KINDS]),
    /** Completed Jobs that finished less than this long ago are kept (their logs may still be read). */
    completedJobsOlderThan: duration(0, 90 * DAY).prefault('24 hours'),
  })
  .strict();
export type ClusterStorageCleanupInput = z.input<typeof ClusterStorageCleanupInput>;

const reportedRun = reportedWorkflow('clusterStorageCleanup', ClusterStorageCleanupInput);

const describe = (c: CleanupCandidate) => `${c.namespace ? `${c.namespace}/` : ''}${c.name} (${c.reason})`;

/**
 * Maintenance Setup Guide, the `storage-maintenance` CronJob (Sunday 04:00), made safe: Released
 * PersistentVolumes, claims whose volume is gone, completed Jobs past an age, and ReplicaSets at
 * zero replicas beyond their Deployment's revisionHistoryLimit, never the current revision nor
 * the one a rollback goes back to. Every deletion (or, in report mode, every deletion the API
 * server accepted in a dry run) is listed in the report.
 */
export async function clusterStorageCleanup(rawInput?: ClusterStorageCleanupInput): Promise<RunReport> {
  return reportedRun(rawInput, async (run, input) => {
    const apply = input.mode === 'apply';
    run.phase = apply ? 'deleting' : 'listing';
    const result = await run.step(
      apply ? 'delete leftovers' : 'list leftovers (server dry run)',
      () =>
        cleanupClusterResources({
          mode: apply ? 'delete' : 'dry-run',
          kinds: input.kinds,
          completedJobMinAgeSeconds: seconds(input.completedJobsOlderThan),
        }),
      (r) => ('skipped' in r ? 'skipped' : r.failed.length > 0 ? 'warn' : 'ok'),
    );
    if ('skipped' in result) {
      return {
        summary: `Cluster storage cleanup skipped: ${result.skipped}`,
        checks: [skipped('k8s.cleanup', 'cluster', result.skipped)],
      };
    }

    // One finding per kind: what went (or would go), what could not, what was kept and why.
    const checks: CheckResult[] = input.kinds.map((kind) => {
      const done = result.deleted.filter((c) => c.kind === kind);
      const failed = result.failed.filter((c) => c.kind === kind);
      const kept = result.kept.filter((c) => c.kind === kind);
      const parts = [
        done.length
          ? `${apply ? 'deleted' : 'would delete'}: ${done.map(describe).join('; ')}`
          : `nothing to ${apply ? 'delete' : 'clean up'}`,
        ...(failed.length ? [`failed: ${failed.map((f) => `${describe(f)}: ${f.error}`).join('; ')}`] : []),
        ...(kept.length ? [`kept: ${kept.map(describe).join('; ')}`] : []),
      ];
      return {
        check: 'k8s.cleanup',
        target: kind,
        status: failed.length ? 'warn' : 'ok',
        value: done.length,
        unit: 'objects',
        detail: parts.join('; ').slice(0, 2000),
      };
    });
    const counts = input.kinds.map((k) => `${result.deleted.filter((c) => c.kind === k).length} ${k}`).join(', ');
    return {
      summary: apply
        ? `Cluster storage cleanup: ${result.deleted.length} object(s) deleted (${counts})`
        : `Cluster storage cleanup (report only, server dry run): ${result.deleted.length} object(s) would be deleted (${counts})`,
      checks,
      details: {
        mode: input.mode,
        completedJobsOlderThanSeconds: seconds(input.completedJobsOlderThan),
        deleted: result.deleted,
        failed: result.failed,
        kept: result.kept,
      },
    };
  });
}
