import type pg from 'pg';
import { createReportActivities } from '../../activities/reports.js';
import { accountChecklist } from '../../domain/checklists.js';
import type { RunReport } from '../../domain/run.js';

/** A stored quarterlyReview run (run id `run-1`) that just finished with every task of its checklist open. */
export async function storeOpenQuarterlyRun(pool: pg.Pool, workflowId: string): Promise<RunReport> {
  const report: RunReport = {
    workflowId,
    runId: 'run-1',
    kind: 'quarterlyReview',
    target: 'maintenance-program',
    outcome: 'ok',
    startedAt: new Date(Date.now() - 60_000).toISOString(),
    finishedAt: new Date().toISOString(),
    summary: 'quarter',
    checks: [],
    steps: [],
    approvals: [],
    checklist: accountChecklist('quarterlyReview', []),
  };
  await createReportActivities({ reports: pool }).persistRunReport(report);
  return report;
}
