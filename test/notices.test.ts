import { describe, expect, it } from 'vitest';
import { noticesDue } from '../domain/notices.js';
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
