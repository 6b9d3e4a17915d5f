import { Context } from '@temporalio/activity';
import pg from 'pg';
import { inTransaction, resolveTimeouts, timeoutReason, withSessionTimeouts, type Timeouts } from './sql.js';
import type { ArchiveResult, Census } from '../../domain/database.js';
import { failure, FailureType } from '../../domain/failures.js';

/**
 * Seed `db_maintenance.sh` moved old bookings with two autocommitted statements (INSERT..SELECT,
 * then DELETE): a crash between them left rows in both tables and the next run failed on the
 * archive's primary key. Here every batch deletes and inserts in one transaction, keyset by id, so
 * a crash at any moment leaves each row in exactly one table and a rerun simply continues.
 */

/** The census before the first batch, plus the highest old id in bookings: where the keyset stops. */
interface StartingCensus extends Census {
  lastOldId: string | null;
  /**
   * Highest archive id up to lastOldId before the first batch (absent in progress from older
   * versions). Archive ids above it up to lastOldId were moved by this run, in id order, each batch
   * committed whole: the highest of them is where a retry can resume.
   */
  archivedCeiling?: string | null;
}

export interface ArchiveProgress {
  /** Highest id already handled; a retried attempt resumes after it (as text: ids may be bigint or uuid). */
  lastId: string | null;
  rowsMoved: number;
  batches: number;
  /** Taken once, before the first batch of the first attempt. */
  before: StartingCensus;
}

export interface ArchiveRequest {
  /** ISO timestamp fixed once at workflow start, so every attempt and rerun archives the same rows. */
  cutoff: string;
  /** Most rows in one batch. */
  batchSize: number;
  /**
   * When set, batch sizes adapt (up to batchSize) to take about this long: large batches on a quiet
   * server, smaller ones when it is busy, so no batch holds its row locks for long.
   */
  batchTargetMs?: number;
  /** Throttle between batches, e.g. to let replicas keep up. */
  pauseBetweenBatchesMs?: number;
  timeouts?: Partial<Timeouts>;
}

const HASH = (column: string) => `coalesce(sum(hashtextextended(${column}::text, 0)::numeric), 0)`;
const CHECKSUM = `count(*)::int AS rows, ${HASH('id')}::text AS "idChecksum"`;
// Distinct bookings across both tables as |old in bookings| + |old in archive| - |old in both| (a row
// in both, left by the seed's crash, is one booking): three plain aggregates, where a UNION would
// hash every id to deduplicate.
const STARTING_CENSUS_SQL = `
  SELECT (o.n + a.n - x.n)::int AS rows, (o.h + a.h - x.h)::text AS "idChecksum", o.last AS "lastOldId"
    FROM (SELECT count(*) AS n, ${HASH('id')} AS h, max(id)::text AS last FROM bookings WHERE created_at < $1) o,
         (SELECT count(*) AS n, ${HASH('id')} AS h FROM bookings_archive WHERE created_at < $1) a,
         (SELECT count(*) AS n, ${HASH('b.id')} AS h FROM bookings b JOIN bookings_archive r ON r.id = b.id
           WHERE b.created_at < $1 AND r.created_at < $1) x`;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

/** Creates the archive (as the seed did) and checks that it can hold every bookings column; returns the quoted column list. */
async function prepareArchive(client: pg.PoolClient): Promise<string | undefined> {
  const {
    rows: [exists],
  } = await client.query<{ ok: boolean }>(`SELECT to_regclass('public.bookings') IS NOT NULL AS ok`);
  if (!exists!.ok) return undefined;
  await client.query('CREATE TABLE IF NOT EXISTS bookings_archive (LIKE bookings INCLUDING ALL)');
  const { rows } = await client.query<{ name: string; archived: boolean }>(
    `SELECT a.attname AS name, EXISTS (SELECT 1 FROM pg_attribute x WHERE x.attrelid = 'public.bookings_archive'::regclass
              AND x.attname = a.attname AND x.attnum > 0 AND NOT x.attisdropped) AS archived
       FROM pg_attribute a WHERE a.attrelid = 'public.bookings'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
  );
  // Without a unique index on the archive's id nothing would stop a row being archived twice.
  const {
    rows: [key],
  } = await client.query<{ unique: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                     WHERE i.indrelid = 'public.bookings_archive'::regclass AND i.indisunique AND i.indnatts = 1 AND a.attname = 'id') AS unique`,
  );
  const missing = rows.filter((r) => !r.archived).map((r) => r.name);
  const problem =
    missing.length > 0
      ? `bookings_archive lacks bookings column(s) ${missing.join(', ')}: add them before archiving`
      : !rows.some((r) => r.name === 'id') || !rows.some((r) => r.name === 'created_at')
        ? 'bookings needs "id" and "created_at" columns to be archived'
        : !key!.unique
          ? 'bookings_archive has no primary key or unique index on id: add one before archiving'
          : undefined;
  if (problem) throw failure(FailureType.ArchiveSchemaMismatch, problem);
  return rows.map((r) => pg.escapeIdentifier(r.name)).join(', ');
}

