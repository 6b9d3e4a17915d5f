import { z } from 'zod';
import { skipped, type CheckResult } from '../domain/checks.js';
import type { RunReport } from '../domain/run.js';
import { quickRead } from './lib/activity-profiles.js';
import { backupChecks, slowQueryFindings } from './lib/database-checks.js';
import { reportedWorkflow } from './lib/run.js';

const {
  checkDiskUsage,
  checkNodeHealth,
  checkPodResourceUsage,
  cleanupClusterResources,
  collectDatabaseStatistics,
  probeHttpEndpoints,
  resolveHealthCheckPlan,
  scanApplicationErrorLogs,
  verifyNewestBackup,
} = quickRead;

export const WeeklySystemReviewInput = z
  .object({
    /** How far back the application error logs are read. */
    logWindowHours: z
      .number()
      .int()
      .positive()
      .max(24 * 14)
      .default(24 * 7),
    /** How many of the slowest queries the report lists. */
    slowQueryCount: z.number().int().positive().max(50).default(10),
  })
  .strict();

const reportedRun = reportedWorkflow('weeklySystemReview', 'booking-platform', WeeklySystemReviewInput);

/**
 * Routine Maintenance Guide, "Monday Morning System Review": the database, application and
 * infrastructure items of its checklist that can be measured, in parallel. Nothing here changes
 * anything: orphaned cluster resources are listed (a dry run), not deleted.
 */
export async function weeklySystemReview(rawInput?: z.input<typeof WeeklySystemReviewInput>): Promise<RunReport> {
  return reportedRun(rawInput, async (run, input) => {
    const plan = await run.plan('resolve targets', () => resolveHealthCheckPlan());

    run.phase = 'reviewing';
    let statistics: Awaited<ReturnType<typeof collectDatabaseStatistics>> | undefined;
    const results = (
      await Promise.all([
        // Database: slow queries, index usage, table statistics, cache hit ratio, backup integrity.
        run.checkStep('database statistics', async () => {
          statistics = await collectDatabaseStatistics();
          return [
            ...statistics.checks,
            ...slowQueryFindings(plan.database, statistics.slowQueries, input.slowQueryCount),
          ];
        }),
        run.checkStep('backup integrity', async () =>
          backupChecks(plan.database, {
            ...(await verifyNewestBackup({ maxAgeHours: plan.thresholds.backupMaxAgeHours })),
            taken: false,
          }),
        ),
        // Application: error patterns, memory against limits (leaks show as creeping usage).
        run.checkStep('application error logs', () => scanApplicationErrorLogs(input.logWindowHours * 3600)),
        run.checkStep('pod resources', () => checkPodResourceUsage()),
        // Infrastructure: nodes, storage, connectivity, leftovers.
        run.checkStep('node health', () => checkNodeHealth()),
        run.checkStep('storage utilization', () => checkDiskUsage(plan.diskPaths, plan.thresholds)),
        run.checkStep('network connectivity', () => probeHttpEndpoints(plan.http, plan.thresholds)),
        run.checkStep('orphaned cluster resources', async (): Promise<CheckResult[]> => {
          const r = await cleanupClusterResources({ mode: 'report' });
          if ('skipped' in r) return [skipped('k8s.leftovers', '-', r.skipped)];
          return [
            {
              check: 'k8s.leftovers',
              target: 'cluster',
              status: r.candidates.length > 0 ? 'warn' : 'ok',
              value: r.candidates.length,
              unit: 'objects',
              detail: r.candidates.length
                ? r.candidates
                    .map((c) => `${c.kind} ${c.namespace ? `${c.namespace}/` : ''}${c.name} (${c.reason})`)
                    .join('; ')
                    .slice(0, 1000)
                : 'nothing to clean up',
            },
          ];
        }),
      ])
    ).flat();

    // The lists behind the findings, with their figures: what someone acts on.
    const database = statistics && {
      slowQueries: statistics.slowQueries,
      unusedIndexes: statistics.unusedIndexes,
      bloatedTables: statistics.bloated,
      seqScanHeavyTables: statistics.seqScanHeavyTables,
      staleStatistics: statistics.staleStatistics,
    };
    return {
      summary: 'Weekly system review',
      checks: results,
      alertOnCritical: true,
      details: database && { database },
    };
  });
}
