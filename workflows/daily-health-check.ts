import { patched } from '@temporalio/workflow';
import { z } from 'zod';
import type { CheckResult } from '../domain/checks.js';
import type { RunReport } from '../domain/run.js';
import { ThresholdOverridesSchema, thresholdsSchema } from '../domain/thresholds.js';
import { healthProbe } from './lib/activity-profiles.js';
import { parseInput } from './lib/input.js';
import { reportedWorkflow } from './lib/run.js';

const {
  checkAlertingPipeline,
  checkBackupFreshness,
  checkCertificateExpiry,
  checkDatabaseDisk,
  checkDatabaseHealth,
  checkDiskUsage,
  checkMonitoringAlive,
  checkNodeHealth,
  checkPodResourceUsage,
  probeHttpEndpoints,
  resolveHealthCheckPlan,
  scanApplicationErrorLogs,
} = healthProbe;

export const HEALTH_CHECK_GROUPS = ['http', 'database', 'disk', 'backup', 'tls', 'kubernetes', 'monitoring'] as const;

export const DailyHealthCheckInput = z
  .object({
    /** Run only these groups of the checklist (default: all). */
    checks: z
      .array(z.enum(HEALTH_CHECK_GROUPS))
      .min(1)
      .max(HEALTH_CHECK_GROUPS.length)
      .refine((c) => new Set(c).size === c.length, 'checks must be distinct')
      .optional(),
    /** Per-run threshold overrides on top of the configured ones. */
    thresholds: ThresholdOverridesSchema.optional(),
    /** Shown in the report, e.g. "manual check after deploy". */
    reason: z.string().max(500).optional(),
  })
  .strict();

const reportedRun = reportedWorkflow('dailyHealthCheck', DailyHealthCheckInput);

/** Routine Maintenance Guide, "Morning Health Check": every item this product can measure, in parallel. */
export async function dailyHealthCheck(rawInput?: z.input<typeof DailyHealthCheckInput>): Promise<RunReport> {
  return reportedRun(rawInput, async (run, input) => {
    const plan = await run.plan('resolve targets and thresholds', () => resolveHealthCheckPlan());
    const thresholds = parseInput(
      thresholdsSchema(plan.thresholds),
      input.thresholds ?? {},
      'dailyHealthCheck.thresholds',
    );

    const checklist: Record<(typeof HEALTH_CHECK_GROUPS)[number], [string, () => Promise<CheckResult[]>]> = {
      http: ['application availability and response time', () => probeHttpEndpoints(plan.http, thresholds)],
      database: ['database connectivity, connections and replication', () => checkDatabaseHealth(thresholds)],
      disk: [
        'disk space utilization',
        async () =>
          (
            await Promise.all([
              checkDiskUsage(plan.diskPaths, thresholds),
              // Added after release: the database's size and its volume's free space.
              ...(patched('database-disk') ? [checkDatabaseDisk(thresholds)] : []),
            ])
          ).flat(),
      ],
      backup: ['backup status', () => checkBackupFreshness(plan.backup, thresholds)],
      tls: ['certificate expiration', () => checkCertificateExpiry(plan.tls, thresholds)],
      kubernetes: [
        'error logs, pod resources and node health',
        async () => [
          ...(await scanApplicationErrorLogs()),
          ...(await checkPodResourceUsage()),
          // Added after release: runs recorded before it replay without the node check.
          ...(patched('kubernetes-node-health') ? await checkNodeHealth() : []),
        ],
      ],
      monitoring: [
        'monitoring is alive',
        async () => [
          ...(await checkMonitoringAlive(plan.monitoring)),
          // Added after release: rules loaded, an Alertmanager, the watchdog firing (not only a metrics URL).
          ...(patched('monitoring-alerting-pipeline') ? await checkAlertingPipeline(plan.prometheus) : []),
        ],
      ],
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