// One statement per batch, so each batch is its own transaction: keyset in primary-key order, the
// batch is the id range [lower, upper] of the next `$2` old rows after the last one moved, and that
// range is moved with the cutoff re-checked (a row that changed meanwhile stays). A range scans the
// index once, where `id = ANY(ARRAY(...))` descends it once per id (4x slower deletes here). The
// scan stops at the highest old id counted before the first batch: without that bound the last batch
// would walk every younger booking looking for more (60 ms per 500k rows here, unbounded in production).
// ON CONFLICT DO NOTHING (speculative insertion) costs ~50% more per row than a plain INSERT, so it is
// used only when the archive already holds ids in the range still to move (what a crash of the seed
// script leaves). Should another writer insert such ids meanwhile, the batch fails on the archive's
// key and rolls back whole; the retry sees them and takes the ON CONFLICT path.
function batchSql(columns: string, resume: boolean, skipArchived: boolean): string {
  return `
    WITH b AS (SELECT count(*)::int AS selected, min(id) AS lower, max(id) AS upper
                 FROM (SELECT id FROM bookings WHERE created_at < $1 AND id <= $3 ${resume ? 'AND id > $4' : ''} ORDER BY id LIMIT $2) s),
         moved AS (DELETE FROM bookings WHERE id BETWEEN (SELECT lower FROM b) AND (SELECT upper FROM b) AND created_at < $1 RETURNING *),
         inserted AS (INSERT INTO bookings_archive (${columns}) SELECT ${columns} FROM moved ${skipArchived ? 'ON CONFLICT DO NOTHING' : ''} RETURNING 1)
    SELECT selected, upper::text AS upper, (SELECT count(*) FROM moved)::int AS moved, (SELECT count(*) FROM inserted)::int AS inserted FROM b`;
}

function overlapSql(resume: boolean): string {
  return `
    SELECT EXISTS (SELECT 1 FROM bookings_archive a
                    WHERE a.id >= (SELECT id FROM bookings WHERE created_at < $1 ${resume ? 'AND id > $3' : ''} ORDER BY id LIMIT 1)
                      AND a.id <= $2) AS overlap`;
}

async function startingCensus(c: pg.PoolClient, cutoff: Date): Promise<StartingCensus> {
  const {
    rows: [census],
  } = await c.query<StartingCensus>(STARTING_CENSUS_SQL, [cutoff]);
  const {
    rows: [ceiling],
  } = await c.query<{ id: string | null }>('SELECT max(id)::text AS id FROM bookings_archive WHERE id <= $1', [
    census!.lastOldId,
  ]);
  return { ...census!, archivedCeiling: ceiling!.id };
}

/**
 * Heartbeats are throttled, so the last one the server holds can be many batches old when a worker
 * dies. The archive itself says how far this run got: its highest id above both the last heartbeat
 * and the ceiling taken before the first batch (one index range scan over the rows since the
 * heartbeat). Without a ceiling (progress from an older version) the heartbeat stands.
 */
async function committedSinceHeartbeat(
  c: pg.PoolClient,
  cutoff: Date,
  before: StartingCensus,
  heartbeatId: string | null,
) {
  if (before.archivedCeiling === undefined || before.lastOldId === null) return { lastId: null, rows: 0 };
  const above = [before.archivedCeiling, heartbeatId].filter((id) => id !== null);
  const {
    rows: [r],
  } = await c.query<{ lastId: string | null; rows: number }>(
    `SELECT max(id)::text AS "lastId", count(*)::int AS rows FROM bookings_archive
      WHERE id <= $2 AND created_at < $1 ${above.map((_, i) => `AND id > $${i + 3}`).join(' ')}`,
    [cutoff, before.lastOldId, ...above],
  );
  return r!;
}

/**
 * Moves bookings older than `cutoff` into bookings_archive, one short transaction per batch.
 * `resume` is the progress a previous attempt reported; `onProgress` reports progress after each commit.
 * Independent of Temporal, so the benchmark measures exactly what the activity runs.
 */
