import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { RunReport } from '../domain/run.js';
import { createMetrics } from '../src/metrics.js';
import { freePort } from './helpers/net.js';
import { createTestDatabase } from './helpers/postgres.js';
import { RULES, startPrometheus } from './helpers/prometheus.js';
import { until, uniqueId } from './helpers/stack.js';
import { testConfigEnv, uniqueTaskQueue } from './helpers/temporal.js';

const exec = promisify(execFile);

const report = (kind: string, outcome: RunReport['outcome']): RunReport => ({
  workflowId: `${kind}-1`,
  runId: 'r',
  kind,
  target: 't',
  outcome,
  startedAt: '2026-11-22T08:00:00Z',
  finishedAt: '2026-11-22T08:01:00Z',
  summary: '',
  steps: [],
  approvals: [],
  checks: [{ check: 'disk', target: '/', status: 'warn', value: 82.5, unit: '%', detail: '' }],
});

describe('metrics and alerting rules', () => {
  it('promtool accepts the rules and their unit tests pass', async () => {
    await exec('promtool', ['check', 'rules', 'deploy/prometheus/rules.yml']);
    const { stdout } = await exec('promtool', ['test', 'rules', 'rules.test.yml'], { cwd: 'deploy/prometheus' });
    expect(stdout).toContain('SUCCESS');
  });

  it('the worker exports every series the rules read', async () => {
    const metrics = createMetrics({ diskPaths: ['/'] });
    metrics.recordTableBloat([
      { table: 'bookings', deadRatio: 0.31 },
      { table: 'empty', deadRatio: null },
    ]);
    metrics.recordRun(report('weeklyDatabaseMaintenance', 'failed'));
    metrics.recordRun(report('dailyHealthCheck', 'critical'));
    metrics.recordRun({
      ...report('monthlyAudit', 'critical'),
      checks: [
        {
          check: 'backup.rto',
          target: 'db',
          status: 'ok',
          value: 12.5,
          unit: 's',
          threshold: 'objective 3600 s',
          detail: '',
        },
        {
          check: 'backup.rpo',
          target: 'db',
          status: 'critical',
          threshold: 'objective 86400 s',
          detail: 'RPO unbounded',
        },
      ],
    });
    const text = await metrics.registry.metrics();
    expect(text).toContain('maintenance_job_status{kind="weeklyDatabaseMaintenance",status="failed"} 1');
    expect(text).toContain('maintenance_job_status{kind="weeklyDatabaseMaintenance",status="success"} 0');
    // A health check that found criticals still ran: the job succeeded.
    expect(text).toContain('maintenance_job_status{kind="dailyHealthCheck",status="success"} 1');
    expect(text).toContain('maintenance_job_runs_total{kind="dailyHealthCheck",status="success"} 1');
    expect(text).toMatch(/^disk_usage_percent\{path="\/"\} [\d.]+$/m);
    expect(text).toContain('database_bloat_ratio{table="bookings"} 0.31');
    expect(text).toContain('maintenance_backup_recovery_seconds{measure="rto",target="db"} 12.5');
    expect(text).toContain('maintenance_backup_recovery_objective_seconds{measure="rto",target="db"} 3600');
    // Nothing restorable: unbounded, so BackupRPOAboveObjective fires.
    expect(text).toContain('maintenance_backup_recovery_seconds{measure="rpo",target="db"} +Inf');
    const next = /maintenance_next_window_start_timestamp_seconds\{window="weekly"\} (\d+)/.exec(text);
    const start = new Date(Number(next?.[1]) * 1000);
    expect([start.getUTCDay(), start.getUTCHours()]).toEqual([0, 2]);
    expect(start.getTime()).toBeGreaterThan(Date.now());

    const rules = readFileSync('deploy/prometheus/rules.yml', 'utf8');
    for (const series of rules.matchAll(/\b(maintenance_[a-z_]+|disk_usage_percent|database_bloat_ratio)\b/g)) {
      if (
        series[1] === 'maintenance_job_success_rate' ||
        series[1] === 'maintenance_metrics' ||
        series[1] === 'maintenance_alerts'
      )
        continue;
      expect(text, `${series[1]} is read by a rule`).toContain(series[1]);
    }
  });

  it("the worker's /metrics measures every configured disk path at each scrape, before any run; the trend rule follows it", async () => {
    const missing = `/${uniqueId('not-mounted')}`;
    const paths = ['/', '/dev/shm', missing];
    const db = await createTestDatabase('maint_metrics');
    const metricsPort = await freePort();
    // The real worker (src/worker.ts), as production starts it; it has run nothing.
    const worker = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
      env: {
        ...process.env,
        ...testConfigEnv(
          {
            DATABASE_URL: db.url,
            MAINT_DATABASE_URL: db.url,
            TASK_QUEUE: uniqueTaskQueue('metrics'),
            METRICS_HOST: '127.0.0.1',
            METRICS_PORT: String(metricsPort),
            SDK_METRICS_PORT: String(await freePort()),
          },
          { targets: { diskPaths: paths } },
        ),
      },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => worker.once('exit', r));
    let prometheus: Awaited<ReturnType<typeof startPrometheus>> | undefined;
    try {
      const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
      await until(
        'the worker serving /metrics',
        async () => (await fetch(metricsUrl).catch(() => undefined))?.ok === true,
      );
      const dfPercent = async (path: string) => {
        const s = await statfs(path);
        const used = s.blocks - s.bfree;
        return (used / (used + s.bavail)) * 100;
      };
      for (const path of ['/', '/dev/shm']) {
        const low = await dfPercent(path);
        const text = await (await fetch(metricsUrl)).text();
        const high = await dfPercent(path);
        const scraped = new RegExp(`^disk_usage_percent\\{path="${path}"\\} ([\\d.]+)$`, 'm').exec(text)?.[1];
        expect(scraped, `disk_usage_percent for ${path}`).toBeDefined();
        // Rounded to 0.1 as df would be; the shared disk may move between the readings.
        expect(Number(scraped)).toBeGreaterThanOrEqual(Math.min(low, high) - 0.05);
        expect(Number(scraped)).toBeLessThanOrEqual(Math.max(low, high) + 0.05);
        // A path that cannot be measured has no figure (rather than a stale one).
        expect(text).not.toContain(missing);
      }

      // The rules as shipped, over the worker's metrics as Prometheus scrapes them: the trend is
      // recorded per path, and the scrape's own `instance` label is left to Prometheus.
      prometheus = await startPrometheus({ ruleFiles: [RULES], scrapeTargets: [`127.0.0.1:${metricsPort}`] });
      const query = async (q: string) =>
        (
          (await (await fetch(`${prometheus!.url}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as {
            data: { result: { metric: Record<string, string>; value: [number, string] }[] };
          }
        ).data.result;
      let trend: Awaited<ReturnType<typeof query>> = [];
      await until('disk_usage_trend recorded for both paths', async () => {
        trend = await query('disk_usage_trend');
        return trend.length === 2;
      });
      expect(trend.map((t) => t.metric.path).sort()).toEqual(['/', '/dev/shm']);
      for (const t of trend) {
        expect(t.metric.instance).toBe(`127.0.0.1:${metricsPort}`);
        expect(Number.isFinite(Number(t.value[1]))).toBe(true);
      }
    } finally {
      prometheus?.stop();
      worker.kill('SIGTERM');
      await exited;
      await db.drop();
    }
  });
});
