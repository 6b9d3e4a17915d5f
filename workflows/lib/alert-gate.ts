import { sleep } from '@temporalio/workflow';
import { z } from 'zod';
import type { CheckResult } from '../../domain/checks.js';
import { failure, FailureType } from '../../domain/failures.js';
import { quickRead } from './activity-profiles.js';
import { duration, HOUR, MIN_POLL_MS, MINUTE, seconds } from './duration.js';
import type { MaintenanceRun } from './run.js';

const { checkMaintenanceAlerts } = quickRead;

/** Patch id of the alert gate in the disruptive workflows (nodeUpdate, applicationUpdate). */
export const ALERT_GATE_PATCH = 'alert-gate';

export const AlertGateOptions = z
  .object({
    /** While a blocking alert fires: `wait` for it to clear (up to `waitUpTo`), or `refuse` at once. */
    whileFiring: z.enum(['wait', 'refuse']).default('wait'),
    waitUpTo: duration(0, 12 * HOUR).prefault('30 minutes'),
    pollInterval: duration(MIN_POLL_MS, 10 * MINUTE).prefault('1 minute'),
  })
  .strict()
  .prefault({});
export type AlertGateOptions = z.output<typeof AlertGateOptions>;

const names = (blocking: { name: string; labels: string }[]) =>
  blocking.map((a) => `${a.name}${a.labels ? ` {${a.labels}}` : ''}`).join('; ');

/**
 * kured's rule: nothing disruptive starts while a blocking alert fires. Asks Alertmanager (the
 * configured block/ignore lists decide which alerts block) and waits, polling by workflow time,
 * or refuses; a refusal is a non-retryable `AlertsFiring` naming the alerts, before anything
 * changed. Returns the last answer's checks ("monitoring alerts configured", firing) for the report.
 */
export async function awaitQuietAlerts(
  run: MaintenanceRun,
  options: AlertGateOptions,
  before: string,
): Promise<CheckResult[]> {
  return run.step(
    `no blocking alert firing before ${before}`,
    async () => {
      const deadline = Date.now() + options.waitUpTo;
      try {
        for (;;) {
          const state = await checkMaintenanceAlerts();
          if (state.blocking.length === 0) return state.checks;
          const firing = names(state.blocking);
          if (options.whileFiring === 'refuse') {
            throw failure(
              FailureType.AlertsFiring,
              `refused: blocking alerts firing: ${firing} (alerts.whileFiring: refuse)`,
            );
          }
          if (Date.now() >= deadline) {
            throw failure(
              FailureType.AlertsFiring,
              `blocking alerts still firing after ${seconds(options.waitUpTo)} s: ${firing}`,
            );
          }
          run.waitingFor = `blocking alerts to clear: ${firing}`.slice(0, 500);
          await sleep(Math.min(options.pollInterval, deadline - Date.now()));
        }
      } finally {
        run.waitingFor = null;
      }
    },
    (checks) => (checks.some((c) => c.status === 'warn') ? 'warn' : 'ok'),
  );
}

/** The post-maintenance checklist's "monitoring alerts cleared": a finding, not a failure (the work is done). */
export async function alertsClearedCheck(run: MaintenanceRun): Promise<CheckResult[]> {
  return run.checkStep('monitoring alerts cleared', async () => {
    const state = await checkMaintenanceAlerts();
    return state.checks.filter((c) => c.check === 'alerts.firing').map((c) => ({ ...c, check: 'alerts.cleared' }));
  });
}
