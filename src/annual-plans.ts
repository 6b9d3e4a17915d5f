import type pg from 'pg';
import { createApprovalActivities } from '../activities/approvals.js';
import {
  amendmentPlan,
  amendmentRunId,
  amendmentWorkflowId,
  annualPlanHash,
  type AnnualPlan,
  type StoredAnnualPlan,
} from '../domain/annual-plan.js';
import { inTransaction } from '../activities/postgres/sql.js';
import { planHash, type Proof } from '../domain/approval-proof.js';
import type { Approvals } from './config/schema.js';

// The annual upgrade plan store, next to maintenance_runs: every revision of a window's plan with
// who amended it (their signed statement kept), and the read a run made when its window opened.
// Amendments are refused once the window has started or a run has read the plan at its opening.

const SCHEMA = `
CREATE TABLE IF NOT EXISTS annual_upgrade_plans (
  window_start timestamptz NOT NULL,
  revision     int NOT NULL,
  plan         jsonb NOT NULL,
  plan_hash    text NOT NULL,
  amended_by   text NOT NULL,
  amended_at   timestamptz NOT NULL DEFAULT now(),
  comment      text,
  proof        jsonb NOT NULL,
  PRIMARY KEY (window_start, revision)
);
CREATE TABLE IF NOT EXISTS annual_upgrade_plan_reads (
  window_start timestamptz PRIMARY KEY,
  revision     int NOT NULL,
  workflow_id  text NOT NULL,
  run_id       text NOT NULL,
  read_at      timestamptz NOT NULL DEFAULT now()
);`;

/** Why an amendment cannot be stored: one line for the operator; nothing was written. */
export class PlanAmendmentError extends Error {}

const ISO = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

interface PlanRow {
  revision: number;
  plan: AnnualPlan;
  hash: string;
  by: string;
  at: string;
  comment: string | null;
}

async function rows(db: pg.Pool | pg.PoolClient, windowStart: string, revision?: number): Promise<PlanRow[]> {
  const { rows: found } = await db.query<PlanRow>(
    `SELECT revision, plan, plan_hash AS hash, amended_by AS by, ${ISO('amended_at')} AS at, comment
       FROM annual_upgrade_plans WHERE window_start = $1 AND ($2::int IS NULL OR revision = $2)
      ORDER BY revision DESC`,
    [windowStart, revision ?? null],
  );
  return found;
}

async function readAtOpening(db: pg.Pool | pg.PoolClient, windowStart: string) {
  const { rows: found } = await db.query<{ workflowId: string; runId: string; revision: number; at: string }>(
    `SELECT workflow_id AS "workflowId", run_id AS "runId", revision, ${ISO('read_at')} AS at
       FROM annual_upgrade_plan_reads WHERE window_start = $1`,
    [windowStart],
  );
  return found[0];
}

function stored(windowStart: string, row: PlanRow | undefined, read?: StoredAnnualPlan['readAtOpening']) {
  const base: StoredAnnualPlan = { windowStart, revision: 0, ...(read ? { readAtOpening: read } : {}) };
  if (!row) return base;
  return {
    ...base,
    revision: row.revision,
    plan: row.plan,
    hash: row.hash,
    amendedBy: row.by,
    amendedAt: row.at,
    ...(row.comment ? { comment: row.comment } : {}),
  };
}

/** The window's current plan (revision 0 when none is stored) and, once read at the opening, that read. */
export async function currentAnnualPlan(pool: pg.Pool, windowStart: string): Promise<StoredAnnualPlan> {
  await pool.query(SCHEMA);
  const read = await readAtOpening(pool, windowStart);
  // After the opening the plan that counts is the one read then.
  return stored(windowStart, (await rows(pool, windowStart, read?.revision))[0], read);
}

/** Every revision of the window's plan, newest first: the audit of who amended what. */
export async function annualPlanRevisions(pool: pg.Pool, windowStart: string): Promise<StoredAnnualPlan[]> {
  await pool.query(SCHEMA);
  return (await rows(pool, windowStart)).map((r) => stored(windowStart, r));
}

// Bounded waits: an amendment stuck behind a lock fails with a clear error instead of hanging the CLI.
const PLAN_TIMEOUTS = { lockTimeoutMs: 30_000, statementTimeoutMs: 60_000 };

