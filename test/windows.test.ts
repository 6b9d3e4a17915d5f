import { describe, expect, it } from 'vitest';
import {
  SEED_WINDOWS,
  activeWindow,
  closedBecause,
  isBusinessHours,
  windowOccurrences,
  type WindowSpec,
} from '../domain/windows.js';

const spec = (name: string) => SEED_WINDOWS.find((w) => w.name === name)!;

describe('maintenance windows (UTC)', () => {
  it('lists the seed windows of the next 48 h from a Saturday evening', () => {
    const from = new Date('2026-11-28T18:00:00Z'); // Saturday
    const got = windowOccurrences(SEED_WINDOWS, from, new Date(from.getTime() + 48 * 3_600_000));
    expect(got).toEqual([
      { name: 'weekly', start: '2026-11-29T02:00:00.000Z', end: '2026-11-29T06:00:00.000Z' },
      { name: 'daily', start: '2026-11-29T06:00:00.000Z', end: '2026-11-29T07:00:00.000Z' },
      { name: 'daily', start: '2026-11-30T06:00:00.000Z', end: '2026-11-30T07:00:00.000Z' },
    ]);
  });

  it('finds the first Monday of each month, and the last Friday', () => {
    const firstMondays = windowOccurrences(
      [spec('monthly')],
      new Date('2026-01-01T00:00:00Z'),
      new Date('2027-01-01T00:00:00Z'),
    ).map((o) => o.start.slice(0, 10));
    expect(firstMondays).toEqual([
      '2026-01-05',
      '2026-02-02',
      '2026-03-02',
      '2026-04-06',
      '2026-05-04',
      '2026-06-01',
      '2026-07-06',
      '2026-08-03',
      '2026-09-07',
      '2026-10-05',
      '2026-11-02',
      '2026-12-07',
    ]);
    const lastFriday: WindowSpec = {
      name: 'q',
      every: 'month',
      nth: -1,
      dayOfWeek: 5,
      start: '09:00',
      durationMinutes: 480,
    };
    expect(
      windowOccurrences([lastFriday], new Date('2026-03-01T00:00:00Z'), new Date('2026-04-01T00:00:00Z'))[0]?.start,
    ).toBe('2026-03-27T09:00:00.000Z');
  });

  it('treats the annual window as 48 h over Dec 25-26 and sees it from inside', () => {
    expect(activeWindow(spec('annual'), new Date('2026-12-26T23:59:00Z'))).toEqual({
      name: 'annual',
      start: '2026-12-25T00:00:00.000Z',
      end: '2026-12-27T00:00:00.000Z',
    });
    expect(activeWindow(spec('annual'), new Date('2026-12-27T00:00:00Z'))).toBeUndefined();
    expect(activeWindow(spec('weekly'), new Date('2026-11-29T05:59:59Z'))?.name).toBe('weekly');
    expect(activeWindow(spec('weekly'), new Date('2026-11-29T06:00:00Z'))).toBeUndefined();
  });

  it('protects business hours Mon-Fri 08:00-18:00', () => {
    expect(isBusinessHours(new Date('2026-11-23T08:00:00Z'))).toBe(true); // Monday
    expect(isBusinessHours(new Date('2026-11-23T17:59:00Z'))).toBe(true);
    expect(isBusinessHours(new Date('2026-11-23T18:00:00Z'))).toBe(false);
    expect(isBusinessHours(new Date('2026-11-28T10:00:00Z'))).toBe(false); // Saturday
  });

  it('closes occurrences in a blackout or in business hours unless the window opts in', () => {
    const weekly = spec('weekly');
    const sunday = { name: 'weekly', start: '2026-11-29T02:00:00.000Z', end: '2026-11-29T06:00:00.000Z' };
    expect(closedBecause(sunday, weekly)).toBeUndefined();
    expect(
      closedBecause(sunday, weekly, [
        { name: 'freeze', start: '2026-11-28T00:00:00Z', end: '2026-11-29T03:00:00Z', reason: 'year-end freeze' },
      ]),
    ).toBe('blackout freeze (year-end freeze)');
    const mondayNoon: WindowSpec = { name: 'noon', every: 'day', start: '12:00', durationMinutes: 30 };
    const monday = { name: 'noon', start: '2026-11-23T12:00:00.000Z', end: '2026-11-23T12:30:00.000Z' };
    expect(closedBecause(monday, mondayNoon)).toBe('business hours (Mon-Fri 08:00-18:00 UTC)');
    expect(closedBecause(monday, { ...mondayNoon, duringBusinessHours: true })).toBeUndefined();
    // The seed's own monthly window sits in business hours by declaration.
    expect(
      closedBecause(
        { name: 'monthly', start: '2026-12-07T08:00:00.000Z', end: '2026-12-07T12:00:00.000Z' },
        spec('monthly'),
      ),
    ).toBeUndefined();
  });
});
