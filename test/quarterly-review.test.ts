import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReportActivities } from '../activities/reports.js';
import type { RunReport } from '../domain/run.js';
import { quarterlyReview } from '../workflows/quarterly-review.js';
import { recordHistory } from './helpers/histories.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { testConfig, withWorker } from './helpers/temporal.js';

function pastRun(
  kind: string,
  outcome: RunReport['outcome'],
  daysAgo: number,
  seconds: number,
  approvalAfterSeconds?: number,
): RunReport {
  const start = new Date(Date.now() - daysAgo * 86_400_000);
  return {
    workflowId: `${kind}-${daysAgo}-${outcome}`,
    runId: 'r1',
    kind,
    target: 'booking-platform',
    outcome,
    startedAt: start.toISOString(),
    finishedAt: new Date(start.getTime() + seconds * 1000).toISOString(),
    summary: outcome === 'failed' ? `${kind} failed: pg_dump exited with code 1` : 'fine',
    checks: [],
    steps: [],
    approvals:
      approvalAfterSeconds === undefined
        ? []
        : [
            {
              decision: 'approve',
              approver: 'mallory',
              at: new Date(start.getTime() + 5_000).toISOString(),
              ignored: 'not on the approver allow-list',
            },
            {
              decision: 'approve',
              approver: 'sre-lead',
              at: new Date(start.getTime() + approvalAfterSeconds * 1000).toISOString(),
            },
          ],
  };
}

describe('quarterlyReview', () => {
  let reports: TestDatabase;
  beforeAll(async () => {
    reports = await createTestDatabase('maint_quarter');
    const store = createReportActivities({ reports: reports.pool });
    const runs = [
      pastRun('dailyHealthCheck', 'ok', 1, 10),
      pastRun('dailyHealthCheck', 'critical', 2, 20),
      pastRun('dailyHealthCheck', 'warn', 3, 30),
      pastRun('dailyHealthCheck', 'ok', 4, 40),
      pastRun('weeklyDatabaseMaintenance', 'ok', 7, 600),
      pastRun('weeklyDatabaseMaintenance', 'failed', 14, 60),
      pastRun('emergencyMaintenance', 'ok', 20, 900, 240),
      pastRun('emergencyMaintenance', 'rejected', 21, 100, 120),
      pastRun('dailyHealthCheck', 'failed', 200, 5), // outside the quarter
    ];
    for (const r of runs) await store.persistRunReport(r);
  });
  afterAll(() => reports?.drop());

  it('reports success rate, durations, failures with causes and approval latency per kind', async () => {
    const config = testConfig({ MAINT_DATABASE_URL: reports.url, DATABASE_URL: reports.url });
    const report = await withWorker(config, async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(quarterlyReview, {
        taskQueue,
        workflowId: `quarterly-review-test-${Date.now()}`,
        args: [{ successRateTarget: 0.9 }],
      });
      const result = await handle.result();
      await recordHistory('quarterlyReview', await handle.fetchHistory());
      return result;
    });
    const byKind = Object.fromEntries(report.checks.map((c) => [c.target, c]));
    expect(byKind.dailyHealthCheck).toMatchObject({ status: 'ok', value: 100 });
    expect(byKind.dailyHealthCheck!.detail).toContain('4 run(s), 0 failed');
    expect(byKind.dailyHealthCheck!.detail).toContain('p50 25 s');
    expect(byKind.weeklyDatabaseMaintenance).toMatchObject({ status: 'warn', value: 50 });
    // Rejected runs neither succeed nor fail; the ignored approval does not count for latency.
    expect(byKind.emergencyMaintenance!.detail).toContain('median approval 180 s');
    const history = report.details?.history as { failures: { kind: string; cause: string }[] };
    expect(history.failures).toEqual([
      expect.objectContaining({ kind: 'weeklyDatabaseMaintenance', cause: expect.stringContaining('pg_dump exited') }),
    ]);
    expect(report.outcome).toBe('warn');
  });
});
