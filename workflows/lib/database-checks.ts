import type { BackupVerification } from '../../domain/backup.js';
import type { CheckResult } from '../../domain/checks.js';
import type {
  ArchiveResult,
  CleanupResult,
  IndexAction,
  TableVacuum,
  TempTableCleanup,
  SlowQueries,
} from '../../domain/database.js';

// How each database maintenance step's result reads in the run report: one finding per table,
// index or action, graded so the report's outcome is the worst of them. Pure: used in workflows.

const finding = (
  check: string,
  target: string,
  status: CheckResult['status'],
  detail: string,
  extra: Partial<CheckResult> = {},
): CheckResult => ({ check, target, status, detail, ...extra });

export function stepFailed(step: string, message: string): CheckResult {
  return finding('db.step', step, 'critical', `failed: ${message}`);
}

export function backupChecks(database: string, b: BackupVerification & { taken: boolean }): CheckResult[] {
  // Histories recorded before the levels carry no `level`: their detail stands alone.
  const level = b.level ? `level ${b.level}${b.status === 'ok' ? '' : ` (required ${b.required})`}: ` : '';
  return [
    finding(
      'db.backup',
      database,
      b.status === 'ok' ? 'ok' : 'critical',
      `${b.taken ? 'backup taken: ' : ''}${level}${b.detail}`,
    ),
  ];
}

export function vacuumChecks(tables: TableVacuum[]): CheckResult[] {
  return tables.map((t) =>
    t.status === 'done'
      ? finding(
          'db.vacuum',
          t.table,
          'ok',
          `${t.mode === 'full' ? 'VACUUM FULL' : 'VACUUM ANALYZE'}: dead tuples ${t.deadTuplesBefore} -> ${t.deadTuplesAfter}${t.reason ? `; ${t.reason}` : ''}`,
          { value: t.deadTuplesAfter ?? undefined, unit: 'dead tuples' },
        )
      : finding('db.vacuum', t.table, 'warn', `skipped: ${t.reason}`),
  );
}

export function reindexChecks(database: string, actions: IndexAction[]): CheckResult[] {
  if (actions.length === 0) return [finding('db.reindex', database, 'ok', 'no invalid or bloated index')];
  return actions.map((a) =>
    finding(
      'db.reindex',
      a.index,
      a.action === 'reindexed' || a.action === 'dropped' ? 'ok' : 'warn',
      `${a.why}: ${a.action}${a.bytesAfter !== undefined ? ` (${a.bytesBefore} -> ${a.bytesAfter} bytes)` : ''}${a.reason ? `: ${a.reason}` : ''}`,
    ),
  );
}

export function archiveChecks(database: string, a: ArchiveResult): CheckResult[] {
  if (a.status === 'skipped')
    return [finding('db.archive', database, a.reason?.startsWith('no ') ? 'skipped' : 'warn', `skipped: ${a.reason}`)];
  const moved = `${a.rowsMoved} bookings created before ${a.cutoff} moved in ${a.batches} batches (longest ${a.batchMs.max} ms)`;
  const conservation =
    a.conserved === null
      ? 'conservation not verified'
      : a.conserved
        ? `conserved: ${a.before.rows} bookings before and after across both tables, none in both`
        : `NOT conserved: ${a.before.rows} before, ${a.after.census.rows} after across both tables, ${a.after.inBothTables} in both`;
  const status = a.conserved === false ? 'critical' : a.status === 'done' ? 'ok' : 'warn';
  const left = a.conserved === null ? '' : `; ${a.after.remainingInBookings} left in bookings`;
  return [
    finding('db.archive', database, status, `${moved}; ${conservation}${left}${a.reason ? `; ${a.reason}` : ''}`, {
      value: a.rowsMoved,
      unit: 'rows',
    }),
  ];
}

export function expiredRowChecks(tables: CleanupResult[]): CheckResult[] {
  return tables.map((t) =>
    t.status === 'done'
      ? finding('db.expired-rows', t.table, 'ok', `${t.deleted} expired row(s) deleted`, {
          value: t.deleted,
          unit: 'rows',
        })
      : finding(
          'db.expired-rows',
          t.table,
          t.reason?.startsWith('no ') ? 'skipped' : 'warn',
          `skipped after ${t.deleted} row(s): ${t.reason}`,
          { value: t.deleted, unit: 'rows' },
        ),
  );
}

export function tempTableChecks(database: string, r: TempTableCleanup): CheckResult[] {
  if (r.rule === null)
    return [finding('db.temp-tables', database, 'skipped', 'no temp-table rule configured: nothing is dropped')];
  const skipped = r.skipped.map((s) => `${s.table}: ${s.reason}`).join('; ');
  return [
    finding(
      'db.temp-tables',
      database,
      r.skipped.length > 0 ? 'warn' : 'ok',
      `${r.dropped.length} dropped${r.dropped.length ? ` (${r.dropped.join(', ')})` : ''}, ${r.tooYoung.length} seen for less than ${r.rule.minAgeHours} h${skipped ? `; skipped ${skipped}` : ''}`,
      { value: r.dropped.length, unit: 'tables' },
    ),
  ];
}

/** The slowest queries by mean time, one finding each, so the report lists them with their figures. */
export function slowQueryFindings(database: string, slow: SlowQueries, count: number): CheckResult[] {
  if (slow.status === 'unavailable') return [finding('db.slow-query', database, 'skipped', slow.reason)];
  return slow.queries
    .slice(0, count)
    .map((q, i) =>
      finding(
        'db.slow-query',
        `#${i + 1}`,
        'ok',
        `${q.calls} calls, mean ${Math.round(q.meanMs)} ms: ${q.query.slice(0, 200)}`,
        { value: Math.round(q.meanMs * 10) / 10, unit: 'ms' },
      ),
    );
}
