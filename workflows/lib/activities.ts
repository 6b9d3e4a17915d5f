import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';

// Activity options shared by the workflows, declared once.

/** Reviews and lookups only read: a few quick retries cover a flapping dependency. */
export const reads = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

/** Short calls that change something (patches, signals to Slack): retried for a flapping API server. */
export const calls = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '20 seconds', maximumAttempts: 5 },
});

/** Drains, rollouts, vacuums: they bound themselves by their own timeouts; heartbeats catch a lost worker. */
export const waits = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
});

/** Statements that scale with the database (VACUUM, restore tests) and do not heartbeat: one retry. */
export const heavy = proxyActivities<Activities>({
  startToCloseTimeout: '3 hours',
  retry: { initialInterval: '30 seconds', maximumAttempts: 2 },
});
