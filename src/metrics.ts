import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CheckResult } from './domain/checks.js';
import type { RunReport } from './domain/run.js';

const STATUS_VALUE = { ok: 0, warn: 1, critical: 2, skipped: -1 } as const;

/** Our own metrics; the SDK's runtime metrics are merged in at scrape time (see startMetricsServer). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'maintenance_worker_' });
  const metrics = {
    registry,
    runsTotal: new Counter({ name: 'maintenance_runs_total', help: 'Maintenance runs reported, by kind and outcome', labelNames: ['kind', 'outcome'], registers: [registry] }),
    lastRunTimestamp: new Gauge({ name: 'maintenance_last_run_timestamp_seconds', help: 'When the last run of a kind finished', labelNames: ['kind', 'outcome'], registers: [registry] }),
    checkStatus: new Gauge({ name: 'maintenance_check_status', help: 'Latest check status (0 ok, 1 warn, 2 critical, -1 skipped)', labelNames: ['check', 'target'], registers: [registry] }),
    diskUsagePercent: new Gauge({ name: 'disk_usage_percent', help: 'Used disk space in percent, as df reports it', labelNames: ['instance'], registers: [registry] }),
  };
  return {
    ...metrics,
    recordRun(report: RunReport) {
      metrics.runsTotal.inc({ kind: report.kind, outcome: report.outcome });
      metrics.lastRunTimestamp.set({ kind: report.kind, outcome: report.outcome }, Date.parse(report.finishedAt) / 1000);
      for (const c of report.checks) metrics.checkStatus.set({ check: c.check, target: c.target }, STATUS_VALUE[c.status]);
    },
    recordChecks(results: CheckResult[]) {
      for (const r of results) {
        if (r.check === 'disk' && typeof r.value === 'number') metrics.diskUsagePercent.set({ instance: r.target }, r.value);
      }
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
        sdk = await fetch(options.sdkMetricsUrl, { signal: AbortSignal.timeout(2_000) }).then((r) => r.text()).catch(() => '');
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
