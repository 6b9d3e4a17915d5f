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

/** What a run carries from its start until its report: its kind, its target, outcome `running`. */
export function runningSearchAttributes(kind: string, target: string) {
  return [
    { key: SEARCH_ATTRIBUTES.kind, value: kind },
    { key: SEARCH_ATTRIBUTES.target, value: target },
    { key: SEARCH_ATTRIBUTES.outcome, value: 'running' },
  ];
}

/**
 * The target of each kind that always works on the same one. Its starters (schedules) set all three
 * attributes at start: the run is findable by kind and target while still queued, and its first
 * workflow task has no upsert to send.
 */
export const FIXED_TARGETS = {
  applicationCacheCleanup: 'application',
  applicationImageUpdate: 'deployments',
  checklistFollowUp: 'checklists',
  clusterStorageCleanup: 'cluster',
  dailyBackup: 'booking-database',
  dailyHealthCheck: 'booking-platform',
  eveningStatus: 'booking-platform',
  monthlyApplicationMaintenance: 'booking-platform',
  monthlyAudit: 'booking-platform',
  nodeDiskCleanup: 'nodes',
  quarterlyReview: 'maintenance-program',
  storageCleanup: 'storage',
  weeklyDatabaseMaintenance: 'booking-database',
  weeklyPerformanceReview: 'booking-platform',
  weeklySecurityReview: 'booking-platform',
  weeklySystemReview: 'booking-platform',
} as const;
export type FixedTargetKind = keyof typeof FIXED_TARGETS;

/** What a starter of `kind` can set at start: all three with a fixed target, else the kind (the run adds the rest). */
export function startSearchAttributes(kind: string) {
  const target: string | undefined = (FIXED_TARGETS as Record<string, string>)[kind];
  return target ? runningSearchAttributes(kind, target) : [{ key: SEARCH_ATTRIBUTES.kind, value: kind }];
}

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
