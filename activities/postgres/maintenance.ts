import pg from 'pg';
import {
  resolveTimeouts,
  tableName,
  timeoutReason,
  withSessionTimeouts,
  type TableName,
  type Timeouts,
} from './sql.js';
import type { IndexAction, TableVacuum } from '../../domain/database.js';

/**
 * Seed `db_maintenance.sh` ran a database-wide `VACUUM ANALYZE` and `REINDEX SYSTEM`, both of which
 * queue behind any lock and the latter blocks every query while it runs. Here each table and index
 * is handled on its own, bounded by lock_timeout, and what could not get its lock is skipped, named.
 */

export interface VacuumRequest {
  /** Tables to vacuum ("table" or "schema.table"); default: every user table. */
  tables?: string[];
  /** Tables that get VACUUM FULL (exclusive lock, rewrites the table) when `allowFull` is set. */
  fullTables?: string[];
  /** Set by the workflow only inside the maintenance window. */
  allowFull: boolean;
  timeouts?: Partial<Timeouts>;
}

export interface ReindexRequest {
  /** Estimated share of a btree index that is empty space above which it is rebuilt. */
  bloatRatio?: number;
  /** Indexes smaller than this are never worth rebuilding for bloat. */
  minIndexBytes?: number;
  timeouts?: Partial<Timeouts>;
}

const DEAD_TUPLES_SQL = `SELECT n_dead_tup::int AS dead FROM pg_stat_user_tables WHERE relid = to_regclass($1)`;

async function deadTuples(client: pg.PoolClient, table: TableName): Promise<number | null> {
  await client.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await client.query<{ dead: number }>(DEAD_TUPLES_SQL, [table.sql]);
  return rows[0]?.dead ?? null;
}

async function userTables(db: pg.Pool): Promise<TableName[]> {
  const { rows } = await db.query<{ schema: string; table: string }>(
    `SELECT schemaname AS schema, relname AS table FROM pg_stat_user_tables ORDER BY schemaname, relname`,
  );
  return rows.map(({ schema, table }) => ({
    schema,
    table,
    label: `${schema}.${table}`,
    sql: `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`,
  }));
}

// A rough btree size model (8-byte tuple header + 4-byte line pointer per entry, 90% fill); expression
// and partial indexes do not fit it and are never judged bloated. Invalid indexes being built
// right now (CREATE INDEX CONCURRENTLY in progress) are left alone.
const INDEX_CANDIDATES_SQL = `
  WITH idx AS (
    SELECT i.indexrelid, i.indrelid, i.indisvalid, ic.relname AS index_name, n.nspname AS schema, tc.relname AS table_name,
           pg_relation_size(i.indexrelid) AS bytes, ic.relpages, tc.reltuples, am.amname,
           (SELECT sum(s.avg_width) FROM pg_attribute a JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = tc.relname AND s.attname = a.attname
             WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) AS width,
           NOT (0 = ANY(i.indkey)) AND i.indpred IS NULL AS plain_columns
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_class tc ON tc.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = ic.relnamespace
      JOIN pg_am am ON am.oid = ic.relam
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
       AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid OR p.relid = i.indrelid))
  SELECT schema, index_name AS index, table_name AS table, bytes::bigint::float8 AS bytes, indisvalid AS valid,
         index_name ~ '_cc(new|old)[0-9]*$' AS leftover,
         CASE WHEN amname = 'btree' AND plain_columns AND width IS NOT NULL AND relpages > 1 AND reltuples >= 0
              THEN greatest(0, 1 - (1 + ceil(reltuples * (width + 12) / (8168 * 0.9))) / relpages)::float8 END AS bloat
    FROM idx ORDER BY schema, index_name`;

