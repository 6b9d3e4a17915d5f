import pg from 'pg';
import { failure, FailureType } from '../../domain/failures.js';
import { TABLE_NAME } from '../../domain/identifiers.js';

/** Bounds on how long one maintenance statement may run and wait for a lock. */
export interface Timeouts {
  lockTimeoutMs: number;
  statementTimeoutMs: number;
}

/** A table named by input or config, validated and quoted; `sql` is safe to splice into a statement. */
export interface TableName {
  schema: string;
  table: string;
  /** "schema.table" as given (unquoted), for reports. */
  label: string;
  sql: string;
}

/** "table" or "schema.table" (plain identifiers only); anything else fails, non-retryable, before any SQL runs. */
export function tableName(name: string, field: string): TableName {
  if (typeof name !== 'string' || !TABLE_NAME.test(name)) {
    throw failure(
      FailureType.InvalidInput,
      `${field}: ${JSON.stringify(name)} is not a table name (expected "table" or "schema.table", letters, digits and "_")`,
    );
  }
  const parts = name.split('.');
  const [schema, table] = parts.length === 2 ? (parts as [string, string]) : ['public', parts[0]!];
  return {
    schema,
    table,
    label: `${schema}.${table}`,
    sql: `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`,
  };
}

export function resolveTimeouts(defaults: Timeouts, override: Partial<Timeouts> = {}): Timeouts {
  // Only the two timeouts: callers may hand in a wider settings object.
  const t: Timeouts = {
    lockTimeoutMs: override.lockTimeoutMs ?? defaults.lockTimeoutMs,
    statementTimeoutMs: override.statementTimeoutMs ?? defaults.statementTimeoutMs,
  };
  for (const [k, v] of Object.entries(t)) {
    if (!Number.isInteger(v) || v <= 0)
      throw failure(
        FailureType.InvalidInput,
        `${k}: expected a positive whole number of milliseconds, got ${JSON.stringify(v)}`,
      );
  }
  return t;
}

// Integers only (checked by resolveTimeouts): SET takes no bind parameters.
const setTimeouts = (scope: 'LOCAL' | 'SESSION', t: Timeouts) =>
  `SET ${scope} lock_timeout = ${t.lockTimeoutMs}; SET ${scope} statement_timeout = ${t.statementTimeoutMs}`;

/** One transaction whose statements and lock waits are bounded by SET LOCAL timeouts. */
export async function inTransaction<T>(
  db: pg.Pool,
  t: Timeouts,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await db.connect();
  try {
    await client.query(`BEGIN; ${setTimeouts('LOCAL', t)}`);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * For statements that cannot run in a transaction block (VACUUM, REINDEX CONCURRENTLY): a dedicated
 * client with session-level timeouts, reset before it returns to the pool (or discarded if that fails).
 * `asyncCommit`: its commits do not wait for the WAL flush (synchronous_commit off), reset likewise.
 */
export async function withSessionTimeouts<T>(
  db: pg.Pool,
  t: Timeouts,
  fn: (client: pg.PoolClient) => Promise<T>,
  { asyncCommit = false } = {},
): Promise<T> {
  const client = await db.connect();
  let broken = false;
  try {
    await client.query(`${setTimeouts('SESSION', t)}${asyncCommit ? '; SET synchronous_commit = off' : ''}`);
    return await fn(client);
  } finally {
    try {
      await client.query('RESET lock_timeout; RESET statement_timeout; RESET synchronous_commit');
    } catch {
      broken = true;
    }
    client.release(broken);
  }
}

/** Why a statement gave up because of our own timeouts (the table is then skipped), or undefined for any other error. */
export function timeoutReason(err: unknown, t: Timeouts): string | undefined {
  const code = (err as { code?: string }).code;
  if (code === '55P03') return `locked by another session: lock not granted within lock_timeout ${t.lockTimeoutMs} ms`;
  if (code === '57014') return `statement_timeout ${t.statementTimeoutMs} ms reached`;
  return undefined;
}
