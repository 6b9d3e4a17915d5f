import { z } from 'zod';
import { formatBytes, GUARD_LEVEL, verificationCheck } from '../domain/backup.js';
import type { CheckResult } from '../domain/checks.js';
import type { RunReport } from '../domain/run.js';
import { heavyDatabaseWork, quickRead } from './lib/activity-profiles.js';
import { reportedWorkflow } from './lib/run.js';

const { createDatabaseBackup, verifyBackup } = heavyDatabaseWork;
const { resolveBackupPlan } = quickRead;

export const DailyBackupInput = z
  .object({
    /** Shown in the report, e.g. "before the schema migration". */
    reason: z.string().max(500).optional(),
  })
  .strict();
export type DailyBackupInput = z.input<typeof DailyBackupInput>;

const reportedRun = reportedWorkflow('dailyBackup', DailyBackupInput);

const round = (n: number, places = 1) => Math.round(n * 10 ** places) / 10 ** places;

/**
 * The backup the checklists assume ("last successful backup < 24h old", "Confirm backup completion
 * for the day"): takes a dump of the booking database with its manifest, verifies it `intact` and
 * `readable`, and reports size, duration and growth since the previous dump. A failure to take or
 * to read back the backup fails the run, which alerts; the evening status confirms the day's run.
 */
export async function dailyBackup(rawInput?: DailyBackupInput): Promise<RunReport> {
  return reportedRun(rawInput, async (run, input) => {
    const plan = await run.plan('resolve backup plan', () => resolveBackupPlan());

    run.phase = 'backing up';
    const taken = await run.step(
      `${plan.source === 'pgbackrest' ? `pgbackrest backup of stanza ${plan.stanza}` : 'pg_dump'} of ${plan.database}`,
      () => createDatabaseBackup({}),
    );

    run.phase = 'verifying';
    const verified = await run.step(
      `verify ${GUARD_LEVEL}`,
      () => verifyBackup({ file: taken.file, level: GUARD_LEVEL }),
      (v) => (v.status === 'ok' ? 'ok' : 'critical'),
    );
    const growthPercent =
      taken.previous && taken.previous.bytes > 0
        ? round(((taken.bytes - taken.previous.bytes) / taken.previous.bytes) * 100)
        : null;
    const growth =
      growthPercent === null
        ? 'no previous dump to compare'
        : `${growthPercent >= 0 ? '+' : ''}${growthPercent}% since the previous dump`;
    const checks: CheckResult[] = [
      verificationCheck('backup', plan.database, verified),
      {
        check: 'backup.size',
        target: plan.database,
        status: 'ok',
        value: taken.bytes,
        unit: 'bytes',
        detail: `${taken.file.split('/').pop()}: ${formatBytes(taken.bytes)}${taken.tables !== undefined ? ` of ${taken.tables} tables` : ''}${taken.type ? ` (${taken.type})` : ''} in ${round(taken.durationMs / 1000)} s; ${growth}`,
      },
    ];
    const ok = verified.status === 'ok';
    return {
      summary: `${input.reason ? `Daily backup (${input.reason})` : 'Daily backup'}: ${taken.file.split('/').pop()} ${formatBytes(taken.bytes)}, ${ok ? `verified ${verified.level}` : `NOT ${verified.failedLevel ?? GUARD_LEVEL}`}`,
      checks,
      // A backup that does not read back is a failed backup, not a finding to read later.
      ...(ok ? {} : { outcome: 'failed' as const }),
      alertOnCritical: true,
      details: {
        backup: {
          source: taken.source,
          type: taken.type ?? null,
          file: taken.file,
          sha256: taken.sha256 ?? null,
          bytes: taken.bytes,
          durationMs: taken.durationMs,
          level: verified.level,
          tables: taken.tables ?? null,
          serverVersion: taken.serverVersion ?? null,
          growthPercent,
          previous: taken.previous ?? null,
          timings: verified.timings,
        },
      },
    };
  });
}
