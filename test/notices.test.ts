import { describe, expect, it } from 'vitest';
import { noticesDue, reportDeadlineFindings, type WindowReport } from '../domain/notices.js';
import { SEED_WINDOWS } from '../domain/windows.js';

const HOUR = 3_600_000;

describe('advance notices for planned windows', () => {
  it('gives the Sunday window its 48-hour notice from Thursday evening, not from Wednesday or Friday', () => {
    expect(noticesDue(SEED_WINDOWS, new Date('2026-11-26T18:00:00Z'))).toEqual([
      {
        label: '48-hour',
        window: { name: 'weekly', start: '2026-11-29T02:00:00.000Z', end: '2026-11-29T06:00:00.000Z' },
        hoursAhead: 56,
      },
    ]);
    expect(noticesDue(SEED_WINDOWS, new Date('2026-11-25T18:00:00Z')).filter((n) => n.label === '48-hour')).toEqual([]);
    expect(noticesDue(SEED_WINDOWS, new Date('2026-11-27T18:00:00Z')).filter((n) => n.label === '48-hour')).toEqual([]);
  });

  it('over a year of daily evening runs, gives every weekly, monthly and annual window exactly one notice, never inside its lead time', () => {
    const given = new Map<string, { label: string; hoursAhead: number }[]>();
    for (let t = Date.parse('2026-01-01T18:00:00Z'); t < Date.parse('2027-01-01T18:00:00Z'); t += 24 * HOUR) {
      for (const n of noticesDue(SEED_WINDOWS, new Date(t))) {
        const key = `${n.window.name} ${n.window.start}`;
        given.set(key, [...(given.get(key) ?? []), { label: n.label, hoursAhead: n.hoursAhead }]);
      }
    }
    const weekly = [...given].filter(([k]) => k.startsWith('weekly '));
    expect(weekly.length).toBeGreaterThanOrEqual(51);
    for (const [key, notices] of given) {
      expect(notices, key).toHaveLength(1);
      const lead = notices[0]!.label === '48-hour' ? 48 : 7 * 24;
      expect(notices[0]!.hoursAhead, key).toBeGreaterThanOrEqual(lead);
      expect(notices[0]!.hoursAhead, key).toBeLessThan(lead + 24);
    }
    expect([...given.keys()].some((k) => k.startsWith('annual 2026-12-25'))).toBe(true);
    expect([...given.keys()].some((k) => k.startsWith('daily '))).toBe(false);
  });
});

describe('post-maintenance reports within 24 hours', () => {
  // Tuesday 18:00: Sunday's weekly window (02:00-06:00) closed 60 h ago, Monday's monthly-application one (09:00-12:00) 30 h ago.
  const now = new Date('2026-11-17T18:00:00Z');
  const monthlyApplication = {
    name: 'monthly-application',
    start: '2026-11-16T09:00:00.000Z',
    end: '2026-11-16T12:00:00.000Z',
  };
  const report = (id: string, finishedAt: string, posted = true): WindowReport => ({
    kind: 'weeklyDatabaseMaintenance',
    workflowId: id,
    window: monthlyApplication,
    finishedAt,
    posted,
    postDetail: posted ? 'delivered to slack' : 'Slack answered 500',
  });

  it('judges each report of a window closed 24 to 48 h ago: posted in time, posted late, not posted', () => {
    const findings = reportDeadlineFindings(
      SEED_WINDOWS,
      [
        report('on-time', '2026-11-16T11:40:00.000Z'),
        report('late', '2026-11-17T13:30:00.000Z'),
        report('unposted', '2026-11-16T12:10:00.000Z', false),
      ],
      '2026-11-01T00:00:00.000Z',
      now,
    );
    const threshold = "posted within 24 h of the window's end";
    expect(findings).toEqual([
      {
        check: 'window.report',
        target: 'weeklyDatabaseMaintenance on-time',
        status: 'ok',
        threshold,
        detail: 'window monthly-application closed 2026-11-16T12:00:00.000Z; report posted 2026-11-16T11:40:00.000Z',
      },
      {
        check: 'window.report',
        target: 'weeklyDatabaseMaintenance late',
        status: 'warn',
        threshold,
        detail:
          'window monthly-application closed 2026-11-16T12:00:00.000Z; report posted 25 h later, at 2026-11-17T13:30:00.000Z',
      },
      {
        check: 'window.report',
        target: 'weeklyDatabaseMaintenance unposted',
        status: 'warn',
        threshold,
        detail:
          'window monthly-application closed 2026-11-16T12:00:00.000Z; report not posted to Slack: Slack answered 500',
      },
    ]);
  });

  it('finds a window of the calendar with no report at all, but not one that opened before any run was recorded', () => {
    const missing = {
      check: 'window.report',
      target: 'window monthly-application 2026-11-16T09:00:00.000Z',
      status: 'warn',
      threshold: "posted within 24 h of the window's end",
      detail:
        'no report 24 h after the window closed at 2026-11-16T12:00:00.000Z: the run did not finish, or never ran',
    };
    expect(reportDeadlineFindings(SEED_WINDOWS, [], '2026-11-16T08:59:00.000Z', now)).toEqual([missing]);
    // Installed after the window opened, or nothing recorded at all: nothing owed.
    const none = [
      {
        check: 'window.report',
        target: 'maintenance calendar',
        status: 'ok',
        threshold: "posted within 24 h of the window's end",
        detail: 'no maintenance window closed between 2026-11-15T18:00:00.000Z and 2026-11-16T18:00:00.000Z',
      },
    ];
    expect(reportDeadlineFindings(SEED_WINDOWS, [], '2026-11-16T09:30:00.000Z', now)).toEqual(none);
    expect(reportDeadlineFindings(SEED_WINDOWS, [], null, now)).toEqual(none);
    // A window opened early keeps its end: its report matches it.
    const early = {
      ...report('early', '2026-11-16T10:00:00.000Z'),
      window: { ...monthlyApplication, start: '2026-11-16T08:30:00.000Z' },
    };
    expect(reportDeadlineFindings(SEED_WINDOWS, [early], '2026-11-01T00:00:00.000Z', now).map((f) => f.status)).toEqual(
      ['ok'],
    );
  });

  it('over a year of daily evening runs, judges every weekly, monthly-application and annual window exactly once, never the daily or monthly ones', () => {
    const judged = new Map<string, number>();
    for (let t = Date.parse('2026-01-01T18:00:00Z'); t < Date.parse('2027-01-03T18:00:00Z'); t += 24 * HOUR) {
      for (const f of reportDeadlineFindings(SEED_WINDOWS, [], '2025-01-01T00:00:00.000Z', new Date(t))) {
        if (f.status === 'warn') judged.set(f.target, (judged.get(f.target) ?? 0) + 1);
      }
    }
    expect([...judged.values()].every((n) => n === 1)).toBe(true);
    const names = (prefix: string) => [...judged.keys()].filter((k) => k.startsWith(`window ${prefix} `)).length;
    expect(names('weekly')).toBeGreaterThanOrEqual(52);
    expect(names('monthly-application')).toBe(12);
    expect(names('annual')).toBe(1);
    expect(names('daily') + names('monthly')).toBe(0);
  });
});
