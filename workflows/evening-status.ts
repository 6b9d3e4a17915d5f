import { patched } from '@temporalio/workflow';
import { z } from 'zod';
import { dailyBackupConfirmation } from '../src/domain/backup.js';
import type { RunReport } from '../src/domain/run.js';
import { noticesDue } from '../src/domain/notices.js';
import { windowOccurrences } from '../src/domain/windows.js';
import { reads } from './lib/activities.js';
import { parseInput } from './lib/input.js';
import { MaintenanceRun } from './lib/run.js';
import { runReported } from './lib/saga.js';

const DAY_MS = 86_400_000;
/** Before the 'weekly-48h-notice' patch: the windows whose notice went out a week ahead. */
const NOTICE_A_WEEK_AHEAD = /^(monthly|annual)/;

export const EveningStatusInput = z
  .object({
    /** How far ahead to list maintenance windows. */
    windowHorizonHours: z.number().int().positive().max(24 * 14).default(48),
  })
  .strict();
export type EveningStatusInput = z.input<typeof EveningStatusInput>;

/** Routine Maintenance Guide, "Evening Status Update": the day's runs, open criticals, upcoming windows. */
export async function eveningStatus(rawInput?: EveningStatusInput): Promise<RunReport> {
  const input = parseInput(EveningStatusInput, rawInput, 'eveningStatus');
  const run = new MaintenanceRun('eveningStatus', 'booking-platform');
  return runReported(run, async () => {
    const now = new Date();
    const startOfDay = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));

    run.phase = 'collecting';
    const digest = await run.step("today's runs", () => reads.summarizeRunsBetween(startOfDay.toISOString(), now.toISOString()));
    const windowSpecs = await run.step('maintenance windows', () => reads.resolveMaintenanceWindows());
    const upcomingWindows = windowOccurrences(windowSpecs, now, new Date(now.getTime() + input.windowHorizonHours * 3_600_000));
    // Seed: "Maintenance notifications sent 1 week in advance" (monthly, annual) and "minimum 48-hour
    // notice" (the weekly window, since the patch). This run is daily, so each window gets each
    // notice from exactly one run: the one a lead time to a lead time plus a day before it opens.
    const notices = patched('weekly-48h-notice')
      ? noticesDue(windowSpecs, now)
      : windowOccurrences(windowSpecs, new Date(now.getTime() + 7 * DAY_MS), new Date(now.getTime() + 8 * DAY_MS))
        .filter((w) => NOTICE_A_WEEK_AHEAD.test(w.name) && Date.parse(w.start) >= now.getTime() + 7 * DAY_MS)
        .map((window) => ({ label: 'one-week', window, hoursAhead: 7 * 24 }));
    for (const { label, window: w, hoursAhead } of notices) {
      await run.step(`${label} notice: ${w.name}`, () => reads.postSlackMessage({
        text: label === 'one-week'
          ? `:calendar: Maintenance notice: the ${w.name} window opens ${w.start} and closes ${w.end} (one week from now).`
          : `:calendar: Maintenance notice: the ${w.name} window opens ${w.start} and closes ${w.end} (in ${hoursAhead} hours).`,
      }));
    }
    const weekAhead = notices.map((n) => n.window);

    // Seed: "Confirm backup completion for the day", from the day's dailyBackup result.
    // Runs recorded before it made no such call.
    const backupToday = patched('evening-backup-confirmation')
      ? dailyBackupConfirmation(digest.runs, await run.step('backup plan', () => reads.resolveBackupPlan()))
      : undefined;

    const failed = (digest.countsByOutcome.failed ?? 0);
    const open = digest.unresolvedCriticals.length;
    const outcomes = Object.entries(digest.countsByOutcome).map(([o, n]) => `${n} ${o}`).join(', ') || 'none';
    const next = upcomingWindows[0];
    const summary = [
      `Evening status: ${digest.runs.length} run(s) today (${outcomes})`,
      `${open} unresolved critical finding(s)`,
      ...(backupToday ? [`backup today: ${backupToday.status}`] : []),
      next ? `next window ${next.name} ${next.start} to ${next.end}` : `no window in the next ${input.windowHorizonHours} h`,
    ].join('; ');

    return {
      summary,
      // Open criticals were alerted when found; the evening digest repeats them in its report only.
      outcome: open > 0 || backupToday?.status === 'critical' ? 'critical' : failed > 0 ? 'warn' : 'ok',
      checks: [
        ...(backupToday ? [backupToday] : []),
        {
          check: 'windows.upcoming', target: 'maintenance calendar', status: 'ok', value: upcomingWindows.length, unit: 'windows',
          detail: next ? `next: ${next.name} ${next.start} to ${next.end}` : `none in the next ${input.windowHorizonHours} h`,
        },
      ],
      details: { runs: digest.runs, countsByOutcome: digest.countsByOutcome, unresolvedCriticals: digest.unresolvedCriticals, upcomingWindows, noticesSent: weekAhead },
    };
  });
}
