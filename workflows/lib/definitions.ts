import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DecisionInput, Verdict } from '../../domain/approval-proof.js';
import type { RunStatus } from '../../domain/run.js';

/** Every maintenance workflow answers `status` (lib/run.ts); gated ones take `approve` / `reject` and `decide` (lib/approval.ts). */
export const statusQuery = defineQuery<RunStatus>('status');
/** Kept for compatibility; since patch 'signed-approvals' they count only with a valid `proof`, like `decide`. */
export const approveSignal = defineSignal<[DecisionInput]>('approve');
export const rejectSignal = defineSignal<[DecisionInput]>('reject');
/** A signed decision (approve or reject, as its statement says); the result tells whether it counted and why not. */
export const decideUpdate = defineUpdate<Verdict, [DecisionInput]>('decide');
/** `nodeUpdate`: the node's update (outside this system) is done; the run goes on to wait for Ready. */
export const nodeUpdatedSignal = defineSignal<[{ by?: string; detail?: string }?]>('nodeUpdated');
/** `annualUpgrade`: the people doing the database major-version upgrade say it is done. */
export const databaseUpgradedSignal = defineSignal<[{ by?: string; detail?: string }?]>('databaseUpgraded');
/**
 * A run waiting for its maintenance window (`weeklyDatabaseMaintenance`, `monthlyApplicationMaintenance`,
 * `annualUpgrade`): the people running the window open it now; it still closes at its scheduled end.
 */
export const openWindowUpdate = defineUpdate<string, [{ by: string; reason?: string }]>('openWindow');
/**
 * `annualUpgrade`: the stored plan of the window starting `windowStart` was amended (`maint plan annual
 * amend` sends it; runs of other windows ignore it). Only a nudge: the run reads the plan again from
 * the store, and a new revision needs approval again.
 */
export const annualPlanAmendedSignal = defineSignal<[{ windowStart?: string }?]>('annualPlanAmended');
