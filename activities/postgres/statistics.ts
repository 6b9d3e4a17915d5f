import type pg from 'pg';
import type { CheckResult } from '../../domain/checks.js';
import type { SlowQueries } from '../../domain/database.js';
import type { MaintenanceMetrics } from '../../src/metrics.js';
import { inTransaction, resolveTimeouts, type Timeouts } from './sql.js';

/**
 * Weekly checklist: "Check for table bloat", "Check index usage and fragmentation", "Review table
 * statistics", "Analyze slow query logs", "Check cache hit rates". Read-only, one short transaction.
 */

export interface StatisticsRequest {
  /** Dead-tuple share above which a table counts as bloated (seed alert DatabaseBloatHigh: 0.2). */
  bloatWarnRatio?: number;
  /** Tables smaller than this are ignored for seq-scan and staleness findings. */
  minRows?: number;
  /** Statistics are stale when more than this share of rows changed since the last analyze. */
  staleModifiedRatio?: number;
  cacheHitWarnPercent?: number;
  slowQueryLimit?: number;
  timeouts?: Partial<Timeouts>;
}

export interface TableBloat {
  table: string;
  liveTuples: number;
  deadTuples: number;
  /** Null for an empty table (the seed's query divided by zero there). */
  deadRatio: number | null;
}

export type { SlowQueries };

export interface DatabaseStatistics {
  tables: TableBloat[];
  bloated: TableBloat[];
  unusedIndexes: { index: string; table: string; bytes: number }[];
  seqScanHeavyTables: { table: string; seqScans: number; indexScans: number; liveTuples: number }[];
  staleStatistics: { table: string; lastAnalyzed: string | null; modifiedSinceAnalyze: number; liveTuples: number }[];
  cacheHitPercent: number | null;
  slowQueries: SlowQueries;
  checks: CheckResult[];
}

