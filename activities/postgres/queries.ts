import type pg from 'pg';
import { EXPIRING_TABLES } from './cleanup.js';

export interface RunawayQuery {
  pid: number;
  user: string;
  seconds: number;
  /** The statement with its literals blanked: query text can carry personal data or secrets. */
  query: string;
}

const blankLiterals = (sql: string) =>
  sql
    .replace(/'(?:[^']|'')*'/g, "'?'")
    .replace(/\b\d+\b/g, '?')
    .slice(0, 160);

export function createQueryActivities({ db }: { db: pg.Pool }) {
  return {
    /** Read-only counts for `maint plan`: what an archive with this cutoff and a session cleanup would touch. */
    async countPendingMaintenance(
      cutoff: string,
    ): Promise<{ bookingsToArchive: number | null; expiredRows: Record<string, number | null> }> {
      const count = async (sql: string, params: unknown[]) => {
        try {
          return (await db.query<{ n: number }>(sql, params)).rows[0]!.n;
        } catch {
          return null; // the table does not exist here
        }
      };
      const expiredRows: Record<string, number | null> = {};
      for (const table of EXPIRING_TABLES)
        expiredRows[table] = await count(`SELECT count(*)::int AS n FROM ${table} WHERE expires_at < now()`, []);
      return {
        bookingsToArchive: await count('SELECT count(*)::int AS n FROM bookings WHERE created_at < $1', [cutoff]),
        expiredRows,
      };
    },

    /** The names (validated upstream) that resolve to no table in this database. */
    async findMissingTables(tables: string[]): Promise<string[]> {
      const { rows } = await db.query<{ name: string }>(
        `SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NULL`,
        [tables],
      );
      return rows.map((r) => r.name);
    },

    /**
     * Cancels (or terminates) client queries in this database active for longer than the given age.
     * Idempotent: a second call finds only what is still running. Our own session is never touched.
     */
    async cancelRunawayQueries({
      olderThanSeconds,
      terminate,
    }: {
      olderThanSeconds: number;
      terminate: boolean;
    }): Promise<{ stopped: RunawayQuery[]; method: string }> {
      const method = terminate ? 'pg_terminate_backend' : 'pg_cancel_backend';
      const { rows } = await db.query<RunawayQuery & { stopped: boolean }>(
        `SELECT pid, usename AS user, EXTRACT(EPOCH FROM now() - query_start)::int AS seconds, query,
                ${method}(pid) AS stopped
           FROM pg_stat_activity
          WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()
            AND datname = current_database() AND query_start < now() - make_interval(secs => $1)`,
        [olderThanSeconds],
      );
      return {
        method,
        stopped: rows
          .filter((r) => r.stopped)
          .map((r) => ({ pid: r.pid, user: r.user, seconds: r.seconds, query: blankLiterals(r.query) })),
      };
    },
  };
}
