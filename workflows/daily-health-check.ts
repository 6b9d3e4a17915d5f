import { patched, proxyActivities } from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import type { CheckResult } from '../src/domain/checks.js';
import type { RunReport } from '../src/domain/run.js';
import { ThresholdOverridesSchema, thresholdsSchema } from '../src/domain/thresholds.js';
import { parseInput } from './lib/input.js';
import { MaintenanceRun } from './lib/run.js';
import { runReported } from './lib/saga.js';

// Checks only read; a few retries cover a flapping network. A check that still throws means
// the checker is broken, which is the one thing that fails this workflow.
const checks = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

export const HEALTH_CHECK_GROUPS = ['http', 'database', 'disk', 'backup', 'tls', 'kubernetes', 'monitoring'] as const;

export const DailyHealthCheckInput = z
  .object({
    /** Run only these groups of the checklist (default: all). */
    checks: z.array(z.enum(HEALTH_CHECK_GROUPS)).min(1).max(HEALTH_CHECK_GROUPS.length).refine((c) => new Set(c).size === c.length, 'checks must be distinct').optional(),
    /** Per-run threshold overrides on top of the configured ones. */
    thresholds: ThresholdOverridesSchema.optional(),
    /** Shown in the report, e.g. "manual check after deploy". */
    reason: z.string().max(500).optional(),
  })
  .strict();
export type DailyHealthCheckInput = z.input<typeof DailyHealthCheckInput>;

/** Routine Maintenance Guide, "Morning Health Check": every item this product can measure, in parallel. */
export async function dailyHealthCheck(rawInput?: DailyHealthCheckInput): Promise<RunReport> {
  const input = parseInput(DailyHealthCheckInput, rawInput, 'dailyHealthCheck');
  const run = new MaintenanceRun('dailyHealthCheck', 'booking-platform');
  return runReported(run, async () => {

    run.phase = 'planning';
    const plan = await run.step('resolve targets and thresholds', () => checks.resolveHealthCheckPlan());
    const thresholds = parseInput(thresholdsSchema(plan.thresholds), input.thresholds ?? {}, 'dailyHealthCheck.thresholds');

    const checklist: Record<(typeof HEALTH_CHECK_GROUPS)[number], [string, () => Promise<CheckResult[]>]> = {
      http: ['application availability and response time', () => checks.probeHttpEndpoints(plan.http, thresholds)],
      database: ['database connectivity, connections and replication', () => checks.checkDatabaseHealth(thresholds)],
      disk: ['disk space utilization', () => checks.checkDiskUsage(plan.diskPaths, thresholds)],
      backup: ['backup status', () => checks.checkBackupFreshness(plan.backup, thresholds)],
      tls: ['certificate expiration', () => checks.checkCertificateExpiry(plan.tls, thresholds)],
      kubernetes: ['error logs, pod resources and node health', async () => [
        ...(await checks.scanApplicationErrorLogs()),
        ...(await checks.checkPodResourceUsage()),
        // Added after release: runs recorded before it replay without the node check.
        ...(patched('kubernetes-node-health') ? await checks.checkNodeHealth() : []),
      ]],
      monitoring: ['monitoring is alive', async () => [
        ...(await checks.checkMonitoringAlive(plan.monitoring)),
        // Added after release: rules loaded, an Alertmanager, the watchdog firing (not only a metrics URL).
        ...(patched('monitoring-alerting-pipeline') ? await checks.checkAlertingPipeline(plan.prometheus) : []),
      ]],
    };

    run.phase = 'checking';
    const selected = input.checks ?? HEALTH_CHECK_GROUPS;
    const results = (await Promise.all(selected.map((group) => run.checkStep(...checklist[group])))).flat();

    return {
      summary: input.reason ? `Morning health check (${input.reason})` : 'Morning health check',
      checks: results,
      alertOnCritical: true,
    };
  });
}
