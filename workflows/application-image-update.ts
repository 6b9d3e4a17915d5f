import { executeChild, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import type { CheckResult, CheckStatus } from '../domain/checks.js';
import { innermostMessage } from '../domain/failures.js';
import type { ImageUpdateTarget } from '../domain/images.js';
import type { RunReport } from '../domain/run.js';
import { apiCall, quickRead } from './lib/activity-profiles.js';
import { AlertGateOptions } from './lib/alert-gate.js';
import { duration, HOUR, MIN_POLL_MS, MINUTE, SECOND } from './lib/duration.js';
import { reportedWorkflow } from './lib/run.js';
import { applicationUpdate } from './application-update.js';

const { readDeploymentRevision } = apiCall;
const { findNewestImageTag, resolveImageUpdateTargets } = quickRead;

export const ApplicationImageUpdateInput = z
  .object({
    /** Per deployment: set image, then wait for the rollout this long before rolling back. */
    rolloutTimeout: duration(5 * SECOND, 2 * HOUR).prefault('10 minutes'),
    pollInterval: duration(MIN_POLL_MS, MINUTE).prefault('2 seconds'),
    /** Each update's alert gate (nothing rolls out while blocking alerts fire). */
    alerts: AlertGateOptions,
  })
  .strict();
export type ApplicationImageUpdateInput = z.input<typeof ApplicationImageUpdateInput>;

const reportedRun = reportedWorkflow('applicationImageUpdate', ApplicationImageUpdateInput);

const finding = (t: ImageUpdateTarget, status: CheckStatus, detail: string, value?: string): CheckResult => ({
  check: 'image.update',
  target: `${t.namespace ?? 'default'}/${t.deployment}/${t.container}`,
  status,
  detail,
  ...(value ? { value } : {}),
});

/**
 * Maintenance Setup Guide, the `app-update-weekly` CronJob (Sunday 03:00): for each configured
 * deployment container, the newest release tag its registry holds that the policy allows (not
 * "the first tag in the list"), then an `applicationUpdate` child: alert gate, set image, rollout
 * status, health probes, and a rollback to the recorded revision on failure. Each deployment is
 * its own finding; one failing does not stop the others.
 */
export async function applicationImageUpdate(rawInput?: ApplicationImageUpdateInput): Promise<RunReport> {
  const parentId = workflowInfo().workflowId;
  return reportedRun(rawInput, async (run, input) => {
    const targets = await run.plan('resolve image update targets', () => resolveImageUpdateTargets());
    const checks: CheckResult[] = [];
    run.phase = 'updating';
    for (const t of targets) {
      const ref = { deployment: t.deployment, namespace: t.namespace };
      let image: string | undefined;
      try {
        const current = await run.step(`read ${t.deployment}`, () => readDeploymentRevision(ref));
        if ('skipped' in current) {
          checks.push(finding(t, 'skipped', current.skipped));
          continue;
        }
        image = current.images[t.container];
        if (image === undefined) {
          checks.push(
            finding(
              t,
              'warn',
              `deployment ${t.deployment} has no container ${t.container} (has: ${Object.keys(current.images).join(', ')})`,
            ),
          );
          continue;
        }
        const running = image;
        const found = await run.step(`newest ${t.policy} tag for ${running}`, () =>
          findNewestImageTag({ image: running, policy: t.policy, registryUrl: t.registryUrl }),
        );
        if (!found.image) {
          checks.push(
            finding(
              t,
              'ok',
              `up to date: ${found.current} is the newest ${t.policy} release of ${found.repository} (${found.tags} tag(s) listed)`,
              found.current,
            ),
          );
          continue;
        }
        const next = found.image;
        await run.step(`update ${t.deployment} to ${found.newest}`, () =>
          executeChild(applicationUpdate, {
            workflowId: `${parentId}/${t.namespace ?? 'default'}/${t.deployment}/${t.container}`,
            args: [
              {
                ...ref,
                container: t.container,
                image: next,
                rolloutTimeout: input.rolloutTimeout,
                pollInterval: input.pollInterval,
                alerts: input.alerts,
                reason: `weekly image update (${t.policy})`,
              },
            ],
          }),
        );
        checks.push(
          finding(
            t,
            'ok',
            `updated ${found.current} -> ${found.newest} (newest ${t.policy} release of ${found.repository})`,
            found.newest ?? undefined,
          ),
        );
      } catch (err) {
        // Before the child: nothing changed (registry refused, unreachable...). The child's own
        // failure says what it undid (its compensations: the rollback to the recorded revision).
        const updating = run.steps.at(-1)?.name.startsWith(`update ${t.deployment} `) ?? false;
        checks.push(
          updating
            ? finding(
                t,
                'critical',
                `update failed: ${(err as { cause?: Error }).cause?.message ?? innermostMessage(err)}`,
              )
            : finding(t, 'warn', `not updated${image ? ` (${image} left as it is)` : ''}: ${innermostMessage(err)}`),
        );
      }
    }
    const updated = checks.filter((c) => c.detail.startsWith('updated ')).length;
    return {
      summary:
        targets.length === 0
          ? 'Weekly image update: no deployments configured (config imageUpdates)'
          : `Weekly image update: ${updated} of ${targets.length} deployment container(s) updated`,
      checks,
      alertOnCritical: true,
    };
  });
}
