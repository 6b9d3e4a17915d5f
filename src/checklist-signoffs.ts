import type pg from 'pg';
import { createApprovalActivities } from '../activities/approvals.js';
import type { Approvals } from './config/schema.js';
import { planHash, type ApprovalPlan, type Proof } from '../domain/approval-proof.js';
import { findItem, checklistFor, type ChecklistItem, type ChecklistRoles, type SignOff } from '../domain/checklists.js';
import type { RunReport } from '../domain/run.js';

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
);`;

/** Why a sign-off cannot be recorded: one line for the operator. */
export class SignOffError extends Error {}

/** What a sign-off binds, hashed into the signed statement: the run's kind and the item, in the seed's words. */
export function signOffPlan(kind: string, item: ChecklistItem): ApprovalPlan {
  return { kind: `${kind}/checklist`, actions: [`${item.id}: ${item.text}`] };
}

/** The people who may sign an item off: its owner role's, then its backup role's; missing mappings are named. */
export function signersFor(item: ChecklistItem, roles: ChecklistRoles): { people: string[]; unmapped: string[] } {
  const unmapped = [item.owner, item.backup].filter((r) => !roles[r]?.length);
  return { people: [...new Set([...(roles[item.owner] ?? []), ...(roles[item.backup] ?? [])])], unmapped };
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

export async function listSignOffs(pool: pg.Pool, workflowId: string, runId: string): Promise<SignOff[]> {
  await pool.query(SCHEMA);
  const { rows } = await pool.query<SignOff>(
    `SELECT item, principal AS by, to_char(signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at, comment
       FROM checklist_signoffs WHERE workflow_id = $1 AND run_id = $2 ORDER BY signed_at`,
    [workflowId, runId],
  );
  return rows.map((r) => (r.comment === null ? { item: r.item, by: r.by, at: r.at } : r));
}

/**
 * Records a signed sign-off once every rule holds: the item is a task of this run's checklist, the
 * proof is signed by the signer's own key for this run and item, fresh, and the signer holds the
 * item's owner or backup role. Anything else is refused and nothing is written.
 */
export async function recordSignOff(
  pool: pg.Pool,
  deps: { approvals: Approvals; roles: ChecklistRoles },
  run: RunRef,
  itemId: string,
  proof: Proof,
): Promise<SignOff> {
  const item = findItem(run.kind, itemId);
  if (!item) {
    const tasks = checklistFor(run.kind)
      .filter((i) => 'task' in i.means)
      .map((i) => i.id);
    throw new SignOffError(
      `${run.kind} has no checklist item '${itemId.slice(0, 80)}'${tasks.length ? ` (tasks: ${tasks.join(', ')})` : ' (its checklist has no tasks)'}`,
    );
  }
  if (!('task' in item.means))
    throw new SignOffError(
      `${item.id} is met by a check (${item.means.check.map((r) => r.finding).join(', ')}), not by a sign-off`,
    );
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
        : s.planHash !== planHash(signOffPlan(run.kind, item))
          ? 'signed for another item'
          : Date.parse(s.expiresAt) <= now
            ? `expired at ${s.expiresAt}`
            : !people.includes(s.principal)
              ? `${s.principal} holds neither ${item.owner} nor ${item.backup} (allowed: ${people.join(', ')})`
              : undefined;
  if (why) throw new SignOffError(`sign-off refused: ${why}`);

  await pool.query(SCHEMA);
  const { rows } = await pool.query<{ principal: string; at: string; inserted: boolean }>(
    `WITH ins AS (
       INSERT INTO checklist_signoffs (workflow_id, run_id, item, principal, comment, proof) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT DO NOTHING RETURNING principal, signed_at)
     SELECT principal, to_char(signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at, true AS inserted FROM ins
     UNION ALL
     SELECT principal, to_char(signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), false FROM checklist_signoffs
      WHERE workflow_id = $1 AND run_id = $2 AND item = $3 AND NOT EXISTS (SELECT 1 FROM ins)`,
    [run.workflowId, run.runId, item.id, s.principal, s.comment ?? null, JSON.stringify(proof)],
  );
  const row = rows[0]!;
  if (!row.inserted) throw new SignOffError(`${item.id} was already signed off by ${row.principal} at ${row.at}`);
  return { item: item.id, by: s.principal, at: row.at, ...(s.comment ? { comment: s.comment } : {}) };
}
