import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';

// Every workflow takes its activities from these profiles, named by what the call is for, and
// destructures the ones it calls at its top. The one place workflows meet the activities' types.

/** Lookups and reviews that only read: a few quick retries cover a flapping dependency. */
export const quickRead = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

/**
 * The daily health check's probes: they only read; a check that still throws after its retries
 * means the checker is broken, which is the one thing that fails that workflow.
 */
export const healthProbe = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

const API_CALL = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '20 seconds', maximumAttempts: 5 },
} as const;
/** Short calls that change something (patches, Slack posts): retried for a flapping API server. */
export const apiCall = proxyActivities<Activities>(API_CALL);
/**
 * The same short, idempotent calls (cordon, uncordon, the update hook) as local activities: no
 * task-queue round trip each, which a rolling update of many nodes pays per node.
 */
export const localApiCall = proxyLocalActivities<Activities>(API_CALL);

/** Short database statements (statistics, session cleanup, temp tables); each also has its own statement_timeout. */
export const databaseStatement = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

/** Work that scales with the database (VACUUM, REINDEX, backups, restore tests) and does not heartbeat: one retry. */
export const heavyDatabaseWork = proxyActivities<Activities>({
  startToCloseTimeout: '3 hours',
  retry: { initialInterval: '30 seconds', maximumAttempts: 2 },
});

/**
 * The bookings archive heartbeats after every batch: a dead worker is noticed within the
 * heartbeat timeout and the retry resumes after the last batch it reported.
 */
export const batchedArchive = proxyActivities<Activities>({
  startToCloseTimeout: '4 hours',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
});

const WAIT_RETRY = { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 } as const;
/**
 * Drains, rollouts, retention sweeps: they bound themselves by their input's timeouts; the limit
 * only catches a lost worker, heartbeats notice it sooner.
 */
export const boundedWait = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: WAIT_RETRY,
});
/** A node update's drain and wait for Ready: the wait for a rebooted node spans the whole update (2 h by default). */
export const nodeUpdateWait = proxyActivities<Activities>({
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '1 minute',
  retry: WAIT_RETRY,
});

const NOTICE = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
} as const;
/** Reports and notices are best effort: a few quick retries, then the failure is recorded, never raised. */
export const bestEffortNotice = proxyActivities<Activities>(NOTICE);
/** The same as local activities (run reports since patch 'report-delivery-local-activities'): one server round trip each fewer. */
export const localBestEffortNotice = proxyLocalActivities<Activities>(NOTICE);

/** Checking a signed approval: pure computation on the worker, local and quick. */
export const localProofCheck = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '200 milliseconds', maximumAttempts: 3 },
});
