import { z } from 'zod';
import type { CheckResult } from '../domain/checks.js';
import type { RunReport } from '../domain/run.js';
import { apiCall } from './lib/activity-profiles.js';
import { DAY, MINUTE, SECOND, duration } from './lib/duration.js';
import { reportedWorkflow } from './lib/run.js';

// Slack posts, each notice claimed once: a retried attempt sends only what the last one did not.
const { followUpChecklistTasks } = apiCall;

export const ChecklistFollowUpInput = z
  .object({
    /** A task nobody answered this long after its run is reminded to its owner role. */
    remindAfter: duration(SECOND, 30 * DAY).default(DAY),
    /** A task still unanswered this long after its reminder is handed to its backup role. */
    handOffAfter: duration(SECOND, 30 * DAY).default(DAY),
    /** Runs finished longer ago than this are no longer followed up. */
    lookback: duration(10 * MINUTE, 90 * DAY).default(14 * DAY),
  })
  .strict();
export type ChecklistFollowUpInput = z.input<typeof ChecklistFollowUpInput>;

const reportedRun = reportedWorkflow('checklistFollowUp', ChecklistFollowUpInput);

/**
 * Seed "Team Coordination: assign maintenance owners, define backup personnel": the checklist tasks
 * runs left to people (`checklist_signoffs`), followed up in Slack: a reminder to the owner role, then
 * the handoff to the backup role, each once (`checklist_task_notices`). Posts its own report only
 * when a notice could not be sent.
 */
export async function checklistFollowUp(rawInput?: ChecklistFollowUpInput): Promise<RunReport> {
  return reportedRun(rawInput, async (run, input) => {
    const sent = await run.step('remind and hand off open tasks', () =>
      followUpChecklistTasks({
        remindAfterMs: input.remindAfter,
        handOffAfterMs: input.handOffAfter,
        lookbackMs: input.lookback,
      }),
    );
    const checks: CheckResult[] = [
      {
        check: 'checklist.follow-up',
        target: 'slack',
        status: sent.failed.length ? 'warn' : sent.notPosted && sent.open ? 'skipped' : 'ok',
        value: sent.open,
        unit: 'open task(s)',
        detail: sent.failed.length
          ? `not sent (retried next run): ${sent.failed.join('; ').slice(0, 1500)}`
          : (sent.notPosted ?? `${sent.reminders} reminder(s), ${sent.handoffs} handoff(s) sent`),
      },
    ];
    return {
      summary: `Checklist follow-up: ${sent.open} open task(s), ${sent.reminders} reminder(s), ${sent.handoffs} handoff(s)`,
      checks,
      postOnlyProblems: true,
    };
  });
}
