import { executeChild, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { skipped } from '../domain/checks.js';
import { outdatedImageFindings } from '../domain/images.js';
import type { RunReport } from '../domain/run.js';
import { SEED_WINDOWS, WindowSpecSchema } from '../domain/windows.js';
import { quickRead } from './lib/activity-profiles.js';
import { reportedWorkflow } from './lib/run.js';
import { weeklyDatabaseMaintenance } from './weekly-database-maintenance.js';

const { collectClusterInventory, resolveHealthCheckPlan } = quickRead;

export const MonthlyApplicationMaintenanceInput = z
  .object({
    windowPolicy: z.enum(['wait', 'skip']).default('wait'),
    /** Default: the configured "monthly-application" window (seed: third Monday 09:00, 3 hours). */
    window: WindowSpecSchema.optional(),
  })
  .strict();
export type MonthlyApplicationMaintenanceInput = z.input<typeof MonthlyApplicationMaintenanceInput>;

const reportedRun = reportedWorkflow('monthlyApplicationMaintenance', MonthlyApplicationMaintenanceInput);

/**
 * Routine Maintenance Guide, "Third Monday of Month - Application Maintenance": the database tasks
 * (VACUUM, REINDEX, retention and archive) as a `weeklyDatabaseMaintenance` child in this slot's
 * window, with its backup guard, and the application images that are behind the declared
 * current versions. These database steps are online (plain VACUUM, REINDEX CONCURRENTLY, batched
 * archive), which is why the seed can schedule them on a weekday morning.
 */
export async function monthlyApplicationMaintenance(rawInput?: MonthlyApplicationMaintenanceInput): Promise<RunReport> {
  return reportedRun(rawInput, async (run, input) => {
    const plan = await run.plan('resolve targets', () => resolveHealthCheckPlan());
    const window =
      input.window ??
      plan.windows.find((w) => w.name === 'monthly-application') ??
      SEED_WINDOWS.find((w) => w.name === 'monthly-application')!;

    run.phase = 'application images';
    const images = await run.checkStep('outdated image versions', async () => {
      const inventory = await collectClusterInventory();
      if ('skipped' in inventory) return [skipped('image-version', '-', inventory.skipped)];
      const findings = outdatedImageFindings(inventory.deployments, plan.standards.currentImages);
      return findings.length
        ? findings
        : [
            skipped(
              'image-version',
              '-',
              'no current versions declared for the running images (standards.currentImages)',
            ),
          ];
    });

    run.phase = 'database maintenance';
    const database = await run.step(
      'database maintenance (VACUUM, REINDEX, archive)',
      () =>
        executeChild(weeklyDatabaseMaintenance, {
          workflowId: `${workflowInfo().workflowId}/database`,
          args: [
            {
              windowPolicy: input.windowPolicy,
              window,
              steps: ['vacuum', 'reindex', 'statistics', 'archive'],
              reason: 'monthly application maintenance',
            },
          ],
        }),
      (r) =>
        r.outcome === 'critical' || r.outcome === 'warn' || r.outcome === 'skipped'
          ? r.outcome
          : r.outcome === 'failed'
            ? 'failed'
            : 'ok',
    );

    return {
      summary: `Monthly application maintenance: database ${database.outcome} (${database.summary})`,
      checks: [...images, ...database.checks],
      alertOnCritical: true,
      details: { database: database.workflowId },
    };
  });
}
