import { lstat, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { gradeAbove, skipped, type CheckResult } from '../domain/checks.js';
import { failure, FailureType } from '../domain/failures.js';
import { retentionSkipped, type RetentionRequest, type RetentionResult } from '../domain/retention.js';
import type { Thresholds } from '../domain/thresholds.js';
import { measureFilesystem } from '../src/disk-usage.js';

/** Heartbeats when running as an activity; a no-op when called directly (maint plan, tests). */
export function heartbeat(): void {
  try {
    Context.current().heartbeat();
  } catch {
    // not inside an activity
  }
}

interface FoundFile {
  /** Relative to the rule's directory. */
  path: string;
  mtimeMs: number;
  bytes: number;
}

const SAMPLE_SIZE = 20;
/** A heartbeat every this many files deleted: a directory of a million old logs takes a while. */
const PROGRESS_EVERY = 500;

/** A file that is already gone is what deleting it wanted: only other errors count. */
const unlessGone = (err: NodeJS.ErrnoException): Promise<null> =>
  err.code === 'ENOENT' ? Promise.resolve(null) : Promise.reject(err);

/** Regular files under `directory` whose name matches; symbolic links are never followed. */
async function matchingFiles(
  directory: string,
  pattern: RegExp,
  recursive: boolean,
  onProgress: () => void,
): Promise<FoundFile[]> {
  const found: FoundFile[] = [];
  const walk = async (relative: string): Promise<void> => {
    onProgress();
    for (const entry of await readdir(join(directory, relative), { withFileTypes: true })) {
      const path = relative ? join(relative, entry.name) : entry.name;
      if (entry.isDirectory() && recursive) await walk(path);
      else if (entry.isFile() && pattern.test(entry.name)) {
        const s = await lstat(join(directory, path)).catch(() => undefined); // gone meanwhile: nothing to do
        if (s?.isFile()) found.push({ path, mtimeMs: s.mtimeMs, bytes: s.size });
      }
    }
  };
  await walk('');
  return found;
}

/**
 * Applies one retention rule. `companions` names files that go with a deleted one (a backup's
 * manifest). Idempotent: a file already gone counts as deleted, and each file is checked again just
 * before it is removed, so one rewritten since the scan (a log reopened) stays.
 */
export async function applyRetention(
  { rule, olderThan, mode }: RetentionRequest,
  companions: (path: string) => string[] = () => [],
  onProgress: () => void = () => undefined,
  /** Names (relative to the directory) never deleted whatever their age: the backup retention keeps its last good dump. */
  protect: ReadonlySet<string> = new Set(),
): Promise<RetentionResult> {
  const cutoffMs = Date.parse(olderThan);
  if (Number.isNaN(cutoffMs))
    throw failure(FailureType.InvalidInput, `olderThan: ${JSON.stringify(olderThan)} is not a timestamp`);
  const dir = await stat(rule.directory).catch((err: NodeJS.ErrnoException) => err);
  if (dir instanceof Error)
    return retentionSkipped(
      rule,
      mode,
      dir.code === 'ENOENT' ? `${rule.directory} does not exist` : `cannot read ${rule.directory}: ${dir.message}`,
    );
  if (!dir.isDirectory()) return retentionSkipped(rule, mode, `${rule.directory} is not a directory`);

  let files: FoundFile[];
  try {
    files = await matchingFiles(rule.directory, new RegExp(rule.pattern), rule.recursive, onProgress);
  } catch (err) {
    return retentionSkipped(rule, mode, `cannot list ${rule.directory}: ${(err as Error).message}`);
  }
  // Newest first; ties broken by path so every attempt selects the same files.
  files.sort((a, b) => b.mtimeMs - a.mtimeMs || a.path.localeCompare(b.path));
  const expired = files.filter((f, i) => i >= rule.keepNewest && f.mtimeMs < cutoffMs && !protect.has(f.path));
  const result: RetentionResult = {
    rule: rule.name,
    directory: rule.directory,
    mode,
    status: 'done',
    deleted: 0,
    failed: [],
    matched: files.length,
    keptNewest: files.slice(0, rule.keepNewest).filter((f) => f.mtimeMs < cutoffMs).length,
    expired: expired.length,
    expiredBytes: expired.reduce((sum, f) => sum + f.bytes, 0),
    sample: expired.slice(0, SAMPLE_SIZE).map((f) => f.path),
  };
  if (mode === 'report') return result;

  for (const [i, f] of expired.entries()) {
    if (i % PROGRESS_EVERY === 0) onProgress();
    const full = join(rule.directory, f.path);
    try {
      const now = await lstat(full).catch(unlessGone);
      if (now && (!now.isFile() || now.mtimeMs >= cutoffMs)) continue;
      if (now) await unlink(full).catch(unlessGone);
      for (const c of companions(full)) await unlink(c).catch(unlessGone);
      result.deleted += 1;
    } catch (err) {
      result.failed.push({ file: f.path, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
    }
  }
  return result;
}

export function createStorageActivities() {
  return {
    /** Seed log-cleanup-daily / disk_cleanup.sh: deletes (or, in report mode, lists) the files a retention rule expires. */
    async applyRetentionRule(request: RetentionRequest): Promise<RetentionResult> {
      return applyRetention(request, undefined, heartbeat);
    },

    /** Seed: "Check disk space utilization (< 85%)"; used % computed as `df` does (reserved blocks excluded). */
    async checkDiskUsage(paths: string[], thresholds: Thresholds): Promise<CheckResult[]> {
      if (paths.length === 0) return [skipped('disk', '-', 'no disk paths configured')];
      const threshold = `warn > ${thresholds.diskWarnPercent}%, critical > ${thresholds.diskCriticalPercent}%`;
      return Promise.all(
        paths.map(async (path): Promise<CheckResult> => {
          try {
            const { usedPercent, availableBytes } = await measureFilesystem(path);
            const freeGiB = Math.round((availableBytes / 2 ** 30) * 10) / 10;
            return {
              check: 'disk',
              target: path,
              value: usedPercent,
              unit: '%',
              threshold,
              status: gradeAbove(usedPercent, thresholds.diskWarnPercent, thresholds.diskCriticalPercent),
              detail: `${path} is ${usedPercent}% used, ${freeGiB} GiB free`,
            };
          } catch (err) {
            return {
              check: 'disk',
              target: path,
              status: 'critical',
              threshold,
              detail: `cannot stat ${path}: ${(err as Error).message}`,
            };
          }
        }),
      );
    },
  };
}
