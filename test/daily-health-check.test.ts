import { mkdtempSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { createBackupActivities } from '../activities/postgres/backup.js';
import { createReportActivities } from '../activities/reports.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Server } from 'node:http';
import type { CheckResult } from '../domain/checks.js';
import { SEARCH_ATTRIBUTES, type RunReport } from '../domain/run.js';
import { createMetrics, startMetricsServer } from '../src/metrics.js';
import { dailyHealthCheck } from '../workflows/daily-health-check.js';
import { eveningStatus } from '../workflows/evening-status.js';
import { statusQuery } from '../workflows/lib/definitions.js';
import { expectWorkflowRejects } from './helpers/failures.js';
import { freePort } from './helpers/net.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { SlackSink } from './helpers/slack-sink.js';
import { startProbeTargets, startTlsServer } from './helpers/targets.js';
import { recordHistory } from './helpers/histories.js';
import { testConfig, withWorker } from './helpers/temporal.js';

const find = (checks: CheckResult[], check: string, target?: string) =>
  checks.find((c) => c.check === check && (target === undefined || c.target === target));

describe('dailyHealthCheck on real targets', () => {
  let bookingDb: TestDatabase;
  let reportDb: TestDatabase;
  let slack: SlackSink;
  let probes: Awaited<ReturnType<typeof startProbeTargets>>;
  let tls: Awaited<ReturnType<typeof startTlsServer>>;
  let metricsServer: Server;
  let metricsPort: number;
  let backupDir: string;
  let freshBackup: string;

  beforeAll(async () => {
    [bookingDb, reportDb, slack, probes, tls] = await Promise.all([
      createTestDatabase('maint_booking'),
      createTestDatabase('maint_reports'),
      new SlackSink().start(),
      startProbeTargets(700),
      startTlsServer(10),
    ]);
    metricsPort = await freePort();
    metricsServer = await startMetricsServer(createMetrics(), {
      host: '127.0.0.1',
      port: metricsPort,
      health: () => ({ ok: true, detail: 'test' }),
    });
    backupDir = mkdtempSync(join(tmpdir(), 'maint-backups-'));
    writeFileSync(join(backupDir, 'trixtech-old.dump'), 'old backup');
    const twoDaysAgo = new Date(Date.now() - 48 * 3_600_000);
    utimesSync(join(backupDir, 'trixtech-old.dump'), twoDaysAgo, twoDaysAgo);
    // A real dump with its manifest: the check reads it back, it does not only look at a file's age.
    freshBackup = (
      await createBackupActivities({
        db: bookingDb.pool,
        databaseUrl: bookingDb.url,
        backupDirectory: backupDir,
        timeouts: { lockTimeoutMs: 5_000, statementTimeoutMs: 60_000 },
      }).createDatabaseBackup()
    ).file;
  });

  afterAll(async () => {
    await Promise.all([bookingDb?.drop(), reportDb?.drop(), slack?.stop(), probes?.close(), tls?.close()]);
    metricsServer?.close();
  });

  const configFor = (
    env: Record<string, string> = {},
    extra: Record<string, unknown> = {},
    targets: Record<string, unknown> = {},
  ) =>
    testConfig(
      {
        ...slack.workerEnv(bookingDb.url, reportDb.url),
        ...env,
      },
      {
        targets: {
          http: [
            { name: 'backend-health', url: `${probes.url}/ok` },
            { name: 'bookings-api', url: `${probes.url}/error` },
            { name: 'frontend', url: `${probes.url}/slow`, budgetMs: 300 },
          ],
          tls: [{ name: 'api-cert', host: '127.0.0.1', port: tls.port }],
          diskPaths: ['/'],
          backup: { directory: backupDir },
          monitoring: [{ name: 'worker-metrics', url: `http://127.0.0.1:${metricsPort}/metrics` }],
          ...targets,
        },
        // The host's own disk is not this test's: only a completely full one would grade it.
        thresholds: { diskWarnPercent: 100, diskCriticalPercent: 100 },
        ...extra,
      },
    );

  it('grades every checklist item, stores and posts the report, and alerts on criticals', async () => {
    const config = configFor();
    const report = await withWorker(config, async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(dailyHealthCheck, {
        taskQueue,
        workflowId: `daily-health-check-test-${Date.now()}`,
        args: [{}],
      });
      const result = await handle.result();
      await recordHistory('dailyHealthCheck-local-delivery', await handle.fetchHistory());

      const status = await handle.query(statusQuery);
      expect(status.phase).toBe('done');
      expect(status.steps.find((s) => s.name === 'application availability and response time')?.outcome).toBe(
        'critical',
      );
      expect(status.steps.find((s) => s.name === 'certificate expiration')?.outcome).toBe('warn');

      const description = await handle.describe();
      expect(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.kind)).toBe('dailyHealthCheck');
      expect(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.outcome)).toBe('critical');
      expect(String(description.memo?.summary)).toContain('1 critical');
      return result;
    });

    expect(report.outcome).toBe('critical');
    expect(find(report.checks, 'http', 'backend-health')?.status).toBe('ok');
    const failing = find(report.checks, 'http', 'bookings-api')!;
    expect(failing.status).toBe('critical');
    expect(failing.detail).toContain('HTTP 500');
    const slow = find(report.checks, 'http', 'frontend')!;
    expect(slow.status).toBe('warn');
    expect(Number(slow.value)).toBeGreaterThanOrEqual(700);

    const cert = find(report.checks, 'tls', 'api-cert')!;
    expect(cert.status).toBe('warn');
    expect(Number(cert.value)).toBeGreaterThan(9);
    expect(Number(cert.value)).toBeLessThanOrEqual(10);
    expect(cert.detail).toMatch(/SELF_SIGNED/);

    expect(find(report.checks, 'db.connectivity')?.status).toBe('ok');
    expect(find(report.checks, 'db.connections')?.value).toBeGreaterThan(0);
    expect(find(report.checks, 'db.replication')?.status).toBe('ok');
    expect(find(report.checks, 'disk', '/')).toMatchObject({ status: 'ok', unit: '%', value: expect.any(Number) });
    const backup = find(report.checks, 'backup')!;
    expect(backup.status).toBe('ok');
    expect(backup).toMatchObject({ target: backupDir, detail: expect.stringMatching(/^level readable: /) });
    expect(backup.detail).toContain(freshBackup.split('/').pop());
    expect(find(report.checks, 'monitoring', 'worker-metrics')?.status).toBe('ok');
    expect(find(report.checks, 'k8s.error-logs')).toMatchObject({ status: 'skipped', detail: 'no cluster configured' });

    const stored = await reportDb.pool.query('SELECT outcome, report FROM maintenance_runs WHERE workflow_id = $1', [
      report.workflowId,
    ]);
    expect(stored.rows).toHaveLength(1);
    expect(stored.rows[0].outcome).toBe('critical');
    expect((stored.rows[0].report as RunReport).checks.length).toBe(report.checks.length);

    const reportPosts = slack.postsTo('/report').filter((p) => JSON.stringify(p.body).includes(report.workflowId));
    expect(reportPosts).toHaveLength(1);
    const alerts = slack.postsTo('/alert').filter((p) => JSON.stringify(p.body).includes(report.workflowId));
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.body.text).toContain('http bookings-api');
    // The webhook URL is a secret: it must not appear in anything the run produced.
    expect(JSON.stringify(report)).not.toContain(slack.url);
  });

  it('reports a database that is down as critical and still completes', async () => {
    const deadDatabasePort = await freePort();
    const config = configFor({ DATABASE_URL: `postgresql://postgres:s3cret@127.0.0.1:${deadDatabasePort}/trixtech` });
    const report = await withWorker(config, ({ client, taskQueue }) =>
      client.workflow.execute(dailyHealthCheck, {
        taskQueue,
        workflowId: `dhc-db-down-${Date.now()}`,
        args: [{ checks: ['database'] }],
      }),
    );
    expect(report.outcome).toBe('critical');
    expect(find(report.checks, 'db.connectivity')).toMatchObject({ status: 'critical' });
    expect(find(report.checks, 'db.connectivity')!.detail).toMatch(/ECONNREFUSED|connect/);
    expect(find(report.checks, 'db.connections')).toMatchObject({ status: 'skipped', detail: 'database unreachable' });
    expect(JSON.stringify(report)).not.toContain('s3cret');
  });

  it('records a Slack outage in the report instead of failing the run', async () => {
    slack.failWith = 503;
    try {
      const report = await withWorker(configFor(), ({ client, taskQueue }) =>
        client.workflow.execute(dailyHealthCheck, {
          taskQueue,
          workflowId: `dhc-slack-down-${Date.now()}`,
          args: [{ checks: ['disk'] }],
        }),
      );
      const deliveries = report.details?.deliveries as { channel: string; ok: boolean; detail: string }[];
      expect(deliveries.find((d) => d.channel === 'slack')).toMatchObject({ ok: false });
      expect(deliveries.find((d) => d.channel === 'slack')!.detail).toContain('HTTP 503');
      const stored = await reportDb.pool.query('SELECT report FROM maintenance_runs WHERE workflow_id = $1', [
        report.workflowId,
      ]);
      expect(stored.rows[0].report.details.deliveries[0]).toMatchObject({ channel: 'slack', ok: false });
    } finally {
      slack.failWith = null;
    }
  });

  it("measures the database's size and its volume (the data directory, beside the database) and accounts the disk item with them", async () => {
    const config = configFor({}, {}, { databaseVolume: { source: 'data-directory' } });
    const report = await withWorker(config, async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(dailyHealthCheck, {
        taskQueue,
        workflowId: `dhc-database-disk-${Date.now()}`,
        args: [{ checks: ['disk'] }],
      });
      const result = await handle.result();
      await recordHistory('dailyHealthCheck-database-disk', await handle.fetchHistory());
      return result;
    });
    const directory = (await bookingDb.pool.query('SHOW data_directory')).rows[0].data_directory as string;
    expect(find(report.checks, 'db.size')).toMatchObject({ status: 'ok', unit: 'bytes', value: expect.any(Number) });
    expect(find(report.checks, 'db.volume')).toMatchObject({
      status: 'ok',
      unit: '%',
      value: expect.any(Number),
      detail: expect.stringContaining(`data directory ${directory} (statfs)`),
    });
    const disk = report.checklist?.items.find((i) => i.id === 'morning.disk');
    expect(disk).toMatchObject({
      state: 'ok',
      detail: expect.stringContaining('disk, db.size, db.volume, node.disk: 3 ok'),
    });
  });

  it('fails at once, non-retryable, naming the bad field, on bad input', async () => {
    await withWorker(configFor(), ({ client, taskQueue }) =>
      expectWorkflowRejects(client, taskQueue, 'dailyHealthCheck', 'dhc-bad-input', [
        [{ checks: ['disk', 'nope'] }, 'checks.1'],
        [{ thresholds: { diskWarnPercent: 'high' } }, 'thresholds.diskWarnPercent'],
        [{ thresholds: { diskWarnPercent: 90, diskCriticalPercent: 85 } }, 'diskWarnPercent'],
        [{ unexpected: true }, 'unexpected'],
      ]),
    );
    // Nothing ran, so nothing was reported.
    const { rows } = await reportDb.pool.query(
      `SELECT count(*)::int AS n FROM maintenance_runs WHERE workflow_id LIKE 'dhc-bad-input-%'`,
    );
    expect(rows[0].n).toBe(0);
  });

  it("eveningStatus lists a day's runs, the criticals still open at their latest check, and the next 48 h of windows", async () => {
    // Its own report store and a fixed past day: nothing from other tests, nothing from the clock's UTC day.
    const store = await createTestDatabase('maint_evening');
    try {
      const day = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
      const at = (hhmm: string) => `${day}T${hhmm}:00.000Z`;
      const check = (c: string, target: string, status: CheckResult['status']): CheckResult => ({
        check: c,
        target,
        status,
        detail: status,
      });
      const run = (id: string, start: string, outcome: RunReport['outcome'], checks: CheckResult[]): RunReport => ({
        workflowId: `evening-own-${id}`,
        runId: 'r1',
        kind: 'dailyHealthCheck',
        target: 'booking-platform',
        outcome,
        startedAt: at(start),
        finishedAt: at(start),
        summary: id,
        checks,
        steps: [],
        approvals: [],
      });
      const reports = createReportActivities({ reports: store.pool });
      for (const r of [
        run('morning', '08:00', 'critical', [
          check('http', 'bookings-api', 'critical'),
          check('http', 'frontend', 'critical'),
          check('tls', 'api-cert', 'warn'),
        ]),
        run('db-down', '09:00', 'critical', [check('db.connectivity', '127.0.0.1:1/trixtech', 'critical')]),
        // A later check of the frontend is ok: that finding is resolved.
        run('recheck', '10:00', 'ok', [check('http', 'frontend', 'ok')]),
        // The day before and the day after are not this day's.
        {
          ...run('before', '08:00', 'critical', [check('disk', '/', 'critical')]),
          startedAt: new Date(Date.parse(day) - 16 * 3_600_000).toISOString(),
        },
        {
          ...run('after', '08:00', 'critical', [check('disk', '/', 'critical')]),
          startedAt: new Date(Date.parse(day) + 86_400_000).toISOString(),
        },
      ])
        await reports.persistRunReport(r);

      const report = await withWorker(configFor({ MAINT_DATABASE_URL: store.url }), async ({ client, taskQueue }) => {
        const handle = await client.workflow.start(eveningStatus, {
          taskQueue,
          workflowId: `evening-status-test-${Date.now()}`,
          args: [{ day }],
        });
        const result = await handle.result();
        await recordHistory('eveningStatus-day', await handle.fetchHistory());
        return result;
      });
      const details = report.details as {
        runs: { workflowId: string }[];
        unresolvedCriticals: CheckResult[];
        upcomingWindows: { name: string; start: string }[];
        noticesSent: unknown[];
      };
      expect(details.runs.map((r) => r.workflowId).sort()).toEqual([
        'evening-own-db-down',
        'evening-own-morning',
        'evening-own-recheck',
      ]);
      expect(details.unresolvedCriticals.map((c) => `${c.check}/${c.target}`)).toEqual([
        'http/bookings-api',
        'db.connectivity/127.0.0.1:1/trixtech',
      ]);
      expect(report.outcome).toBe('critical');
      expect(report.details?.countsByOutcome).toEqual({ critical: 2, ok: 1 });
      expect(report.summary).toMatch(
        new RegExp(`^Evening status: 3 run\\(s\\) on ${day} \\(.*\\); 2 unresolved critical finding\\(s\\)`),
      );
      expect(details.noticesSent).toEqual([]);
      expect(details.upcomingWindows.filter((w) => w.name === 'daily').length).toBeGreaterThanOrEqual(2);
      for (const w of details.upcomingWindows) expect(Date.parse(w.start)).toBeLessThan(Date.now() + 48 * 3_600_000);
      // Seed: "Confirm backup completion for the day": no dailyBackup ran that day, and the report says so.
      expect(report.checks.find((c) => c.check === 'backup.today')).toMatchObject({
        status: 'critical',
        detail: expect.stringContaining('no dailyBackup run'),
      });
    } finally {
      await store.drop();
    }
  });

  it('eveningStatus sends the one-week notice for monthly and annual windows and the 48-hour notice for the weekly one, once each', async () => {
    const at = new Date(Date.now() + 12 * 3_600_000);
    const start = `${String(at.getUTCHours()).padStart(2, '0')}:${String(at.getUTCMinutes()).padStart(2, '0')}`;
    const windows = [
      { name: 'monthly-test', every: 'day', start, durationMinutes: 60 },
      { name: 'weekly-test', every: 'day', start, durationMinutes: 60 },
      { name: 'daily-test', every: 'day', start, durationMinutes: 60 },
    ];
    const report = await withWorker(configFor({}, { windows }), ({ client, taskQueue }) =>
      client.workflow.execute(eveningStatus, { taskQueue, workflowId: `evening-notice-${Date.now()}`, args: [{}] }),
    );
    const sent = report.details?.noticesSent as { name: string; start: string }[];
    expect(sent.map((w) => w.name)).toEqual(['monthly-test', 'weekly-test']);
    const ahead = (name: string) => (Date.parse(sent.find((w) => w.name === name)!.start) - Date.now()) / 3_600_000;
    // Daily windows 12 h from now: the one 7.5 days ahead gets the week's notice, the one 2.5 days ahead the 48 hours'.
    expect(ahead('monthly-test')).toBeGreaterThan(7 * 24);
    expect(ahead('monthly-test')).toBeLessThan(8 * 24);
    expect(ahead('weekly-test')).toBeGreaterThan(48);
    expect(ahead('weekly-test')).toBeLessThan(72);
    expect(
      slack.postsTo('/report').filter((p) => p.body.text?.includes('Maintenance notice: the monthly-test window')),
    ).toHaveLength(1);
    expect(
      slack
        .postsTo('/report')
        .filter((p) =>
          /Maintenance notice: the weekly-test window opens .* \(in (4[89]|[56]\d|7[01]) hours\)/.test(
            p.body.text ?? '',
          ),
        ),
    ).toHaveLength(1);
  });

  it('eveningStatus finds the post-maintenance reports of windows closed 24 to 48 h ago that are missing, late or not posted', async () => {
    const store = await createTestDatabase('maint_evening_reports');
    try {
      const hour = 3_600_000;
      const now = Date.now();
      // Daily windows that opened 31 h ago for an hour: each closed 30 h ago, in the period tonight's run judges.
      const start = Math.floor((now - 31 * hour) / 1000) * 1000;
      const window = (name: string) => ({
        name,
        start: new Date(start).toISOString(),
        end: new Date(start + hour).toISOString(),
      });
      const windows = ['weekly-on-time', 'weekly-late', 'weekly-unposted', 'weekly-missing', 'daily-unreported'].map(
        (name) => ({
          name,
          every: 'day',
          start: new Date(start).toISOString().slice(11, 19),
          durationMinutes: 60,
          duringBusinessHours: true,
        }),
      );
      const run = (id: string, finishedAt: number, slack?: { ok: boolean; detail: string }): RunReport => ({
        workflowId: `evening-reports-${id}`,
        runId: 'r1',
        kind: 'weeklyDatabaseMaintenance',
        target: 'booking-database',
        outcome: 'ok',
        startedAt: new Date(start).toISOString(),
        finishedAt: new Date(finishedAt).toISOString(),
        summary: id,
        checks: [],
        steps: [],
        approvals: [],
        ...(slack ? { window: window(`weekly-${id}`), details: { deliveries: [{ channel: 'slack', ...slack }] } } : {}),
      });
      const reports = createReportActivities({ reports: store.pool });
      for (const r of [
        // The store held runs before the windows opened: they owe reports.
        { ...run('earlier', start - 48 * hour), startedAt: new Date(start - 48 * hour).toISOString() },
        run('on-time', start + 2 * hour, { ok: true, detail: 'delivered to slack' }),
        run('late', now - 2 * hour, { ok: true, detail: 'delivered to slack' }),
        run('unposted', start + hour, { ok: false, detail: 'Slack answered 500' }),
      ])
        await reports.persistRunReport(r);

      const report = await withWorker(
        configFor({ MAINT_DATABASE_URL: store.url }, { windows }),
        async ({ client, taskQueue }) => {
          const handle = await client.workflow.start(eveningStatus, {
            taskQueue,
            workflowId: `evening-reports-${Date.now()}`,
            args: [{}],
          });
          const result = await handle.result();
          await recordHistory('eveningStatus-report-deadline', await handle.fetchHistory());
          return result;
        },
      );
      const end = window('x').end;
      expect(
        report.checks.filter((c) => c.check === 'window.report').map((c) => [c.target, c.status, c.detail]),
      ).toEqual([
        [
          'weeklyDatabaseMaintenance evening-reports-late',
          'warn',
          `window weekly-late closed ${end}; report posted 28 h later, at ${new Date(now - 2 * hour).toISOString()}`,
        ],
        [
          'weeklyDatabaseMaintenance evening-reports-on-time',
          'ok',
          `window weekly-on-time closed ${end}; report posted ${new Date(start + 2 * hour).toISOString()}`,
        ],
        [
          'weeklyDatabaseMaintenance evening-reports-unposted',
          'warn',
          `window weekly-unposted closed ${end}; report not posted to Slack: Slack answered 500`,
        ],
        [
          `window weekly-missing ${window('x').start}`,
          'warn',
          `no report 24 h after the window closed at ${end}: the run did not finish, or never ran`,
        ],
      ]);
      expect(report.summary).toContain('; 3 post-maintenance report(s) missing or late;');
      expect(report.steps.find((s) => s.name === 'post-maintenance reports')).toMatchObject({ outcome: 'ok' });
    } finally {
      await store.drop();
    }
  });

  it('a broken checker still ends with a report: stored, alerted, outcome failed, then a typed failure', async () => {
    const kube = new KubeConfig();
    const deadPort = await freePort();
    kube.loadFromOptions({
      clusters: [{ name: 'gone', server: `http://127.0.0.1:${deadPort}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'gone', cluster: 'gone', user: 'u' }],
      currentContext: 'gone',
    });
    const workflowId = `dhc-broken-${Date.now()}`;
    const err = await withWorker(
      configFor(),
      ({ client, taskQueue }) =>
        client.workflow
          .execute(dailyHealthCheck, { taskQueue, workflowId, args: [{ checks: ['kubernetes'] }] })
          .catch((e: unknown) => e),
      { kube: async () => kube },
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(((err as WorkflowFailedError).cause as ApplicationFailure).type).toBe('dailyHealthCheckFailed');
    const stored = await reportDb.pool.query('SELECT outcome, summary FROM maintenance_runs WHERE workflow_id = $1', [
      workflowId,
    ]);
    expect(stored.rows[0]).toMatchObject({ outcome: 'failed' });
    expect(slack.postsTo('/alert').some((p) => JSON.stringify(p.body).includes(workflowId))).toBe(true);
  });
});
