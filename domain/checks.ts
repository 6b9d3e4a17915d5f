// Shared between workflows (sandboxed) and activities: pure data and functions only.

export const CHECK_STATUSES = ['ok', 'warn', 'critical', 'skipped'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

/** One measured finding: what was checked, what it measured, and against which threshold. */
export interface CheckResult {
  check: string;
  target: string;
  status: CheckStatus;
  /** The measured value, e.g. 412 (ms), 71.3 (%), 9.8 (days). Absent when nothing could be measured. */
  value?: number | string;
  unit?: string;
  /** Human-readable threshold the value was compared with, e.g. "warn > 80%, critical > 85%". */
  threshold?: string;
  detail: string;
}

const SEVERITY: Record<CheckStatus, number> = { skipped: 0, ok: 1, warn: 2, critical: 3 };

/** The worst status of a set of findings; "skipped" only when nothing else was measured. */
export function worstStatus(statuses: Iterable<CheckStatus>): CheckStatus {
  let worst: CheckStatus = 'skipped';
  for (const s of statuses) if (SEVERITY[s] > SEVERITY[worst]) worst = s;
  return worst;
}

export function countByStatus(results: readonly CheckResult[]): Record<CheckStatus, number> {
  const counts: Record<CheckStatus, number> = { ok: 0, warn: 0, critical: 0, skipped: 0 };
  for (const r of results) counts[r.status] += 1;
  return counts;
}

/** Grades a value where higher is worse (disk %, age, latency). */
export function gradeAbove(value: number, warnAbove: number, criticalAbove: number): CheckStatus {
  if (value > criticalAbove) return 'critical';
  if (value > warnAbove) return 'warn';
  return 'ok';
}

/** Grades a value where lower is worse (days of certificate validity left). */
export function gradeBelow(value: number, warnBelow: number, criticalBelow: number): CheckStatus {
  if (value < criticalBelow) return 'critical';
  if (value < warnBelow) return 'warn';
  return 'ok';
}

export function skipped(check: string, target: string, reason: string): CheckResult {
  return { check, target, status: 'skipped', detail: reason };
}
