import type pg from 'pg';
import { gradeAbove, skipped, type CheckResult } from '../../domain/checks.js';
import type { Thresholds } from '../../domain/thresholds.js';

interface PostgresHealthDeps {
  db: pg.Pool;
  /** How reports name the database: never the connection string (it may hold a password). */
  databaseLabel: string;
}

const CHECK_TIMEOUT = "SET LOCAL statement_timeout = '10s'";

export function createPostgresHealthActivities({ db, databaseLabel }: PostgresHealthDeps) {
  return {
    /**
     * Seed: "Verify database connectivity and performance", `count(*) FROM pg_stat_activity`
     * and `pg_stat_replication`. Read-only; one short transaction with its own statement timeout.
     */
    async checkDatabaseHealth(thresholds: Thresholds): Promise<CheckResult[]> {
      const started = performance.now();
      let client: pg.PoolClient;
      try {
        client = await db.connect();
      } catch (err) {
        const reason = (err as Error).message || (err as { code?: string }).code || 'connection failed';
        return [
          { check: 'db.connectivity', target: databaseLabel, status: 'critical', detail: `cannot connect: ${reason}` },
          skipped('db.connections', databaseLabel, 'database unreachable'),
          skipped('db.replication', databaseLabel, 'database unreachable'),
        ];
      }
      try {
        await client.query('BEGIN READ ONLY');
        await client.query(CHECK_TIMEOUT);
        await client.query('SELECT 1');
        const latencyMs = Math.round(performance.now() - started);
        const conn = await client.query<{ used: number; max: number }>(
          `SELECT count(*)::int AS used, current_setting('max_connections')::int AS max FROM pg_stat_activity`,
        );
        const { used, max } = conn.rows[0]!;
        const connPercent = Math.round((used / max) * 1000) / 10;
        const replication = await replicationStatus(client, thresholds);
        await client.query('COMMIT');
        return [
          {
            check: 'db.connectivity',
            target: databaseLabel,
            status: 'ok',
            value: latencyMs,
            unit: 'ms',
            detail: `connected and answered in ${latencyMs} ms`,
          },
          {
            check: 'db.connections',
            target: databaseLabel,
            value: connPercent,
            unit: '%',
            threshold: `warn > ${thresholds.connectionsWarnPercent}%, critical > ${thresholds.connectionsCriticalPercent}%`,
            status: gradeAbove(connPercent, thresholds.connectionsWarnPercent, thresholds.connectionsCriticalPercent),
            detail: `${used} of max_connections ${max} in use`,
          },
          { check: 'db.replication', target: databaseLabel, ...replication },
        ];
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        return [
          {
            check: 'db.connectivity',
            target: databaseLabel,
            status: 'critical',
            detail: `health query failed: ${(err as Error).message}`,
          },
        ];
      } finally {
        client.release();
      }
    },
  };
}

async function replicationStatus(client: pg.PoolClient, t: Thresholds): Promise<Omit<CheckResult, 'check' | 'target'>> {
  const threshold = `${t.expectedReplicas} replica(s) expected, lag warn > ${t.replicationLagWarnSeconds} s, critical > ${t.replicationLagCriticalSeconds} s`;
  const {
    rows: [role],
  } = await client.query<{ standby: boolean; lag: number | null }>(
    `SELECT pg_is_in_recovery() AS standby,
            EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 AS lag`,
  );
  if (role!.standby) {
    const lag = Math.round((role!.lag ?? 0) * 10) / 10;
    return {
      status: gradeAbove(lag, t.replicationLagWarnSeconds, t.replicationLagCriticalSeconds),
      value: lag,
      unit: 's',
      threshold,
      detail: `standby, replaying ${lag} s behind the primary`,
    };
  }
  const { rows } = await client.query<{ name: string; state: string; lag: number | null }>(
    `SELECT application_name AS name, state, COALESCE(EXTRACT(EPOCH FROM replay_lag), 0)::float8 AS lag FROM pg_stat_replication`,
  );
  const streaming = rows.filter((r) => r.state === 'streaming');
  const maxLag = Math.round(Math.max(0, ...streaming.map((r) => r.lag ?? 0)) * 10) / 10;
  if (streaming.length < t.expectedReplicas) {
    return {
      status: 'critical',
      value: streaming.length,
      unit: 'replicas',
      threshold,
      detail: `${streaming.length} of ${t.expectedReplicas} expected replicas streaming`,
    };
  }
  if (t.expectedReplicas === 0 && streaming.length === 0) {
    return { status: 'ok', value: 0, unit: 'replicas', threshold, detail: 'primary with no replicas, none expected' };
  }
  return {
    status: gradeAbove(maxLag, t.replicationLagWarnSeconds, t.replicationLagCriticalSeconds),
    value: maxLag,
    unit: 's',
    threshold,
    detail: `${streaming.length} replica(s) streaming, max replay lag ${maxLag} s`,
  };
}
