import type { CheckResult } from './checks.js';
import { windowOccurrences, type WindowOccurrence, type WindowSpec } from './windows.js';

// The seed's communication rules for planned windows (Routine Maintenance Guide, "Maintenance
// Window Policy" and "Maintenance Coordination"): a minimum 48-hour notice, notifications a week
// ahead, and post-maintenance reports within 24 hours. Sandbox-safe: the daily evening run decides
// which notices are due today and which windows' reports it judges.

const HOUR_MS = 3_600_000;

export interface NoticeRule {
  label: string;
  /** Window names this notice is for. */
  windows: RegExp;
  leadHours: number;
}

export const NOTICE_RULES: readonly NoticeRule[] = [
  { label: 'one-week', windows: /^(monthly|annual)/, leadHours: 7 * 24 },
  { label: '48-hour', windows: /^weekly/, leadHours: 48 },
];

export interface NoticeDue {
  label: string;
  window: WindowOccurrence;
  /** Hours from now to the window's opening, rounded down: at least the rule's lead. */
  hoursAhead: number;
}

/**
 * The notices a run once a day owes at `now`: each window opening between its rule's lead time and
 * one day past it, so exactly one daily run gives each notice, never later than the lead.
 */
export function noticesDue(
  specs: readonly WindowSpec[],
  now: Date,
  rules: readonly NoticeRule[] = NOTICE_RULES,
): NoticeDue[] {
  return rules.flatMap((rule) => {
    const from = now.getTime() + rule.leadHours * HOUR_MS;
    return windowOccurrences(
      specs.filter((s) => rule.windows.test(s.name)),
      new Date(from),
      new Date(from + 24 * HOUR_MS),
    )
      .filter((w) => Date.parse(w.start) >= from)
      .map((window) => ({
        label: rule.label,
        window,
        hoursAhead: Math.floor((Date.parse(window.start) - now.getTime()) / HOUR_MS),
      }));
  });
}

/** Seed "Post-maintenance reports within 24 hours". */
export const REPORT_DUE_HOURS = 24;
/** Windows the schedules run maintenance in (weeklyDatabaseMaintenance, its monthly child, annualUpgrade): each owes a report. */
export const REPORTED_WINDOWS = /^(weekly|monthly-application|annual)/;

/** A stored run report that names its window (`RunReport.window`), and whether its Slack post went out. */
export interface WindowReport {
  kind: string;
  workflowId: string;
  window: WindowOccurrence;
  finishedAt: string;
  posted: boolean;
  /** The Slack delivery's detail, or why there is none. */
  postDetail: string;
}

/**
 * The windows a run once a day judges at `now`: those that closed 24 to 48 h before it, so
 * exactly one daily run judges each window, once its report is overdue if it is missing.
 */
export function reportDeadlinePeriod(now: Date): { since: string; until: string } {
  const until = now.getTime() - REPORT_DUE_HOURS * HOUR_MS;
  return { since: new Date(until - 24 * HOUR_MS).toISOString(), until: new Date(until).toISOString() };
}

/**
 * One `window.report` finding per report of a window that closed in the period (warn when it was
 * not posted to Slack, or posted more than 24 h after the window's end) and per window of
 * `REPORTED_WINDOWS` with no report at all (warn; unless it opened before the report store held
 * any run: a fresh install owes nothing for windows before it). Nothing closed: one ok finding.
 */
export function reportDeadlineFindings(
  specs: readonly WindowSpec[],
  stored: readonly WindowReport[],
  recordingSince: string | null,
  now: Date,
): CheckResult[] {
  const { since, until } = reportDeadlinePeriod(now);
  const closedInPeriod = (w: WindowOccurrence) =>
    Date.parse(w.end) >= Date.parse(since) && Date.parse(w.end) < Date.parse(until);
  const threshold = `posted within ${REPORT_DUE_HOURS} h of the window's end`;
  const findings: CheckResult[] = stored
    .filter((r) => closedInPeriod(r.window))
    .map((r) => {
      const hours = (Date.parse(r.finishedAt) - Date.parse(r.window.end)) / HOUR_MS;
      const late = hours > REPORT_DUE_HOURS;
      return {
        check: 'window.report',
        target: `${r.kind} ${r.workflowId}`,
        status: !r.posted || late ? 'warn' : 'ok',
        threshold,
        detail: !r.posted
          ? `window ${r.window.name} closed ${r.window.end}; report not posted to Slack: ${r.postDetail}`
          : late
            ? `window ${r.window.name} closed ${r.window.end}; report posted ${Math.floor(hours)} h later, at ${r.finishedAt}`
            : `window ${r.window.name} closed ${r.window.end}; report posted ${r.finishedAt}`,
      };
    });
  const owed = windowOccurrences(
    specs.filter((s) => REPORTED_WINDOWS.test(s.name)),
    new Date(since),
    new Date(until),
  ).filter((w) => closedInPeriod(w) && recordingSince !== null && Date.parse(recordingSince) <= Date.parse(w.start));
  for (const w of owed) {
    if (stored.some((r) => r.window.name === w.name && Date.parse(r.window.end) === Date.parse(w.end))) continue;
    findings.push({
      check: 'window.report',
      target: `window ${w.name} ${w.start}`,
      status: 'warn',
      threshold,
      detail: `no report ${REPORT_DUE_HOURS} h after the window closed at ${w.end}: the run did not finish, or never ran`,
    });
  }
  if (findings.length > 0) return findings;
  return [
    {
      check: 'window.report',
      target: 'maintenance calendar',
      status: 'ok',
      threshold,
      detail: `no maintenance window closed between ${since} and ${until}`,
    },
  ];
}
