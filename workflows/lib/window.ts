import { failure, FailureType } from '../../domain/failures.js';
import {
  activeWindow,
  closedBecause,
  windowOccurrences,
  type Blackout,
  type WindowOccurrence,
  type WindowSpec,
} from '../../domain/windows.js';
import type { MaintenanceRun } from './run.js';
import { WindowOpening, type WindowOpened } from './window-opening.js';

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
