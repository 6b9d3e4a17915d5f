import { z } from 'zod';
import type { CheckResult } from '../domain/checks.js';
import type { RunReport } from '../domain/run.js';
import { quickRead } from './lib/activity-profiles.js';
import { lastDays } from './lib/duration.js';
import { reportedWorkflow } from './lib/run.js';

const { summarizeRunHistory } = quickRead;

export const QuarterlyReviewInput = z
  .object({
    /** How far back the review looks (a quarter by default). */
    lookbackDays: z.number().int().positive().max(366).default(91),
    /** Below this success rate a maintenance kind is flagged. */
    successRateTarget: z.number().min(0).max(1).default(0.95),
  })
  .strict();

const reportedRun = reportedWorkflow('quarterlyReview', QuarterlyReviewInput);

/**
 * Routine Maintenance Guide, "End of Quarter - Comprehensive Review": how every maintenance kind
 * performed against its target, which runs failed and why, and how long approvals took. The
 * strategic items of the checklist (penetration tests, contracts) stay with people; this gives
 * them the figures.
 */
export async function quarterlyReview(rawInput?: z.input<typeof QuarterlyReviewInput>): Promise<RunReport> {
  return reportedRun(rawInput, async (run, input) => {
    const { since, until } = lastDays(input.lookbackDays);

    run.phase = 'collecting';
    const history = await run.step('run history', () => summarizeRunHistory(since, until));

    const checks: CheckResult[] = history.kinds.map((k) => ({
      check: 'success-rate',
      target: k.kind,
      status: k.successRate === null ? 'skipped' : k.successRate < input.successRateTarget ? 'warn' : 'ok',
      value: k.successRate === null ? undefined : Math.round(k.successRate * 1000) / 10,
      unit: '%',
      threshold: `target >= ${input.successRateTarget * 100}%`,
      detail:
        `${k.runs} run(s), ${k.failed} failed; duration p50 ${k.p50Seconds} s, p95 ${k.p95Seconds} s, max ${k.maxSeconds} s` +
        (k.medianApprovalSeconds === null ? '' : `; median approval ${k.medianApprovalSeconds} s`),
    }));
    const runs = history.kinds.reduce((n, k) => n + k.runs, 0);
    return {
      summary: `Quarterly review of ${input.lookbackDays} days: ${runs} run(s) over ${history.kinds.length} kind(s), ${history.failures.length} failure(s)`,
      checks,
      details: { history },
    };
  });
}
