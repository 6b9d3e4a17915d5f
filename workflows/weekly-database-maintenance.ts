import { patched } from '@temporalio/workflow';
import { z } from 'zod';
import { worstStatus, type CheckResult } from '../domain/checks.js';
import { innermostMessage } from '../domain/failures.js';
import { TABLE_NAME } from '../domain/identifiers.js';
import { distinct } from '../domain/kubernetes-names.js';
import { FIXED_TARGETS, type RunReport } from '../domain/run.js';
import { activeWindow, windowOccurrences, WindowSpecSchema } from '../domain/windows.js';
import { batchedArchive, bestEffortNotice, databaseStatement, heavyDatabaseWork } from './lib/activity-profiles.js';
import {
  archiveChecks,
  backupChecks,
  expiredRowChecks,
  reindexChecks,
  stepFailed,
  tempTableChecks,
  vacuumChecks,
} from './lib/database-checks.js';
import { monitoringAlertsCleared, monitoringAlertsConfigured, WINDOW_ALERT_CHECKS_PATCH } from './lib/alert-gate.js';
import { parseInput } from './lib/input.js';
import { DAY, duration, SECOND } from './lib/duration.js';
import { MaintenanceRun, runReported, type FinishOptions } from './lib/run.js';
import { awaitMaintenanceWindow, stillInside, withStatusUpdates } from './lib/window.js';

const { archiveBookingsOlderThan } = batchedArchive;
const { postSlackMessage } = bestEffortNotice;
const {
  collectDatabaseStatistics,
  deleteExpiredSessions,
  dropOldTempTables,
  resolveDatabaseMaintenancePlan,
  verifyNewestBackup,
} = databaseStatement;
const { createDatabaseBackup, reindexInvalidOrBloatedIndexes, vacuumAnalyzeTables } = heavyDatabaseWork;

export const DB_MAINTENANCE_STEPS = ['vacuum', 'reindex', 'statistics', 'archive', 'sessions', 'tempTables'] as const;
type DbStep = (typeof DB_MAINTENANCE_STEPS)[number];
/** Steps that only read; everything else waits for the window and the backup guard. */
const READ_ONLY: ReadonlySet<DbStep> = new Set(['statistics']);

const tableName = z.string().regex(TABLE_NAME, 'expected "table" or "schema.table" (letters, digits, "_")');

export const WeeklyDatabaseMaintenanceInput = z
  .object({
    /** Outside the window: wait for it (the schedule fires an hour early) or skip the disruptive steps. */
    windowPolicy: z.enum(['wait', 'skip']).default('wait'),
    /** Default: the configured "weekly" window (seed: Sunday 02:00-06:00 UTC). */
    window: WindowSpecSchema.optional(),
    /** Run only these steps (default: all). */
    steps: z
      .array(z.enum(DB_MAINTENANCE_STEPS))
      .min(1)
      .max(DB_MAINTENANCE_STEPS.length)
      .refine((s) => distinct(s), 'steps must be distinct')
      .optional(),
    /** Tables to vacuum (default: all). */
    vacuumTables: z
      .array(tableName)
      .max(500)
      .refine((t) => distinct(t), 'tables must be distinct')
      .optional(),
    /** Tables that get VACUUM FULL, inside the window only. */
    fullVacuumTables: z
      .array(tableName)
      .max(50)
      .refine((t) => distinct(t), 'tables must be distinct')
      .default([]),
    archiveAfterDays: z.number().int().min(30).max(36_500).optional(),
    /** Most rows per archive batch; batches adapt below it to take about archiveBatchTargetMs. */
    archiveBatchSize: z.number().int().min(100).max(50_000).optional(),
    archiveBatchTargetMs: z.number().int().min(5).max(10_000).optional(),
    archivePauseMs: z.number().int().min(0).max(60_000).default(0),
    lockTimeoutMs: z.number().int().min(10).max(600_000).optional(),
    /** Data moves only with a verified backup younger than this (seed: 24 h). */
    backupMaxAgeHours: z
      .number()
      .positive()
      .max(24 * 7)
      .default(24),
    /** Seed "Status updates during maintenance windows": how often one is posted while the work runs. */
    statusUpdateEvery: duration(SECOND, DAY).prefault('30 minutes'),
    reason: z.string().max(500).optional(),
  })
  .strict();
export type WeeklyDatabaseMaintenanceInput = z.input<typeof WeeklyDatabaseMaintenanceInput>;

