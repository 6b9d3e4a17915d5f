import { msToNumber } from '@temporalio/common/lib/time.js';
import { z } from 'zod';

/**
 * A duration in workflow input: milliseconds, or a string such as "90s", "15 minutes", "2h".
 * Parsed to milliseconds, so tests and benchmarks can pass short ones.
 */
export const durationMs = z.union([z.number().int().nonnegative(), z.string().min(1)]).transform((value, ctx) => {
  try {
    return msToNumber(value as Parameters<typeof msToNumber>[0]);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (e.g. 30000, "30s", "15 minutes")` });
    return z.NEVER;
  }
});

export const seconds = (ms: number) => ms / 1000;
