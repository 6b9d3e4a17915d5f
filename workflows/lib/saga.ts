import { innermostMessage } from '../../domain/failures.js';
import type { RunReport } from '../../domain/run.js';
import { runReported, type FinishOptions, type MaintenanceRun } from './run.js';

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

/** Runs `body` and reports (see runReported); on failure or cancellation the compensations run first. */
export function runWithCompensations(
  run: MaintenanceRun,
  saga: Compensations,
  body: () => Promise<FinishOptions>,
): Promise<RunReport> {
  return runReported(run, body, () => saga.unwind());
}