/** Routine Maintenance Guide, weekly database checklist; Maintenance Setup Guide, db_maintenance.sh and cleanupSessions.js. */
export async function weeklyDatabaseMaintenance(rawInput?: WeeklyDatabaseMaintenanceInput): Promise<RunReport> {
  const input = parseInput(WeeklyDatabaseMaintenanceInput, rawInput, 'weeklyDatabaseMaintenance');
  // Workflow time, fixed once: every attempt and replay archives and expires against the same instant.
  const startedAt = new Date();
  const run = new MaintenanceRun('weeklyDatabaseMaintenance', FIXED_TARGETS.weeklyDatabaseMaintenance);
  // A run that breaks or is cancelled still reports (the window's report is due within 24 h).
  return runReported(run, () => maintain(run, input, startedAt));
}

async function maintain(
  run: MaintenanceRun,
  input: z.output<typeof WeeklyDatabaseMaintenanceInput>,
  startedAt: Date,
): Promise<FinishOptions> {
  run.phase = 'planning';
  const plan = await run.step('resolve database maintenance plan', () => resolveDatabaseMaintenancePlan());
  const spec = input.window ?? plan.weeklyWindow;
  const selected = new Set<DbStep>(input.steps ?? DB_MAINTENANCE_STEPS);
  const cutoff = new Date(
    startedAt.getTime() - (input.archiveAfterDays ?? plan.archiveAfterDays) * 86_400_000,
  ).toISOString();
  const timeouts = input.lockTimeoutMs ? { lockTimeoutMs: input.lockTimeoutMs } : undefined;
  const batchSize = input.archiveBatchSize ?? plan.batchSize;
  const checks: CheckResult[] = [];
  const details: Record<string, unknown> = { database: plan.database, cutoff, steps: [...selected] };
  const title = input.reason ? `Weekly database maintenance (${input.reason})` : 'Weekly database maintenance';
  /** A step that failed after its retries is reported critical; the other steps still run. */
  const attempt = <T>(name: string, fn: () => Promise<T>, grade?: (r: T) => CheckResult[]): Promise<T | undefined> =>
    run
      .step(name, fn, (r) => (grade ? worstStatus(grade(r).map((c) => c.status)) : 'ok'))
      .then(
        (r) => {
          if (grade) checks.push(...grade(r));
          return r;
        },
        (err: unknown) => {
          checks.push(stepFailed(name, innermostMessage(err)));
          return undefined;
        },
      );

  // The schedule fires an hour before the window: announce, then wait. Nothing to announce when skipping.
  run.phase = 'notifying';
  const inside = activeWindow(spec, startedAt);
  const next = inside ?? windowOccurrences([spec], startedAt, new Date(startedAt.getTime() + 367 * 86_400_000))[0];
  if (next && (inside || input.windowPolicy === 'wait')) {
    await run
      .step('maintenance notice', () =>
        postSlackMessage({
          text:
            `:wrench: Database maintenance on ${plan.database} ${inside ? 'is starting' : `starts at ${next.start}`} (window ${spec.name} until ${next.end}): ` +
            `${[...selected].join(', ')}; bookings created before ${cutoff} move to bookings_archive.`,
        }),
      )
      .catch(() => undefined); // recorded as a failed step; a notice never stops maintenance
  }

  const gate = await awaitMaintenanceWindow(run, spec, input.windowPolicy, plan.blackouts);
  details.window = gate;
  const disruptive = [...selected].filter((s) => !READ_ONLY.has(s));

  run.phase = 'maintaining';
  // Seed: "Status updates provided regularly" during a window: one when the work begins (the report follows at the end).
  if (gate.decision === 'waited' && patched('window-open-status')) {
    await run
      .step('window status', () =>
        postSlackMessage({
          text: `:hourglass_flowing_sand: Window ${spec.name} open (${gate.window.start} to ${gate.window.end}): database maintenance on ${plan.database} running now.`,
        }),
      )
      .catch(() => undefined);
  }
  const backupLabel = `verified backup younger than ${input.backupMaxAgeHours} h`;
  // Seed: "Backup completed and verified" before anything moves. Without one, nothing else runs.
  const guarded = async (): Promise<boolean> => {
    if (gate.decision === 'skipped' || disruptive.length === 0) return true;
    const backup = await attempt(
      backupLabel,
      async () => {
        const newest = await verifyNewestBackup({ maxAgeHours: input.backupMaxAgeHours });
        if (newest.status === 'ok') return { ...newest, taken: false };
        await createDatabaseBackup({});
        return {
          ...(await verifyNewestBackup({ maxAgeHours: input.backupMaxAgeHours })),
          taken: true,
          before: newest.detail,
        };
      },
      (b) => backupChecks(plan.database, b),
    );
    details.backup = backup;
    return backup?.status === 'ok';
  };

  // The checklist, in order. Each step's failure is reported and the next step still runs.
  const steps: Record<DbStep, [string, (label: string) => Promise<unknown>]> = {
    vacuum: [
      'vacuum analyze',
      (label) =>
        attempt(
          label,
          () =>
            vacuumAnalyzeTables({
              tables: input.vacuumTables,
              fullTables: input.fullVacuumTables,
              allowFull: true,
              timeouts,
            }),
          vacuumChecks,
        ),
    ],
    reindex: [
      'reindex invalid or bloated indexes',
      (label) =>
        attempt(
          label,
          () => reindexInvalidOrBloatedIndexes({ timeouts }),
          (actions) => reindexChecks(plan.database, actions),
        ),
    ],
    statistics: [
      'bloat, index usage, statistics, cache hits, slow queries',
      (label) =>
        attempt(
          label,
          () => collectDatabaseStatistics({ timeouts }),
          (s) => {
            details.statistics = s;
            return s.checks;
          },
        ),
    ],
    archive: [
      'archive old bookings',
      (label) =>
        attempt(
          label,
          () =>
            archiveBookingsOlderThan({
              cutoff,
              batchSize,
              batchTargetMs: input.archiveBatchTargetMs ?? plan.archiveBatchTargetMs,
              pauseBetweenBatchesMs: input.archivePauseMs,
              timeouts,
            }),
          (a) => {
            details.archive = a;
            return archiveChecks(plan.database, a);
          },
        ),
    ],
    sessions: [
      'delete expired sessions and reset tokens',
      (label) =>
        attempt(
          label,
          () => deleteExpiredSessions({ asOf: startedAt.toISOString(), batchSize, timeouts }),
          expiredRowChecks,
        ),
    ],
    tempTables: [
      'drop old temporary tables',
      (label) =>
        attempt(
          label,
          () => dropOldTempTables({ timeouts }),
          (r) => tempTableChecks(plan.database, r),
        ),
    ],
  };

  // Since 'window-alert-checks': the checklist's "monitoring alerts configured" before the window's work, "cleared" after it.
  const alertChecks = gate.decision !== 'skipped' && disruptive.length > 0 && patched(WINDOW_ALERT_CHECKS_PATCH);
  const work = async (): Promise<boolean> => {
    if (alertChecks) checks.push(...(await monitoringAlertsConfigured(run)));
    if (!(await guarded())) return false;
    for (const name of DB_MAINTENANCE_STEPS) {
      if (!selected.has(name)) continue;
      const [label, go] = steps[name];
      const notNow = READ_ONLY.has(name)
        ? undefined
        : gate.decision === 'skipped'
          ? 'outside the maintenance window (policy skip)'
          : !stillInside(gate.window)
            ? `the maintenance window closed at ${gate.window.end}`
            : undefined;
      if (notNow)
        await run.step(
          label,
          async () => notNow,
          () => ({ outcome: 'skipped', detail: notNow }),
        );
      else await go(label);
    }
    if (alertChecks) checks.push(...(await monitoringAlertsCleared(run)));
    return true;
  };

  const planned = [
    ...(alertChecks ? ['monitoring alerts configured'] : []),
    ...(disruptive.length > 0 ? [backupLabel] : []),
    ...DB_MAINTENANCE_STEPS.filter((n) => selected.has(n)).map((n) => steps[n][0]),
    ...(alertChecks ? ['monitoring alerts cleared'] : []),
  ];
  let completed: boolean;
  if (gate.decision === 'skipped') completed = await work();
  else {
    run.window = gate.window;
    const updates = await withStatusUpdates(run, gate.window, input.statusUpdateEvery, planned, work);
    completed = updates.result;
    if (updates.finding) checks.push(updates.finding);
  }
  if (!completed) {
    return {
      summary: `${title} aborted: no verified backup younger than ${input.backupMaxAgeHours} h`,
      checks,
      outcome: 'failed',
      details,
      alertOnCritical: true,
    };
  }

  const skippedSummary =
    gate.decision === 'skipped'
      ? `disruptive steps skipped: outside window ${spec.name}, next ${gate.window.start}`
      : `${gate.decision} window ${gate.window.start}`;
  return {
    summary: `${title}: ${skippedSummary}`,
    checks,
    ...(gate.decision === 'skipped' && checks.length === 0 ? { outcome: 'skipped' as const } : {}),
    details,
    alertOnCritical: true,
  };
}
