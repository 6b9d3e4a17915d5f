import type pg from 'pg';
import { createApprovalActivities } from '../activities/approvals.js';
import type { Approvals } from './config/schema.js';
import { planHash, type ApprovalPlan, type Proof } from '../domain/approval-proof.js';
import {
  findItem,
  checklistFor,
  type ChecklistItem,
  type ChecklistRoles,
  type SignOff,
  type SignOffStatus,
} from '../domain/checklists.js';
import type { RunReport } from '../domain/run.js';
import { ensureReportSchema } from './maintenance-runs.js';

// Sign-offs of checklist tasks: a person's statement, signed with their own key the way approvals
// are, bound to one run and one item, kept in the report database next to maintenance_runs so it
// outlives the run (most tasks are signed after the report was posted).

const SCHEMA = `
CREATE TABLE IF NOT EXISTS checklist_signoffs (
  workflow_id text NOT NULL,
  run_id      text NOT NULL,
  item        text NOT NULL,
  principal   text NOT NULL,
  comment     text,
  signed_at   timestamptz NOT NULL DEFAULT now(),
  proof       jsonb NOT NULL,
  PRIMARY KEY (workflow_id, run_id, item)
);
ALTER TABLE checklist_signoffs ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'done';
CREATE TABLE IF NOT EXISTS checklist_task_notices (
  workflow_id text NOT NULL,
  run_id      text NOT NULL,
  item        text NOT NULL,
  notice      text NOT NULL,
  sent_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workflow_id, run_id, item, notice)
);`;

/** Why a sign-off cannot be recorded: one line for the operator. */
export class SignOffError extends Error {}

/**
 * What a sign-off binds, hashed into the signed statement: the run's kind, the item in the seed's
 * words and, unless done (as before statuses existed), the status: a proof of "blocked" is no proof of "done".
 */
export function signOffPlan(kind: string, item: ChecklistItem, status: SignOffStatus = 'done'): ApprovalPlan {
  const actions = [`${item.id}: ${item.text}`];
  if (status !== 'done') actions.push(`status: ${status}`);
  return { kind: `${kind}/checklist`, actions };
}

/** Blocked and not-applicable say why; a sign-off without its reason is refused before anything is signed. */
export function needsReason(status: SignOffStatus, reason: string | undefined): boolean {
  return status !== 'done' && !reason?.trim();
}

/** The people who may sign an item off: its owner role's, then its backup role's; missing mappings are named. */
export function signersFor(item: ChecklistItem, roles: ChecklistRoles): { people: string[]; unmapped: string[] } {
  const unmapped = [item.owner, item.backup].filter((r) => !roles[r]?.length);
  return { people: [...new Set([...(roles[item.owner] ?? []), ...(roles[item.backup] ?? [])])], unmapped };
}

/** The task a sign-off names, or why there is none: an unknown item (the tasks listed), or one met by a check. */
export function taskItem(kind: string, itemId: string): ChecklistItem {
  const item = findItem(kind, itemId);
  if (!item) {
    const tasks = checklistFor(kind)
      .filter((i) => 'task' in i.means)
      .map((i) => i.id);
    throw new SignOffError(
      `${kind} has no checklist item '${itemId.slice(0, 80)}'${tasks.length ? ` (tasks: ${tasks.join(', ')})` : ' (its checklist has no tasks)'}`,
    );
  }
  if (!('task' in item.means))
    throw new SignOffError(
      `${item.id} is met by a check (${item.means.check.map((r) => r.finding).join(', ')}), not by a sign-off`,
    );
  return item;
}

export interface RunRef {
  workflowId: string;
  runId: string;
  kind: string;
}

/** The latest stored report of a workflow id, or undefined when none was stored (yet). */
export async function storedReport(pool: pg.Pool, workflowId: string, runId?: string): Promise<RunReport | undefined> {
  const { rows } = await pool
    .query<{ report: RunReport }>(
      `SELECT report FROM maintenance_runs WHERE workflow_id = $1 AND ($2::text IS NULL OR run_id = $2) ORDER BY started_at DESC LIMIT 1`,
      [workflowId, runId ?? null],
    )
    .catch((err: { code?: string }) => {
      if (err.code === '42P01') return { rows: [] };
      throw err;
    });
  return rows[0]?.report;
}

