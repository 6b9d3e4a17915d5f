import { z } from 'zod';
import { skipped } from '../domain/checks.js';
import { imageTagFindings } from '../domain/images.js';
import type { RunReport } from '../domain/run.js';
import { quickRead } from './lib/activity-profiles.js';
import { lastDays } from './lib/duration.js';
import { reportedWorkflow } from './lib/run.js';

const {
  auditApprovalLog,
  checkCertificateExpiry,
  collectClusterInventory,
  resolveHealthCheckPlan,
  reviewClusterAdminBindings,
  reviewDatabaseRoles,
} = quickRead;

export const WeeklySecurityReviewInput = z
  .object({
    /** How far back the approval log is audited. */
    lookbackDays: z.number().int().positive().max(90).default(7),
  })
  .strict();

const reportedRun = reportedWorkflow('weeklySecurityReview', 'booking-platform', WeeklySecurityReviewInput);

/**
 * Routine Maintenance Guide, "Wednesday Security Review": certificate expiry, access control
 * (database roles with superuser powers, cluster-admin bindings), images running by a mutable
 * tag, and an audit of our own approval log. Vulnerability scans and signature updates belong to
 * the scanners; their results are not reachable from here.
 */
export async function weeklySecurityReview(rawInput?: z.input<typeof WeeklySecurityReviewInput>): Promise<RunReport> {
  return reportedRun(rawInput, async (run, input) => {
    const { since, until } = lastDays(input.lookbackDays);

    const plan = await run.plan('resolve targets', () => resolveHealthCheckPlan());

    run.phase = 'reviewing';
    const results = (
      await Promise.all([
        run.checkStep('certificate expiration', () => checkCertificateExpiry(plan.tls, plan.thresholds)),
        run.checkStep('database roles', () => reviewDatabaseRoles(plan.expectedDatabaseSuperusers)),
        run.checkStep('cluster-admin bindings', () => reviewClusterAdminBindings()),
        run.checkStep('image tags', async () => {
          const inventory = await collectClusterInventory();
          return 'skipped' in inventory
            ? [skipped('image-tag', '-', inventory.skipped)]
            : imageTagFindings(inventory.deployments);
        }),
        run.checkStep('approval log', () => auditApprovalLog(since, until)),
      ])
    ).flat();

    return { summary: 'Weekly security review', checks: results, alertOnCritical: true };
  });
}
