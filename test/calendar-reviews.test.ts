import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BatchV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReportActivities } from '../activities/reports.js';
import type { CheckResult } from '../domain/checks.js';
import { memoryTrendFindings } from '../domain/memory.js';
import type { RunReport } from '../domain/run.js';
import { monthlyApplicationMaintenance } from '../workflows/monthly-application-maintenance.js';
import { monthlyAudit } from '../workflows/monthly-audit.js';
import { weeklyPerformanceReview } from '../workflows/weekly-performance-review.js';
import { weeklySystemReview } from '../workflows/weekly-system-review.js';
import { expectRbacExact, QUICK_PODS, waitForDeployment, waitUntil } from './helpers/cluster.js';
import { runAndRecord } from './helpers/histories.js';
import { startStack, type Stack } from './helpers/stack.js';
import { startProbeTargets } from './helpers/targets.js';
import { temporalEnv } from './helpers/temporal.js';

const exec = promisify(execFile);
const find = (checks: CheckResult[], check: string, target?: string) =>
  checks.find((c) => c.check === check && (target === undefined || c.target === target));

function pastDiskRun(daysAgo: number, percent: number): RunReport {
  const at = new Date(Date.now() - daysAgo * 86_400_000).toISOString();
  return {
    workflowId: `daily-health-check-${daysAgo}`,
    runId: 'r',
    kind: 'dailyHealthCheck',
    target: 'booking-platform',
    outcome: 'ok',
    startedAt: at,
    finishedAt: at,
    summary: 'ok',
    steps: [],
    approvals: [],
    checks: [{ check: 'disk', target: '/var/lib/postgresql', status: 'ok', value: percent, unit: '%', detail: '' }],
  };
}

