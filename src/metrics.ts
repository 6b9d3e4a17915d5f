import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Outcome, RunReport } from '../domain/run.js';
import { measureFilesystem } from './disk-usage.js';
import { SEED_WINDOWS, windowOccurrences, type WindowSpec } from '../domain/windows.js';

/** The seed's job states: a run that finished (whatever it found) succeeded; one that broke failed. */
const JOB_STATUS: Record<Outcome, 'success' | 'failed' | 'skipped' | 'running'> = {
  running: 'running',
  ok: 'success',
  warn: 'success',
  critical: 'success',
  failed: 'failed',
  'timed-out': 'failed',
  skipped: 'skipped',
  rejected: 'skipped',
  cancelled: 'skipped',
};
const JOB_STATUSES = ['success', 'failed', 'skipped', 'running'] as const;

const STATUS_VALUE = { ok: 0, warn: 1, critical: 2, skipped: -1 } as const;

/**
 * Our own metrics; the SDK's runtime metrics are merged in at scrape time (see startMetricsServer).
 * `diskPaths` (targets.diskPaths) are measured at every scrape, so the disk trend rule has a series to follow.
 */
export function createMetrics({
  windows = SEED_WINDOWS,
  diskPaths = [],
}: { windows?: readonly WindowSpec[]; diskPaths?: readonly string[] } = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'maintenance_worker_' });
  const metrics = {
    registry,
    lastRunTimestamp: new Gauge({
      name: 'maintenance_last_run_timestamp_seconds',
      help: 'When the last run of a kind finished',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    }),
    checkStatus: new Gauge({
      name: 'maintenance_check_status',
      help: 'Latest check status (0 ok, 1 warn, 2 critical, -1 skipped)',
      labelNames: ['check', 'target'],
      registers: [registry],
    }),
    // Labelled `path`: an `instance` label would be replaced by Prometheus' own target label.
    diskUsagePercent: new Gauge({
      name: 'disk_usage_percent',
      help: 'Used space of the filesystem holding each configured disk path, in percent as df reports it, measured at scrape time',
      labelNames: ['path'],
      registers: [registry],
      async collect() {
        const measured = await Promise.all(
          diskPaths.map((path) =>
            measureFilesystem(path).then(
              (u) => ({ path, percent: u.usedPercent }),
              // Unmeasurable now (unmounted, unreadable): no figure rather than a stale one; the disk check says why.
              () => undefined,
            ),
          ),
        );
        this.reset();
        for (const m of measured) if (m) this.set({ path: m.path }, m.percent);
      },
    }),
    // Seed rules: maintenance_job_status is 1 for the latest status of each job, 0 for the others.
    jobStatus: new Gauge({
      name: 'maintenance_job_status',
      help: 'Latest status of each maintenance job (one-hot)',
      labelNames: ['kind', 'status'],
      registers: [registry],
    }),
    jobRuns: new Counter({
      name: 'maintenance_job_runs_total',
      help: 'Maintenance job runs by status',
      labelNames: ['kind', 'status'],
      registers: [registry],
    }),
    // RTO/RPO as the monthly audit measured them, and the objectives they were compared with.
    recovery: new Gauge({
      name: 'maintenance_backup_recovery_seconds',
      help: 'Measured RTO (restore test time) and RPO (what a restore would lose), seconds',
      labelNames: ['measure', 'target'],
      registers: [registry],
    }),
    recoveryObjective: new Gauge({
      name: 'maintenance_backup_recovery_objective_seconds',
      help: 'Configured RTO and RPO objectives, seconds',
      labelNames: ['measure', 'target'],
      registers: [registry],
    }),
    bloatRatio: new Gauge({
      name: 'database_bloat_ratio',
      help: 'Dead tuples / (live + dead) per table',
      labelNames: ['table'],
      registers: [registry],
    }),
    nextWindowStart: new Gauge({
      name: 'maintenance_next_window_start_timestamp_seconds',
      help: 'Start of the next occurrence of each maintenance window',
      labelNames: ['window'],
      registers: [registry],
      collect() {
        const now = new Date();
        const upcoming = windowOccurrences(windows, now, new Date(now.getTime() + 400 * 86_400_000)).filter(
          (o) => Date.parse(o.start) > now.getTime(),
        );
        for (const w of windows) {
          const next = upcoming.find((o) => o.name === w.name);
          if (next) this.set({ window: w.name }, Date.parse(next.start) / 1000);
        }
      },
    }),
  };
  return {
    ...metrics,
    recordRun(report: RunReport) {
      metrics.lastRunTimestamp.set(
        { kind: report.kind, outcome: report.outcome },
        Date.parse(report.finishedAt) / 1000,
      );
      for (const c of report.checks) {
        metrics.checkStatus.set({ check: c.check, target: c.target }, STATUS_VALUE[c.status]);
        const measure = c.check === 'backup.rto' ? 'rto' : c.check === 'backup.rpo' ? 'rpo' : undefined;
        const objective = measure && /objective ([\d.]+) s/.exec(c.threshold ?? '')?.[1];
        if (measure && objective) {
          metrics.recoveryObjective.set({ measure, target: c.target }, Number(objective));
          // Not measurable (no restorable backup) counts as infinitely long: the alert fires.
          metrics.recovery.set(
            { measure, target: c.target },
            typeof c.value === 'number' ? c.value : Number.POSITIVE_INFINITY,
          );
        }
      }
      const status = JOB_STATUS[report.outcome];
      for (const s of JOB_STATUSES) metrics.jobStatus.set({ kind: report.kind, status: s }, s === status ? 1 : 0);
      metrics.jobRuns.inc({ kind: report.kind, status });
    },
    /** Feeds DatabaseBloatHigh: dead / (live + dead) per table, from the statistics a run collected. */
    recordTableBloat(tables: { table: string; deadRatio: number | null }[]) {
      for (const t of tables) if (t.deadRatio !== null) metrics.bloatRatio.set({ table: t.table }, t.deadRatio);
    },
  };
}
export type MaintenanceMetrics = ReturnType<typeof createMetrics>;

/**
 * Serves `GET /metrics` (ours plus the Temporal SDK runtime's, scraped from its loopback exporter)
 * and `GET /healthz`.
 */
export function startMetricsServer(
  metrics: MaintenanceMetrics,
  options: { host: string; port: number; sdkMetricsUrl?: string; health: () => { ok: boolean; detail: string } },
): Promise<Server> {
  const server = createServer(async (req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      let sdk = '';
      if (options.sdkMetricsUrl) {
        sdk = await fetch(options.sdkMetricsUrl, { signal: AbortSignal.timeout(2_000) })
          .then((r) => r.text())
          .catch(() => '');
      }
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(`${await metrics.registry.metrics()}\n${sdk}`);
      return;
    }
    if (req.method === 'GET' && req.url === '/healthz') {
      const h = options.health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(h));
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve(server));
  });
}
