import { patched } from '@temporalio/workflow';
import { z } from 'zod';
import { dailyBackupConfirmation } from '../domain/backup.js';
import type { CheckResult } from '../domain/checks.js';
import type { RunReport } from '../domain/run.js';
import { noticesDue, reportDeadlineFindings, reportDeadlinePeriod } from '../domain/notices.js';
import { windowOccurrences } from '../domain/windows.js';
import { quickRead } from './lib/activity-profiles.js';
import { reportedWorkflow } from './lib/run.js';

const {
  postSlackMessage,
  resolveBackupPlan,
  resolveMaintenanceWindows,
  summarizeRunsBetween,
  windowReportsEndedBetween,
} = quickRead;

const DAY_MS = 86_400_000;
/** Before the 'weekly-48h-notice' patch: the windows whose notice went out a week ahead. */
const NOTICE_A_WEEK_AHEAD = /^(monthly|annual)/;

export const EveningStatusInput = z
  .object({
    /** How far ahead to list maintenance windows. */
    windowHorizonHours: z
      .number()
      .int()
      .positive()
      .max(24 * 14)
      .default(48),
    /** The UTC day whose runs are reported (default today; a past day is covered whole, e.g. to resend it). */
    day: z.iso.date().optional(),
  })
  .strict()
  // Workflow time: deterministic.
  .refine((i) => !i.day || i.day <= new Date().toISOString().slice(0, 10), {
    message: 'the day has not begun yet',
    path: ['day'],
  })
  .refine((i) => !i.day || Date.parse(i.day) > Date.now() - 400 * DAY_MS, {
    message: 'more than 400 days ago',
    path: ['day'],
  });
export type EveningStatusInput = z.input<typeof EveningStatusInput>;

const reportedRun = reportedWorkflow('eveningStatus', EveningStatusInput);

/** Routine Maintenance Guide, "Evening Status Update": the day's runs, open criticals, upcoming windows. */
export async function eveningStatus(rawInput?: EveningStatusInput): Promise<RunReport> {
  return reportedRun(rawInput, async (run, input) => {
    const now = new Date();
    const today = now.toISOString().slice(0, 10);
    const startOfDay = new Date(`${input.day ?? today}T00:00:00.000Z`);
    const endOfPeriod = (input.day ?? today) === today ? now : new Date(startOfDay.getTime() + DAY_MS);
    const dayLabel = (input.day ?? today) === today ? 'today' : `on ${input.day}`;

    run.phase = 'collecting';
    const digest = await run.step("today's runs", () =>
      summarizeRunsBetween(startOfDay.toISOString(), endOfPeriod.toISOString()),
    );
    const windowSpecs = await run.step('maintenance windows', () => resolveMaintenanceWindows());
    const upcomingWindows = windowOccurrences(
      windowSpecs,
      now,
      new Date(now.getTime() + input.windowHorizonHours * 3_600_000),
    );
    // Seed: "Maintenance notifications sent 1 week in advance" (monthly, annual) and "minimum 48-hour
    // notice" (the weekly window, since the patch). This run is daily, so each window gets each
    // notice from exactly one run: the one a lead time to a lead time plus a day before it opens.
    // A past day's digest (a resend) sends no notices: those belong to the evening they were due.
    const notices =
      dayLabel !== 'today'
        ? []
        : patched('weekly-48h-notice')
          ? noticesDue(windowSpecs, now)
          : windowOccurrences(windowSpecs, new Date(now.getTime() + 7 * DAY_MS), new Date(now.getTime() + 8 * DAY_MS))
              .filter((w) => NOTICE_A_WEEK_AHEAD.test(w.name) && Date.parse(w.start) >= now.getTime() + 7 * DAY_MS)
              .map((window) => ({ label: 'one-week', window, hoursAhead: 7 * 24 }));
    for (const { label, window: w, hoursAhead } of notices) {
      await run.step(`${label} notice: ${w.name}`, () =>
        postSlackMessage({
          text:
            label === 'one-week'
              ? `:calendar: Maintenance notice: the ${w.name} window opens ${w.start} and closes ${w.end} (one week from now).`
              : `:calendar: Maintenance notice: the ${w.name} window opens ${w.start} and closes ${w.end} (in ${hoursAhead} hours).`,
        }),
      );
    }
    const weekAhead = notices.map((n) => n.window);

    // Seed: "Confirm backup completion for the day", from the day's dailyBackup result.
    // Runs recorded before it made no such call.
    const backupToday = patched('evening-backup-confirmation')
      ? dailyBackupConfirmation(digest.runs, await run.step('backup plan', () => resolveBackupPlan()))
      : undefined;

    // Seed: "Post-maintenance reports within 24 hours": each window that closed 24 to 48 h ago is
    // judged by exactly one evening, like the notices (not by a past day's resend).
    let reports: CheckResult[] = [];
    if (dayLabel === 'today' && patched('window-report-deadline')) {
      const { since, until } = reportDeadlinePeriod(now);
      const stored = await run.step('post-maintenance reports', () => windowReportsEndedBetween(since, until));
      reports = reportDeadlineFindings(windowSpecs, stored.reports, stored.recordingSince, now);
    }
    const overdue = reports.filter((r) => r.status !== 'ok').length;

    const failed = digest.countsByOutcome.failed ?? 0;
    const open = digest.unresolvedCriticals.length;
    const outcomes =
      Object.entries(digest.countsByOutcome)
        .map(([o, n]) => `${n} ${o}`)
        .join(', ') || 'none';
    const next = upcomingWindows[0];
    const summary = [
      `Evening status: ${digest.runs.length} run(s) ${dayLabel} (${outcomes})`,
      `${open} unresolved critical finding(s)`,
      ...(backupToday ? [`backup today: ${backupToday.status}`] : []),
      ...(overdue > 0 ? [`${overdue} post-maintenance report(s) missing or late`] : []),
      next
        ? `next window ${next.name} ${next.start} to ${next.end}`
        : `no window in the next ${input.windowHorizonHours} h`,
    ].join('; ');

    return {
      summary,
      // Open criticals were alerted when found; the evening digest repeats them in its report only.
      outcome: open > 0 || backupToday?.status === 'critical' ? 'critical' : failed > 0 || overdue > 0 ? 'warn' : 'ok',
      checks: [
        ...(backupToday ? [backupToday] : []),
        ...reports,
        {
          check: 'windows.upcoming',
          target: 'maintenance calendar',
          status: 'ok',
          value: upcomingWindows.length,
          unit: 'windows',
          detail: next
            ? `next: ${next.name} ${next.start} to ${next.end}`
            : `none in the next ${input.windowHorizonHours} h`,
        },
      ],
      details: {
        runs: digest.runs,
        countsByOutcome: digest.countsByOutcome,
        unresolvedCriticals: digest.unresolvedCriticals,
        upcomingWindows,
        noticesSent: weekAhead,
      },
    };
  });
}
