import { windowOccurrences, type WindowOccurrence, type WindowSpec } from './windows.js';

// The seed's advance notices for planned windows (Routine Maintenance Guide, "Maintenance Window
// Policy" and "Maintenance Coordination"): a minimum 48-hour notice, and notifications a week
// ahead. Sandbox-safe: the daily evening run decides which notices are due today.

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
