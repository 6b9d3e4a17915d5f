import type pg from 'pg';
import { openTasks, sendNoticeOnce, type OpenTask, type TaskNotice } from '../src/checklist-signoffs.js';
import type { Notifier } from '../src/clients.js';
import type { Approvals } from '../src/config/schema.js';
import type { ChecklistRoles, Role } from '../domain/checklists.js';
import { taskSlackMessage } from '../domain/format.js';
import { escapeSlack } from '../domain/text.js';

export interface TaskFollowUp {
  /** After this long without any sign-off, the owner role is reminded. */
  remindAfterMs: number;
  /** After this long since the reminder, the task is handed to the backup role. */
  handOffAfterMs: number;
  /** Runs finished longer ago than this are no longer followed up. */
  lookbackMs: number;
}

export interface TaskNoticesSent {
  /** Tasks still unanswered when the pass began. */
  open: number;
  reminders: number;
  handoffs: number;
  /** Notices that could not be posted (sent on a later pass). */
  failed: string[];
  /** Why nothing was posted, when nothing could be. */
  notPosted?: string;
}

const NO_WEBHOOK = 'not posted: SLACK_TASKS_WEBHOOK_URL is not set';

function hours(ms: number): string {
  const h = ms / 3_600_000;
  return h >= 1 ? `${Math.floor(h)} h` : `${Math.max(1, Math.round(ms / 60_000))} min`;
}

/**
 * Checklist tasks in Slack: a run posts its open tasks with Done / Blocked / Not applicable buttons
 * (the bridge records a click as a signed sign-off); a scheduled pass reminds the owner role of a
 * task nobody answered, then hands it to the backup role. Each notice goes out once per task.
 */
export function createChecklistTaskActivities({
  reports,
  notifier,
  roles,
  approvals,
}: {
  reports: pg.Pool;
  notifier: Notifier;
  roles: ChecklistRoles;
  approvals: Approvals;
}) {
  // Person -> Slack user, so a notice mentions the people it is for.
  const slackIdOf = new Map(Object.entries(approvals.slackUsers).map(([id, person]) => [person, id]));
  const mention = (person: string) => (slackIdOf.has(person) ? `<@${slackIdOf.get(person)}>` : escapeSlack(person));
  const peopleIn = (role: Role) =>
    roles[role]?.length ? roles[role].map(mention).join(', ') : `nobody (checklistRoles maps no one to ${role})`;

  const leads: Record<TaskNotice, (t: OpenTask, now: number) => string> = {
    posted: ({ item }) =>
      `:clipboard: Task for ${peopleIn(item.owner)} (${item.owner}; backup ${item.backup}: ${peopleIn(item.backup)})`,
    reminder: ({ item, run }, now) =>
      `:alarm_clock: Reminder for ${peopleIn(item.owner)} (${item.owner}): nobody has signed this off ${hours(now - run.finishedAt)} after the run`,
    handoff: ({ item, sent }, now) =>
      `:arrows_counterclockwise: Handed to ${peopleIn(item.backup)} (${item.backup}, the backup): ${item.owner} did not sign it off within ${hours(now - sent.reminder!)} of the reminder`,
  };

  const send = (task: OpenTask, notice: TaskNotice, now: number) =>
    sendNoticeOnce(reports, task, notice, () =>
      notifier.post(taskSlackMessage(task.run, task.item, leads[notice](task, now)), 'tasks'),
    );

  return {
    /** The run's own open tasks, each posted once with its buttons; returns what was posted, for the delivery record. */
    async postChecklistTasks(run: { workflowId: string; runId: string }): Promise<string> {
      if (!notifier.postsTasks) return NO_WEBHOOK;
      const { now, tasks } = await openTasks(reports, run);
      let posted = 0;
      for (const task of tasks) if (await send(task, 'posted', now)) posted += 1;
      return `slack (${posted} task(s))`;
    },

    /** Every unanswered task of recent runs: a reminder once it is due, the handoff once that is due; each once. */
    async followUpChecklistTasks(opts: TaskFollowUp): Promise<TaskNoticesSent> {
      const { now, tasks } = await openTasks(reports, { since: new Date(Date.now() - opts.lookbackMs) });
      const result: TaskNoticesSent = { open: tasks.length, reminders: 0, handoffs: 0, failed: [] };
      if (!notifier.postsTasks) return { ...result, notPosted: NO_WEBHOOK };
      for (const task of tasks) {
        const due: TaskNotice | undefined =
          task.sent.reminder === undefined
            ? now - task.run.finishedAt >= opts.remindAfterMs
              ? 'reminder'
              : undefined
            : task.sent.handoff === undefined && now - task.sent.reminder >= opts.handOffAfterMs
              ? 'handoff'
              : undefined;
        if (!due) continue;
        try {
          if (await send(task, due, now)) result[due === 'reminder' ? 'reminders' : 'handoffs'] += 1;
        } catch (err) {
          result.failed.push(`${due} of ${task.item.id} (${task.run.workflowId}): ${(err as Error).message}`);
        }
      }
      return result;
    },
  };
}