/** Where a stored proof's statement says it was signed (cli, slack, ...); undefined for a proof without one. */
function signedVia(proof: { statement?: unknown } | null): string | undefined {
  if (typeof proof?.statement !== 'string') return undefined;
  try {
    const via: unknown = JSON.parse(Buffer.from(proof.statement, 'base64url').toString('utf8')).via;
    return typeof via === 'string' ? via : undefined;
  } catch {
    return undefined;
  }
}

/** A run's sign-offs as recorded (whenever they came: before or after its report was stored), oldest first. */
export async function listSignOffs(pool: pg.Pool, workflowId: string, runId: string): Promise<SignOff[]> {
  await pool.query(SCHEMA);
  const { rows } = await pool.query<SignOff & { comment: string | null; proof: { statement?: unknown } | null }>(
    `SELECT item, principal AS by, to_char(signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at, status, comment, proof
       FROM checklist_signoffs WHERE workflow_id = $1 AND run_id = $2 ORDER BY signed_at`,
    [workflowId, runId],
  );
  return rows.map(({ comment, proof, ...r }) => {
    const via = signedVia(proof);
    return { ...r, ...(comment === null ? {} : { comment }), ...(via ? { via } : {}) };
  });
}

/**
 * Records a signed sign-off once every rule holds: the item is a task of this run's checklist, the
 * proof is signed by the signer's own key (or by the bridge's, for the Slack user it mapped) for this
 * run, item and status, fresh, with a reason unless done, and the signer holds the item's owner or
 * backup role. Anything else is refused and nothing is written. Only a blocked task may be signed
 * again (once unblocked, as done, or as not applicable after all).
 */
export async function recordSignOff(
  pool: pg.Pool,
  deps: { approvals: Approvals; roles: ChecklistRoles },
  run: RunRef,
  itemId: string,
  proof: Proof,
  status: SignOffStatus = 'done',
): Promise<SignOff> {
  const item = taskItem(run.kind, itemId);
  const { people, unmapped } = signersFor(item, deps.roles);
  if (unmapped.length === 2)
    throw new SignOffError(
      `nobody may sign off ${item.id}: checklistRoles maps nobody to ${unmapped.join(' or ')} (set it in the config file)`,
    );

  const check = await createApprovalActivities({ approvals: deps.approvals }).verifyApprovalProof(proof);
  if (!check.ok) throw new SignOffError(`sign-off refused: ${check.reason}`);
  const s = check.statement;
  const now = Date.now();
  const why =
    s.decision !== 'approve'
      ? `signed as a ${s.decision}`
      : s.workflowId !== run.workflowId || s.runId !== run.runId
        ? `signed for another run (${s.workflowId} ${s.runId ?? ''})`
        : s.planHash !== planHash(signOffPlan(run.kind, item, status))
          ? `signed for another item or status than ${item.id} ${status}`
          : Date.parse(s.expiresAt) <= now
            ? `expired at ${s.expiresAt}`
            : needsReason(status, s.comment)
              ? `${status} needs a reason`
              : !people.includes(s.principal)
                ? `${s.principal} holds neither ${item.owner} nor ${item.backup} (allowed: ${people.join(', ')})`
                : undefined;
  if (why) throw new SignOffError(`sign-off refused: ${why}`);

  await pool.query(SCHEMA);
  const { rows } = await pool.query<{ principal: string; at: string; status: SignOffStatus; inserted: boolean }>(
    `WITH ins AS (
       INSERT INTO checklist_signoffs (workflow_id, run_id, item, principal, status, comment, proof)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (workflow_id, run_id, item) DO UPDATE
         SET principal = EXCLUDED.principal, status = EXCLUDED.status, comment = EXCLUDED.comment,
             proof = EXCLUDED.proof, signed_at = now()
         WHERE checklist_signoffs.status = 'blocked'
       RETURNING principal, signed_at, status)
     SELECT principal, to_char(signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at, status, true AS inserted FROM ins
     UNION ALL
     SELECT principal, to_char(signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), status, false FROM checklist_signoffs
      WHERE workflow_id = $1 AND run_id = $2 AND item = $3 AND NOT EXISTS (SELECT 1 FROM ins)`,
    [run.workflowId, run.runId, item.id, s.principal, status, s.comment ?? null, JSON.stringify(proof)],
  );
  const row = rows[0]!;
  if (!row.inserted)
    throw new SignOffError(
      `${item.id} was already ${row.status === 'done' ? 'signed off' : `marked ${row.status}`} by ${row.principal} at ${row.at}`,
    );
  return { item: item.id, by: s.principal, at: row.at, status, ...(s.comment ? { comment: s.comment } : {}) };
}

