import { patched } from '@temporalio/workflow';
import { z } from 'zod';
import { skipped, type CheckResult } from '../domain/checks.js';
import { innermostMessage } from '../domain/failures.js';
import { imageTagFindings, patchReleaseFinding, patchReleaseLookups } from '../domain/images.js';
import type { RunReport } from '../domain/run.js';
import { quickRead } from './lib/activity-profiles.js';
import { inTurnUntilFailure } from './lib/concurrency.js';
import { lastDays } from './lib/duration.js';
import { reportedWorkflow } from './lib/run.js';

const {
  auditApprovalLog,
  checkCertificateExpiry,
  collectClusterInventory,
  findNewestImageTag,
  resolveHealthCheckPlan,
  resolveImageUpdateTargets,
  reviewClusterAdminBindings,
  reviewDatabaseRoles,
} = quickRead;

export const WeeklySecurityReviewInput = z
  .object({
    /** How far back the approval log is audited. */
    lookbackDays: z.number().int().positive().max(90).default(7),
  })
  .strict();

const reportedRun = reportedWorkflow('weeklySecurityReview', WeeklySecurityReviewInput);

/** Registry lookups at a time: many images must not take every activity slot of the worker. */
const REGISTRY_LOOKUPS_AT_ONCE = 4;

/**
 * Each running release-tagged image once: the newest patch release of its major.minor, asked of its
 * registry. A registry that cannot be asked (unreachable, 401, 404) is that image's finding, never
 * the run's failure.
 */
async function patchReleaseFindings(
  deployments: { namespace: string; name: string; images: string[] }[],
): Promise<CheckResult[]> {
  const lookups = patchReleaseLookups(deployments, await resolveImageUpdateTargets());
  const outcomes = await inTurnUntilFailure(lookups, REGISTRY_LOOKUPS_AT_ONCE, async (lookup) => {
    try {
      const found = await findNewestImageTag({ image: lookup.image, policy: 'patch', registryUrl: lookup.registryUrl });
      return patchReleaseFinding(lookup, found);
    } catch (err) {
      return patchReleaseFinding(lookup, { unchecked: innermostMessage(err) });
    }
  });
  return outcomes.map((o) => o.result!);
}

/**
 * Routine Maintenance Guide, "Wednesday Security Review": certificate expiry, access control
 * (database roles with superuser powers, cluster-admin bindings), images running by a mutable
 * tag or behind the newest patch release of their version in their registry, and an audit of our
 * own approval log. Vulnerability scans and signature updates belong to
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
          if ('skipped' in inventory) return [skipped('image-tag', '-', inventory.skipped)];
          // Runs recorded before patch releases were looked up only read the tags.
          if (!patched('security-patch-releases')) return imageTagFindings(inventory.deployments);
          return [...imageTagFindings(inventory.deployments), ...(await patchReleaseFindings(inventory.deployments))];
        }),
        run.checkStep('approval log', () => auditApprovalLog(since, until)),
      ])
    ).flat();

    return { summary: 'Weekly security review', checks: results, alertOnCritical: true };
  });
}
