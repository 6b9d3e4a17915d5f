// `maint` against bad arguments (issue 21): impossible dates and limits refused cleanly, a stuck
// run reported with a non-zero exit, `plan --input` checked and honoured for every plannable type.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maint } from './helpers/cli.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { until, uniqueId } from './helpers/stack.js';
import { temporalEnv, testConfig, withWorker } from './helpers/temporal.js';

describe('maint with bad arguments', () => {
  let db: TestDatabase;
  const saved = { ...process.env };

  beforeAll(async () => {
    db = await createTestDatabase('maint_cli_inputs');
    Object.assign(process.env, {
      ...temporalEnv(),
      MAINT_DATABASE_URL: db.url,
      DATABASE_URL: db.url,
      LOG_LEVEL: 'silent',
    });
    delete process.env.MAINT_CONFIG;
  });
  afterAll(async () => {
    process.env = saved;
    await db?.drop();
  });

  it('runs: only real calendar dates, and limits it can use', async () => {
    for (const since of ['2026-02-31', '2026-13-01', '2025-02-29', 'x'.repeat(10_000)]) {
      const r = await maint('runs', '--since', since);
      expect(r.code, since.slice(0, 20)).toBe(2);
      expect(r.err).toMatch(/is not a date/);
      expect(r.err.length).toBeLessThan(500);
    }
    for (const limit of ['1e21', '0', '-1', '2.5', '99999999']) {
      const r = await maint('runs', '--limit', limit);
      expect(r.code, limit).toBe(2);
      expect(r.err).toContain('is not a whole number from 1 to 10000');
    }
    const ok = await maint('runs', '--since', '2024-02-29', '--until', '2026-11-22T08:00:00Z', '--limit', '5');
    expect(ok).toMatchObject({ code: 0, err: '' });
  });

  it('status: a run whose workflow task keeps failing exits non-zero and says it is stuck', async () => {
    await withWorker(
      testConfig({ MAINT_DATABASE_URL: db.url, DATABASE_URL: db.url }),
      async ({ client, taskQueue }) => {
        const workflowId = uniqueId('cli-stuck');
        const handle = await client.workflow.start('noSuchWorkflowType', { taskQueue, workflowId, args: [] });
        try {
          await until(
            'a failed workflow task',
            async () => ((await handle.describe()).raw.pendingWorkflowTask?.attempt ?? 0) > 1,
            30_000,
          );
          const r = await maint('status', workflowId);
          expect(r.code).toBe(1);
          expect(r.out).toContain(`${workflowId} (noSuchWorkflowType) RUNNING`);
          expect(r.err).toMatch(/is stuck: its workflow task has failed \d+ time\(s\)/);
        } finally {
          await handle.terminate('test over');
        }
      },
    );
  });

  it('plan --input: checked like the run would check it, and honoured', async () => {
    const bad = await maint('plan', 'dailyHealthCheck', '--input', JSON.stringify({ checks: ['disk', 'disk'] }));
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('invalid --input for dailyHealthCheck: checks: checks must be distinct');
    const huge = await maint('plan', 'eveningStatus', '--input', JSON.stringify({ ['k'.repeat(100_000)]: 1 }));
    expect(huge.code).toBe(1);
    expect(huge.err.length).toBeLessThan(500);
    const emergency = await maint('plan', 'emergencyMaintenance');
    expect(emergency.err).toContain('plan emergencyMaintenance needs --input with the request');
    const notPlannable = await maint('plan', 'nodeUpdate', '--input', '{}');
    expect(notPlannable.err).toContain("cannot plan 'nodeUpdate'");

    const evening = await maint('plan', 'eveningStatus', '--input', '{"windowHorizonHours":1}');
    expect(evening.code).toBe(0);
    expect(evening.out).toContain('input: {"windowHorizonHours":1}');
    const quarterly = await maint('plan', 'quarterlyReview', '--input', '{"lookbackDays":30}');
    expect(quarterly.out).toContain('over the last 30 days');
    const annual = await maint(
      'plan',
      'annualUpgrade',
      '--input',
      JSON.stringify({ windowStart: '2027-01-10T00:00:00Z', windowDuration: '2 hours' }),
    );
    expect(annual.out).toContain('window: 2027-01-10T00:00:00.000Z to 2027-01-10T02:00:00.000Z');
    expect(annual.out).toContain('stored plan: no plan stored for the window starting 2027-01-10T00:00:00.000Z');
    // The nodes and upgrades are the stored plan's (maint plan annual), no longer an input.
    const legacy = await maint('plan', 'annualUpgrade', '--input', JSON.stringify({ nodes: ['n1', 'n2'] }));
    expect(legacy.code).toBe(1);
    expect(legacy.err).toContain(
      "invalid --input for annualUpgrade: nodes: the nodes and upgrades are the stored plan's",
    );
    const badWindow = await maint('plan', 'annual', '--window', '2027-02-30');
    expect(badWindow.code).toBe(2);
    expect(badWindow.err).toContain("'2027-02-30' is not a date");
  });
});
