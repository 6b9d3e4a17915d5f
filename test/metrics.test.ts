import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { RunReport } from '../domain/run.js';
import { createMetrics } from '../src/metrics.js';

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
    const metrics = createMetrics();
    metrics.recordChecks([{ check: 'disk', target: '/', status: 'warn', value: 82.5, detail: '' }]);
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
    expect(text).toContain('disk_usage_percent{instance="/"} 82.5');
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
});
