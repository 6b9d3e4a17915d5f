// Cluster operations run without a cluster configured return this instead of acting.

export const NO_CLUSTER = 'no cluster configured';

/** What an operation returns instead of acting when there is no cluster. */
export interface Skipped {
  skipped: string;
}

export const SKIPPED: Skipped = { skipped: NO_CLUSTER };

export const isSkipped = (r: object): r is Skipped => 'skipped' in r;
