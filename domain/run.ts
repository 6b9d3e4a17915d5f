import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { ApprovalRequestState } from './approval-proof.js';
import type { ChecklistAccount } from './checklists.js';
import type { CheckResult } from './checks.js';
import type { WindowOccurrence } from './windows.js';

/** Custom search attributes, registered on the dev server by `npm run up` and by `maint schedules apply`. */
export const SEARCH_ATTRIBUTES = {
  kind: defineSearchAttributeKey('MaintenanceKind', SearchAttributeType.KEYWORD),
  target: defineSearchAttributeKey('MaintenanceTarget', SearchAttributeType.KEYWORD),
  outcome: defineSearchAttributeKey('MaintenanceOutcome', SearchAttributeType.KEYWORD),
} as const;

export const OUTCOMES = [
  'running',
  'ok',
  'warn',
  'critical',
  'failed',
  'skipped',
  'rejected',
  'timed-out',
  'cancelled',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

export type StepOutcome = 'running' | 'ok' | 'warn' | 'critical' | 'failed' | 'skipped';

export interface StepRecord {
  name: string;
  outcome: StepOutcome;
  detail?: string;
  startedAt: string;
  finishedAt?: string;
}

export interface ApprovalRecord {
  decision: 'approve' | 'reject';
  approver: string;
  at: string;
  /** Which path the decision came through: slack, slash-command, cli, temporal-cli. */
  via?: string;
  comment?: string;
  /** Why a decision was not counted (no or bad proof, other run or plan, expired, replayed, not an approver, the requester...). */
  ignored?: string;
  /** Who vouched for it: an operator's own key, or the bridge's for a verified Slack user. */
  proof?: { signer: 'operator' | 'bridge'; key: string };
}

/** What the `status` query returns for every maintenance workflow. */
export interface RunStatus {
  kind: string;
  target: string;
  phase: string;
  steps: StepRecord[];
  approvals: ApprovalRecord[];
  /** The approval the run asks for (plan and its hash, who may decide, until when); null when it takes none. */
  approval?: ApprovalRequestState | null;
  waitingFor: string | null;
  outcome: Outcome;
}

/** A delivery that was attempted on the way out: report storage, Slack post, alert. */
export interface DeliveryRecord {
  channel: 'report-store' | 'slack' | 'alert' | 'tasks';
  ok: boolean;
  detail: string;
}

export interface RunReport {
  workflowId: string;
  runId: string;
  kind: string;
  target: string;
  outcome: Outcome;
  startedAt: string;
  finishedAt: string;
  summary: string;
  checks: CheckResult[];
  steps: StepRecord[];
  approvals: ApprovalRecord[];
  /** Extra structured facts specific to the workflow (e.g. the evening status digest). */
  details?: Record<string, unknown>;
  /** The maintenance window the run worked in (or was for): its report is due within 24 h of the window's end. */
  window?: WindowOccurrence;
  /** Every item of the seed checklist for this kind: its finding, or the sign-off it awaits. */
  checklist?: ChecklistAccount;
}
