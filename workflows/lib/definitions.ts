import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { RunStatus } from '../../src/domain/run.js';

/** SPEC section 3: every maintenance workflow answers `status`; gated ones take `approve` / `reject`. */
export const statusQuery = defineQuery<RunStatus>('status');
export const approveSignal = defineSignal<[{ approver: string; comment?: string; via?: string }]>('approve');
export const rejectSignal = defineSignal<[{ approver: string; reason: string; via?: string }]>('reject');
/** `nodeUpdate`: the node's update (outside this system) is done; the run goes on to wait for Ready. */
export const nodeUpdatedSignal = defineSignal<[{ by?: string; detail?: string }?]>('nodeUpdated');
/** `annualUpgrade`: the people doing the database major-version upgrade say it is done. */
export const databaseUpgradedSignal = defineSignal<[{ by?: string; detail?: string }?]>('databaseUpgraded');
