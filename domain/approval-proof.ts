import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';

// Signed approvals: what a decision or a request says, and how it is bound to one run and one plan.
// Sandbox-safe (no Node APIs): workflows hash their plan with it; signing and verification, which
// need keys, live in src/signing.ts and activities/approvals.ts.

export const STATEMENT_VERSION = 'trixtech-approval/v1';
/** A statement is valid for at most this long after it was issued: a decision is made now, not stockpiled. */
export const MAX_STATEMENT_LIFETIME_MS = 60 * 60_000;
/** Clocks disagree a little; a statement issued further ahead than this is refused. */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** Bigger decisions are refused at the door (an Update validator), before they reach history. */
export const MAX_DECISION_BYTES = 8 * 1024;

const principal = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._@-]*$/i, 'expected an approver name (letters, digits, ".", "_", "@", "-")')
  .max(100);

export const VIAS = ['cli', 'temporal-cli', 'slack', 'slash-command'] as const;

/** What the signer says, exactly as signed (the JSON text is signed, never re-serialised). */
export const ApprovalStatement = z
  .object({
    v: z.literal(STATEMENT_VERSION),
    decision: z.enum(['approve', 'reject', 'request']),
    workflowId: z.string().min(1).max(400),
    /** The run the decision is for; a request is signed before its run exists, so it has none. */
    runId: z.string().min(1).max(100).optional(),
    /** sha256 of the plan shown to the signer (`planHash`). */
    planHash: z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 hex digest'),
    principal,
    comment: z.string().max(1000).optional(),
    via: z.enum(VIAS),
    /** For decisions relayed by the bridge: the Slack user it verified. */
    slackUser: z.string().max(40).optional(),
    issuedAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    nonce: z.string().min(8).max(64),
  })
  .strict()
  .refine((s) => s.decision === 'request' || s.runId !== undefined, {
    message: 'a decision names the run it is for',
    path: ['runId'],
  })
  .refine((s) => s.decision !== 'reject' || (s.comment ?? '').trim().length > 0, {
    message: 'a rejection needs a reason',
    path: ['comment'],
  });
export type ApprovalStatement = z.output<typeof ApprovalStatement>;

/** The statement's JSON text (base64url), an Ed25519 signature over those bytes, and the signing key's fingerprint. */
export const Proof = z
  .object({
    statement: z
      .string()
      .min(1)
      .max(6000)
      .regex(/^[A-Za-z0-9_-]+$/, 'expected base64url'),
    signature: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[A-Za-z0-9+/=_-]+$/, 'expected base64'),
    key: z.string().min(1).max(100),
  })
  .strict();
export type Proof = z.output<typeof Proof>;

/** The argument of the `decide` Update and the new field of the `approve` / `reject` signals. */
export interface DecisionInput {
  proof?: Proof;
  /** Legacy, unproven fields: recorded as a claim, never trusted. */
  approver?: string;
  comment?: string;
  reason?: string;
  via?: string;
}

export type Verdict =
  | { verdict: 'counted'; decision: 'approve' | 'reject'; principal: string; progress: string }
  | { verdict: 'ignored'; reason: string; progress: string };

/** What a plan binds: the actions and targets shown in the request, and the window, if any. */
export interface ApprovalPlan {
  kind: string;
  actions: string[];
  window?: { start: string; end: string };
}

/** Keys sorted at every level, so the same plan always hashes the same, whoever computes it. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function planHash(plan: ApprovalPlan): string {
  return bytesToHex(sha256(utf8ToBytes(canonicalJson(plan))));
}

/** The approval a run asks for, as the `status` query shows it: enough for a signer to bind a decision. */
export interface ApprovalRequestState {
  plan: ApprovalPlan;
  planHash: string;
  approvers: string[];
  required: number;
  /** The verified requester (emergencies); never counted as an approver. */
  requester?: string;
  deadline: string;
  open: boolean;
}

/** A proof checked against the configured keys: the statement and who signed it, or why it does not count. */
export type ProofCheck =
  | { ok: true; statement: ApprovalStatement; signer: 'operator' | 'bridge'; key: string }
  | { ok: false; reason: string; claimed?: string };
