import { z } from 'zod';
import type { CheckResult } from '../domain/checks.js';
import { retentionCheck, type RetentionResult } from '../domain/retention.js';
import type { RunReport } from '../domain/run.js';
import { boundedWait, quickRead } from './lib/activity-profiles.js';
import { reportedWorkflow } from './lib/run.js';

const { applyRetentionRule, pruneDatabaseBackups } = boundedWait;
const { checkDiskUsage, resolveStorageCleanupPlan } = quickRead;

const DAY_MS = 86_400_000;

export const StorageCleanupInput = z
  .object({
    /** report: list exactly what each rule would delete, delete nothing. */
    mode: z.enum(['delete', 'report']).default('delete'),
  })
  .strict();

const reportedRun = reportedWorkflow('storageCleanup', StorageCleanupInput);

/**
 * Maintenance Setup Guide, "Log Cleanup CronJob" and "Disk Cleanup", with the audit's "Review
 * backup retention policies": every configured retention rule applied, old database dumps pruned
 * (never the newest, never without a readable newest), and disk usage measured before and after.
 * Only files matching a configured rule are ever deleted.
 */
export async function storageCleanup(rawInput?: z.input<typeof StorageCleanupInput>): Promise<RunReport> {
  return reportedRun(rawInput, async (run, input) => {
    const plan = await run.plan('resolve retention rules', () => resolveStorageCleanupPlan());
    // One cutoff per rule, fixed here: every retry of an attempt selects the same files.
    const now = Date.now();
    const cutoff = (days: number) => new Date(now - days * DAY_MS).toISOString();
    const diskBefore = await run.checkStep('disk usage before', () => checkDiskUsage(plan.diskPaths, plan.thresholds));

    run.phase = input.mode === 'report' ? 'listing' : 'deleting';
    const graded = (r: RetentionResult) => {
      const c = retentionCheck(r);
      return { outcome: c.status, detail: c.detail };
    };
    const results = await Promise.all(
      plan.rules.map((rule) =>
        run.step(
          `retention ${rule.name}`,
          () => applyRetentionRule({ rule, olderThan: cutoff(rule.olderThanDays), mode: input.mode }),
          graded,
        ),
      ),
    );
    const backups = plan.backupRetention;
    if (backups) {
      results.push(
        await run.step(
          'backup retention',
          () =>
            pruneDatabaseBackups({
              olderThan: cutoff(backups.olderThanDays),
              keepNewest: backups.keepNewest,
              mode: input.mode,
            }),
          graded,
        ),
      );
    }
    const diskAfter =
      input.mode === 'delete'
        ? await run.checkStep('disk usage after', () => checkDiskUsage(plan.diskPaths, plan.thresholds))
        : diskBefore;

    const checks: CheckResult[] = [
      ...results.map(retentionCheck),
      ...(backups
        ? []
        : [
            {
              check: 'retention',
              target: 'database-backups',
              status: 'skipped' as const,
              detail: 'no backup directory configured',
            },
          ]),
      ...diskAfter,
    ];
    const files = results.reduce((n, r) => n + (input.mode === 'delete' ? r.deleted : r.expired), 0);
    const mib = Math.round((results.reduce((n, r) => n + r.expiredBytes, 0) / 2 ** 20) * 10) / 10;
    return {
      summary:
        input.mode === 'delete'
          ? `Storage cleanup: ${files} file(s) deleted, ${mib} MiB, under ${results.length} rule(s)`
          : `Storage cleanup (report only): ${files} file(s), ${mib} MiB would go under ${results.length} rule(s)`,
      checks,
      // Disk still over its critical threshold after cleanup needs a human; a routine day posts
      // nothing (the run is stored and in the evening digest).
      alertOnCritical: true,
      postOnlyProblems: true,
      details: { mode: input.mode, rules: results, diskBefore, diskAfter },
    };
  });
}
