import { CancellationScope, isCancellation } from '@temporalio/workflow';
import { failure, FailureType, innermostMessage, isFailure, runFailedType } from '../../domain/failures.js';
import type { RunReport } from '../../domain/run.js';
import type { FinishOptions, MaintenanceRun } from './run.js';

/**
 * Undo actions, pushed as the work they undo is done (or about to be, when a timed-out step may
 * still have acted) and run in reverse on failure or cancellation, like the Temporal saga sample.
 */
export class Compensations {
  private readonly stack: { name: string; undo: () => Promise<unknown> }[] = [];

  constructor(private readonly run: MaintenanceRun) {}

  push(name: string, undo: () => Promise<unknown>): void {
    this.stack.push({ name, undo });
  }

  /** Forgets a compensation whose work should stand even if a later step fails. */
  drop(name: string): void {
    const i = this.stack.findLastIndex((c) => c.name === name);
    if (i >= 0) this.stack.splice(i, 1);
  }

  /** Runs every compensation, newest first; each is a recorded step, and one failing does not stop the rest. */
  async unwind(): Promise<string[]> {
    const done: string[] = [];
    for (let next = this.stack.pop(); next; next = this.stack.pop()) {
      try {
        await this.run.step(`compensate: ${next.name}`, next.undo);
        done.push(next.name);
      } catch (err) {
        done.push(`${next.name} FAILED (${innermostMessage(err)})`);
      }
    }
    return done;
  }
}

/**
 * Runs `body` and reports. On failure or cancellation the compensations run and the report is
 * written even though the run is being cancelled (non-cancellable scope); then the run fails
 * with a non-retryable `<kind>Failed` that says what went wrong and what was undone (or stays
 * cancelled).
 */
export async function runWithCompensations(run: MaintenanceRun, saga: Compensations, body: () => Promise<FinishOptions>): Promise<RunReport> {
  let options: FinishOptions;
  try {
    options = await body();
  } catch (err) {
    return CancellationScope.nonCancellable(async () => {
      const undone = await saga.unwind();
      // Bad input found on the way (a target that does not exist) fails as itself: nothing ran to report.
      if (isFailure(err, FailureType.InvalidInput)) throw err;
      const cancelled = isCancellation(err);
      const summary = `${cancelled ? 'Cancelled' : 'Failed'}: ${innermostMessage(err)}${undone.length ? `; compensated: ${undone.join(', ')}` : ''}`;
      await run.finish({ summary, outcome: cancelled ? 'cancelled' : 'failed', details: { compensated: undone } });
      if (cancelled) throw err;
      throw failure(runFailedType(run.kind), summary, { cause: err as Error });
    });
  }
  return run.finish(options);
}

/**
 * For workflows with nothing to undo: runs `body` and reports; if the run breaks, it still ends
 * with a report (outcome failed, stored, posted, alerted) before the failure surfaces.
 */
export function runReported(run: MaintenanceRun, body: () => Promise<FinishOptions>): Promise<RunReport> {
  return runWithCompensations(run, new Compensations(run), body);
}
