import { workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import type { Measurement } from '../domain/run-history.js';
import type { RunReport } from '../domain/run.js';
import { quickRead } from './lib/activity-profiles.js';
import { slowQueryFindings } from './lib/database-checks.js';
import { reportedWorkflow } from './lib/run.js';

const { collectDatabaseStatistics, compareWithBaselines, probeHttpEndpoints, resolveHealthCheckPlan } = quickRead;

export const WeeklyPerformanceReviewInput = z
  .object({
    /** A measurement this much worse than its baseline is a regression (0.5 = 50%). */
    regressionTolerance: z.number().positive().max(10).default(0.5),
    /** How many of the slowest queries to list. */
    slowQueryCount: z.number().int().positive().max(50).default(5),
  })
  .strict();

const reportedRun = reportedWorkflow('weeklyPerformanceReview', WeeklyPerformanceReviewInput);

/**
 * Routine Maintenance Guide, "Friday Performance Optimization": the slowest endpoints and
 * queries, the cache hit ratio, and every figure compared with its baseline, which is then
 * updated. Query optimisation and autoscaling changes stay with people; this gives them the list.
 */
export async function weeklyPerformanceReview(
  rawInput?: z.input<typeof WeeklyPerformanceReviewInput>,
): Promise<RunReport> {
  return reportedRun(rawInput, async (run, input) => {
    const plan = await run.plan('resolve targets', () => resolveHealthCheckPlan());

    run.phase = 'measuring';
    const [endpoints, stats] = await Promise.all([
      run.checkStep('endpoint response times', () => probeHttpEndpoints(plan.http, plan.thresholds)),
      run.step('database statistics', () => collectDatabaseStatistics()),
    ]);
    const slowest = [...endpoints]
      .filter((c) => typeof c.value === 'number')
      .sort((a, b) => Number(b.value) - Number(a.value));
    const slowQueries = slowQueryFindings(plan.database, stats.slowQueries, input.slowQueryCount);

    const measurements: Measurement[] = [
      ...slowest.map((c) => ({
        metric: `http.${c.target}.ms`,
        value: Number(c.value),
        unit: 'ms',
        worse: 'higher' as const,
      })),
      ...(stats.cacheHitPercent === null
        ? []
        : [{ metric: 'db.cache-hit.percent', value: stats.cacheHitPercent, unit: '%', worse: 'lower' as const }]),
      ...(stats.slowQueries.status === 'available' && stats.slowQueries.queries[0]
        ? [
            {
              metric: 'db.slowest-query.mean-ms',
              value: Math.round(stats.slowQueries.queries[0].meanMs * 10) / 10,
              unit: 'ms',
              worse: 'higher' as const,
            },
          ]
        : []),
    ];
    run.phase = 'comparing with baselines';
    const baselines = await run.checkStep('baselines', () =>
      compareWithBaselines(workflowInfo().runId, measurements, input.regressionTolerance),
    );

    return {
      summary: `Weekly performance review: slowest endpoint ${slowest[0] ? `${slowest[0].target} ${slowest[0].value} ms` : 'n/a'}; cache hit ${stats.cacheHitPercent ?? 'n/a'}%`,
      checks: [...endpoints, ...stats.checks.filter((c) => c.check === 'db.cache-hit'), ...slowQueries, ...baselines],
    };
  });
}