describe('calendar reviews against the local targets', () => {
  let stack: Stack;
  let probes: Awaited<ReturnType<typeof startProbeTargets>>;
  let healthyNode: string | undefined;
  let sickNode: string | undefined;

  beforeAll(async () => {
    probes = await startProbeTargets(400);
    stack = await startStack(
      {},
      {
        name: 'calendar-reviews',
        targets: { http: [{ name: 'api', url: `${probes.url}/slow` }] },
        file: { standards: { minReplicas: 2, currentImages: { 'trixtech/backend': '2.4.1' } } },
      },
    );
    const { kube } = stack;
    [healthyNode] = await kube.addNodes(1);
    // A node whose kubelet reported NotReady (no kwok manages it to report otherwise).
    sickNode = `${kube.namespace}-sick`;
    await kube.core.createNode({
      body: {
        metadata: { name: sickNode },
        status: {
          conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'PLEG is not healthy' }],
        },
      },
    });
    await kube.deploy('trixtech-backend', { replicas: 1, image: 'trixtech/backend:2.3.0', podAnnotations: QUICK_PODS });
    // A finished Job: kwok completes its pod, the Job controller marks it Complete.
    const batch = kube.admin.makeApiClient(BatchV1Api);
    await batch.createNamespacedJob({
      namespace: kube.namespace,
      body: {
        metadata: { name: 'nightly-export' },
        spec: {
          template: {
            metadata: {
              annotations: {
                'pod-complete.stage.kwok.x-k8s.io/delay': '0s',
                'pod-complete.stage.kwok.x-k8s.io/jitter-delay': '0s',
              },
            },
            spec: {
              restartPolicy: 'Never',
              containers: [{ name: 'export', image: 'ghcr.io/trixtech/export:1.0' }],
              tolerations: [{ key: 'trixtech.test/pool', operator: 'Exists' }],
              nodeSelector: { 'trixtech.test/pool': kube.namespace },
            },
          },
        },
      },
    });
    await waitForDeployment(kube, 'trixtech-backend');
    await waitUntil('the Job to complete', async () => {
      const job = await batch.readNamespacedJob({ name: 'nightly-export', namespace: kube.namespace });
      return job.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') ? true : undefined;
    });
    await stack.db.pool
      .query(`CREATE TABLE bookings (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO bookings (created_at) SELECT now() - g * interval '1 day' FROM generate_series(1, 1000) g;
      CREATE INDEX bookings_unused_idx ON bookings ((id % 7));`);
    // A disk filling by about 10 points a month: critical within 3 months.
    const store = createReportActivities({ reports: stack.db.pool });
    for (const [days, pct] of [
      [60, 50],
      [45, 55],
      [30, 60],
      [15, 65],
      [1, 70],
    ] as const)
      await store.persistRunReport(pastDiskRun(days, pct));
  });
  afterAll(async () => {
    if (stack) expectRbacExact(stack.kube, { everyGrantUsed: false });
    if (sickNode) await stack?.kube.core.deleteNode({ name: sickNode }).catch(() => undefined);
    await Promise.all([stack?.stop(), probes?.close()]);
  });

  it('weeklySystemReview covers the database, application and infrastructure items and changes nothing', async () => {
    // The backend's container was killed at its memory limit once (what its kubelet would report).
    const [backendPod] = await stack.kube.pods('app=trixtech-backend');
    await stack.kube.core.patchNamespacedPodStatus(
      {
        name: backendPod!.metadata!.name!,
        namespace: stack.kube.namespace,
        body: {
          status: {
            containerStatuses: [
              {
                name: 'app',
                restartCount: 1,
                lastState: {
                  terminated: { exitCode: 137, reason: 'OOMKilled', finishedAt: new Date('2026-11-29T03:04:05Z') },
                },
              },
            ],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    const report = await stack.withBridge(async ({ client, taskQueue }) => {
      return runAndRecord(
        client,
        'weeklySystemReview',
        weeklySystemReview,
        taskQueue,
        {},
        // Since patch 'database-disk'; the runs before it are 'weeklySystemReview-memory-history'.
        'weeklySystemReview-database-disk',
      );
    });
    expect(find(report.checks, 'k8s.restarts', `${backendPod!.metadata!.name}/app`)).toMatchObject({
      status: 'critical',
      detail: '1 restart(s); last terminated OOMKilled at 2026-11-29T03:04:05.000Z',
    });
    // No metrics-server here: the trend says why it measured nothing, and the report stores no figures.
    expect(find(report.checks, 'k8s.memory-trend')).toMatchObject({
      status: 'skipped',
      detail: expect.stringContaining('metrics.k8s.io'),
    });
    expect(report.details?.memory).toBeUndefined();
    expect(find(report.checks, 'k8s.node', sickNode)?.status).toBe('critical');
    expect(find(report.checks, 'k8s.node', healthyNode)?.status).toBe('ok');
    expect(find(report.checks, 'k8s.leftovers')?.detail).toContain('nightly-export');
    // The stack's backup is a real dump: the review reads every byte back.
    expect(find(report.checks, 'db.backup')).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/^level readable: /),
    });
    expect(find(report.checks, 'db.cache-hit')).toBeDefined();
    expect(find(report.checks, 'disk')?.unit).toBe('%');
    // The database's own storage: its size always; its volume only with a source configured, and says so.
    expect(find(report.checks, 'db.size')).toMatchObject({ status: 'ok', unit: 'bytes', value: expect.any(Number) });
    expect(find(report.checks, 'db.volume')).toMatchObject({
      status: 'skipped',
      detail: expect.stringContaining('no source configured (targets.databaseVolume'),
    });
    expect(find(report.checks, 'http', 'api')?.status).toBe('ok');
    expect(report.steps.map((s) => s.name)).toEqual(
      expect.arrayContaining([
        'database statistics',
        'application error logs',
        'pod resources',
        'container restarts',
        'memory trend',
        'node health',
        'orphaned cluster resources',
      ]),
    );
    // Listed, not deleted.
    const job = await stack.kube.admin
      .makeApiClient(BatchV1Api)
      .readNamespacedJob({ name: 'nightly-export', namespace: stack.kube.namespace });
    expect(job.metadata?.deletionTimestamp).toBeUndefined();
    // What the database findings count is kept in the report, with figures (they used to be dropped).
    expect(find(report.checks, 'db.index-usage')?.detail).toContain('public.bookings_unused_idx');
    const database = report.details?.database as {
      unusedIndexes: { index: string; bytes: number }[];
      slowQueries: { status: string };
    };
    expect(database.unusedIndexes).toContainEqual({
      index: 'public.bookings_unused_idx',
      table: 'public.bookings',
      bytes: expect.any(Number),
    });
    expect(['available', 'unavailable']).toContain(database.slowQueries.status);
    expect(report.checks.filter((c) => c.check === 'db.slow-query').length).toBeGreaterThan(0);
    // Every item of the Monday checklist is accounted for: findings for checks, the rest awaiting people.
    const items = Object.fromEntries(report.checklist!.items.map((i) => [i.id, i]));
    expect(report.checklist!.items).toHaveLength(15);
    expect(items['monday-db.indexes']?.state).toBe('ok');
    expect(items['monday-app.memory-leaks']?.state).toBe('critical');
    expect(items['monday-infra.cluster']?.state).toBe('critical');
    expect(items['monday-app.api-usage']).toMatchObject({
      state: 'awaiting-sign-off',
      detail: expect.stringContaining('devops-engineer'),
    });
    expect(report.summary).toMatch(/checklist open: \d+ of 15 items checked, 3 awaiting sign-off/);
  });

  it('weekly memory figures stored in maintenance_runs are read back newest first; a creeping series warns', async () => {
    const store = createReportActivities({ reports: stack.db.pool });
    const weekly = (daysAgo: number, kind: string, details?: Record<string, unknown>): RunReport => ({
      ...pastDiskRun(daysAgo, 50),
      workflowId: `memory-history-${kind}-${daysAgo}`,
      kind,
      checks: [],
      ...(details ? { details } : {}),
    });
    for (const run of [
      weekly(21, 'weeklySystemReview', { memory: { 'trixtech-backend': 150 } }),
      weekly(14, 'weeklySystemReview', { memory: { 'trixtech-backend': 210 } }),
      weekly(8, 'dailyHealthCheck', { memory: { 'trixtech-backend': 999 } }), // another kind: not weekly history
      weekly(7, 'weeklySystemReview', { memory: { 'trixtech-backend': 260 } }),
      weekly(3, 'weeklySystemReview'), // a run without metrics stored no figures
    ])
      await store.persistRunReport(run);
    const history = await store.readMemoryHistory(2);
    expect(history).toEqual([{ 'trixtech-backend': 260 }, { 'trixtech-backend': 210 }]);
    expect(memoryTrendFindings({ 'trixtech-backend': 312 }, history, { runs: 3, tolerance: 0.2 })).toEqual([
      expect.objectContaining({ status: 'warn', detail: 'memory creeping: 210, 260, 312 MiB (+49% over 3 runs)' }),
    ]);
  });

  it('monthlyAudit audits the inventory against the standards and forecasts capacity from stored history', async () => {
    const report = await stack.withBridge(({ client, taskQueue }) =>
      runAndRecord(client, 'monthlyAudit', monthlyAudit, taskQueue, { forecastHistoryDays: 90 }),
    );
    expect(find(report.checks, 'standards', `${stack.kube.namespace}/trixtech-backend`)).toMatchObject({
      status: 'warn',
      value: 1,
    });
    const capacity = find(report.checks, 'capacity', '/var/lib/postgresql')!;
    expect(capacity.status).toBe('critical');
    expect(capacity.detail).toMatch(/now 70%, 10(\.\d+)? points\/month over 5 samples/);
    expect(Number(capacity.value)).toBeGreaterThan(120);
    // The stack's dump restores into a scratch database with every row count matching its manifest.
    expect(find(report.checks, 'db.restore-test')).toMatchObject({
      status: 'ok',
      unit: 'ms',
      detail: expect.stringMatching(/^level restored: .*row counts match the manifest/),
    });
    // RTO and RPO measured against the default objectives (60 min, 24 h).
    expect(find(report.checks, 'backup.rto')).toMatchObject({ status: 'ok', unit: 's', threshold: 'objective 3600 s' });
    expect(find(report.checks, 'backup.rpo')).toMatchObject({
      status: 'ok',
      unit: 's',
      threshold: 'objective 86400 s',
      detail: expect.stringMatching(/newest readable dump .*, snapshot 20/),
    });
  });

  it('weeklyPerformanceReview sets baselines, then flags a regression against them', async () => {
    const run = () =>
      stack.withBridge(({ client, taskQueue }) =>
        runAndRecord(client, 'weeklyPerformanceReview', weeklyPerformanceReview, taskQueue, {
          regressionTolerance: 0.5,
        }),
      );
    const first = await run();
    const baselines = first.checks.filter((c) => c.check === 'baseline');
    expect(baselines.map((c) => c.target)).toContain('http.api.ms');
    expect(baselines.every((c) => c.detail.startsWith('first measurement'))).toBe(true);
    // The endpoint has not changed; pretend it used to be ten times faster.
    await stack.db.pool.query(`UPDATE performance_baselines SET value = value / 10 WHERE metric = 'http.api.ms'`);
    const second = await run();
    const regressed = second.checks.filter((c) => c.check === 'baseline' && c.status === 'warn');
    expect(regressed.map((c) => c.target)).toEqual(['http.api.ms']);
    expect(regressed[0]!.detail).toMatch(/\+\d+%/);
  });

  it('maint plan shows what the database window would do and changes nothing', async () => {
    const snapshot = async () =>
      (
        await stack.db.pool.query(
          `SELECT count(*)::int AS n, md5(string_agg(id::text || created_at::text, ',' ORDER BY id)) AS sum,
              (SELECT count(*)::int FROM pg_tables WHERE tablename = 'bookings_archive') AS archive FROM bookings`,
        )
      ).rows[0];
    const before = await snapshot();
    const { stdout } = await exec(process.execPath, ['bin/maint.js', 'plan', 'weeklyDatabaseMaintenance'], {
      env: {
        ...process.env,
        ...temporalEnv(),
        MAINT_CONFIG: stack.config.configFile!,
        DATABASE_URL: stack.config.databaseUrl,
        MAINT_DATABASE_URL: stack.config.reportDatabaseUrl,
      },
    });
    expect(stdout).toContain('plan for weeklyDatabaseMaintenance (nothing was changed)');
    // 1,000 bookings one day apart: those older than 730 days would move.
    expect(stdout).toMatch(/archive: 27\d booking\(s\) created before/);
    expect(stdout).toContain('window weekly:');
    expect(await snapshot()).toEqual(before);
    expect(before.archive).toBe(0);
  });

  it('monthlyApplicationMaintenance reports outdated images and skips the database work outside its window by policy', async () => {
    const report = await stack.withBridge(({ client, taskQueue }) =>
      runAndRecord(client, 'monthlyApplicationMaintenance', monthlyApplicationMaintenance, taskQueue, {
        windowPolicy: 'skip',
        window: { name: 'new-year', every: 'year', month: 1, day: 1, start: '03:00', durationMinutes: 1 },
      }),
    );
    expect(find(report.checks, 'image-version', `${stack.kube.namespace}/trixtech-backend`)).toMatchObject({
      status: 'warn',
      value: '2.3.0',
      threshold: 'current: 2.4.1',
    });
    expect(report.summary).toContain('disruptive steps skipped: outside window new-year');
    const { rows } = await stack.db.pool.query('SELECT count(*)::int AS n FROM bookings');
    expect(rows[0].n).toBe(1000);
  });
});
