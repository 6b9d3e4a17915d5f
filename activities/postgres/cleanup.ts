import pg from 'pg';
import type { CleanupResult, TempTableCleanup, TempTableRule } from '../../domain/database.js';
import { failure, FailureType } from '../../domain/failures.js';
import { inTransaction, resolveTimeouts, tableName, timeoutReason, type Timeouts } from './sql.js';

/** Seed `cleanupSessions.js`: expired rows of these tables go, in batches instead of one long DELETE. */
export const EXPIRING_TABLES = ['user_sessions', 'password_reset_tokens'] as const;

// PostgreSQL records no creation time, so a table's age is how long this product has seen it, keyed by
// oid: a table dropped and recreated under the same name starts again at zero.
const SIGHTINGS_SCHEMA = `
CREATE TABLE IF NOT EXISTS temp_table_sightings (
  database    text NOT NULL,
  table_oid   bigint NOT NULL,
  table_name  text NOT NULL,
  first_seen  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (database, table_oid)
)`;

export function createCleanupActivities({
  db,
  reports,
  timeouts,
  databaseLabel,
  tempTableRule,
}: {
  db: pg.Pool;
  /** The maintenance store, where temp-table sightings are kept (never in the booking database). */
  reports: pg.Pool;
  timeouts: Timeouts;
  databaseLabel: string;
  tempTableRule?: TempTableRule;
}) {
  return {
    /** Deletes rows whose expires_at is before `asOf` (fixed by the workflow), one short transaction per batch. */
    async deleteExpiredSessions(request: {
      asOf: string;
      batchSize: number;
      timeouts?: Partial<Timeouts>;
    }): Promise<CleanupResult[]> {
      const asOf = new Date(request.asOf);
      if (Number.isNaN(asOf.getTime()))
        throw failure(FailureType.InvalidInput, `asOf: ${JSON.stringify(request.asOf)} is not a timestamp`);
      const t = resolveTimeouts(timeouts, request.timeouts);
      const results: CleanupResult[] = [];
      for (const name of EXPIRING_TABLES) {
        const table = tableName(name, 'table');
        const {
          rows: [shape],
        } = await db.query<{ exists: boolean; hasExpiry: boolean }>(
          `SELECT to_regclass($1) IS NOT NULL AS exists,
                  EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'expires_at' AND NOT attisdropped) AS "hasExpiry"`,
          [table.sql],
        );
        if (!shape!.exists || !shape!.hasExpiry) {
          results.push({
            table: table.label,
            status: 'skipped',
            deleted: 0,
            reason: shape!.exists ? 'no expires_at column' : 'no such table',
          });
          continue;
        }
        let deleted = 0;
        try {
          for (;;) {
            // ctid batches need no primary key; a row updated meanwhile is simply left for the next batch.
            const n = await inTransaction(
              db,
              t,
              async (c) =>
                (
                  await c.query(
                    `DELETE FROM ${table.sql} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table.sql} WHERE expires_at < $1 LIMIT $2))`,
                    [asOf, request.batchSize],
                  )
                ).rowCount ?? 0,
            );
            deleted += n;
            if (n < request.batchSize) break;
          }
          results.push({ table: table.label, status: 'done', deleted });
        } catch (err) {
          const reason = timeoutReason(err, t);
          if (!reason) throw err;
          results.push({ table: table.label, status: 'skipped', deleted, reason });
        }
      }
      return results;
    },

    /** Drops the tables the configured rule names once they have been seen for minAgeHours; nothing else, ever. */
    async dropOldTempTables(request: { timeouts?: Partial<Timeouts> } = {}): Promise<TempTableCleanup> {
      const rule = tempTableRule;
      if (!rule) return { rule: null, dropped: [], tooYoung: [], skipped: [] };
      const t = resolveTimeouts(timeouts, request.timeouts);
      // starts_with, not LIKE: "_" in a prefix is a wildcard to LIKE.
      const { rows: matching } = await db.query<{ oid: string; schema: string; name: string }>(
        `SELECT c.oid::bigint::text AS oid, n.nspname AS schema, c.relname AS name
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
            AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(temp|toast)'
            AND ($1::text IS NULL OR n.nspname = $1) AND ($2::text IS NULL OR starts_with(c.relname, $2))
          ORDER BY n.nspname, c.relname`,
        [rule.schema ?? null, rule.namePrefix ?? null],
      );
      await reports.query(SIGHTINGS_SCHEMA);
      const { rows: seen } = await reports.query<{ oid: string; hours: number }>(
        `WITH current AS (SELECT * FROM unnest($2::bigint[], $3::text[]) AS c(oid, name)),
              forget AS (DELETE FROM temp_table_sightings s WHERE s.database = $1 AND NOT EXISTS (SELECT 1 FROM current c WHERE c.oid = s.table_oid)),
              added AS (INSERT INTO temp_table_sightings (database, table_oid, table_name) SELECT $1, oid, name FROM current
                        ON CONFLICT (database, table_oid) DO NOTHING RETURNING table_oid, first_seen)
         SELECT c.oid::text AS oid, extract(epoch FROM now() - coalesce(s.first_seen, a.first_seen)) / 3600 AS hours
           FROM current c LEFT JOIN temp_table_sightings s ON s.database = $1 AND s.table_oid = c.oid
           LEFT JOIN added a ON a.table_oid = c.oid`,
        [databaseLabel, matching.map((m) => m.oid), matching.map((m) => `${m.schema}.${m.name}`)],
      );
      const hours = new Map(seen.map((s) => [s.oid, Number(s.hours)]));
      const result: TempTableCleanup = { rule, dropped: [], tooYoung: [], skipped: [] };
      for (const m of matching) {
        const label = `${m.schema}.${m.name}`;
        const age = hours.get(m.oid) ?? 0;
        if (age < rule.minAgeHours) {
          result.tooYoung.push({ table: label, seenForHours: Math.round(age * 10) / 10 });
          continue;
        }
        const quoted = `${pg.escapeIdentifier(m.schema)}.${pg.escapeIdentifier(m.name)}`;
        try {
          const dropped = await inTransaction(db, t, async (c) => {
            // Same oid still under this name: never drop a table recreated since it was seen.
            const { rows } = await c.query(
              'SELECT 1 FROM pg_class WHERE oid = $1::bigint::oid AND oid = to_regclass($2)',
              [m.oid, quoted],
            );
            if (rows.length === 0) return false;
            await c.query(`DROP TABLE ${quoted}`);
            return true;
          });
          if (dropped) result.dropped.push(label);
        } catch (err) {
          const reason =
            timeoutReason(err, t) ??
            ((err as { code?: string }).code === '2BP01' ? 'other objects depend on it; not dropped' : undefined);
          if (!reason) throw err;
          result.skipped.push({ table: label, reason });
        }
      }
      return result;
    },
  };
}
