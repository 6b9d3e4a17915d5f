import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../src/config.js';
import { gradeAbove, skipped, type CheckResult } from '../src/domain/checks.js';
import type { Thresholds } from '../src/domain/thresholds.js';
import type { MaintenanceMetrics } from '../src/metrics.js';

type BackupTarget = NonNullable<Config['targets']['backup']>;

export function createStorageActivities({ metrics }: { metrics?: MaintenanceMetrics } = {}) {
  return {
    /** Seed: "Check disk space utilization (< 85%)"; used % computed as `df` does (reserved blocks excluded). */
    async checkDiskUsage(paths: string[], thresholds: Thresholds): Promise<CheckResult[]> {
      if (paths.length === 0) return [skipped('disk', '-', 'no disk paths configured')];
      const threshold = `warn > ${thresholds.diskWarnPercent}%, critical > ${thresholds.diskCriticalPercent}%`;
      const results = await Promise.all(
        paths.map(async (path): Promise<CheckResult> => {
          try {
            const s = await statfs(path);
            const used = s.blocks - s.bfree;
            const percent = Math.round((used / (used + s.bavail)) * 1000) / 10;
            const freeGiB = Math.round(((s.bavail * s.bsize) / 2 ** 30) * 10) / 10;
            return {
              check: 'disk', target: path, value: percent, unit: '%', threshold,
              status: gradeAbove(percent, thresholds.diskWarnPercent, thresholds.diskCriticalPercent),
              detail: `${path} is ${percent}% used, ${freeGiB} GiB free`,
            };
          } catch (err) {
            return { check: 'disk', target: path, status: 'critical', threshold, detail: `cannot stat ${path}: ${(err as Error).message}` };
          }
        }),
      );
      metrics?.recordChecks(results);
      return results;
    },

    /** Seed: "Review backup status (last successful backup < 24h old)": age of the newest backup file. */
    async checkBackupFreshness(backup: BackupTarget | undefined, thresholds: Thresholds): Promise<CheckResult[]> {
      if (!backup) return [skipped('backup', '-', 'no backup location configured')];
      const threshold = `warn > ${thresholds.backupWarnAgeHours} h, critical > ${thresholds.backupMaxAgeHours} h`;
      const base = { check: 'backup', target: backup.directory, unit: 'h', threshold };
      let newest: { name: string; mtimeMs: number; size: number } | undefined;
      try {
        const pattern = new RegExp(backup.pattern);
        for (const name of await readdir(backup.directory)) {
          if (!pattern.test(name)) continue;
          const s = await stat(join(backup.directory, name));
          if (s.isFile() && (!newest || s.mtimeMs > newest.mtimeMs)) newest = { name, mtimeMs: s.mtimeMs, size: s.size };
        }
      } catch (err) {
        return [{ ...base, status: 'critical', detail: `cannot read backup directory: ${(err as Error).message}` }];
      }
      if (!newest) return [{ ...base, status: 'critical', detail: `no backup matching /${backup.pattern}/ in ${backup.directory}` }];
      if (newest.size === 0) return [{ ...base, status: 'critical', detail: `newest backup ${newest.name} is empty` }];
      const ageHours = Math.round(((Date.now() - newest.mtimeMs) / 3_600_000) * 10) / 10;
      return [{
        ...base, value: ageHours,
        status: gradeAbove(ageHours, thresholds.backupWarnAgeHours, thresholds.backupMaxAgeHours),
        detail: `newest backup ${newest.name} (${newest.size} bytes) is ${ageHours} h old`,
      }];
    },
  };
}
