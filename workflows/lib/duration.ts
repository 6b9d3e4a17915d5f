import { msToNumber } from '@temporalio/common/lib/time.js';
import { z } from 'zod';

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/**
 * Poll and retry intervals may go down to 20 ms, the pace the tests, benchmarks and stored
 * histories use; a wait then still sends at most 50 requests/s. The defaults stay in seconds.
 */
export const MIN_POLL_MS = 20;

/** The `days` before now, as the ISO bounds that history queries take. */
export function lastDays(days: number): { since: string; until: string } {
  const until = new Date();
  return { since: new Date(until.getTime() - days * DAY).toISOString(), until: until.toISOString() };
}

/** A duration as people write it: "30 minute(s)", "2 hour(s)", "1500 ms". */
export function human(ms: number): string {
  if (ms % DAY === 0) return `${ms / DAY} day(s)`;
  if (ms % HOUR === 0) return `${ms / HOUR} hour(s)`;
  if (ms % MINUTE === 0) return `${ms / MINUTE} minute(s)`;
  if (ms % SECOND === 0) return `${ms / SECOND} s`;
  return `${ms} ms`;
}

/**
 * A duration in workflow input between `min` and `max` milliseconds: a whole number of
 * milliseconds, or a string such as "90s", "15 minutes", "2h". Parsed to milliseconds, so tests
 * can pass short ones; negative, non-finite and absurd values are refused.
 */
export function duration(min: number, max: number) {
  const range = `between ${human(min)} and ${human(max)}`;
  return z
    .union([z.number().int(), z.string().min(1).max(40)], {
      error: 'expected a duration (e.g. 30000, "30s", "15 minutes")',
    })
    .transform((value, ctx) => {
      let ms: number;
      try {
        ms = msToNumber(value as Parameters<typeof msToNumber>[0]);
      } catch {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (e.g. 30000, "30s", "15 minutes")` });
        return z.NEVER;
      }
      if (!Number.isFinite(ms) || ms < min || ms > max) {
        ctx.addIssue({ code: 'custom', message: `must be ${range}` });
        return z.NEVER;
      }
      return ms;
    });
}

export const seconds = (ms: number) => ms / 1000;
