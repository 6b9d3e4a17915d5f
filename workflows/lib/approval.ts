import { condition, setHandler } from '@temporalio/workflow';
import type { ApprovalRecord } from '../../src/domain/run.js';
import { approveSignal, rejectSignal } from './definitions.js';
import type { MaintenanceRun } from './run.js';

export interface ApprovalPolicy {
  /** The allow-list: nobody else's decision counts, whichever path it came through. */
  approvers: string[];
  /** Distinct approvers needed. */
  required: number;
  /** Whoever asked for the work; their approval counts only next to someone else's. */
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
}

/**
 * The human gate in front of destructive work. Registers the `approve` and `reject` signal
 * handlers at once (signals sent before `wait` are kept), so Slack buttons, the slash command,
 * `maint approve` and `temporal workflow signal` all end here and obey the same rules.
 */
export class ApprovalGate {
  private readonly counted = new Set<string>();
  private rejection: { by: string; reason: string } | undefined;

  constructor(private readonly run: MaintenanceRun, private readonly policy: ApprovalPolicy) {
    setHandler(approveSignal, ({ approver, comment, via }) => {
      const ignored = this.refusal(approver) ?? (this.counted.has(approver) ? 'already counted' : undefined);
      this.record({ decision: 'approve', approver, comment, via, ignored });
      if (!ignored) this.counted.add(approver);
    });
    setHandler(rejectSignal, ({ approver, reason, via }) => {
      const ignored = this.refusal(approver);
      this.record({ decision: 'reject', approver, comment: reason, via, ignored });
      if (!ignored && !this.rejection) this.rejection = { by: approver, reason };
    });
  }

  private refusal(approver: string): string | undefined {
    if (typeof approver !== 'string' || !this.policy.approvers.includes(approver)) return 'not on the approver allow-list';
    return undefined;
  }

  private record(r: Omit<ApprovalRecord, 'at'>): void {
    this.run.approvals.push({ ...r, at: new Date().toISOString() });
  }

  /** Approved once `required` distinct allowed approvers agreed and not only the requester. */
  get approved(): boolean {
    const others = [...this.counted].filter((a) => a !== this.policy.requester);
    return this.counted.size >= this.policy.required && others.length > 0;
  }

  async wait(timing: ApprovalTiming, escalate: () => Promise<void>): Promise<ApprovalDecision> {
    const decided = () => this.approved || this.rejection !== undefined;
    const need = this.policy.required > 1 ? `${this.policy.required} distinct approvers` : 'an approver';
    this.run.waitingFor = `approval by ${need} from: ${this.policy.approvers.join(', ')}`;
    try {
      if (!(await condition(decided, timing.escalateAfterMs))) {
        await escalate();
        await condition(decided, Math.max(timing.timeoutMs - timing.escalateAfterMs, 1));
      }
    } finally {
      this.run.waitingFor = null;
    }
    if (this.rejection) return { outcome: 'rejected', ...this.rejection };
    if (this.approved) return { outcome: 'approved', approvers: [...this.counted] };
    return { outcome: 'timed-out', approvers: [...this.counted] };
  }
}
