import type { CheckResult } from './checks.js';
import type { RunReport } from './run.js';

// What reads of the maintenance_runs table return (src/maintenance-runs.ts, the report
// activities, `maint runs`), and the measurements compared with performance baselines.

export interface Measurement {
  metric: string;
  value: number;
  unit: string;
  /** Which way is worse: latency up, hit ratio down. */
  worse: 'higher' | 'lower';
}

/** A `maintenance_runs` row as `maint runs` lists it: the report without its findings. */
export type RunRow = Pick<
  RunReport,
  'workflowId' | 'runId' | 'kind' | 'target' | 'outcome' | 'startedAt' | 'finishedAt' | 'summary'
>;

export interface RunFilter {
  kind?: string;
  outcome?: string;
  since?: string;
  until?: string;
  limit?: number;
}

export interface UnresolvedCritical extends CheckResult {
  kind: string;
  workflowId: string;
  at: string;
}

export interface DayDigest {
  runs: RunRow[];
  countsByOutcome: Record<string, number>;
  unresolvedCriticals: UnresolvedCritical[];
}

export interface KindStatistics {
  kind: string;
  runs: number;
  succeeded: number;
  failed: number;
  /** succeeded / (succeeded + failed); null when nothing finished either way. */
  successRate: number | null;
  p50Seconds: number;
  p95Seconds: number;
  maxSeconds: number;
  /** Median time from the run's start to its first counted approval, for gated kinds. */
  medianApprovalSeconds: number | null;
}

export interface RunHistory {
  since: string;
  until: string;
  kinds: KindStatistics[];
  failures: { kind: string; workflowId: string; startedAt: string; cause: string }[];
}
