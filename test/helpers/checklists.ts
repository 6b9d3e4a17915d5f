import type pg from 'pg';
import { createReportActivities } from '../../activities/reports.js';
import { accountChecklist } from '../../domain/checklists.js';
import type { RunReport } from '../../domain/run.js';

/** Stores a finished run's report, filling what the test does not care about. */
export async function storeReport(
  pool: pg.Pool,
  report: Pick<RunReport, 'workflowId' | 'kind'> & Partial<RunReport>,
): Promise<RunReport> {
  const full: RunReport = {
    runId: 'run-1',
    target: 'x',
    outcome: 'ok',
    startedAt: new Date(Date.now() - 60_000).toISOString(),
    finishedAt: new Date().toISOString(),
    summary: report.kind,
    checks: [],
    steps: [],
    approvals: [],
    ...report,
  };
  await createReportActivities({ reports: pool }).persistRunReport(full);
  return full;
}

/** A stored quarterlyReview run (run id `run-1`) that just finished with every task of its checklist open. */
export function storeOpenQuarterlyRun(pool: pg.Pool, workflowId: string): Promise<RunReport> {
  return storeReport(pool, {
    workflowId,
    kind: 'quarterlyReview',
    target: 'maintenance-program',
    summary: 'quarter',
    checklist: accountChecklist('quarterlyReview', []),
  });
}
