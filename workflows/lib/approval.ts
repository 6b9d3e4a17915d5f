import { condition, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { failure, FailureType } from '../../domain/failures.js';
import {
  CLOCK_SKEW_MS,
  MAX_DECISION_BYTES,
  MAX_STATEMENT_LIFETIME_MS,
  planHash,
  type ApprovalPlan,
  type ApprovalStatement,
  type DecisionInput,
  type ProofCheck,
  type Verdict,
} from '../../domain/approval-proof.js';
import type { ApprovalRecord } from '../../domain/run.js';
import { localProofCheck } from './activity-profiles.js';
import { approveSignal, decideUpdate, rejectSignal } from './definitions.js';
import type { MaintenanceRun } from './run.js';

// Verification needs the keys in the worker's config: a local activity, one per decision.
const { verifyApprovalProof } = localProofCheck;

/** Since this patch a decision counts only with a valid signed proof; older runs replay the name-based gate. */
const SIGNED_APPROVALS = 'signed-approvals';
/** Ignored decisions recorded one by one; past this a flood is summarised, so it cannot grow a run without bound. */
const MAX_IGNORED_RECORDS = 50;
const MAX_RECORDED_TEXT = 500;

export interface ApprovalPolicy {
  /** The allow-list: nobody else's decision counts, whichever path it came through. */
  approvers: string[];
  /** Distinct approvers needed. */
  required: number;
  /** Whoever asked for the work (verified when signed): their own approval never counts. */
  requester?: string;
}

export type ApprovalDecision =
  | { outcome: 'approved'; approvers: string[] }
  | { outcome: 'rejected'; by: string; reason: string }
  | { outcome: 'timed-out'; approvers: string[] };

export interface ApprovalTiming {
  /** After this long without a decision, `escalate` is called once. */
  escalateAfterMs: number;
  /** After this long in all, the gate closes as timed out. */
  timeoutMs: number;
  /** The gate also closes, with what was decided so far, once this holds (a window opened early). */
  closeWhen?: () => boolean;
}

const clip = (s: unknown) =>
  typeof s === 'string' ? (s.length > MAX_RECORDED_TEXT ? `${s.slice(0, MAX_RECORDED_TEXT)}…` : s) : undefined;

/** Why a verified statement does not fit this run and plan now, or undefined when it does. */
function misfit(s: ApprovalStatement, hash: string, runBound: boolean): string | undefined {
  const { workflowId, runId } = workflowInfo();
  if (s.workflowId !== workflowId) return `for another run (workflow ${s.workflowId})`;
  if (runBound && s.runId !== runId) return `for another run (run ${s.runId ?? 'none'})`;
  if (s.planHash !== hash) return 'for another plan (it changed after it was signed, or was never this one)';
  const now = Date.now();
  const issued = Date.parse(s.issuedAt);
  const expires = Date.parse(s.expiresAt);
  if (issued > now + CLOCK_SKEW_MS) return `issued in the future (${s.issuedAt})`;
  if (expires - issued > MAX_STATEMENT_LIFETIME_MS)
    return `valid for longer than ${MAX_STATEMENT_LIFETIME_MS / 60_000} minutes`;
  if (expires <= now) return `expired at ${s.expiresAt}`;
  return undefined;
}

async function verify(proof: unknown): Promise<ProofCheck> {
  try {
    return await verifyApprovalProof(proof);
  } catch (err) {
    return { ok: false, reason: `could not verify the proof: ${(err as Error).message}` };
  }
}

/**
 * Proves who asked for the work: a statement of decision `request`, signed by the requester's key,
 * for this workflow id and plan. Without one the run is refused before anyone is asked.
 */
export async function verifyRequester(
  proof: unknown,
  plan: ApprovalPlan,
  claimed: string,
  workflowType: string,
): Promise<string> {
  const refuse = (why: string) =>
    failure(
      FailureType.InvalidInput,
      `Invalid input for ${workflowType}: requestProof: ${why}. Sign the request with \`maint emergency start --as <you>\` (add --print for the plain temporal CLI)`,
    );
  const check = await verify(proof);
  if (!check.ok) throw refuse(check.reason);
  const s = check.statement;
  if (s.decision !== 'request') throw refuse(`signed as a ${s.decision}, not a request`);
  const why = misfit(s, planHash(plan), false);
  if (why) throw refuse(why);
  if (s.principal !== claimed) throw refuse(`signed by ${s.principal}, but requestedBy says ${claimed}`);
  return s.principal;
}

/**
 * The human gate in front of destructive work. Registers the `decide` Update and the `approve` /
 * `reject` signals at once (decisions sent before `wait` are kept), so Slack, `maint`, and the
 * plain `temporal` CLI all end here and obey the same rules: a decision counts only when its proof
 * is signed by a known key, for this run and this plan, fresh, unreplayed, by an allow-listed
 * person who is not the requester. Every decision, counted or not, is recorded with its reason.
 */
export class ApprovalGate {
  private readonly counted = new Set<string>();
  private rejection: { by: string; reason: string } | undefined;
  private readonly signed: boolean;
  private readonly hash: string;
  private readonly nonces = new Set<string>();
  private closed = false;
  /** Why the gate closed, for the reason a late decision is given. */
  private closedBecause = '';
  private ignored = 0;

  constructor(
    private readonly run: MaintenanceRun,
    private readonly policy: ApprovalPolicy,
    plan: ApprovalPlan,
  ) {
    this.signed = patched(SIGNED_APPROVALS);
    this.hash = planHash(plan);
    run.approval = {
      plan,
      planHash: this.hash,
      approvers: policy.approvers,
      required: policy.required,
      requester: policy.requester,
      deadline: '',
      open: false,
    };
    if (!this.signed) {
      setHandler(approveSignal, (input) => void this.legacy('approve', input));
      setHandler(rejectSignal, (input) => void this.legacy('reject', input));
      return;
    }
    setHandler(approveSignal, async (input) => void (await this.receive('approve', input)));
    setHandler(rejectSignal, async (input) => void (await this.receive('reject', input)));
    setHandler(decideUpdate, (input) => this.receive(undefined, input), {
      // Synchronous on purpose: the SDK ignores what an async validator returns.
      validator: (input) => {
        const size = JSON.stringify(input ?? null).length;
        if (size > MAX_DECISION_BYTES)
          throw new Error(`decision refused: ${size} bytes, more than ${MAX_DECISION_BYTES}`);
      },
    });
  }

  /** Runs started before signed approvals: the typed name is trusted, as it was then. */
  private legacy(decision: 'approve' | 'reject', raw: DecisionInput | undefined): void {
    const input = raw ?? {};
    const approver = typeof input.approver === 'string' ? input.approver : 'unknown';
    const comment = clip(decision === 'approve' ? input.comment : input.reason);
    const ignored = !this.policy.approvers.includes(approver)
      ? 'not on the approver allow-list'
      : decision === 'approve' && this.counted.has(approver)
        ? 'already counted'
        : undefined;
    this.record({ decision, approver, comment, via: clip(input.via), ignored });
    if (ignored) return;
    if (decision === 'approve') this.counted.add(approver);
    else this.rejection ??= { by: approver, reason: comment ?? '' };
  }

  private progress(): string {
    const n = Math.min(this.counted.size, this.policy.required);
    return `${n} of ${this.policy.required} approval${this.policy.required > 1 ? 's' : ''}${this.rejection ? `; rejected by ${this.rejection.by}` : ''}`;
  }

  private ignore(record: Omit<ApprovalRecord, 'at' | 'ignored'>, reason: string): Verdict {
    this.ignored += 1;
    if (this.ignored <= MAX_IGNORED_RECORDS) this.record({ ...record, ignored: reason });
    else if (this.ignored === MAX_IGNORED_RECORDS + 1) {
      this.record({
        decision: record.decision,
        approver: '(flood)',
        ignored: `more than ${MAX_IGNORED_RECORDS} ignored decisions; later ones are counted, not recorded`,
      });
    }
    return { verdict: 'ignored', reason, progress: this.progress() };
  }

  private async receive(sentAs: 'approve' | 'reject' | undefined, raw: DecisionInput | undefined): Promise<Verdict> {
    const input: DecisionInput = raw && typeof raw === 'object' ? raw : {};
    const claim = (who: unknown) =>
      ({
        decision: sentAs ?? 'approve',
        approver: `${clip(who) ?? 'unknown'} (unverified)`,
        via: clip(input.via),
        comment: clip(input.comment ?? input.reason),
      }) as const;
    if (this.closed) return this.ignore(claim(input.approver), this.lateReason());
    const check = await verify(input.proof);
    if (!check.ok) return this.ignore(claim(check.claimed ?? input.approver), check.reason);
    const s = check.statement;
    const record = {
      decision: s.decision === 'reject' ? 'reject' : 'approve',
      approver: s.principal,
      via: s.via,
      comment: clip(s.comment),
      proof: { signer: check.signer, key: check.key },
    } as const;
    if (this.closed) return this.ignore(record, this.lateReason());
    if (s.decision === 'request') return this.ignore(record, 'a signed request is not a decision');
    if (sentAs && s.decision !== sentAs) return this.ignore(record, `signed as ${s.decision}, sent as ${sentAs}`);
    const why = misfit(s, this.hash, true);
    if (why) return this.ignore(record, why);
    if (this.nonces.has(s.nonce)) return this.ignore(record, 'replayed: this statement was already presented');
    this.nonces.add(s.nonce);
    if (!this.policy.approvers.includes(s.principal))
      return this.ignore(record, `not an approver (allowed: ${this.policy.approvers.join(', ')})`);
    if (s.decision === 'approve') {
      if (s.principal === this.policy.requester)
        return this.ignore(record, 'the requester cannot approve their own request');
      if (this.counted.has(s.principal)) return this.ignore(record, 'already counted: the same person counts once');
      this.counted.add(s.principal);
    } else {
      this.rejection ??= { by: s.principal, reason: s.comment ?? '' };
    }
    this.record(record);
    return { verdict: 'counted', decision: record.decision, principal: s.principal, progress: this.progress() };
  }

  private lateReason(): string {
    return `the approval gate is closed: ${this.closedBecause}`;
  }

  private record(r: Omit<ApprovalRecord, 'at'>): void {
    this.run.approvals.push({ ...r, at: new Date().toISOString() });
  }

  /** Approved once `required` distinct allowed approvers agreed and not only the requester. */
  get approved(): boolean {
    const others = [...this.counted].filter((a) => a !== this.policy.requester);
    return this.counted.size >= this.policy.required && others.length > 0;
  }

  /** Waits for the decision; may be called again after `closeWhen` closed it early (the gate reopens). */
  async wait(timing: ApprovalTiming, escalate: () => Promise<void>): Promise<ApprovalDecision> {
    this.closed = false;
    const decided = () => this.approved || this.rejection !== undefined || (timing.closeWhen?.() ?? false);
    const need = this.policy.required > 1 ? `${this.policy.required} distinct approvers` : 'an approver';
    this.run.waitingFor = `approval by ${need} from: ${this.policy.approvers.join(', ')}`;
    if (this.run.approval)
      Object.assign(this.run.approval, { open: true, deadline: new Date(Date.now() + timing.timeoutMs).toISOString() });
    let expired = false;
    try {
      if (!(await condition(decided, timing.escalateAfterMs))) {
        await escalate();
        expired = !(await condition(decided, Math.max(timing.timeoutMs - timing.escalateAfterMs, 1)));
      }
    } finally {
      this.run.waitingFor = null;
      this.closed = true;
      this.closedBecause = this.rejection
        ? `the request was already rejected by ${this.rejection.by}`
        : this.approved
          ? 'the request was already approved'
          : timing.closeWhen?.()
            ? 'it closed early, with what was decided by then'
            : expired
              ? 'its deadline passed'
              : 'the wait was cancelled';
      if (this.run.approval) this.run.approval.open = false;
    }
    if (this.rejection) return { outcome: 'rejected', ...this.rejection };
    if (this.approved) return { outcome: 'approved', approvers: [...this.counted] };
    return { outcome: 'timed-out', approvers: [...this.counted] };
  }
}
