import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunReport } from '../domain/run.js';
import { statusQuery } from '../workflows/lib/definitions.js';
import type { WindowGate } from '../workflows/lib/window.js';
import { weeklyDatabaseMaintenance } from '../workflows/weekly-database-maintenance.js';
import {
  blackoutFromNow,
  createBookingSchema,
  idFingerprint,
  OLD,
  seedBookings,
  seedExpiringRows,
  windowFromNow,
} from './helpers/bookings.js';
import { expectWorkflowRejects } from './helpers/failures.js';
import { startAlertmanager } from './helpers/alertmanager.js';
import { recordHistory } from './helpers/histories.js';
import { RULES, startPrometheus } from './helpers/prometheus.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { SlackSink } from './helpers/slack-sink.js';
import { until } from './helpers/stack.js';
import { testConfig, withWorker } from './helpers/temporal.js';
import { openWindow, openWindowRefusal } from './helpers/window.js';

const gateOf = (report: RunReport) => report.details!.window as WindowGate;
const stepOf = (report: RunReport, name: string) => report.steps.find((s) => s.name === name);

describe('weeklyDatabaseMaintenance end to end', () => {
  let db: TestDatabase;
  let reports: TestDatabase;
  let slack: SlackSink;
  let backupDir: string;

  beforeAll(async () => {
    slack = await new SlackSink().start();
  });
  afterAll(async () => {
    await slack?.stop();
  });
  beforeEach(async (ctx) => {
    [db, reports] = await Promise.all([createTestDatabase('maint_weekly'), createTestDatabase('maint_weekly_reports')]);
    ctx.onTestFinished(() => Promise.all([db.drop(), reports.drop()]).then(() => undefined));
    await createBookingSchema(db.pool);
    await seedBookings(db.pool, 2000, 1000);
    await seedExpiringRows(db.pool, 100, 50);
    await db.pool.query('CREATE TABLE tmp_scratch (x int)');
    backupDir = mkdtempSync(join(tmpdir(), 'maint-weekly-backups-'));
  });

  const config = (database: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
    testConfig(
      {
        ...slack.workerEnv(db.url, reports.url),
      },
      {
        database: { backupDirectory: backupDir, tempTables: { namePrefix: 'tmp_', minAgeHours: 1 }, ...database },
        ...extra,
      },
    );
  const postsFor = (path: string, workflowId: string) =>
    slack.postsTo(path).filter((p) => JSON.stringify(p.body).includes(workflowId));

  it('announces, waits durably for the window, then runs the checklist in it once opened, and reports', async () => {
    const workflowId = `weekly-db-wait-${Date.now()}`;
    const noticesBefore = slack.postsTo('/report').length;
    const { report, window } = await withWorker(config(), async ({ client, taskQueue }) => {
      // Two hours away: nobody waits for it; the test opens it once it has seen the run waiting.
      const window = windowFromNow(2 * 3600, 60);
      const handle = await client.workflow.start(weeklyDatabaseMaintenance, {
        taskQueue,
        workflowId,
        args: [{ window, archiveBatchSize: 500 }],
      });
      await until(
        'the wait for the window',
        async () => (await handle.query(statusQuery)).phase === 'waiting for window',
      );
      expect((await handle.query(statusQuery)).waitingFor).toMatch(/^maintenance window test opening at /);
      expect((await idFingerprint(db.pool, `bookings WHERE ${OLD}`)).count).toBe(2000); // nothing moves before the window
      // Bad input is refused at the edge and changes nothing.
      expect(await openWindowRefusal(handle, { by: 'dba', surprise: 1 })).toMatch(/^openWindow refused: .*"surprise"/);
      expect((await handle.query(statusQuery)).phase).toBe('waiting for window');
      expect(await openWindow(handle, 'dba', 'ready early')).toBe('window opened by dba');
      const report = await handle.result();
      await recordHistory('weeklyDatabaseMaintenance-opened-early', await handle.fetchHistory());
      return { report, window };
    });

    expect(gateOf(report).decision).toBe('waited');
    const opened = Date.parse(gateOf(report).window.start);
    expect(gateOf(report).openedEarly).toMatchObject({
      by: 'dba',
      reason: 'ready early',
      at: gateOf(report).window.start,
    });
    expect(gateOf(report).openedEarly!.scheduledStart.slice(11, 19)).toBe(window.start);
    expect(opened).toBeLessThan(Date.parse(gateOf(report).openedEarly!.scheduledStart));
    expect(stepOf(report, 'maintenance window test')).toMatchObject({
      outcome: 'ok',
      detail: expect.stringMatching(/^window opened early by dba at \S+ \(ready early\), scheduled /),
    });
    expect(Date.parse(stepOf(report, 'maintenance notice')!.startedAt)).toBeLessThan(opened);
    expect(Date.parse(stepOf(report, 'archive old bookings')!.startedAt)).toBeGreaterThanOrEqual(opened);
    expect(
      slack
        .postsTo('/report')
        .slice(noticesBefore)
        .some((p) => String(p.body.text).includes('Window test open')),
    ).toBe(true);
    expect(report.steps.map((s) => s.name)).toEqual([
      'resolve database maintenance plan',
      'maintenance notice',
      'maintenance window test',
      'window status',
      // Since 'window-alert-checks' (no Alertmanager or Prometheus configured here: skipped).
      'monitoring alerts configured',
      'verified backup younger than 24 h',
      'vacuum analyze',
      'reindex invalid or bloated indexes',
      'bloat, index usage, statistics, cache hits, slow queries',
      'archive old bookings',
      'delete expired sessions and reset tokens',
      'drop old temporary tables',
      'monitoring alerts cleared',
    ]);
    expect(report.steps.every((s) => s.outcome !== 'failed')).toBe(true);

    const find = (check: string, target?: string) =>
      report.checks.find((c) => c.check === check && (!target || c.target === target));
    expect(find('db.backup')!.detail).toMatch(/^backup taken/);
    expect(readdirSync(backupDir).filter((f) => f.endsWith('.dump'))).toHaveLength(1);
    expect(find('db.vacuum', 'public.bookings')).toMatchObject({ status: 'ok' });
    expect(find('db.archive')).toMatchObject({ status: 'ok', value: 2000 });
    expect(find('db.expired-rows', 'public.user_sessions')).toMatchObject({ status: 'ok', value: 100 });
    expect(find('db.expired-rows', 'public.password_reset_tokens')).toMatchObject({ status: 'ok', value: 100 });
    expect(find('db.temp-tables')).toMatchObject({ status: 'ok', value: 0 });
    expect(find('db.temp-tables')!.detail).toMatch(/1 seen for less than 1 h/);
    expect(find('db.slow-queries')).toMatchObject({ status: 'skipped' });
    // The work took less than the default 30 minutes: no status update was due.
    expect(find('window.status-updates')).toEqual({
      check: 'window.status-updates',
      target: 'window test',
      status: 'ok',
      value: 0,
      unit: 'updates',
      threshold: 'every 30 minute(s) while the work runs',
      detail: 'none due: the work took less than 30 minute(s)',
    });
    expect(report.window).toEqual({ name: 'test', start: gateOf(report).window.start, end: gateOf(report).window.end });

    expect((await idFingerprint(db.pool, `bookings WHERE ${OLD}`)).count).toBe(0);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM user_sessions')).rows[0].n).toBe(50);
    expect((await db.pool.query(`SELECT to_regclass('tmp_scratch') IS NOT NULL AS ok`)).rows[0].ok).toBe(true);

    const notices = slack
      .postsTo('/report')
      .slice(noticesBefore)
      .filter((p) => String(p.body.text).includes('Database maintenance on'));
    expect(notices).toHaveLength(1);
    expect(notices[0]!.body.text).toMatch(/starts at .* \(window test until /);
    expect(postsFor('/report', workflowId)).toHaveLength(1);
    const stored = await reports.pool.query('SELECT kind, outcome FROM maintenance_runs WHERE workflow_id = $1', [
      workflowId,
    ]);
    expect(stored.rows).toEqual([{ kind: 'weeklyDatabaseMaintenance', outcome: report.outcome }]);
  });

  it('posts a status update every statusUpdateEvery while the work runs in its window, and none once the work ends', async () => {
    const workflowId = `weekly-db-status-${Date.now()}`;
    const statusPosts = () =>
      postsFor('/report', workflowId).filter((p) =>
        String(p.body.text).startsWith(`:hourglass_flowing_sand: weeklyDatabaseMaintenance ${workflowId} `),
      );
    // The test holds a lock the session cleanup waits for: the work stays in its window until the test lets go.
    const holder = await db.pool.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE user_sessions IN SHARE MODE');
    let held = true;
    try {
      const { report, blockedText } = await withWorker(config(), async ({ client, taskQueue }) => {
        const handle = await client.workflow.start(weeklyDatabaseMaintenance, {
          taskQueue,
          workflowId,
          args: [
            { window: windowFromNow(-60, 60), steps: ['sessions'], lockTimeoutMs: 600_000, statusUpdateEvery: '1s' },
          ],
        });
        const blocked = () =>
          statusPosts().filter((p) =>
            String(p.body.text).includes('running: delete expired sessions and reset tokens'),
          );
        await until('two status updates while the cleanup waits', () => blocked().length >= 2);
        expect((await handle.query(statusQuery)).phase).toBe('maintaining');
        const blockedText = String(blocked()[0]!.body.text);
        await holder.query('COMMIT');
        held = false;
        const report = await handle.result();
        await recordHistory('weeklyDatabaseMaintenance-status-updates', await handle.fetchHistory(), workflowId);
        return { report, blockedText };
      });

      const window = gateOf(report).window;
      expect(blockedText).toBe(
        `:hourglass_flowing_sand: weeklyDatabaseMaintenance ${workflowId} in window test (until ${window.end}), maintaining: ` +
          'done: monitoring alerts configured (skipped), verified backup younger than 24 h (ok); running: delete expired sessions and reset tokens; remaining: monitoring alerts cleared',
      );
      for (const p of statusPosts())
        expect(p.body.text).toMatch(
          /^:hourglass_flowing_sand: weeklyDatabaseMaintenance \S+ in window test \(until \S+\), maintaining: done: .*; running: .*; remaining: .*$/,
        );
      expect(report.outcome).toBe('ok');
      expect(report.checks.find((c) => c.check === 'window.status-updates')).toMatchObject({
        status: 'ok',
        value: statusPosts().length,
        detail: `${statusPosts().length} posted`,
      });
      // The updates stopped when the work ended: every one of them came before the run's report.
      const posts = postsFor('/report', workflowId);
      expect(posts.at(-1)!.body.blocks).toBeDefined(); // the report
      expect(posts.slice(0, -1)).toEqual(statusPosts());
      expect(report.checklist!.items.find((i) => i.id === 'during.status-updates')).toMatchObject({ state: 'ok' });
    } finally {
      if (held) await holder.query('ROLLBACK');
      holder.release();
    }
  });

  it('checks monitoring alerts are configured before the work and cleared after it (real Alertmanager and Prometheus): an alert still firing is a warning', async () => {
    const am = await startAlertmanager();
    const prometheus = await startPrometheus({ ruleFiles: [RULES], alertmanagers: [new URL(am.url).host] });
    try {
      await prometheus.settled();
      const workflowId = `weekly-db-alerts-${Date.now()}`;
      await am.fire('BookingLatencyHigh', { service: 'backend' });
      const alerting = {
        alerts: { alertmanagerUrl: am.url, ignore: ['Watchdog'] },
        targets: { prometheus: { name: 'prometheus', url: prometheus.url } },
      };
      const report = await withWorker(config({}, alerting), async ({ client, taskQueue }) => {
        const handle = await client.workflow.start(weeklyDatabaseMaintenance, {
          taskQueue,
          workflowId,
          args: [{ window: windowFromNow(-60, 60), steps: ['sessions'] }],
        });
        const r = await handle.result();
        await recordHistory('weeklyDatabaseMaintenance-alert-checks', await handle.fetchHistory(), workflowId);
        return r;
      });
      const names = report.steps.map((s) => s.name);
      expect(names.indexOf('monitoring alerts configured')).toBeLessThan(
        names.indexOf('verified backup younger than 24 h'),
      );
      expect(names.at(-1)).toBe('monitoring alerts cleared');
      const find = (check: string) => report.checks.find((c) => c.check === check);
      expect(find('alerts.configured')).toMatchObject({ status: 'ok', detail: 'routes alerts to oncall' });
      expect(find('monitoring.rules')).toMatchObject({ status: 'ok' });
      expect(find('monitoring.alertmanagers')).toMatchObject({ status: 'ok' });
      expect(find('monitoring.watchdog')).toMatchObject({ status: 'ok' });
      expect(find('alerts.cleared')).toMatchObject({
        status: 'warn',
        detail: expect.stringContaining('still firing: BookingLatencyHigh {service=backend} since '),
      });
      expect(report.outcome).toBe('warn');
      const item = (id: string) => report.checklist!.items.find((i) => i.id === id);
      expect(item('pre.monitoring')).toMatchObject({ state: 'ok' });
      expect(item('post.alerts-cleared')).toMatchObject({ state: 'warn' });

      // Resolved, the next run finds the alerts cleared.
      await am.resolve('BookingLatencyHigh', { service: 'backend' });
      const quiet = await withWorker(config({}, alerting), ({ client, taskQueue }) =>
        client.workflow.execute(weeklyDatabaseMaintenance, {
          taskQueue,
          workflowId: `${workflowId}-quiet`,
          args: [{ window: windowFromNow(-60, 60), steps: ['sessions'] }],
        }),
      );
      expect(quiet.checks.find((c) => c.check === 'alerts.cleared')).toMatchObject({ status: 'ok' });
    } finally {
      prometheus.stop();
      await am.stop();
    }
  });

  it('a blackout closes an open window: policy skip changes nothing and names the blackout', async () => {
    const before = await idFingerprint(db.pool, 'bookings');
    const blackouts = [blackoutFromNow('black-friday', -3600, 3600, 'sale')];
    const report = await withWorker(config({}, { blackouts }), ({ client, taskQueue }) =>
      client.workflow.execute(weeklyDatabaseMaintenance, {
        taskQueue,
        workflowId: `weekly-db-blackout-${Date.now()}`,
        args: [{ window: windowFromNow(-60, 60), windowPolicy: 'skip' }],
      }),
    );
    expect(gateOf(report).decision).toBe('skipped');
    expect(stepOf(report, 'maintenance window test')?.detail).toContain('blackout black-friday (sale)');
    expect(await idFingerprint(db.pool, 'bookings')).toEqual(before);
  });

  it('refuses to open a window early into a blackout that ends before its scheduled start', async () => {
    const before = await idFingerprint(db.pool, 'bookings');
    const blackouts = [blackoutFromNow('payroll-run', -60, 3600)];
    await withWorker(config({}, { blackouts }), async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(weeklyDatabaseMaintenance, {
        taskQueue,
        workflowId: `weekly-db-early-blackout-${Date.now()}`,
        // Two hours away, after the blackout: the scheduled window is usable, an early opening is not.
        args: [{ window: windowFromNow(2 * 3600, 60) }],
      });
      await until(
        'the wait for the window',
        async () => (await handle.query(statusQuery)).phase === 'waiting for window',
      );
      expect(await openWindowRefusal(handle, { by: 'dba' })).toMatch(
        /^openWindow refused: opening now would run the work in blackout payroll-run$/,
      );
      expect((await handle.query(statusQuery)).phase).toBe('waiting for window');
      await handle.terminate('test done');
    });
    expect(await idFingerprint(db.pool, 'bookings')).toEqual(before);
  });

  it('with policy skip outside the window, changes nothing and says so', async () => {
    const before = await idFingerprint(db.pool, 'bookings');
    const report = await withWorker(config(), ({ client, taskQueue }) =>
      client.workflow.execute(weeklyDatabaseMaintenance, {
        taskQueue,
        workflowId: `weekly-db-skip-${Date.now()}`,
        args: [{ window: windowFromNow(2 * 3600, 60), windowPolicy: 'skip' }],
      }),
    );

    expect(gateOf(report).decision).toBe('skipped');
    expect(report.summary).toMatch(/disruptive steps skipped: outside window test/);
    for (const name of [
      'vacuum analyze',
      'reindex invalid or bloated indexes',
      'archive old bookings',
      'delete expired sessions and reset tokens',
      'drop old temporary tables',
    ]) {
      expect(stepOf(report, name)).toMatchObject({
        outcome: 'skipped',
        detail: 'outside the maintenance window (policy skip)',
      });
    }
    // Reading statistics disrupts nothing: it still runs.
    expect(stepOf(report, 'bloat, index usage, statistics, cache hits, slow queries')!.outcome).toBe('ok');
    expect(stepOf(report, 'maintenance notice')).toBeUndefined();
    expect(stepOf(report, 'verified backup younger than 24 h')).toBeUndefined();
    expect(readdirSync(backupDir)).toEqual([]);
    expect(await idFingerprint(db.pool, 'bookings')).toEqual(before);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM user_sessions')).rows[0].n).toBe(150);
  });

  it('aborts with a report and an alert, moving nothing, when no backup can be taken', async () => {
    const before = await idFingerprint(db.pool, 'bookings');
    const workflowId = `weekly-db-no-backup-${Date.now()}`;
    const report = await withWorker(config({ backupDirectory: '/dev/null/backups' }), ({ client, taskQueue }) =>
      client.workflow.execute(weeklyDatabaseMaintenance, {
        taskQueue,
        workflowId,
        args: [{ window: windowFromNow(-60, 60) }],
      }),
    );

    expect(report.outcome).toBe('failed');
    expect(report.summary).toMatch(/aborted: no verified backup younger than 24 h/);
    expect(report.checks.find((c) => c.check === 'db.step')!.detail).toMatch(
      /cannot use backup directory \/dev\/null\/backups/,
    );
    expect(stepOf(report, 'archive old bookings')).toBeUndefined();
    expect(await idFingerprint(db.pool, 'bookings')).toEqual(before);
    expect(postsFor('/alert', workflowId)).toHaveLength(1);
    const stored = await reports.pool.query('SELECT outcome FROM maintenance_runs WHERE workflow_id = $1', [
      workflowId,
    ]);
    expect(stored.rows).toEqual([{ outcome: 'failed' }]);
  });

  it('fails at once, non-retryable, naming the bad field, and changes nothing', async () => {
    const before = await idFingerprint(db.pool, 'bookings');
    await withWorker(config(), ({ client, taskQueue }) =>
      expectWorkflowRejects(client, taskQueue, 'weeklyDatabaseMaintenance', 'weekly-db-bad-input', [
        [{ windowPolicy: 'later' }, 'windowPolicy'],
        [{ fullVacuumTables: ['bookings; DROP TABLE bookings'] }, 'fullVacuumTables.0'],
        [{ vacuumTables: ['"bookings"'] }, 'vacuumTables.0'],
        [{ window: { name: 'w', every: 'day', start: '25:00', durationMinutes: 60 } }, 'window.start'],
        [{ archiveAfterDays: 5 }, 'archiveAfterDays'],
        [{ steps: ['archive', 'truncate'] }, 'steps.1'],
        [{ surprise: true }, 'surprise'],
      ]),
    );
    expect(await idFingerprint(db.pool, 'bookings')).toEqual(before);
    expect(readdirSync(backupDir)).toEqual([]);
    // No table means nothing was ever stored; any other error fails the test.
    const {
      rows: [store],
    } = await reports.pool.query(`SELECT to_regclass('maintenance_runs') IS NOT NULL AS present`);
    const stored = store.present
      ? (
          await reports.pool.query(
            `SELECT count(*)::int AS n FROM maintenance_runs WHERE workflow_id LIKE 'weekly-db-bad-input-%'`,
          )
        ).rows[0].n
      : 0;
    expect(stored).toBe(0);
  });
});
