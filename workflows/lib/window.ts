import { CancellationScope, isCancellation, patched, sleep, workflowInfo } from '@temporalio/workflow';
import type { CheckResult } from '../../domain/checks.js';
import { failure, FailureType, innermostMessage } from '../../domain/failures.js';
import {
  activeWindow,
  closedBecause,
  windowOccurrences,
  type Blackout,
  type WindowOccurrence,
  type WindowSpec,
} from '../../domain/windows.js';
import { bestEffortNotice } from './activity-profiles.js';
import { human } from './duration.js';
import type { MaintenanceRun } from './run.js';
import { WindowOpening, type WindowOpened } from './window-opening.js';

const { postSlackMessage } = bestEffortNotice;

/** What a run started outside its window does: wait for it durably, or skip the disruptive work. */
export type WindowPolicy = 'wait' | 'skip';

export interface WindowGate {
  decision: 'inside' | 'waited' | 'skipped';
  /** The occurrence the run is in (inside, waited) or would have used (skipped). */
  window: WindowOccurrence;
  /** Occurrences passed over on the way: blacked out, or in protected business hours. */
  passedOver: string[];
  /** Opened before its scheduled start by the `openWindow` update (then `window.start` is that moment). */
  openedEarly?: WindowOpened & { scheduledStart: string };
}

// A yearly window is at most a year away; anything further never occurs (e.g. 31 February).
const HORIZON_MS = 367 * 86_400_000;

/**
 * Gates disruptive work on a maintenance window, by workflow time (deterministic): returns at once
 * inside the window; otherwise sleeps durably until it opens (policy "wait", shown as `waitingFor`)
 * or returns "skipped". Recorded as a step either way.
 */
export function awaitMaintenanceWindow(
  run: MaintenanceRun,
  spec: WindowSpec,
  policy: WindowPolicy,
  blackouts: readonly Blackout[] = [],
): Promise<WindowGate> {
  return run.step(
    `maintenance window ${spec.name}`,
    async (): Promise<WindowGate> => {
      const now = new Date();
      const passedOver: string[] = [];
      const usable = (o: WindowOccurrence) => {
        const why = closedBecause(o, spec, blackouts);
        if (why) passedOver.push(`${o.start}: ${why}`);
        return !why;
      };
      const active = activeWindow(spec, now);
      if (active && usable(active)) return { decision: 'inside', window: active, passedOver };
      const next = windowOccurrences([spec], now, new Date(now.getTime() + HORIZON_MS)).find(
        (o) => Date.parse(o.start) > now.getTime() && usable(o),
      );
      if (!next)
        throw failure(
          FailureType.InvalidInput,
          `window ${spec.name} never opens within a year${passedOver.length ? ` (${passedOver.slice(0, 3).join('; ')})` : ''}`,
        );
      if (policy === 'skip') return { decision: 'skipped', window: next, passedOver };
      const phase = run.phase;
      run.phase = 'waiting for window';
      run.waitingFor = `maintenance window ${spec.name} opening at ${next.start}`;
      // Opened early, the window runs from then to its end: the same rules apply to that span.
      const opening = new WindowOpening((at) => closedBecause({ ...next, start: at.toISOString() }, spec, blackouts));
      try {
        await opening.until(new Date(next.start));
      } finally {
        run.waitingFor = null;
        run.phase = phase;
      }
      const opened = opening.opened;
      if (opened)
        return {
          decision: 'waited',
          window: { ...next, start: opened.at },
          passedOver,
          openedEarly: { ...opened, scheduledStart: next.start },
        };
      return { decision: 'waited', window: next, passedOver };
    },
    (gate) => {
      const passed = gate.passedOver.length ? `; passed over ${gate.passedOver.join('; ')}` : '';
      return {
        outcome: gate.decision === 'skipped' ? 'skipped' : 'ok',
        detail:
          (gate.decision === 'inside'
            ? `inside window ${gate.window.start} to ${gate.window.end}`
            : gate.openedEarly
              ? `window opened early by ${gate.openedEarly.by} at ${gate.openedEarly.at}${gate.openedEarly.reason ? ` (${gate.openedEarly.reason})` : ''}, scheduled ${gate.openedEarly.scheduledStart} to ${gate.window.end}`
              : gate.decision === 'waited'
                ? `waited for window ${gate.window.start} to ${gate.window.end}`
                : `outside the window (policy skip); next opens ${gate.window.start}`) + passed,
      };
    },
  );
}

