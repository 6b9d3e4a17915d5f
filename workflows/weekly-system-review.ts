import { patched } from '@temporalio/workflow';
import { z } from 'zod';
import { skipped, type CheckResult } from '../domain/checks.js';
import { memoryTrendFindings, type MemoryByDeployment } from '../domain/memory.js';
import type { RunReport } from '../domain/run.js';
import { quickRead } from './lib/activity-profiles.js';
import { backupChecks, slowQueryFindings } from './lib/database-checks.js';
import { reportedWorkflow } from './lib/run.js';

const {
  checkContainerRestarts,
  checkDatabaseDisk,
  checkDiskUsage,
  checkNodeHealth,
  checkPodResourceUsage,
  cleanupClusterResources,
  collectDatabaseStatistics,
  measureDeploymentMemory,
  probeHttpEndpoints,
  readMemoryHistory,
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
    /** More restarts than this in one application container is a warning (OOMKilled always is critical). */
    maxRestarts: z.number().int().nonnegative().max(1000).default(3),
    /** Memory growth across the trend's runs beyond which steady growth is a leak (20 = 20 %). */
    memoryGrowthPercent: z.number().positive().max(1000).default(20),
    /** How many weekly runs, this one included, must each measure more than the one before. */
    memoryTrendRuns: z.number().int().min(2).max(12).default(3),
  })
  .strict();

const reportedRun = reportedWorkflow('weeklySystemReview', WeeklySystemReviewInput);

/**
 * Routine Maintenance Guide, "Monday Morning System Review": the database, application and
 * infrastructure items of its checklist that can be measured, in parallel. Nothing here changes
 * anything: orphaned cluster resources are listed (a dry run), not deleted.
 */
export async function weeklySystemReview(rawInput?: z.input<typeof WeeklySystemReviewInput>): Promise<RunReport> {
  return reportedRun(rawInput, async (run, input) => {
    const plan = await run.plan('resolve targets', () => resolveHealthCheckPlan());

    run.phase = 'reviewing';
    // Runs recorded before restarts and memory history were read made neither step.
    const memoryHistory = patched('memory-history');
    const databaseDisk = patched('database-disk');
    let memory: MemoryByDeployment | undefined;
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
        // Application: error patterns, memory against limits, restarts and OOMKilled, memory across runs.
        run.checkStep('application error logs', () => scanApplicationErrorLogs(input.logWindowHours * 3600)),
        run.checkStep('pod resources', () => checkPodResourceUsage()),
        ...(memoryHistory
          ? [
              run.checkStep('container restarts', () => checkContainerRestarts(input.maxRestarts)),
              run.checkStep('memory trend', async (): Promise<CheckResult[]> => {
                const measured = await measureDeploymentMemory();
                if ('skipped' in measured) return [skipped('k8s.memory-trend', '-', measured.skipped)];
                memory = measured.memory;
                const previous = await readMemoryHistory(input.memoryTrendRuns - 1);
                return memoryTrendFindings(memory, previous, {
                  runs: input.memoryTrendRuns,
                  tolerance: input.memoryGrowthPercent / 100,
                });
              }),
            ]
          : []),
        // Infrastructure: nodes, storage, connectivity, leftovers.
        run.checkStep('node health', () => checkNodeHealth()),
        run.checkStep('storage utilization', async () =>
          (
            await Promise.all([
              checkDiskUsage(plan.diskPaths, plan.thresholds),
              // Added after release: the database's size and its volume's free space.
              ...(databaseDisk ? [checkDatabaseDisk(plan.thresholds)] : []),
            ])
          ).flat(),
        ),
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
      // The memory figures are what the next weekly runs compare theirs with.
      details: database || memory ? { ...(database && { database }), ...(memory && { memory }) } : undefined,
    };
  });
}
