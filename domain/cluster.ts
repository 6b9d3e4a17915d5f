// Cluster operations run without a cluster configured return this instead of acting.

export const NO_CLUSTER = 'no cluster configured';

/** What an operation returns instead of acting when there is no cluster. */
export interface Skipped {
  skipped: string;
}

export const SKIPPED: Skipped = { skipped: NO_CLUSTER };

export const isSkipped = (r: object): r is Skipped => 'skipped' in r;

/** What the cluster storage cleanup looks for (the seed's storage-maintenance CronJob). */
export const CLEANUP_KINDS = ['jobs', 'replicasets', 'volumes', 'claims'] as const;
export type CleanupKind = (typeof CLEANUP_KINDS)[number];

/** One leftover object the cleanup would delete (or kept), and why. */
export interface CleanupCandidate {
  kind: CleanupKind;
  namespace?: string;
  name: string;
  reason: string;
}
