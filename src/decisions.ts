import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { planHash, type ApprovalRequestState, type Proof, type Verdict } from '../domain/approval-proof.js';
import { KeyError, parsePrivateKey, type SigningKey } from './signing.js';
import { decideUpdate, statusQuery } from '../workflows/lib/definitions.js';

// The client side of signed decisions, shared by `maint` and the approval bridge.

/** Why a decision cannot be made or sent: one line for the operator (or Slack user). */
export class DecisionError extends Error {}

/** `--key`, else MAINT_SIGNING_KEY, else ~/.ssh/id_ed25519: the operator's own Ed25519 key. */
export function loadSigningKey(path: string | undefined, env: NodeJS.ProcessEnv = process.env): SigningKey {
  const file = path ?? env.MAINT_SIGNING_KEY ?? join(homedir(), '.ssh', 'id_ed25519');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DecisionError(
      `cannot read signing key ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (pass --key <file> or set MAINT_SIGNING_KEY)`,
    );
  }
  try {
    return parsePrivateKey(text);
  } catch (err) {
    if (err instanceof KeyError) throw new DecisionError(`${file}: ${err.message}`);
    throw err;
  }
}

/** The JSON argument for the plain `temporal` CLI, single-quoted for a POSIX shell (a reason may hold a quote). */
export const temporalInput = (value: unknown) => `'${JSON.stringify(value).replaceAll("'", "'\\''")}'`;

export interface PendingApproval {
  runId: string;
  approval: ApprovalRequestState;
}

/**
 * The approval a running workflow asks for, with its plan re-hashed here: the signer signs the plan
 * they were shown, never a hash they were merely told.
 */
export async function pendingApproval(client: Client, workflowId: string): Promise<PendingApproval> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) throw new DecisionError(`no workflow '${workflowId}'`);
    throw err;
  });
  if (description.status.name !== 'RUNNING')
    throw new DecisionError(`${workflowId} is ${description.status.name}: there is nothing left to decide`);
  const status = await handle.query(statusQuery);
  if (!status.approval) throw new DecisionError(`${workflowId} (${description.type}) takes no approvals`);
  if (planHash(status.approval.plan) !== status.approval.planHash)
    throw new DecisionError(`${workflowId}: the plan it shows does not match its hash; refusing to sign`);
  return { runId: description.runId, approval: status.approval };
}

export function describePlan(a: ApprovalRequestState): string[] {
  return [
    `plan (sha256 ${a.planHash}):`,
    ...a.plan.actions.map((line) => `  - ${line}`),
    ...(a.plan.window ? [`  window: ${a.plan.window.start} to ${a.plan.window.end}`] : []),
  ];
}

export async function sendDecision(client: Client, workflowId: string, runId: string, proof: Proof): Promise<Verdict> {
  return client.workflow.getHandle(workflowId, runId).executeUpdate(decideUpdate, { args: [{ proof }] });
}

export function describeVerdict(v: Verdict): string {
  return v.verdict === 'counted'
    ? `counted: ${v.decision} by ${v.principal} (${v.progress})`
    : `ignored: ${v.reason} (${v.progress})`;
}