async function inPlanTransaction<T>(pool: pg.Pool, windowStart: string, fn: (c: pg.PoolClient) => Promise<T>) {
  await pool.query(SCHEMA);
  return inTransaction(pool, PLAN_TIMEOUTS, async (client) => {
    // One writer per window at a time: an amendment and the run's read never interleave.
    await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('annual-plan ' || $1, 0))`, [windowStart]);
    return fn(client);
  });
}

export interface Amendment {
  windowStart: string;
  /** The revision the signer reviewed and amended (0 for the first plan). */
  baseRevision: number;
  plan: AnnualPlan;
  proof: Proof;
}

/**
 * Stores a new revision once every rule holds: the proof is an operator's own key signing this
 * window's plan, exactly this content, on top of the revision now current (someone else's amendment
 * in between is refused: review it and amend again), fresh; the window has not started and no run
 * has read the plan at its opening. Anything else is refused and nothing is written.
 */
export async function amendAnnualPlan(pool: pg.Pool, approvals: Approvals, a: Amendment): Promise<StoredAnnualPlan> {
  const check = await createApprovalActivities({ approvals }).verifyApprovalProof(a.proof);
  if (!check.ok) throw new PlanAmendmentError(`amendment refused: ${check.reason}`);
  const s = check.statement;
  const why =
    check.signer !== 'operator'
      ? "signed by the bridge's key: an amendment is signed with the operator's own key"
      : s.decision !== 'approve'
        ? `signed as a ${s.decision}`
        : s.workflowId !== amendmentWorkflowId(a.windowStart) || s.runId !== amendmentRunId(a.baseRevision)
          ? `signed for another window or revision (${s.workflowId} ${s.runId ?? ''})`
          : s.planHash !== planHash(amendmentPlan(a.windowStart, a.plan))
            ? 'signed for another plan than the one given'
            : Date.parse(s.expiresAt) <= Date.now()
              ? `expired at ${s.expiresAt}`
              : undefined;
  if (why) throw new PlanAmendmentError(`amendment refused: ${why}`);

  return inPlanTransaction(pool, a.windowStart, async (c) => {
    const read = await readAtOpening(c, a.windowStart);
    if (read)
      throw new PlanAmendmentError(
        `amendment refused: the window opened and run ${read.workflowId} read revision ${read.revision} at ${read.at}; the plan can no longer change`,
      );
    const { rows: started } = await c.query<{ started: boolean }>(`SELECT now() >= $1::timestamptz AS started`, [
      a.windowStart,
    ]);
    if (started[0]!.started)
      throw new PlanAmendmentError(
        `amendment refused: the window started at ${a.windowStart}; the plan can no longer change`,
      );
    const current = (await rows(c, a.windowStart))[0];
    if ((current?.revision ?? 0) !== a.baseRevision)
      throw new PlanAmendmentError(
        `amendment refused: the plan is at revision ${current?.revision ?? 0} (by ${current?.by ?? 'nobody'} at ${current?.at ?? '-'}), not ${a.baseRevision}: review it and amend again`,
      );
    const hash = annualPlanHash(a.plan);
    if (current && current.hash === hash)
      throw new PlanAmendmentError(`amendment refused: it changes nothing in revision ${current.revision}`);
    await c.query(
      `INSERT INTO annual_upgrade_plans (window_start, revision, plan, plan_hash, amended_by, comment, proof)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        a.windowStart,
        a.baseRevision + 1,
        JSON.stringify(a.plan),
        hash,
        s.principal,
        s.comment ?? null,
        JSON.stringify(a.proof),
      ],
    );
    return stored(a.windowStart, (await rows(c, a.windowStart, a.baseRevision + 1))[0]);
  });
}

/**
 * The run's read when its window opens: the current revision, recorded as read by this run, after
 * which amendments are refused. A retried read by the same run returns the revision it recorded.
 */
export async function readAnnualPlanAtOpening(
  pool: pg.Pool,
  r: { windowStart: string; workflowId: string; runId: string },
): Promise<StoredAnnualPlan> {
  return inPlanTransaction(pool, r.windowStart, async (c) => {
    const current = (await rows(c, r.windowStart))[0];
    await c.query(
      `INSERT INTO annual_upgrade_plan_reads (window_start, revision, workflow_id, run_id)
       VALUES ($1, $2, $3, $4) ON CONFLICT (window_start) DO NOTHING`,
      [r.windowStart, current?.revision ?? 0, r.workflowId, r.runId],
    );
    const read = (await readAtOpening(c, r.windowStart))!;
    return stored(r.windowStart, (await rows(c, r.windowStart, read.revision))[0], read);
  });
}
