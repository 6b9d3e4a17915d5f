import { patched } from '@temporalio/workflow';
import { z } from 'zod';
import { recoveryObjectiveChecks, verificationCheck } from '../domain/backup.js';
import { skipped, type CheckResult } from '../domain/checks.js';
import { imageTagFindings, standardsFindings } from '../domain/images.js';
import type { RunReport } from '../domain/run.js';
import { heavyDatabaseWork, quickRead } from './lib/activity-profiles.js';
import { DAY } from './lib/duration.js';
import { reportedWorkflow } from './lib/run.js';

const { restoreTestBackup } = heavyDatabaseWork;
const { collectClusterInventory, forecastDiskUsage, measureRecoveryPoint, resolveBackupPlan, resolveHealthCheckPlan } =
  quickRead;

export const MonthlyAuditInput = z
  .object({
    /** How much stored history the capacity forecast fits. */
    forecastHistoryDays: z.number().int().min(7).max(730).default(180),
  })
  .strict();

const reportedRun = reportedWorkflow('monthlyAudit', MonthlyAuditInput);

/**
 * Routine Maintenance Guide, "First Monday of Month - Full System Audit": the infrastructure
 * inventory, configuration against the declared standards, the backup restore test (seed: "Test
 * backup restoration procedures"), and a 3-6 month capacity forecast from the history this
 * product has stored. Compliance paperwork and DR failover drills stay with people.
 */
export async function monthlyAudit(rawInput?: z.input<typeof MonthlyAuditInput>): Promise<RunReport> {
  return reportedRun(rawInput, async (run, input) => {
    const plan = await run.plan('resolve targets', () => resolveHealthCheckPlan());
    const since = new Date(Date.now() - input.forecastHistoryDays * DAY).toISOString();
    const restoreTestCheck = (r: Awaited<ReturnType<typeof restoreTestBackup>>) =>
      verificationCheck(
        'db.restore-test',
        plan.database,
        r,
        r.timings?.restored !== undefined ? { value: r.timings.restored, unit: 'ms' } : {},
      );

    run.phase = 'auditing';
    const [inventory, ...groups] = await Promise.all([
      run.step('infrastructure inventory', () => collectClusterInventory()),
      // RTO and RPO measured, not written down: the restore test's time and what a restore would lose now.
      run.checkStep('backup restore test, RTO and RPO', async (): Promise<CheckResult[]> => {
        // Runs recorded before RTO/RPO made only the restore test.
        if (!patched('monthly-audit-recovery-objectives')) {
          const r = await restoreTestBackup();
          return [restoreTestCheck(r)];
        }
        const backupPlan = await resolveBackupPlan();
        const r = await restoreTestBackup();
        const point = await measureRecoveryPoint();
        return [restoreTestCheck(r), ...recoveryObjectiveChecks(plan.database, r, point, backupPlan.objectives)];
      }),
      run.checkStep('capacity forecast', () => forecastDiskUsage(since, plan.thresholds.diskCriticalPercent)),
    ]);
    const cluster: CheckResult[] =
      'skipped' in inventory
        ? [skipped('inventory', '-', inventory.skipped)]
        : [
            ...inventory.findings,
            ...standardsFindings(inventory.deployments, plan.standards),
            ...imageTagFindings(inventory.deployments),
          ];
    const counts =
      'skipped' in inventory
        ? 'no cluster'
        : `${inventory.nodes.length} node(s), ${inventory.deployments.length} deployment(s), ${inventory.pdbs.length} PDB(s)`;

    return {
      summary: `Monthly audit: ${counts}`,
      checks: [...cluster, ...groups.flat()],
      alertOnCritical: true,
      details: { inventory },
    };
  });
}
