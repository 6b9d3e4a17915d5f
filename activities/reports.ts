import type pg from 'pg';
import type { CheckResult } from '../domain/checks.js';
import type { WindowReport } from '../domain/notices.js';
import type { MemoryByDeployment } from '../domain/memory.js';
import type { DayDigest, KindStatistics, Measurement, RunHistory } from '../domain/run-history.js';
import type { DeliveryRecord, RunReport } from '../domain/run.js';
import { cleanDeep } from '../domain/text.js';
import { ensureReportSchema, listRuns, upsertRunReport } from '../src/maintenance-runs.js';
import type { MaintenanceMetrics } from '../src/metrics.js';

/** Ignored decisions listed one by one in the weekly audit; the rest are counted. */
const MAX_AUDITED_ATTEMPTS = 100;

export function createReportActivities({ reports, metrics }: { reports: pg.Pool; metrics?: MaintenanceMetrics }) {
  let schemaReady: Promise<void> | undefined;
  const ready = () =>
    (schemaReady ??= ensureReportSchema(reports).catch((err) => {
      schemaReady = undefined;
      throw err;
    }));

  return {
    /**
     * Upsert by (workflow id, run id): a retried or replayed delivery leaves one row. NUL and lone
     * surrogates (which PostgreSQL refuses, losing the whole row) are replaced first.
     */
    async persistRunReport(raw: RunReport): Promise<void> {
      await ready();
      const report = cleanDeep(raw);
      await upsertRunReport(reports, report);
      metrics?.recordRun(report);
    },

    /** Per kind: runs, success rate, durations, approval latency; and every failure with its cause. */
    async summarizeRunHistory(since: string, until: string): Promise<RunHistory> {
      await ready();
      const { rows: kinds } = await reports.query<KindStatistics>(
        `WITH runs AS (
           SELECT kind, outcome, workflow_id, started_at, EXTRACT(EPOCH FROM finished_at - started_at)::float8 AS seconds,
                  (SELECT min((a->>'at')::timestamptz) FROM jsonb_array_elements(COALESCE(report->'approvals', '[]'::jsonb)) a
                    WHERE a->>'decision' = 'approve' AND a->>'ignored' IS NULL) AS first_approval
             FROM maintenance_runs WHERE started_at >= $1 AND started_at < $2)
         SELECT kind, count(*)::int AS runs,
                count(*) FILTER (WHERE outcome IN ('ok', 'warn', 'critical'))::int AS succeeded,
                count(*) FILTER (WHERE outcome IN ('failed', 'timed-out'))::int AS failed,
                round((count(*) FILTER (WHERE outcome IN ('ok', 'warn', 'critical'))::numeric
                  / NULLIF(count(*) FILTER (WHERE outcome IN ('ok', 'warn', 'critical', 'failed', 'timed-out')), 0)), 4)::float8 AS "successRate",
                round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)::numeric, 1)::float8 AS "p50Seconds",
                round(percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds)::numeric, 1)::float8 AS "p95Seconds",
                round(max(seconds)::numeric, 1)::float8 AS "maxSeconds",
                round(percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM first_approval - started_at))::numeric, 1)::float8 AS "medianApprovalSeconds"
           FROM runs GROUP BY kind ORDER BY kind`,
        [since, until],
      );
      const { rows: failures } = await reports.query<RunHistory['failures'][number]>(
        `SELECT kind, workflow_id AS "workflowId", to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "startedAt", left(summary, 300) AS cause
           FROM maintenance_runs WHERE started_at >= $1 AND started_at < $2 AND outcome IN ('failed', 'timed-out')
          ORDER BY started_at DESC LIMIT 50`,
        [since, until],
      );
      return { since, until, kinds, failures };
    },

    /**
     * Seed "Update performance baselines": compares each measurement with its baseline (warn past
     * `tolerance`, e.g. 0.5 = 50% worse), then folds it into the baseline (moving average, weight
     * 0.3). Keyed by run id, so a retried attempt does not fold the same run in twice.
     */
    async compareWithBaselines(runId: string, measurements: Measurement[], tolerance: number): Promise<CheckResult[]> {
      await ready();
      const results: CheckResult[] = [];
      for (const m of measurements) {
        const {
          rows: [row],
        } = await reports.query<{ value: number; samples: number; lastRunId: string }>(
          `SELECT value, samples, last_run_id AS "lastRunId" FROM performance_baselines WHERE metric = $1`,
          [m.metric],
        );
        const baseline = row && row.lastRunId === runId ? undefined : row;
        if (!row) {
          results.push({
            check: 'baseline',
            target: m.metric,
            status: 'ok',
            value: m.value,
            unit: m.unit,
            detail: `first measurement ${m.value} ${m.unit}: baseline set`,
          });
        } else {
          const reference = baseline ?? row;
          const change = reference.value === 0 ? 0 : (m.value - reference.value) / reference.value;
          const regressed = m.worse === 'higher' ? change > tolerance : -change > tolerance;
          results.push({
            check: 'baseline',
            target: m.metric,
            status: regressed ? 'warn' : 'ok',
            value: m.value,
            unit: m.unit,
            threshold: `within ${Math.round(tolerance * 100)}% of the baseline`,
            detail: `${m.value} ${m.unit} vs baseline ${Math.round(reference.value * 100) / 100} ${m.unit} (${change >= 0 ? '+' : ''}${Math.round(change * 100)}%)`,
          });
        }
        if (row?.lastRunId === runId) continue;
        await reports.query(
          `INSERT INTO performance_baselines (metric, value, unit, samples, last_run_id) VALUES ($1, $2, $3, 1, $4)
           ON CONFLICT (metric) DO UPDATE SET value = performance_baselines.value * 0.7 + EXCLUDED.value * 0.3,
             samples = performance_baselines.samples + 1, unit = EXCLUDED.unit, last_run_id = EXCLUDED.last_run_id, updated_at = now()`,
          [m.metric, m.value, m.unit, runId],
        );
      }
      return results;
    },

    /**
     * Seed "Forecast capacity requirements (3-6 months)": a least-squares line through every disk
     * usage figure our runs stored in [since, now), per path, projected 90 and 180 days ahead.
     */
    async forecastDiskUsage(since: string, criticalPercent: number): Promise<CheckResult[]> {
      await ready();
      const { rows } = await reports.query<{
        target: string;
        samples: number;
        slope: number | null;
        intercept: number | null;
        latest: number;
      }>(
        `WITH points AS (
           SELECT c->>'target' AS target, EXTRACT(EPOCH FROM r.started_at) / 86400 AS day, (c->>'value')::float8 AS pct
             FROM maintenance_runs r CROSS JOIN LATERAL jsonb_array_elements(r.report->'checks') c
            WHERE r.started_at >= $1 AND c->>'check' = 'disk' AND jsonb_typeof(c->'value') = 'number')
         SELECT target, count(*)::int AS samples, regr_slope(pct, day) AS slope, regr_intercept(pct, day) AS intercept,
                (array_agg(pct ORDER BY day DESC))[1] AS latest
           FROM points GROUP BY target ORDER BY target`,
        [since],
      );
      const today = Date.now() / 86_400_000;
      return rows.map((r): CheckResult => {
        if (r.samples < 2 || r.slope === null || r.intercept === null) {
          return {
            check: 'capacity',
            target: r.target,
            status: 'skipped',
            detail: `${r.samples} sample(s): too few to forecast`,
          };
        }
        const at = (days: number) => Math.round((r.intercept! + r.slope! * (today + days)) * 10) / 10;
        const [in90, in180] = [at(90), at(180)];
        return {
          check: 'capacity',
          target: r.target,
          value: in180,
          unit: '%',
          threshold: `stays under ${criticalPercent}% for 6 months`,
          status: in90 > criticalPercent ? 'critical' : in180 > criticalPercent ? 'warn' : 'ok',
          detail: `now ${r.latest}%, ${Math.round(r.slope * 30 * 100) / 100} points/month over ${r.samples} samples: ${in90}% in 3 months, ${in180}% in 6 months`,
        };
      });
    },

    /**
     * The memory figures the last `runs` weekly system reviews stored (`details.memory`), newest
     * first: the history a leak shows in. Runs that could not measure memory stored none.
     */
    async readMemoryHistory(runs: number): Promise<MemoryByDeployment[]> {
      await ready();
      const { rows } = await reports.query<{ memory: MemoryByDeployment }>(
        `SELECT report->'details'->'memory' AS memory FROM maintenance_runs
          WHERE kind = 'weeklySystemReview' AND jsonb_typeof(report->'details'->'memory') = 'object'
          ORDER BY started_at DESC LIMIT $1`,
        [runs],
      );
      return rows.map((r) => r.memory);
    },

    /**
     * Audit of our own approval log: every decision recorded in run reports in [since, until), and
     * every one that was ignored (unsigned, forged, replayed, expired, for another run or plan, not
     * an approver, the requester's own): each is someone trying to decide who could not.
     */
    async auditApprovalLog(since: string, until: string): Promise<CheckResult[]> {
      await ready();
      const { rows } = await reports.query<{
        kind: string;
        workflowId: string;
        approver: string;
        decision: string;
        via: string | null;
        ignored: string | null;
      }>(
        `SELECT r.kind, r.workflow_id AS "workflowId", a->>'approver' AS approver, a->>'decision' AS decision, a->>'via' AS via, a->>'ignored' AS ignored
           FROM maintenance_runs r CROSS JOIN LATERAL jsonb_array_elements(COALESCE(r.report->'approvals', '[]'::jsonb)) a
          WHERE r.started_at >= $1 AND r.started_at < $2 ORDER BY r.started_at`,
        [since, until],
      );
      const ignored = rows.filter((r) => r.ignored);
      const counted = rows.filter((r) => !r.ignored);
      const findings: CheckResult[] = ignored.slice(0, MAX_AUDITED_ATTEMPTS).map((r) => ({
        check: 'approval-log',
        target: r.approver,
        status: 'warn',
        threshold: 'only proven, allow-listed approvers decide',
        detail: `${r.approver} tried to ${r.decision} ${r.kind} ${r.workflowId} via ${r.via ?? 'unknown path'}: ignored, ${r.ignored}`,
      }));
      findings.push({
        check: 'approval-log',
        target: 'decisions',
        status: 'ok',
        value: counted.length,
        unit: 'decisions',
        detail:
          `${counted.length} counted decision(s) by ${[...new Set(counted.map((r) => r.approver))].join(', ') || 'nobody'}; ${ignored.length} ignored` +
          (ignored.length > MAX_AUDITED_ATTEMPTS ? ` (the first ${MAX_AUDITED_ATTEMPTS} listed)` : ''),
      });
      return findings;
    },

    /**
     * The evening digest: runs that started in [since, until), and every finding whose latest
     * result in that period is critical (a later run that checks the same thing again resolves it).
     */
    async summarizeRunsBetween(since: string, until: string): Promise<DayDigest> {
      await ready();
      const runs = await listRuns(reports, { since, until, limit: 500 });
      const countsByOutcome: Record<string, number> = {};
      for (const r of runs) countsByOutcome[r.outcome] = (countsByOutcome[r.outcome] ?? 0) + 1;
      const { rows } = await reports.query<{ kind: string; workflowId: string; at: string; result: CheckResult }>(
        `SELECT * FROM (
           SELECT DISTINCT ON (r.kind, c->>'check', c->>'target') r.kind, r.workflow_id AS "workflowId",
                  to_char(r.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, c AS result
             FROM maintenance_runs r CROSS JOIN LATERAL jsonb_array_elements(r.report->'checks') AS c
            WHERE r.started_at >= $1 AND r.started_at < $2
            ORDER BY r.kind, c->>'check', c->>'target', r.started_at DESC
         ) latest WHERE result->>'status' = 'critical' ORDER BY at`,
        [since, until],
      );
      const unresolvedCriticals = rows.map((r) => ({ ...r.result, kind: r.kind, workflowId: r.workflowId, at: r.at }));
      return { runs, countsByOutcome, unresolvedCriticals };
    },

    /**
     * Seed "Post-maintenance reports within 24 hours": the stored reports of runs whose window
     * (`RunReport.window`) ended in [since, until), when each finished and whether its Slack post went
     * out; and when the store's first run started (windows before it owe it nothing).
     */
    async windowReportsEndedBetween(
      since: string,
      until: string,
    ): Promise<{ reports: WindowReport[]; recordingSince: string | null }> {
      await ready();
      const { rows } = await reports.query<
        Omit<WindowReport, 'posted' | 'postDetail'> & { post: DeliveryRecord | null }
      >(
        `SELECT kind, workflow_id AS "workflowId", report->'window' AS window,
                to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "finishedAt",
                (SELECT d FROM jsonb_array_elements(COALESCE(report->'details'->'deliveries', '[]'::jsonb)) d
                  WHERE d->>'channel' = 'slack' LIMIT 1) AS post
           FROM maintenance_runs
          WHERE (report->'window'->>'end')::timestamptz >= $1 AND (report->'window'->>'end')::timestamptz < $2
          ORDER BY (report->'window'->>'end')::timestamptz, workflow_id`,
        [since, until],
      );
      const {
        rows: [first],
      } = await reports.query<{ since: string | null }>(
        `SELECT to_char(min(started_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS since FROM maintenance_runs`,
      );
      return {
        reports: rows.map(({ post, ...r }) => ({
          ...r,
          posted: post?.ok === true,
          postDetail: post?.detail ?? 'no Slack delivery recorded',
        })),
        recordingSince: first?.since ?? null,
      };
    },
  };
}
