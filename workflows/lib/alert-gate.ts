import { CancellationScope, isCancellation, patched, sleep, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import type { AlertState, WindowSilence } from '../../domain/alerts.js';
import type { CheckResult } from '../../domain/checks.js';
import { isSkipped } from '../../domain/cluster.js';
import { failure, FailureType, innermostMessage } from '../../domain/failures.js';
import { apiCall, quickRead } from './activity-profiles.js';
import { duration, HOUR, MIN_POLL_MS, MINUTE, seconds } from './duration.js';
import type { MaintenanceRun } from './run.js';
import type { Compensations } from './saga.js';

const { checkAlertingPipeline, checkAlertsCleared, checkMaintenanceAlerts, resolveHealthCheckPlan } = quickRead;
const { createWindowSilence, expireWindowSilence } = apiCall;

/** Patch id of the alert gate in the disruptive workflows (nodeUpdate, applicationUpdate). */
export const ALERT_GATE_PATCH = 'alert-gate';
/** Patch id of the window's silence (and of "alerts cleared" counting the silenced alerts) in the same workflows. */
export const WINDOW_SILENCES_PATCH = 'window-silences';
/** Patch id of the window checklist's "monitoring alerts configured" / "cleared" findings in weeklyDatabaseMaintenance and annualUpgrade. */
export const WINDOW_ALERT_CHECKS_PATCH = 'window-alert-checks';
/** Time a run takes beyond its own timeouts (cordon, hooks, retries, compensations): part of its silence. */
const SILENCE_MARGIN_MS = 10 * MINUTE;

export const AlertGateOptions = z
  .object({
    /** While a blocking alert fires: `wait` for it to clear (up to `waitUpTo`), or `refuse` at once. */
    whileFiring: z.enum(['wait', 'refuse']).default('wait'),
    waitUpTo: duration(0, 12 * HOUR).prefault('30 minutes'),
    pollInterval: duration(MIN_POLL_MS, 10 * MINUTE).prefault('1 minute'),
    /** The end of the window the run works in (annualUpgrade sets it): the silence ends then at the latest. */
    silenceUntil: z.iso.datetime().optional(),
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
): Promise<AlertState> {
  return run.step(
    `no blocking alert firing before ${before}`,
    async () => {
      const deadline = Date.now() + options.waitUpTo;
      try {
        for (;;) {
          const state = await checkMaintenanceAlerts();
          if (state.blocking.length === 0) return state;
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
    (state) => (state.checks.some((c) => c.status === 'warn') ? 'warn' : 'ok'),
  );
}

/**
 * The alert-aware frame of a disruptive run (nodeUpdate, applicationUpdate): the gate before the
 * work, since 'window-silences' a silence of the alerts the work is expected to raise (config
 * `alerts.silenceDuringWindows`) while it runs, and "monitoring alerts cleared" after it. Create
 * one where the run's first disruptive step is decided: the patches are checked there.
 */
export class AlertAwareWork {
  /** Since 'alert-gate': nothing starts while blocking alerts fire; the report says whether they cleared. */
  readonly gated = patched(ALERT_GATE_PATCH);
  private readonly silences = this.gated && patched(WINDOW_SILENCES_PATCH);
  private configured: CheckResult[] = [];
  private silence: WindowSilence | undefined;

  constructor(
    private readonly run: MaintenanceRun,
    private readonly saga: Compensations,
    private readonly options: AlertGateOptions,
  ) {}

  /**
   * Waits for quiet alerts, then silences the expected ones until the window ends, at most
   * `budget` ms from now (the run's own timeouts), so a crashed worker cannot leave the silence
   * behind for longer. Its expiry is a compensation: on failure or cancellation the saga runs it.
   */
  async before(what: string, target: string, budget: number): Promise<void> {
    if (!this.gated) return;
    const state = await awaitQuietAlerts(this.run, this.options, what);
    this.configured = state.checks.filter((c) => c.check === 'alerts.configured');
    if (!this.silences || !state.silenceConfigured) return;
    const until = this.options.silenceUntil ? Date.parse(this.options.silenceUntil) : Infinity;
    const endsAt = new Date(Math.min(Date.now() + budget, until)).toISOString();
    const { workflowId, runId } = workflowInfo();
    const silence = await this.run.step(
      `silence the expected alerts until ${endsAt}`,
      () => createWindowSilence({ workflowId, runId, target, endsAt }),
      (s) =>
        isSkipped(s)
          ? { outcome: 'skipped', detail: s.skipped }
          : {
              outcome: 'ok',
              detail: `silence ${s.id}: ${s.matchers}${s.created ? '' : ' (created by an earlier attempt)'}`,
            },
    );
    if (isSkipped(silence)) return;
    this.silence = silence;
    this.saga.push(this.expiry(silence), () => expireWindowSilence({ id: silence.id }));
  }

  /**
   * Ends the run's silence now, even if the run is cancelled meanwhile; for a run that stops short
   * of its work without failing (nothing to update), `after` does it otherwise. Returns a finding when
   * Alertmanager could not end it: the work is done, and the silence ends by itself.
   */
  async endSilence(): Promise<CheckResult[]> {
    const silence = this.silence;
    if (!silence) return [];
    this.silence = undefined;
    this.saga.drop(this.expiry(silence));
    try {
      await CancellationScope.nonCancellable(() =>
        this.run.step(
          `expire silence ${silence.id}`,
          () => expireWindowSilence({ id: silence.id }),
          (r) => ({ outcome: 'ok', detail: r.detail }),
        ),
      );
      return [];
    } catch (err) {
      return [
        {
          check: 'alerts.silence',
          target: 'alertmanager',
          status: 'warn',
          detail: `silence ${silence.id} could not be expired (${innermostMessage(err)}); it ends by itself at ${silence.endsAt}`,
        },
      ];
    }
  }

  /** After the work: the silence ended, then the alerts-cleared findings. */
  async after(): Promise<CheckResult[]> {
    if (!this.gated) return [];
    const findings = [...this.configured, ...(await this.endSilence())];
    // Runs from before 'window-silences' asked the gate's own question again.
    const cleared = this.silences
      ? await monitoringAlertsCleared(this.run)
      : await this.run.checkStep('monitoring alerts cleared', async () => {
          const state = await checkMaintenanceAlerts();
          return state.checks
            .filter((c) => c.check === 'alerts.firing')
            .map((c) => ({ ...c, check: 'alerts.cleared' }));
        });
    return [...findings, ...cleared];
  }

  private expiry(s: WindowSilence): string {
    return `expire silence ${s.id} (else it ends at ${s.endsAt})`;
  }
}

/**
 * The pre-maintenance checklist's "Monitoring alerts configured", before a window's work: Alertmanager
 * routes alerts to a receiver that notifies someone (`alerts.configured`), and Prometheus has the
 * product's rule groups loaded, an Alertmanager to send to and the watchdog firing (`monitoring.*`).
 * Alertmanager unreadable is critical: nobody can say an alert raised in the window would reach anyone.
 */
export function monitoringAlertsConfigured(run: MaintenanceRun): Promise<CheckResult[]> {
  return run.checkStep('monitoring alerts configured', async () => {
    const { prometheus } = await resolveHealthCheckPlan();
    const [routed, pipeline] = await Promise.all([
      checkMaintenanceAlerts().then(
        (state) => state.checks.filter((c) => c.check === 'alerts.configured'),
        (err: unknown) => alertmanagerUnreadable(err, 'alerts.configured', 'critical', 'Alertmanager unreadable'),
      ),
      checkAlertingPipeline(prometheus),
    ]);
    return [...routed, ...pipeline];
  });
}

/** A window check that could not read Alertmanager; a cancellation is passed on, not graded. */
function alertmanagerUnreadable(err: unknown, check: string, status: 'warn' | 'critical', why: string): CheckResult[] {
  if (isCancellation(err)) throw err;
  return [{ check, target: 'alertmanager', status, detail: `${why}: ${innermostMessage(err)}` }];
}

/**
 * The post-maintenance checklist's "Monitoring alerts cleared", after the work: the blocking alerts,
 * and those the window's silence expected, still firing unsilenced (`alerts.cleared`, warn naming
 * them). Alertmanager unreadable then is a warning: the work is done, whether alerts cleared is not known.
 */
export function monitoringAlertsCleared(run: MaintenanceRun): Promise<CheckResult[]> {
  return run.checkStep('monitoring alerts cleared', async () => {
    try {
      return await checkAlertsCleared();
    } catch (err) {
      return alertmanagerUnreadable(err, 'alerts.cleared', 'warn', 'not known');
    }
  });
}

/** What a run may take beyond its timeouts; with them, the longest its window's silence lasts. */
export const silenceBudget = (...timeouts: number[]) => timeouts.reduce((a, b) => a + b, SILENCE_MARGIN_MS);
