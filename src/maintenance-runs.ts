import type pg from 'pg';
import type { RunReport } from '../domain/run.js';
import type { RunFilter, RunRow } from '../domain/run-history.js';

// The report store: the maintenance_runs table (one row per run, its report as JSON) and the
// performance baselines beside it. The report activities and `maint runs` both go through here.

const SCHEMA = `
CREATE TABLE IF NOT EXISTS maintenance_runs (
  workflow_id text NOT NULL,
  run_id      text NOT NULL,
  kind        text NOT NULL,
  target      text NOT NULL,
  outcome     text NOT NULL,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  summary     text NOT NULL,
  report      jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workflow_id, run_id)
);
CREATE INDEX IF NOT EXISTS maintenance_runs_started_idx ON maintenance_runs (started_at DESC);
CREATE INDEX IF NOT EXISTS maintenance_runs_kind_started_idx ON maintenance_runs (kind, started_at DESC);
CREATE TABLE IF NOT EXISTS performance_baselines (
  metric      text PRIMARY KEY,
  value       float8 NOT NULL,
  unit        text NOT NULL,
  samples     int NOT NULL,
  last_run_id text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
`;

/** Creates the tables and indexes if missing; the worker runs it at start, the activities before first use. */
export async function ensureReportSchema(pool: pg.Pool): Promise<void> {
  await pool.query(SCHEMA);
}

const ROW_COLUMNS = `workflow_id AS "workflowId", run_id AS "runId", kind, target, outcome,
  to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "startedAt",
  to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "finishedAt", summary`;

/** Upsert by (workflow id, run id): a retried or replayed delivery leaves one row. */
export async function upsertRunReport(pool: pg.Pool, report: RunReport): Promise<void> {
  await pool.query(
    `INSERT INTO maintenance_runs (workflow_id, run_id, kind, target, outcome, started_at, finished_at, summary, report)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (workflow_id, run_id) DO UPDATE SET
       kind = EXCLUDED.kind, target = EXCLUDED.target, outcome = EXCLUDED.outcome, started_at = EXCLUDED.started_at,
       finished_at = EXCLUDED.finished_at, summary = EXCLUDED.summary, report = EXCLUDED.report, recorded_at = now()`,
    [
      report.workflowId,
      report.runId,
      report.kind,
      report.target,
      report.outcome,
      report.startedAt,
      report.finishedAt,
      report.summary,
      JSON.stringify(report),
    ],
  );
}

/** Runs newest first, filtered by kind, outcome and start time; at most `limit` (default 50). */
export async function listRuns(pool: pg.Pool, filter: RunFilter = {}): Promise<RunRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    where.push(sql.replace('?', `$${params.length}`));
  };
  if (filter.kind) add('kind = ?', filter.kind);
  if (filter.outcome) add('outcome = ?', filter.outcome);
  if (filter.since) add('started_at >= ?', filter.since);
  if (filter.until) add('started_at < ?', filter.until);
  params.push(filter.limit ?? 50);
  const { rows } = await pool.query<RunRow>(
    `SELECT ${ROW_COLUMNS} FROM maintenance_runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY started_at DESC LIMIT $${params.length}`,
    params,
  );
  return rows;
}
