import { z } from 'zod';
import { failure, FailureType } from '../domain/failures.js';
import { HttpTargetSchema } from '../domain/http-target.js';
import { distinct, imageReference, k8sLabelName, k8sObjectName } from '../domain/kubernetes-names.js';
import type { RunReport } from '../domain/run.js';
import { DEFAULT_THRESHOLDS } from '../domain/thresholds.js';
// Rollout waits bound themselves by the input's timeout; `waits` only catches a lost worker.
import { apiCall, boundedWait } from './lib/activity-profiles.js';
import { AlertAwareWork, AlertGateOptions, silenceBudget } from './lib/alert-gate.js';
import { duration, HOUR, MIN_POLL_MS, MINUTE, SECOND, seconds } from './lib/duration.js';
import { parseInput } from './lib/input.js';
import { MaintenanceRun } from './lib/run.js';
import { Compensations, runWithCompensations } from './lib/saga.js';

const { probeHttpEndpoints, readDeploymentRevision, rollbackDeployment, setDeploymentImage } = apiCall;
const { waitForRollout } = boundedWait;

export const ApplicationUpdateInput = z
  .object({
    deployment: k8sObjectName,
    /** Default: the configured application namespace. */
    namespace: k8sLabelName.optional(),
    container: k8sLabelName,
    image: imageReference,
    rolloutTimeout: duration(5 * SECOND, 2 * HOUR).prefault('10 minutes'),
    pollInterval: duration(MIN_POLL_MS, MINUTE).prefault('2 seconds'),
    /** Probed once the rollout is complete; any critical answer rolls the update back. */
    healthChecks: z
      .array(HttpTargetSchema)
      .max(20)
      .refine((h) => distinct(h, (t) => t.name), 'health check names must be distinct')
      .default([]),
    /** Before the image changes: wait for, or refuse over, blocking alerts (config `alerts`). */
    alerts: AlertGateOptions,
    reason: z.string().max(500).optional(),
  })
  .strict();
export type ApplicationUpdateInput = z.input<typeof ApplicationUpdateInput>;

/**
 * Seed "Application Updates" (`kubectl set image` + `rollout status`), with a way back: the
 * current revision is recorded before anything changes, and a failed rollout or health probe
 * rolls the deployment back to exactly that revision (not "undo", which flips when retried).
 */
export async function applicationUpdate(rawInput: ApplicationUpdateInput): Promise<RunReport> {
  const input = parseInput(ApplicationUpdateInput, rawInput, 'applicationUpdate');
  const ref = { deployment: input.deployment, namespace: input.namespace };
  const rollout = { ...ref, timeoutSeconds: seconds(input.rolloutTimeout), pollIntervalMs: input.pollInterval };
  const run = new MaintenanceRun('applicationUpdate', `${input.namespace ?? 'default'}/${input.deployment}`);
  const saga = new Compensations(run);

  return runWithCompensations(run, saga, async () => {
    run.phase = 'recording';
    const before = await run.step('record the current revision', () => readDeploymentRevision(ref));
    if ('skipped' in before)
      return { summary: `Update of ${input.deployment} skipped: ${before.skipped}`, outcome: 'skipped' };

    // No rollout starts while blocking alerts fire; the alerts it raises are silenced until it (or its rollback) is done.
    const alerts = new AlertAwareWork(run, saga, input.alerts);
    run.phase = 'checking alerts';
    await alerts.before(
      `rolling out ${input.image}`,
      run.target,
      silenceBudget(input.rolloutTimeout, input.rolloutTimeout),
    );

    run.phase = 'rolling out';
    // Registered before the change: a set-image whose reply was lost may still have happened.
    saga.push(`roll back to revision ${before.revision}`, async () => {
      await rollbackDeployment({ ...ref, toRevision: before.revision });
      return waitForRollout(rollout);
    });
    await run.step(`set ${input.container} to ${input.image}`, () =>
      setDeploymentImage({ ...ref, container: input.container, image: input.image }),
    );
    const done = await run.step('wait for the rollout', () => waitForRollout(rollout));

    run.phase = 'verifying';
    // Pass/fail is reachability and status; thresholds only grade slowness (a warning).
    const checks = await run.checkStep('health probes', () =>
      probeHttpEndpoints(input.healthChecks, DEFAULT_THRESHOLDS),
    );
    const failing = checks.filter((c) => c.status === 'critical');
    if (failing.length > 0) {
      throw failure(
        FailureType.HealthCheckFailed,
        `health probes failed after the rollout: ${failing.map((c) => `${c.target}: ${c.detail}`).join('; ')}`,
      );
    }
    const revision = 'skipped' in done ? '?' : done.revision;
    checks.push(...(await alerts.after()));
    return {
      summary: `${input.deployment} runs ${input.image} (revision ${revision}, was ${before.revision} with ${before.images[input.container] ?? '?'})${input.reason ? ` (${input.reason})` : ''}`,
      checks,
      details: { before, rollout: done },
    };
  });
}
