import { InvalidArgumentError } from 'commander';
import { ScheduleNotFoundError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type pg from 'pg';
import { createPool } from '../clients.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../logger.js';

// What every command group shares: its view of the outside world, the one-line failure, table
// output and the argument parsers.

/** What a command group gets: where to print, the config (loaded on first use) and a Temporal client (connected on first use). */
export interface CliIo {
  out: (s: string) => void;
  config: () => Config;
  temporal: () => Promise<Client>;
  json: (v: unknown) => void;
}

/** A pool on the report database for one command, closed when it is done. */
export const withReportPool =
  (io: CliIo) =>
  async <T>(fn: (pool: pg.Pool) => Promise<T>): Promise<T> => {
    const pool = createPool(io.config().reportDatabaseUrl, createLogger('silent'), 'maint-cli');
    try {
      return await fn(pool);
    } finally {
      await pool.end();
    }
  };

/** A user-facing failure: printed as one line, exit code 1. */
export class CliError extends Error {}

export function table(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(none)';
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(cols), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

/** A real calendar date (UTC), optionally with a time: `new Date` alone rolls 2026-02-31 over to March 3. */
export function isoDate(value: string): string {
  const shown = value.slice(0, 40);
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/.exec(
    value,
  );
  const d = new Date(m && !m[4] ? `${value}T00:00:00Z` : value);
  const [year, month, day] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [];
  const real =
    m &&
    !Number.isNaN(d.getTime()) &&
    new Date(Date.UTC(year!, month! - 1, day!)).getUTCDate() === day &&
    month! >= 1 &&
    month! <= 12;
  if (!real) throw new InvalidArgumentError(`'${shown}' is not a date (use e.g. 2026-11-22 or 2026-11-22T08:00:00Z)`);
  return d.toISOString();
}

const MAX_LIMIT = 10_000;

export function positiveInt(value: string): number {
  const n = /^\d{1,6}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= MAX_LIMIT))
    throw new InvalidArgumentError(`'${value.slice(0, 40)}' is not a whole number from 1 to ${MAX_LIMIT}`);
  return n;
}

export function approverIdentity(value: string | undefined, flag = '--as'): string {
  const who = value ?? process.env.MAINT_APPROVER ?? process.env.USER;
  if (!who) throw new CliError(`say who you are: ${flag} <name> (or set MAINT_APPROVER)`);
  return who;
}

/** A Temporal not-found error as a one-line CliError saying `message`; anything else passes through. */
export function notFound(message: string) {
  return (err: unknown): never => {
    if (
      err instanceof ScheduleNotFoundError ||
      err instanceof WorkflowNotFoundError ||
      (err as { code?: number }).code === 5
    )
      throw new CliError(message);
    throw err;
  };
}