export function createMaintenanceActivities({ db, timeouts }: { db: pg.Pool; timeouts: Timeouts }) {
  return {
    /** VACUUM (ANALYZE) per table, dead tuples before and after; VACUUM FULL only for named tables and only when allowed. */
    async vacuumAnalyzeTables(request: VacuumRequest): Promise<TableVacuum[]> {
      const named = request.tables?.map((t, i) => tableName(t, `tables[${i}]`));
      const full = new Set((request.fullTables ?? []).map((t, i) => tableName(t, `fullTables[${i}]`).label));
      const t = resolveTimeouts(timeouts, request.timeouts);
      const tables = named ?? (await userTables(db));
      const results: TableVacuum[] = [];
      await withSessionTimeouts(db, t, async (client) => {
        for (const table of tables) {
          const wantsFull = full.has(table.label);
          const mode = wantsFull && request.allowFull ? 'full' : 'analyze';
          const note =
            wantsFull && !request.allowFull
              ? 'VACUUM FULL not run: outside the maintenance window; plain VACUUM ANALYZE instead'
              : undefined;
          const started = performance.now();
          const before = await deadTuples(client, table);
          const record = (r: Pick<TableVacuum, 'status' | 'deadTuplesAfter' | 'reason'>) =>
            results.push({
              table: table.label,
              mode,
              deadTuplesBefore: before,
              durationMs: Math.round(performance.now() - started),
              ...r,
            });
          if (before === null) {
            record({ status: 'skipped', deadTuplesAfter: null, reason: 'no such table' });
            continue;
          }
          try {
            await client.query(`VACUUM (${mode === 'full' ? 'FULL, ' : ''}ANALYZE) ${table.sql}`);
          } catch (err) {
            const reason = timeoutReason(err, t);
            if (!reason) throw err;
            record({ status: 'skipped', deadTuplesAfter: before, reason });
            continue;
          }
          record({
            status: 'done',
            deadTuplesAfter: await deadTuples(client, table),
            ...(note ? { reason: note } : {}),
          });
        }
      });
      return results;
    },

    /**
     * Rebuilds invalid and bloated indexes with REINDEX INDEX CONCURRENTLY (no write lock on the table),
     * and drops what an interrupted REINDEX CONCURRENTLY left behind (`*_ccnew`, `*_ccold`), as the
     * PostgreSQL manual advises; a rerun therefore starts clean.
     */
    async reindexInvalidOrBloatedIndexes(request: ReindexRequest = {}): Promise<IndexAction[]> {
      const bloatRatio = request.bloatRatio ?? 0.3;
      const minIndexBytes = request.minIndexBytes ?? 8 * 1024 * 1024;
      const t = resolveTimeouts(timeouts, request.timeouts);
      const { rows } = await db.query<{
        schema: string;
        index: string;
        table: string;
        bytes: number;
        valid: boolean;
        leftover: boolean;
        bloat: number | null;
      }>(INDEX_CANDIDATES_SQL);
      const actions: IndexAction[] = [];
      await withSessionTimeouts(db, t, async (client) => {
        for (const r of rows) {
          const why: IndexAction['why'] | undefined =
            r.leftover && !r.valid
              ? 'leftover of an interrupted REINDEX CONCURRENTLY'
              : !r.valid
                ? 'invalid'
                : r.bloat !== null && r.bloat > bloatRatio && r.bytes >= minIndexBytes
                  ? 'bloated'
                  : undefined;
          if (!why) continue;
          const index = `${pg.escapeIdentifier(r.schema)}.${pg.escapeIdentifier(r.index)}`;
          const base = {
            index: `${r.schema}.${r.index}`,
            table: `${r.schema}.${r.table}`,
            why,
            bytesBefore: r.bytes,
            ...(r.bloat !== null ? { estimatedBloat: Math.round(r.bloat * 1000) / 1000 } : {}),
          };
          try {
            if (why === 'leftover of an interrupted REINDEX CONCURRENTLY') {
              await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${index}`);
              actions.push({ ...base, action: 'dropped' });
            } else {
              await client.query(`REINDEX INDEX CONCURRENTLY ${index}`);
              const {
                rows: [after],
              } = await client.query<{ bytes: number }>('SELECT pg_relation_size(to_regclass($1))::float8 AS bytes', [
                index,
              ]);
              actions.push({ ...base, action: 'reindexed', bytesAfter: after!.bytes });
            }
          } catch (err) {
            // A failed REINDEX CONCURRENTLY leaves an invalid *_ccnew index: the next run drops it.
            const reason = timeoutReason(err, t);
            actions.push({ ...base, action: reason ? 'skipped' : 'failed', reason: reason ?? (err as Error).message });
          }
        }
      });
      return actions;
    },
  };
}
