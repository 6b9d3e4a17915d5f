// Shared between workflows (sandboxed) and activities: pure data and functions only.
import { z } from 'zod';
import type { CheckResult } from './checks.js';

/** A regular expression given as a string (config): rejected at load when it does not compile. */
export const regexSchema = z
  .string()
  .min(1)
  .refine((p) => {
    try {
      new RegExp(p);
      return true;
    } catch {
      return false;
    }
  }, 'not a valid regular expression');

/**
 * The seed's `find DIR -name PATTERN -mtime +N -delete` (log-cleanup-daily, disk_cleanup.sh), as
 * data. Only regular files in `directory` whose name matches `pattern` and whose modification time
 * is older than the cutoff are ever deleted; symbolic links are neither followed nor removed.
 */
export const RetentionRuleSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'use lower-case letters, digits and "-"'),
    directory: z
      .string()
      .startsWith('/', 'expected an absolute path')
      .refine((d) => d.replace(/\/+$/, '') !== '', 'refusing to clean the root directory')
      .refine((d) => !d.split('/').includes('..'), 'no ".." segments'),
    /** Regular expression tested against the file name (not the path). */
    pattern: regexSchema,
    olderThanDays: z.number().positive(),
    /** The newest N matching files stay whatever their age (e.g. the last logs of a quiet service). */
    keepNewest: z.number().int().min(0).default(0),
    /** Descend into subdirectories (never through symbolic links). */
    recursive: z.boolean().default(false),
  })
  .strict();
export type RetentionRule = z.output<typeof RetentionRuleSchema>;

export interface RetentionRequest {
  /** The rule's olderThanDays has become `olderThan`. */
  rule: Omit<RetentionRule, 'olderThanDays'>;
  /** ISO timestamp fixed once by the workflow, so a retried attempt selects the same files. */
  olderThan: string;
  /** report: list exactly what would go and delete nothing. */
  mode: 'report' | 'delete';
}

export interface RetentionResult {
  rule: string;
  directory: string;
  mode: 'report' | 'delete';
  status: 'done' | 'skipped';
  reason?: string;
  /** Files matching the pattern, expired or not. */
  matched: number;
  /** Expired files spared by keepNewest. */
  keptNewest: number;
  /** Expired files selected: deleted (or, in report mode, to be deleted). */
  expired: number;
  expiredBytes: number;
  /** The first of them, paths relative to the directory. */
  sample: string[];
  deleted: number;
  failed: { file: string; error: string }[];
  /** Backup retention: the dump kept as the last good one, and why. */
  kept?: { file: string; why: string };
}

/** The result of a rule that could not run: nothing matched, nothing deleted, and why. */
export function retentionSkipped(
  rule: Pick<RetentionRule, 'name' | 'directory'>,
  mode: RetentionRequest['mode'],
  reason: string,
): RetentionResult {
  return {
    rule: rule.name,
    directory: rule.directory,
    mode,
    status: 'skipped',
    reason,
    matched: 0,
    keptNewest: 0,
    expired: 0,
    expiredBytes: 0,
    sample: [],
    deleted: 0,
    failed: [],
  };
}

const MiB = 1024 * 1024;

/** One finding per rule: warn when a file could not be deleted, skipped when the rule could not run. */
export function retentionCheck(r: RetentionResult): CheckResult {
  const base = {
    check: 'retention',
    target: `${r.rule} (${r.directory})`,
    unit: 'files',
    threshold: 'every expired file removed',
  };
  if (r.status === 'skipped') return { ...base, status: 'skipped', detail: r.reason ?? 'skipped' };
  const size = `${Math.round((r.expiredBytes / MiB) * 10) / 10} MiB`;
  const spared = r.keptNewest > 0 ? `, ${r.keptNewest} kept as newest` : '';
  if (r.mode === 'report') {
    return {
      ...base,
      status: 'ok',
      value: r.expired,
      detail: `would delete ${r.expired} of ${r.matched} file(s), ${size}${spared}${r.sample.length ? `: ${r.sample.join(', ')}` : ''}${r.kept ? `; ${r.kept.why}` : ''}`,
    };
  }
  const kept = r.kept ? `; ${r.kept.why}` : '';
  const failures = r.failed.length
    ? `; ${r.failed.length} failed: ${r.failed
        .slice(0, 3)
        .map((f) => `${f.file} (${f.error})`)
        .join('; ')}`
    : '';
  return {
    ...base,
    status: r.failed.length ? 'warn' : 'ok',
    value: r.deleted,
    detail: `deleted ${r.deleted} of ${r.matched} file(s), ${size}${spared}${kept}${failures}`,
  };
}