// --- Open tasks and the notices sent about them -------------------------------------------------

/** Posted at the end of the run; a reminder to the owner role; the handoff to the backup role. Each once. */
export type TaskNotice = 'posted' | 'reminder' | 'handoff';

export interface OpenTask {
  run: RunRef & { finishedAt: number };
  item: ChecklistItem;
  /** When each notice already sent went out (ms since the epoch). */
  sent: Partial<Record<TaskNotice, number>>;
}

/**
 * The tasks nobody has answered yet (no sign-off of any status) of the stored runs finished since
 * `since`, or of one run, with the notices sent about each; `now` is the database's clock, the one
 * that stamped the notices.
 */
export async function openTasks(
  pool: pg.Pool,
  filter: { since: Date } | { workflowId: string; runId: string },
): Promise<{ now: number; tasks: OpenTask[] }> {
  await ensureReportSchema(pool);
  await pool.query(SCHEMA);
  const one = 'workflowId' in filter;
  const { rows } = await pool.query<{
    workflowId: string;
    runId: string;
    kind: string;
    finishedAt: number;
    answered: string[];
    notices: Record<string, number>;
    now: number;
  }>(
    `SELECT r.workflow_id AS "workflowId", r.run_id AS "runId", r.kind,
            (extract(epoch FROM r.finished_at) * 1000)::float8 AS "finishedAt",
            (SELECT coalesce(jsonb_agg(s.item), '[]') FROM checklist_signoffs s
              WHERE s.workflow_id = r.workflow_id AND s.run_id = r.run_id) AS answered,
            (SELECT coalesce(jsonb_object_agg(n.item || ' ' || n.notice, (extract(epoch FROM n.sent_at) * 1000)::float8), '{}')
               FROM checklist_task_notices n WHERE n.workflow_id = r.workflow_id AND n.run_id = r.run_id) AS notices,
            (extract(epoch FROM now()) * 1000)::float8 AS now
       FROM maintenance_runs r
      WHERE (r.report->'checklist'->>'openTasks')::int > 0
        AND ${one ? 'r.workflow_id = $1 AND r.run_id = $2' : 'r.finished_at >= $1'}
      ORDER BY r.finished_at, r.workflow_id`,
    one ? [filter.workflowId, filter.runId] : [filter.since.toISOString()],
  );
  const tasks = rows.flatMap(({ answered, notices, now: _now, ...run }) =>
    checklistFor(run.kind)
      .filter((i) => 'task' in i.means && !answered.includes(i.id))
      .map((item) => ({
        run,
        item,
        sent: Object.fromEntries(
          (['posted', 'reminder', 'handoff'] as const)
            .filter((n) => notices[`${item.id} ${n}`] !== undefined)
            .map((n) => [n, notices[`${item.id} ${n}`]!]),
        ),
      })),
  );
  const now =
    rows[0]?.now ??
    (await pool.query<{ now: number }>(`SELECT (extract(epoch FROM now()) * 1000)::float8 AS now`)).rows[0]!.now;
  return { now, tasks };
}

/**
 * Sends one notice about a task at most once, however many senders race or retry: the notice is
 * claimed in the table first, and released when the post fails so a later pass sends it.
 */
export async function sendNoticeOnce(
  pool: pg.Pool,
  task: OpenTask,
  notice: TaskNotice,
  post: () => Promise<void>,
): Promise<boolean> {
  const key = [task.run.workflowId, task.run.runId, task.item.id, notice];
  const claimed = await pool.query(
    `INSERT INTO checklist_task_notices (workflow_id, run_id, item, notice) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
    key,
  );
  if (claimed.rowCount === 0) return false;
  try {
    await post();
  } catch (err) {
    await pool.query(
      `DELETE FROM checklist_task_notices WHERE workflow_id = $1 AND run_id = $2 AND item = $3 AND notice = $4`,
      key,
    );
    throw err;
  }
  return true;
}