/** Whether workflow time is still inside the given occurrence (a long run can outlast its window). */
export function stillInside(window: WindowOccurrence): boolean {
  const now = Date.now();
  return now >= Date.parse(window.start) && now < Date.parse(window.end);
}

/** At most this many names per list in a status update; the rest are counted. */
const STATUS_LIST_LIMIT = 10;

function listed(names: string[]): string {
  if (names.length === 0) return 'nothing';
  const more = names.length - STATUS_LIST_LIMIT;
  return names.slice(0, STATUS_LIST_LIMIT).join(', ') + (more > 0 ? ` and ${more} more` : '');
}

/** The run's phase, the steps done and running since the work began, and the planned steps not begun. */
function statusText(run: MaintenanceRun, window: WindowOccurrence, from: number, planned: readonly string[]): string {
  const since = run.steps.slice(from);
  const done = since.filter((s) => s.outcome !== 'running').map((s) => `${s.name} (${s.outcome})`);
  const running = since.filter((s) => s.outcome === 'running').map((s) => s.name);
  const remaining = planned.filter((p) => !since.some((s) => s.name === p));
  return (
    `:hourglass_flowing_sand: ${run.kind} ${workflowInfo().workflowId} in window ${window.name} (until ${window.end}), ${run.phase}: ` +
    `done: ${listed(done)}; running: ${listed(running)}; remaining: ${listed(remaining)}`
  );
}

/**
 * Seed "Status updates during maintenance windows": while `work` runs, posts the run's phase, the
 * steps done and those of `planned` that remain every `every` ms, on workflow timers
 * (deterministic), and stops when the work ends, however it ends. Returns the work's result and a
 * `window.status-updates` finding; runs recorded before the 'window-status-updates' patch post
 * none and have no finding.
 */
export async function withStatusUpdates<T>(
  run: MaintenanceRun,
  window: WindowOccurrence,
  every: number,
  planned: readonly string[],
  work: () => Promise<T>,
): Promise<{ result: T; finding?: CheckResult }> {
  if (!patched('window-status-updates')) return { result: await work() };
  const from = run.steps.length;
  let posted = 0;
  const undelivered: string[] = [];
  const updates = new CancellationScope();
  const loop = updates
    .run(async () => {
      for (;;) {
        await sleep(every);
        // Never cut off mid-post: every update lands before whatever follows the work (its report).
        await CancellationScope.nonCancellable(() =>
          postSlackMessage({ text: statusText(run, window, from, planned) }),
        ).then(
          () => posted++,
          (err: unknown) => undelivered.push(innermostMessage(err)),
        );
      }
    })
    .catch((err: unknown) => {
      if (!isCancellation(err)) throw err;
    });
  let result: T;
  try {
    result = await work();
  } finally {
    updates.cancel();
    await loop;
  }
  return {
    result,
    finding: {
      check: 'window.status-updates',
      target: `window ${window.name}`,
      status: undelivered.length > 0 ? 'warn' : 'ok',
      value: posted,
      unit: 'updates',
      threshold: `every ${human(every)} while the work runs`,
      detail:
        posted + undelivered.length === 0
          ? `none due: the work took less than ${human(every)}`
          : `${posted} posted${undelivered.length > 0 ? `, ${undelivered.length} undelivered (${undelivered[0]})` : ''}`,
    },
  };
}
