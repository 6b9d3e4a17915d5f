// Shared between workflows (sandboxed) and activities: pure data and functions only.
import { z } from 'zod';
import type { CheckResult } from './checks.js';

/**
 * One meaning of "verified", in three levels, each including the one before:
 * - `intact`: the manifest's sha256 and size match the file (catches cut files and flipped bytes cheaply);
 * - `readable`: every byte read back (`pg_restore -f /dev/null`, or `pgbackrest verify`);
 * - `restored`: restored into a scratch database or data directory, every table's row count
 *   compared with the manifest, time taken.
 * `pg_restore --list` reads only the catalogue and accepts a dump cut to a third: it is no level.
 */
export const BACKUP_LEVELS = ['intact', 'readable', 'restored'] as const;
export type BackupLevel = (typeof BACKUP_LEVELS)[number];
export const BackupLevelSchema = z.enum(BACKUP_LEVELS);

/** The least any guard before data moves, retention or the annual window accepts. */
export const GUARD_LEVEL: BackupLevel = 'readable';

/** true when `reached` is at least `required`; `none` reaches nothing. */
export function atLeast(reached: BackupLevel | 'none', required: BackupLevel): boolean {
  return reached !== 'none' && BACKUP_LEVELS.indexOf(reached) >= BACKUP_LEVELS.indexOf(required);
}

/** The manifest beside every dump we write: `<dump>.manifest.json`. */
export interface BackupManifest {
  format: 1;
  /** File name of the dump, without directory (the manifest moves with it). */
  file: string;
  sha256: string;
  bytes: number;
  database: string;
  serverVersion: string;
  /** When the dumped snapshot was taken (ISO). */
  snapshotAt: string;
  durationMs: number;
  /** Exact row count of every table in the dumped snapshot, `schema.table` -> rows. */
  counts: Record<string, number>;
}

export interface TableCount {
  table: string;
  expected: number | null;
  restored: number | null;
}

/** The answer of every backup check: which level was asked, which was reached, and why not more. */
export interface BackupVerification {
  /** ok: `required` reached and young enough. */
  status: 'ok' | 'missing' | 'stale' | 'failed';
  required: BackupLevel;
  /** The highest level the backup reached before a check failed (or `required` when all passed). */
  level: BackupLevel | 'none';
  /** The level that failed, when one did. */
  failedLevel?: BackupLevel;
  detail: string;
  source: 'pg_dump' | 'pgbackrest';
  /** The dump file, or `<stanza>/<label>` for pgBackRest. */
  file?: string;
  bytes?: number;
  sha256?: string;
  ageHours?: number;
  /** Time each level took, ms. */
  timings?: Partial<Record<BackupLevel, number>>;
  /** Level `restored`: each table's count in the manifest and after the restore. */
  tables?: TableCount[];
  mismatches?: string[];
}

const round = (n: number, places = 2) => Math.round(n * 10 ** places) / 10 ** places;

/**
 * One finding for a verification: the level reached is always in the detail, with the file. The
 * target stays the location (directory, database, stanza), not the file: "still critical at its
 * latest check" compares findings by target, and each backup has a new file name.
 */
export function verificationCheck(
  check: string,
  target: string,
  v: BackupVerification,
  extra: Partial<CheckResult> = {},
): CheckResult {
  const status: CheckResult['status'] = v.status === 'ok' ? 'ok' : 'critical';
  return {
    check,
    target,
    status,
    ...(v.ageHours !== undefined ? { value: round(v.ageHours, 1), unit: 'h' } : {}),
    threshold: `verified ${v.required}`,
    detail: `level ${v.level}${v.status === 'ok' ? '' : ` (required ${v.required})`}: ${v.detail}`,
    ...extra,
  };
}

/** "1.2 MiB" for reports. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes / 1024;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${round(n, 1)} ${units[i]}`;
}

/**
 * The evening status's "Confirm backup completion for the day": the latest `dailyBackup` run of the
 * day, from its stored result. Nothing configured to back up: skipped, never a silent ok.
 */
export function dailyBackupConfirmation(
  runs: readonly { kind: string; outcome: string; summary: string; workflowId: string; startedAt: string }[],
  plan: { source: string; directory: string | null; stanza: string | null; database: string },
): CheckResult {
  const base = {
    check: 'backup.today',
    target: plan.database,
    threshold: 'a dailyBackup run today, verified readable',
  };
  if (plan.source === 'pg_dump' ? plan.directory === null : plan.stanza === null)
    return { ...base, status: 'skipped', detail: 'no backup configured' };
  const latest = runs.filter((r) => r.kind === 'dailyBackup').sort((a, b) => b.startedAt.localeCompare(a.startedAt))[0];
  if (!latest)
    return { ...base, status: 'critical', detail: 'no dailyBackup run today: the day has no confirmed backup' };
  return {
    ...base,
    status: latest.outcome === 'ok' ? 'ok' : 'critical',
    detail: `${latest.workflowId} ${latest.outcome}: ${latest.summary}`,
  };
}

/** How much a restore would lose right now, and from what that was measured. */
export interface RecoveryPoint {
  source: 'pg_dump' | 'pgbackrest';
  /** null when nothing restorable exists: the loss is everything. */
  rpoSeconds: number | null;
  basis: string;
  /** WAL archiving failing (pgBackRest): the RPO grows from here. */
  problem?: string;
}

/**
 * RTO and RPO as measured (restore test time, age of what a restore would recover), each against
 * its configured objective. The objective is in the threshold as `objective N s`, which the worker
 * exports beside the measurement for the alert rules.
 */
export function recoveryObjectiveChecks(
  target: string,
  restore: BackupVerification,
  point: RecoveryPoint,
  objectives: { rtoMinutes: number; rpoMinutes: number },
): CheckResult[] {
  const rtoObjective = objectives.rtoMinutes * 60;
  const rpoObjective = objectives.rpoMinutes * 60;
  const rto =
    restore.status === 'ok' && restore.timings?.restored !== undefined
      ? round(restore.timings.restored / 1000, 1)
      : null;
  const rpo = point.rpoSeconds === null ? null : round(point.rpoSeconds, 0);
  return [
    rto === null
      ? {
          check: 'backup.rto',
          target,
          status: 'critical',
          threshold: `objective ${rtoObjective} s`,
          detail: `RTO unknown: the restore test did not succeed (${restore.detail})`,
        }
      : {
          check: 'backup.rto',
          target,
          status: rto <= rtoObjective ? 'ok' : 'critical',
          value: rto,
          unit: 's',
          threshold: `objective ${rtoObjective} s`,
          detail: `restore of ${restore.file ?? 'the newest backup'} took ${rto} s (objective ${objectives.rtoMinutes} min)`,
        },
    rpo === null
      ? {
          check: 'backup.rpo',
          target,
          status: 'critical',
          threshold: `objective ${rpoObjective} s`,
          detail: `RPO unbounded: ${point.basis}`,
        }
      : {
          check: 'backup.rpo',
          target,
          status: rpo <= rpoObjective && !point.problem ? 'ok' : 'critical',
          value: rpo,
          unit: 's',
          threshold: `objective ${rpoObjective} s`,
          detail: `a restore now would lose ${rpo} s of writes: ${point.basis}${point.problem ? `; ${point.problem}` : ''} (objective ${objectives.rpoMinutes} min)`,
        },
  ];
}
