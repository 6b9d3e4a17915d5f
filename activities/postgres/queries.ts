import type pg from 'pg';

export interface RunawayQuery {
  pid: number;
  user: string;
  seconds: number;
  /** The statement with its literals blanked: query text can carry personal data or secrets. */
  query: string;
}

const blankLiterals = (sql: string) => sql.replace(/'(?:[^']|'')*'/g, "'?'").replace(/\b\d+\b/g, '?').slice(0, 160);

export function createQueryActivities({ db }: { db: pg.Pool }) {
  return {
    /**
     * Cancels (or terminates) client queries in this database active for longer than the given age.
     * Idempotent: a second call finds only what is still running. Our own session is never touched.
     */
    async cancelRunawayQueries({ olderThanSeconds, terminate }: { olderThanSeconds: number; terminate: boolean }): Promise<{ stopped: RunawayQuery[]; method: string }> {
      const method = terminate ? 'pg_terminate_backend' : 'pg_cancel_backend';
      const { rows } = await db.query<RunawayQuery & { stopped: boolean }>(
        `SELECT pid, usename AS user, EXTRACT(EPOCH FROM now() - query_start)::int AS seconds, query,
                ${method}(pid) AS stopped
           FROM pg_stat_activity
          WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()
            AND datname = current_database() AND query_start < now() - make_interval(secs => $1)`,
        [olderThanSeconds],
      );
      return { method, stopped: rows.filter((r) => r.stopped).map((r) => ({ pid: r.pid, user: r.user, seconds: r.seconds, query: blankLiterals(r.query) })) };
    },
  };
}
