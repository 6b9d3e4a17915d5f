import { condition, setHandler } from '@temporalio/workflow';
import { z } from 'zod';
import { describeInputIssues } from '../../domain/input-errors.js';
import { openWindowUpdate } from './definitions.js';

const OpenWindowInput = z
  .object({ by: z.string().trim().min(1).max(100), reason: z.string().trim().max(500).optional() })
  .strict();

export interface WindowOpened {
  by: string;
  reason?: string;
  /** Workflow time of the opening. */
  at: string;
}

/**
 * The `openWindow` update: while a run waits for its window, the people running it may open it
 * now instead of at its scheduled start (approvals, blackouts and the scheduled end still hold).
 * Refused, changing nothing, when the input is bad or the run is not waiting for a window.
 */
export class WindowOpening {
  opened: WindowOpened | undefined;
  /** Set by the run while it waits for a window (or for approvals the window's start closes). */
  waiting = false;

  /**
   * @param refuseAt why the work may not start at a given moment (a blackout, business hours), if
   * it may not: opening early must not move the work into time its window rules keep it out of.
   */
  constructor(refuseAt: (now: Date) => string | undefined = () => undefined) {
    setHandler(
      openWindowUpdate,
      (input) => {
        const { by, reason } = OpenWindowInput.parse(input);
        this.opened = { by, ...(reason ? { reason } : {}), at: new Date().toISOString() };
        return `window opened by ${by}`;
      },
      {
        validator: (input) => {
          const parsed = OpenWindowInput.safeParse(input ?? {});
          if (!parsed.success)
            throw new Error(`openWindow refused: ${describeInputIssues(parsed.error.issues).join('; ')}`);
          if (this.opened)
            throw new Error(`openWindow refused: already opened by ${this.opened.by} at ${this.opened.at}`);
          if (!this.waiting) throw new Error('openWindow refused: the run is not waiting for a maintenance window');
          const why = refuseAt(new Date());
          if (why) throw new Error(`openWindow refused: opening now would run the work in ${why}`);
        },
      },
    );
  }

  /**
   * Waits until the window's scheduled start or until someone opens it, whichever comes first;
   * also returns early once `interrupt` holds (the annual plan amended while it waits).
   */
  async until(start: Date, interrupt: () => boolean = () => false): Promise<void> {
    const ms = start.getTime() - Date.now();
    if (ms <= 0 || this.opened) return;
    this.waiting = true;
    try {
      await condition(() => this.opened !== undefined || interrupt(), ms);
    } finally {
      this.waiting = false;
    }
  }
}