export async function moveBookingsInBatches(
  db: pg.Pool,
  request: ArchiveRequest & { timeouts: Timeouts },
  resume: ArchiveProgress | undefined,
  onProgress: (progress: ArchiveProgress) => void = () => undefined,
  isCancelled: () => boolean = () => false,
): Promise<ArchiveResult> {
  const cutoff = new Date(request.cutoff);
  if (Number.isNaN(cutoff.getTime()))
    throw failure(FailureType.InvalidInput, `cutoff: ${JSON.stringify(request.cutoff)} is not a timestamp`);
  if (!Number.isInteger(request.batchSize) || request.batchSize < 1)
    throw failure(FailureType.InvalidInput, `batchSize: expected a positive whole number, got ${request.batchSize}`);
  const target = request.batchTargetMs;
  if (target !== undefined && !(target > 0))
    throw failure(FailureType.InvalidInput, `batchTargetMs: expected a positive number of milliseconds, got ${target}`);
  const t = request.timeouts;
  const durations: number[] = [];
  const sizes = { min: Infinity, max: 0 };
  const clock = performance.now();
  const empty = { rows: 0, idChecksum: '0', lastOldId: null };
  const result = (
    status: ArchiveResult['status'],
    reason: string | undefined,
    rest: Partial<ArchiveResult>,
  ): ArchiveResult => {
    const sorted = [...durations].sort((a, b) => a - b);
    const round = (ms: number) => Math.round(ms * 10) / 10;
    return {
      // Progress an earlier attempt reported still counts when this one cannot go on.
      cutoff: request.cutoff,
      status,
      ...(reason ? { reason } : {}),
      rowsMoved: resume?.rowsMoved ?? 0,
      alreadyArchived: 0,
      batches: resume?.batches ?? 0,
      resumedAfterId: resume?.lastId ?? null,
      resumedPastHeartbeatRows: 0,
      before: resume?.before ?? empty,
      after: { census: empty, remainingInBookings: 0, inBothTables: 0 },
      conserved: null,
      batchMs: {
        max: round(sorted.at(-1) ?? 0),
        p99: round(percentile(sorted, 0.99)),
        median: round(percentile(sorted, 0.5)),
      },
      phaseMs: { census: 0, move: 0, verify: 0 },
      batchRows: { min: sizes.min === Infinity ? 0 : sizes.min, max: sizes.max },
      ...rest,
    };
  };

  let prepared;
  try {
    prepared = await inTransaction(db, t, async (c) => {
      const columns = await prepareArchive(c);
      if (columns === undefined) return undefined;
      const before = resume?.before ?? (await startingCensus(c, cutoff));
      const committed = resume
        ? await committedSinceHeartbeat(c, cutoff, before, resume.lastId)
        : { lastId: null, rows: 0 };
      const resumeAfter = committed.lastId ?? resume?.lastId ?? null;
      const {
        rows: [o],
      } = await c.query<{ overlap: boolean }>(overlapSql(resumeAfter != null), [
        cutoff,
        before.lastOldId,
        ...(resumeAfter != null ? [resumeAfter] : []),
      ]);
      return { columns, before, overlap: o!.overlap, resumeAfter, committedRows: committed.rows };
    });
  } catch (err) {
    const reason = timeoutReason(err, t);
    if (!reason) throw err;
    return result('skipped', `bookings: ${reason}`, {});
  }
  if (!prepared) return result('skipped', 'no bookings table in this database', {});
  const censusMs = performance.now() - clock;

  // Batches committed after the last heartbeat count as moved (their number of batches is unknown).
  const progress: ArchiveProgress = {
    lastId: prepared.resumeAfter,
    rowsMoved: (resume?.rowsMoved ?? 0) + prepared.committedRows,
    batches: resume?.batches ?? 0,
    before: prepared.before,
  };
  onProgress(progress); // the census can take a while on a large table: report liveness before the first batch
  let alreadyArchived = 0;
  let stoppedBy: string | undefined;
  const stopAt = prepared.before.lastOldId;
  const sql = {
    first: batchSql(prepared.columns, false, prepared.overlap),
    next: batchSql(prepared.columns, true, prepared.overlap),
  };
  // Adaptive sizing starts small (cold cache) and moves by at most x1.5 / x0.5 a batch, so one slow
  // batch does not swing the next one.
  let size = target ? Math.min(request.batchSize, 500) : request.batchSize;
  // A dedicated connection with session-level timeouts: every batch statement is bounded, and none
  // needs BEGIN/SET/COMMIT round trips of its own.
  await withSessionTimeouts(db, t, async (client) => {
    while (stopAt !== null && progress.lastId !== stopAt) {
      if (isCancelled()) throw failure(FailureType.Cancelled, 'archive cancelled between batches; rerun continues');
      const started = performance.now();
      let batch;
      try {
        const resuming = progress.lastId !== null;
        ({
          rows: [batch],
        } = await client.query<{ selected: number; upper: string; moved: number; inserted: number }>(
          resuming ? sql.next : sql.first,
          [cutoff, size, stopAt, ...(resuming ? [progress.lastId] : [])],
        ));
      } catch (err) {
        stoppedBy = timeoutReason(err, t);
        if (!stoppedBy) throw err;
        return;
      }
      const elapsed = performance.now() - started;
      durations.push(elapsed);
      if (batch!.selected === 0) return;
      sizes.min = Math.min(sizes.min, batch!.selected);
      sizes.max = Math.max(sizes.max, batch!.selected);
      if (target)
        size = Math.max(
          Math.min(100, request.batchSize),
          Math.min(request.batchSize, Math.round(size * Math.min(1.5, Math.max(0.5, target / elapsed)))),
        );
      progress.lastId = batch!.upper;
      progress.rowsMoved += batch!.moved;
      progress.batches += 1;
      alreadyArchived += batch!.moved - batch!.inserted;
      onProgress(progress);
      if (request.pauseBetweenBatchesMs) await new Promise((r) => setTimeout(r, request.pauseBetweenBatchesMs));
    }
  });

  const verifyStarted = performance.now();
  const before = prepared.before;
  const phaseMs = () => ({
    census: Math.round(censusMs),
    move: Math.round(verifyStarted - clock - censusMs),
    verify: Math.round(performance.now() - verifyStarted),
  });
  const resumed = { resumedAfterId: prepared.resumeAfter, resumedPastHeartbeatRows: prepared.committedRows };
  const stopped = stoppedBy && `stopped after ${progress.batches} batch(es): bookings ${stoppedBy}`;
  let after: ArchiveResult['after'];
  try {
    after = await inTransaction(db, t, async (c) => {
      const {
        rows: [left],
      } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM bookings WHERE created_at < $1', [cutoff]);
      // Usually nothing old is left in bookings: then the archive alone is the census and nothing can be in both.
      if (left!.n === 0) {
        const {
          rows: [census],
        } = await c.query<Census>(`SELECT ${CHECKSUM} FROM bookings_archive WHERE created_at < $1`, [cutoff]);
        return { census: census!, remainingInBookings: 0, inBothTables: 0 };
      }
      const {
        rows: [census],
      } = await c.query<StartingCensus>(STARTING_CENSUS_SQL, [cutoff]);
      const {
        rows: [both],
      } = await c.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM bookings b JOIN bookings_archive a ON a.id = b.id WHERE b.created_at < $1',
        [cutoff],
      );
      return {
        census: { rows: census!.rows, idChecksum: census!.idChecksum },
        remainingInBookings: left!.n,
        inBothTables: both!.n,
      };
    });
  } catch (err) {
    const reason = timeoutReason(err, t);
    if (!reason) throw err;
    return result('incomplete', `${stopped ?? 'batches done'}; not verified: bookings ${reason}`, {
      rowsMoved: progress.rowsMoved,
      alreadyArchived,
      batches: progress.batches,
      before,
      phaseMs: phaseMs(),
      ...resumed,
    });
  }
  return result(stopped ? 'incomplete' : 'done', stopped, {
    rowsMoved: progress.rowsMoved,
    alreadyArchived,
    batches: progress.batches,
    before,
    after,
    ...resumed,
    conserved:
      after.census.rows === before.rows && after.census.idChecksum === before.idChecksum && after.inBothTables === 0,
    phaseMs: phaseMs(),
  });
}

export function createArchiveActivities({ db, timeouts }: { db: pg.Pool; timeouts: Timeouts }) {
  return {
    /**
     * Heartbeats its progress after every batch; a retried attempt (worker crash, heartbeat timeout)
     * resumes after the last batch committed (see committedSinceHeartbeat), not only the last one reported.
     */
    async archiveBookingsOlderThan(request: ArchiveRequest): Promise<ArchiveResult> {
      const ctx = Context.current();
      const resume = ctx.info.heartbeatDetails as ArchiveProgress | undefined;
      const result = await moveBookingsInBatches(
        db,
        { ...request, timeouts: resolveTimeouts(timeouts, request.timeouts) },
        resume,
        (progress) => ctx.heartbeat(progress),
        () => ctx.cancellationSignal.aborted,
      );
      ctx.log.info('archive finished', {
        rowsMoved: result.rowsMoved,
        batches: result.batches,
        conserved: result.conserved,
      });
      return result;
    },
  };
}