export function createStatisticsActivities({
  db,
  timeouts,
  databaseLabel,
  metrics,
}: {
  db: pg.Pool;
  timeouts: Timeouts;
  databaseLabel: string;
  metrics?: MaintenanceMetrics;
}) {
  return {
    async collectDatabaseStatistics(request: StatisticsRequest = {}): Promise<DatabaseStatistics> {
      const bloatWarnRatio = request.bloatWarnRatio ?? 0.2;
      const minRows = request.minRows ?? 10_000;
      const staleRatio = request.staleModifiedRatio ?? 0.1;
      const cacheWarn = request.cacheHitWarnPercent ?? 99;
      const t = resolveTimeouts(timeouts, request.timeouts);
      const stats = await inTransaction(db, t, async (c) => {
        await c.query('SET TRANSACTION READ ONLY');
        const tables = (
          await c.query<TableBloat>(
            `SELECT schemaname || '.' || relname AS table, n_live_tup::int AS "liveTuples", n_dead_tup::int AS "deadTuples",
                  round((n_dead_tup::numeric / NULLIF(n_live_tup + n_dead_tup, 0)), 4)::float8 AS "deadRatio"
             FROM pg_stat_user_tables ORDER BY "deadRatio" DESC NULLS LAST, relname`,
          )
        ).rows;
        const unusedIndexes = (
          await c.query<{ index: string; table: string; bytes: number }>(
            `SELECT s.schemaname || '.' || s.indexrelname AS index, s.schemaname || '.' || s.relname AS table,
                  pg_relation_size(s.indexrelid)::float8 AS bytes
             FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
            WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary
            ORDER BY bytes DESC, index`,
          )
        ).rows;
        const seqScanHeavyTables = (
          await c.query<{ table: string; seqScans: number; indexScans: number; liveTuples: number }>(
            `SELECT schemaname || '.' || relname AS table, seq_scan::int AS "seqScans", coalesce(idx_scan, 0)::int AS "indexScans", n_live_tup::int AS "liveTuples"
             FROM pg_stat_user_tables WHERE n_live_tup >= $1 AND seq_scan > coalesce(idx_scan, 0) ORDER BY seq_tup_read DESC`,
            [minRows],
          )
        ).rows;
        const staleStatistics = (
          await c.query<{
            table: string;
            lastAnalyzed: string | null;
            modifiedSinceAnalyze: number;
            liveTuples: number;
          }>(
            `SELECT schemaname || '.' || relname AS table, greatest(last_analyze, last_autoanalyze) AS "lastAnalyzed",
                  n_mod_since_analyze::int AS "modifiedSinceAnalyze", n_live_tup::int AS "liveTuples"
             FROM pg_stat_user_tables
            WHERE n_live_tup + n_mod_since_analyze >= $1
              AND (greatest(last_analyze, last_autoanalyze) IS NULL OR n_mod_since_analyze > $2::float8 * greatest(n_live_tup, 1))
            ORDER BY n_mod_since_analyze DESC`,
            [minRows, staleRatio],
          )
        ).rows;
        const {
          rows: [cache],
        } = await c.query<{ percent: number | null }>(
          `SELECT round(100 * blks_hit::numeric / NULLIF(blks_hit + blks_read, 0), 2)::float8 AS percent FROM pg_stat_database WHERE datname = current_database()`,
        );
        return { tables, unusedIndexes, seqScanHeavyTables, staleStatistics, cacheHitPercent: cache?.percent ?? null };
      });
      const slowQueries = await topSlowQueries(db, t, request.slowQueryLimit ?? 10);
      metrics?.recordTableBloat(stats.tables);
      const bloated = stats.tables.filter((r) => r.deadRatio !== null && r.deadRatio > bloatWarnRatio);
      const checks: CheckResult[] = [
        {
          check: 'db.bloat',
          target: databaseLabel,
          status: bloated.length > 0 ? 'warn' : 'ok',
          value: bloated.length,
          unit: 'tables',
          threshold: `dead tuples > ${bloatWarnRatio * 100}% of a table`,
          detail:
            bloated.length > 0
              ? `bloated: ${bloated
                  .slice(0, 5)
                  .map((b) => `${b.table} ${Math.round(b.deadRatio! * 100)}%`)
                  .join(', ')}`
              : `no table above ${bloatWarnRatio * 100}% dead tuples`,
        },
        {
          check: 'db.index-usage',
          target: databaseLabel,
          status: 'ok',
          value: stats.unusedIndexes.length,
          unit: 'indexes',
          threshold: 'never scanned since statistics were reset (unique and primary keys aside)',
          detail:
            stats.unusedIndexes.length > 0
              ? `unused: ${stats.unusedIndexes
                  .slice(0, 5)
                  .map((i) => `${i.index} (${Math.round(i.bytes / 1024)} KiB)`)
                  .join(
                    ', ',
                  )}${stats.unusedIndexes.length > 5 ? `, ${stats.unusedIndexes.length - 5} more in the report` : ''}`
              : 'every index has been used',
        },
        stats.cacheHitPercent === null
          ? { check: 'db.cache-hit', target: databaseLabel, status: 'skipped', detail: 'no block reads recorded yet' }
          : {
              check: 'db.cache-hit',
              target: databaseLabel,
              value: stats.cacheHitPercent,
              unit: '%',
              threshold: `warn < ${cacheWarn}%`,
              status: stats.cacheHitPercent < cacheWarn ? 'warn' : 'ok',
              detail: `${stats.cacheHitPercent}% of block reads served from shared buffers`,
            },
        {
          check: 'db.statistics',
          target: databaseLabel,
          status: stats.staleStatistics.length > 0 ? 'warn' : 'ok',
          value: stats.staleStatistics.length,
          unit: 'tables',
          threshold: `never analyzed, or > ${staleRatio * 100}% of rows changed since`,
          detail:
            stats.staleStatistics.length > 0
              ? `stale: ${stats.staleStatistics
                  .slice(0, 5)
                  .map((s) => s.table)
                  .join(', ')}`
              : 'planner statistics are current',
        },
        slowQueries.status === 'available'
          ? {
              check: 'db.slow-queries',
              target: databaseLabel,
              status: 'ok',
              value: slowQueries.queries.length,
              detail: `top ${slowQueries.queries.length} by mean time listed in the report`,
            }
          : { check: 'db.slow-queries', target: databaseLabel, status: 'skipped', detail: slowQueries.reason },
      ];
      return { ...stats, bloated, slowQueries, checks };
    },
  };
}

async function topSlowQueries(db: pg.Pool, t: Timeouts, limit: number): Promise<SlowQueries> {
  const {
    rows: [ext],
  } = await db.query<{ installed: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS installed`,
  );
  if (!ext!.installed)
    return {
      status: 'unavailable',
      reason: 'pg_stat_statements is not installed in this database (CREATE EXTENSION pg_stat_statements)',
    };
  try {
    const queries = await inTransaction(
      db,
      t,
      async (c) =>
        (
          await c.query<{ query: string; calls: number; meanMs: number; totalMs: number }>(
            `SELECT left(query, 300) AS query, calls::int AS calls, round(mean_exec_time::numeric, 2)::float8 AS "meanMs", round(total_exec_time::numeric, 1)::float8 AS "totalMs"
         FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        ORDER BY mean_exec_time DESC LIMIT $1`,
            [limit],
          )
        ).rows,
    );
    return { status: 'available', queries };
  } catch (err) {
    // Typically "pg_stat_statements must be loaded via shared_preload_libraries".
    return { status: 'unavailable', reason: `pg_stat_statements unreadable: ${(err as Error).message}` };
  }
}
