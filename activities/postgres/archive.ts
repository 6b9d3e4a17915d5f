import { Context } from '@temporalio/activity';
import pg from 'pg';
import { inTransaction, resolveTimeouts, timeoutReason, withSessionTimeouts, type Timeouts } from './sql.js';
import type { ArchiveResult, ArchiveStreamResult, Census } from '../../domain/database.js';
import { failure, FailureType } from '../../domain/failures.js';

/**
 * Seed `db_maintenance.sh` moved old bookings with two autocommitted statements (INSERT..SELECT,
 * then DELETE): a crash between them left rows in both tables and the next run failed on the
 * archive's primary key. Here every batch deletes and inserts in one transaction, keyset by id, so
 * a crash at any moment leaves each row in exactly one table and a rerun simply continues.
 *
 * PostgreSQL runs each DML statement on one core: the old ids are cut into slices, one keyset
 * stream per slice on a connection of its own, so several cores move rows at once.
 *
 * Batches commit without waiting for their WAL to reach disk (synchronous_commit off, on the
 * streams' sessions only): a commit's flush cost ~15% of the archive's time here. A crash of
 * PostgreSQL (not a restart: that flushes) can then undo the batches of its last moments, each
 * whole, its DELETE with its INSERT, so a row is still in exactly one table. What a retry resumes
 * from must not include them: progress is reported only after a commit that waits for the flush
 * (see reportDurably), which makes every batch committed before it durable too. A role that may not
 * write the logical message this flush needs commits every batch waiting, as before (mayFlushWal).
 */

/** One keyset stream: the old ids in (after, upTo], in id order. */
interface StreamProgress {
  /** Its slice, fixed before the first batch: ids above `after` (null: from the lowest) up to `upTo`. */
  after: string | null;
  upTo: string;
  /**
   * Highest archive id in the slice before the first batch (undefined: not known, progress from an
   * older version). Archive ids above it were moved by this run, in id order, each batch committed
   * whole: the highest of them is where a retry can resume.
   */
  ceiling?: string | null;
  /** Highest id handled; a retried attempt resumes after it (as text: ids may be bigint or uuid). */
  lastId: string | null;
  rowsMoved: number;
  batches: number;
  /** Count and id checksum of the rows this stream inserted into the archive. */
  inserted: Census;
}

/** What the activity heartbeats: a retried attempt resumes every stream where it stood. */
export interface ArchiveProgress {
  version: 2;
  /** Old bookings the archive held in the streams' slices before the first batch. */
  archivedBefore: Census;
  streams: StreamProgress[];
}

/**
 * Progress as versions before streams heartbeated it (one keyset, a census of both tables up to the
 * highest old id): an attempt of theirs still in flight is resumed as one stream.
 */
export interface SingleKeysetProgress {
  lastId: string | null;
  rowsMoved: number;
  batches: number;
  before: Census & { lastOldId: string | null; archivedCeiling?: string | null };
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
  /** Keyset streams on connections of their own (integer ids; other key types use one). A retry keeps its first attempt's. */
  streams?: number;
  timeouts?: Partial<Timeouts>;
}

const EMPTY: Census = { rows: 0, idChecksum: '0' };
// Sums of 64-bit hashes: additive, so a census is the sum of its parts (numeric text, any size).
const plus = (a: Census, b: Census): Census => ({
  rows: a.rows + b.rows,
  idChecksum: (BigInt(a.idChecksum) + BigInt(b.idChecksum)).toString(),
});
const minus = (a: Census, b: Census): Census => plus(a, { rows: -b.rows, idChecksum: `${-BigInt(b.idChecksum)}` });
const same = (a: Census, b: Census) => a.rows === b.rows && BigInt(a.idChecksum) === BigInt(b.idChecksum);

// hashtextextended over the id's text: any key type, and what earlier versions' censuses used. The
// sum of bigints is exact (a 128-bit accumulator, numeric result): the same figure as summing each
// hash cast to numeric, at about half the cost per row.
const HASH = (column: string) => `coalesce(sum(hashtextextended(${column}::text, 0)), 0)::text`;
const CENSUS = (column = 'id') => `count(*)::int AS rows, ${HASH(column)} AS "idChecksum"`;

/** How often at most progress is made durable and reported; the SDK sends a heartbeat every 8 s at most. */
const REPORT_EVERY_MS = 1_000;
// A commit waits for the WAL flush only if its transaction has an id and wrote WAL: a transactional
// logical message (a few bytes, read only by logical decoding) gives it both, and the flush up to
// its commit record covers every commit any session made before it. txid_current() alone does not:
// it writes no WAL (the crash test failed with it).
const FLUSH_WAL = `BEGIN; SET LOCAL synchronous_commit = on;
  SELECT pg_logical_emit_message(true, 'trixtech-maintenance', 'archive progress'); COMMIT`;

/**
 * Whether the role may write the logical message FLUSH_WAL needs (PUBLIC may, unless revoked); where
 * it may not, every batch commits waiting for the flush, as before, and progress needs no flush.
 */
async function mayFlushWal(c: pg.PoolClient): Promise<boolean> {
  const {
    rows: [r],
  } = await c.query<{ may: boolean }>(
    `SELECT coalesce(bool_or(has_function_privilege(p.oid, 'EXECUTE')), false) AS may FROM pg_proc p
      WHERE p.proname = 'pg_logical_emit_message' AND p.pronamespace = 'pg_catalog'::regnamespace
        AND p.proargtypes[2] = 'text'::regtype`,
  );
  return r!.may;
}

/** `id <= $2` and `id > $n` for each given lower bound (nulls dropped), with the parameters to pass. */
function slice(upTo: string, lowers: (string | null | undefined)[], column = 'id', first = 3) {
  const above = lowers.filter((id): id is string => id != null);
  return {
    sql: `${column} <= $2 ${above.map((_, i) => `AND ${column} > $${first + i}`).join(' ')}`,
    params: [upTo, ...above],
  };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

/**
 * Creates the archive (as the seed did) and checks that it can hold every bookings column; returns
 * the quoted column list and whether ids are integers.
 */
async function prepareArchive(
  client: pg.PoolClient,
): Promise<{ columns: string; integerIds: boolean; asyncCommit: boolean } | undefined> {
  const {
    rows: [exists],
  } = await client.query<{ ok: boolean }>(`SELECT to_regclass('public.bookings') IS NOT NULL AS ok`);
  if (!exists!.ok) return undefined;
  await client.query('CREATE TABLE IF NOT EXISTS bookings_archive (LIKE bookings INCLUDING ALL)');
  const { rows } = await client.query<{ name: string; integer: boolean; archived: boolean }>(
    `SELECT a.attname AS name, a.atttypid = ANY ('{int2,int4,int8}'::regtype[]) AS integer, EXISTS (SELECT 1 FROM pg_attribute x WHERE x.attrelid = 'public.bookings_archive'::regclass
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
  return {
    columns: rows.map((r) => pg.escapeIdentifier(r.name)).join(', '),
    integerIds: rows.find((r) => r.name === 'id')!.integer,
    asyncCommit: await mayFlushWal(client),
  };
}

// One statement per batch, so each batch is its own transaction: keyset in primary-key order, the
// batch is an id range after the last id handled, moved with the cutoff re-checked (a row that
// changed meanwhile stays). Integer ids take the next `$2 - $3` ids (one index range scan); other
// key types the range [lower, upper] of the next `$2` old rows, found by a scan of its own first. A
// range scans the index once, where `id = ANY(ARRAY(...))` descends it once per id (4x slower
// deletes here). The scan stops at the end of the stream's slice (the last one ends at the highest
// old id found before the first batch): without that bound the last batch would walk every younger
// booking looking for more (60 ms per 500k rows here, unbounded in production).
// ON CONFLICT DO NOTHING (speculative insertion) costs ~50% more per row than a plain INSERT, so it is
// used only when the archive already holds ids in the range still to move (what a crash of the seed
// script leaves). Should another writer insert such ids meanwhile, the batch fails on the archive's
// key and rolls back whole; the retry sees them and takes the ON CONFLICT path.
// The census of what a batch inserted comes from the rows in hand: the archive is counted again only
// at the end. Without ON CONFLICT the INSERT takes every deleted row or fails the statement, so the
// deleted rows are the inserted ones (no RETURNING from the INSERT, no second list to count).
function batchSql(columns: string, pick: 'ids' | 'first' | 'next', skipArchived: boolean): string {
  const move = (range: string) => `
    moved AS (DELETE FROM bookings WHERE ${range} AND created_at < $1 RETURNING *),
    ${
      skipArchived
        ? `inserted AS (INSERT INTO bookings_archive (${columns}) SELECT ${columns} FROM moved ON CONFLICT DO NOTHING RETURNING id),
    census AS (SELECT (SELECT count(*) FROM moved)::int AS moved, ${CENSUS()} FROM inserted)`
        : `inserted AS (INSERT INTO bookings_archive (${columns}) SELECT ${columns} FROM moved),
    census AS (SELECT count(*)::int AS moved, ${CENSUS()} FROM moved)`
    }`;
  if (pick === 'ids') return `WITH ${move('id > $3 AND id <= $2')} SELECT * FROM census`;
  return `
    WITH b AS (SELECT count(*)::int AS selected, min(id) AS lower, max(id) AS upper
                 FROM (SELECT id FROM bookings WHERE created_at < $1 AND id <= $3 ${pick === 'next' ? 'AND id > $4' : ''} ORDER BY id LIMIT $2) s),
         ${move('id BETWEEN (SELECT lower FROM b) AND (SELECT upper FROM b)')}
    SELECT selected, upper::text AS upper, census.* FROM b, census`;
}

/** Whether the archive holds ids from the first old booking still to move up to the end of the slice. */
async function archiveOverlaps(c: pg.PoolClient, cutoff: Date, s: StreamProgress): Promise<boolean> {
  const range = slice(s.upTo, [s.lastId ?? s.after]);
  const {
    rows: [o],
  } = await c.query<{ overlap: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM bookings_archive a
                     WHERE a.id >= (SELECT id FROM bookings WHERE created_at < $1 AND ${range.sql} ORDER BY id LIMIT 1)
                       AND a.id <= $2) AS overlap`,
    [cutoff, ...range.params],
  );
  return o!.overlap;
}

/** What the archive holds in a slice before its first batch: its old rows' census and its highest id there. */
async function archivedInSlice(c: pg.PoolClient, cutoff: Date, s: { after: string | null; upTo: string }) {
  const range = slice(s.upTo, [s.after]);
  const {
    rows: [held],
  } = await c.query<Census & { ceiling: string | null }>(
    `SELECT count(*) FILTER (WHERE created_at < $1)::int AS rows,
            coalesce(sum(hashtextextended(id::text, 0)) FILTER (WHERE created_at < $1), 0)::text AS "idChecksum",
            max(id)::text AS ceiling
       FROM bookings_archive WHERE ${range.sql}`,
    [cutoff, ...range.params],
  );
  return held!;
}

/**
 * Before the first batch, from two index probes: the lowest old id (the primary key walked from its
 * start: the oldest bookings come first) and the id of the newest old booking (the created_at
 * index). The span between them is cut into `streams` slices of equal width when ids are integers,
 * and the archive's contents in each are counted. The last slice stays open: the highest old id can
 * lie above the newest old booking's, and only an aggregate over the old rows finds it
 * (closeLastSlice, while the streams already move rows). The census of the rows moved comes from the
 * batches themselves.
 */
async function startStreams(
  c: pg.PoolClient,
  cutoff: Date,
  streams: number,
  integerIds: boolean,
): Promise<ArchiveProgress> {
  const progress: ArchiveProgress = { version: 2, archivedBefore: EMPTY, streams: [] };
  const {
    rows: [newest],
  } = await c.query<{ newest: string }>(
    `SELECT id::text AS newest FROM bookings WHERE created_at < $1 ORDER BY created_at DESC LIMIT 1`,
    [cutoff],
  );
  if (newest === undefined) return progress;
  const slices: { after: string | null; upTo: string }[] = [];
  if (integerIds) {
    // Only asked once an old row is known to exist: otherwise the walk would cross the whole table.
    const {
      rows: [first],
    } = await c.query<{ first: string }>(
      `SELECT id::text AS first FROM bookings WHERE created_at < $1 ORDER BY id LIMIT 1`,
      [cutoff],
    );
    const lowest = BigInt(first!.first) - 1n;
    const last = BigInt(newest.newest) > lowest ? BigInt(newest.newest) : lowest + 1n;
    const span = last - lowest;
    const n = BigInt(streams) < span ? BigInt(streams) : span;
    const width = (span + n - 1n) / n;
    for (let after = lowest; after < last; after += width) {
      const upTo = after + width < last ? after + width : last;
      slices.push({ after: after.toString(), upTo: upTo.toString() });
    }
  } else slices.push({ after: null, upTo: newest.newest });
  for (const s of slices) {
    const held = await archivedInSlice(c, cutoff, s);
    progress.archivedBefore = plus(progress.archivedBefore, held);
    progress.streams.push({ ...s, ceiling: held.ceiling, lastId: null, rowsMoved: 0, batches: 0, inserted: EMPTY });
  }
  return progress;
}

/**
 * The last slice's end: the highest old id, from one aggregate over the old rows (count(*) keeps the
 * planner from walking the primary key from its end for max(id): that walk crosses every younger
 * booking, most of the table in production). The last stream has not gone past the slice's
 * provisional end yet, so old rows above it are untouched: when there are any, the slice extends to
 * the highest, with what the archive holds in the extension. Returns whether the archive holds ids
 * there (the stream then moves them with ON CONFLICT DO NOTHING).
 */
async function closeLastSlice(c: pg.PoolClient, cutoff: Date, progress: ArchiveProgress): Promise<boolean> {
  const s = progress.streams.at(-1)!;
  // The streams already keep the cores busy: parallel workers would only slow their batches down.
  await c.query('BEGIN; SET LOCAL max_parallel_workers_per_gather = 0');
  try {
    const {
      rows: [bounds],
    } = await c.query<{ last: string | null; beyond: boolean | null }>(
      `SELECT max(id)::text AS last, max(id) > $2 AS beyond, count(*) AS old FROM bookings WHERE created_at < $1`,
      [cutoff, s.upTo],
    );
    const held = bounds!.beyond ? await archivedInSlice(c, cutoff, { after: s.upTo, upTo: bounds!.last! }) : undefined;
    await c.query('COMMIT');
    if (held === undefined) return false;
    progress.archivedBefore = plus(progress.archivedBefore, held);
    s.ceiling = held.ceiling ?? s.ceiling; // the extension lies above the rest of the slice
    s.upTo = bounds!.last!;
    return held.ceiling !== null;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Heartbeats are throttled, so the last one the server holds can be many batches old when a worker
 * dies. The archive itself says how far each stream got: its highest id in the slice above both the
 * last heartbeat and the ceiling taken before the first batch (one index range scan over the rows
 * since the heartbeat), with the census of those rows. Without a ceiling (progress from an older
 * version) the heartbeat stands.
 */
async function committedSinceHeartbeat(c: pg.PoolClient, cutoff: Date, s: StreamProgress) {
  if (s.ceiling === undefined) return { lastId: null, ...EMPTY };
  const range = slice(s.upTo, [s.after, s.ceiling, s.lastId]);
  const {
    rows: [r],
  } = await c.query<Census & { lastId: string | null }>(
    `SELECT max(id)::text AS "lastId", ${CENSUS()} FROM bookings_archive WHERE created_at < $1 AND ${range.sql}`,
    [cutoff, ...range.params],
  );
  return r!;
}

/**
 * An attempt of a version before streams: one stream up to its highest old id. Its census covered
 * both tables at its start, so the archive must end up holding exactly that: what it holds "before"
 * is that census less what is still to move (old rows in bookings not in the archive), and every row
 * its batches moved stays counted there.
 */
async function fromSingleKeyset(
  c: pg.PoolClient,
  cutoff: Date,
  p: SingleKeysetProgress,
): Promise<{ progress: ArchiveProgress; gapRows: number }> {
  const { lastOldId, archivedCeiling } = p.before;
  if (lastOldId === null) return { progress: { version: 2, archivedBefore: EMPTY, streams: [] }, gapRows: 0 };
  const stream: StreamProgress = {
    after: null,
    upTo: lastOldId,
    ceiling: archivedCeiling,
    lastId: p.lastId,
    rowsMoved: p.rowsMoved,
    batches: p.batches,
    inserted: EMPTY,
  };
  const gap = await committedSinceHeartbeat(c, cutoff, stream);
  const {
    rows: [toMove],
  } = await c.query<Census>(
    `SELECT ${CENSUS('b.id')} FROM bookings b
      WHERE b.created_at < $1 AND b.id <= $2 AND NOT EXISTS (SELECT 1 FROM bookings_archive a WHERE a.id = b.id)`,
    [cutoff, lastOldId],
  );
  return {
    progress: {
      version: 2,
      archivedBefore: minus(p.before, toMove!),
      streams: [{ ...stream, lastId: gap.lastId ?? stream.lastId, rowsMoved: stream.rowsMoved + gap.rows }],
    },
    gapRows: gap.rows,
  };
}

/** After a stream's batches: the archive's census of its slice, counted afresh, and the old rows still in bookings there. */
async function checkSlice(c: pg.PoolClient, cutoff: Date, s: { after: string | null; upTo: string }) {
  const range = slice(s.upTo, [s.after]);
  const {
    rows: [r],
  } = await c.query<Census & { left: number }>(
    `SELECT a.rows, a."idChecksum", (SELECT count(*)::int FROM bookings WHERE created_at < $1 AND ${range.sql}) AS left
       FROM (SELECT ${CENSUS()} FROM bookings_archive WHERE created_at < $1 AND ${range.sql}) a`,
    [cutoff, ...range.params],
  );
  const archived = { rows: r!.rows, idChecksum: r!.idChecksum };
  // Usually nothing old is left: then nothing can be in both tables either.
  if (r!.left === 0) return { archived, left: 0, onlyInBookings: EMPTY };
  const {
    rows: [only],
  } = await c.query<Census>(
    `SELECT ${CENSUS('b.id')} FROM bookings b WHERE b.created_at < $1 AND ${slice(s.upTo, [s.after], 'b.id').sql}
        AND NOT EXISTS (SELECT 1 FROM bookings_archive a WHERE a.id = b.id)`,
    [cutoff, ...range.params],
  );
  return { archived, left: r!.left, onlyInBookings: only! };
}

type SliceCheck = Awaited<ReturnType<typeof checkSlice>>;
const addChecks = (a: SliceCheck, b: SliceCheck): SliceCheck => ({
  archived: plus(a.archived, b.archived),
  left: a.left + b.left,
  onlyInBookings: plus(a.onlyInBookings, b.onlyInBookings),
});

/** An integer slice cut into `n` adjacent parts of about equal width (fewer when it is narrower). */
function partsOf(s: { after: string; upTo: string }, n: number): { after: string; upTo: string }[] {
  const [after, upTo] = [BigInt(s.after), BigInt(s.upTo)];
  const width = upTo > after ? (upTo - after + BigInt(n) - 1n) / BigInt(n) : 1n;
  const parts: { after: string; upTo: string }[] = [];
  for (let a = after; a < upTo || parts.length === 0; a += width)
    parts.push({ after: a.toString(), upTo: (a + width < upTo ? a + width : upTo).toString() });
  return parts;
}

const totals = (p: ArchiveProgress | SingleKeysetProgress | undefined) =>
  p === undefined
    ? { rowsMoved: 0, batches: 0 }
    : 'streams' in p
      ? p.streams.reduce((t, s) => ({ rowsMoved: t.rowsMoved + s.rowsMoved, batches: t.batches + s.batches }), {
          rowsMoved: 0,
          batches: 0,
        })
      : { rowsMoved: p.rowsMoved, batches: p.batches };

/**
 * Moves bookings older than `cutoff` into bookings_archive, one short transaction per batch, in
 * `streams` keyset streams at once. `resume` is the progress a previous attempt reported (this
 * version's or the single-keyset one before it); `onProgress` reports progress after each commit.
 * Independent of Temporal, so the benchmark measures exactly what the activity runs.
 */
export async function moveBookingsInBatches(
  db: pg.Pool,
  request: ArchiveRequest & { timeouts: Timeouts; reportEveryMs?: number },
  resume: ArchiveProgress | SingleKeysetProgress | undefined,
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
  const streams = request.streams ?? 1;
  if (!Number.isInteger(streams) || streams < 1)
    throw failure(FailureType.InvalidInput, `streams: expected a positive whole number, got ${request.streams}`);
  const t = request.timeouts;
  const durations: number[] = [];
  const sizes = { min: Infinity, max: 0 };
  const clock = performance.now();
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
      ...totals(resume),
      alreadyArchived: 0,
      streams: [],
      resumedPastHeartbeatRows: 0,
      before: EMPTY,
      after: { census: EMPTY, remainingInBookings: 0, inBothTables: 0 },
      conserved: null,
      batchMs: {
        max: round(sorted.at(-1) ?? 0),
        p99: round(percentile(sorted, 0.99)),
        median: round(percentile(sorted, 0.5)),
      },
      phaseMs: { census: 0, move: 0, verify: 0 },
      asyncCommit: false,
      batchRows: { min: sizes.min === Infinity ? 0 : sizes.min, max: sizes.max },
      ...rest,
    };
  };

  let prepared;
  try {
    prepared = await inTransaction(db, t, async (c) => {
      const archive = await prepareArchive(c);
      if (archive === undefined) return undefined;
      let progress: ArchiveProgress;
      let gapRows = 0;
      if (resume === undefined) progress = await startStreams(c, cutoff, streams, archive.integerIds);
      else if ('streams' in resume) {
        progress = structuredClone(resume);
        // Batches committed after the last heartbeat count as moved and inserted (how many batches is unknown).
        for (const s of progress.streams) {
          const gap = await committedSinceHeartbeat(c, cutoff, s);
          s.lastId = gap.lastId ?? s.lastId;
          s.rowsMoved += gap.rows;
          s.inserted = plus(s.inserted, gap);
          gapRows += gap.rows;
        }
      } else ({ progress, gapRows } = await fromSingleKeyset(c, cutoff, resume));
      const overlaps: boolean[] = [];
      for (const s of progress.streams) overlaps.push(await archiveOverlaps(c, cutoff, s));
      return { ...archive, progress, overlaps, gapRows, resumedAfter: progress.streams.map((s) => s.lastId) };
    });
  } catch (err) {
    const reason = timeoutReason(err, t);
    if (!reason) throw err;
    return result('skipped', `bookings: ${reason}`, {});
  }
  if (!prepared) return result('skipped', 'no bookings table in this database', {});
  const censusMs = performance.now() - clock;

  const { progress, overlaps, columns, integerIds, asyncCommit } = prepared;
  // A fresh start's last slice is open until closeLastSlice; progress is reported only once every
  // slice is fixed (a heartbeat is what a retry resumes from): a retry before that starts afresh,
  // which is always correct (as a rerun is).
  const openSlice = resume === undefined ? progress.streams.at(-1) : undefined;
  let slicesFixed = openSlice === undefined;
  let reportedAt = -Infinity;
  let [taken, reported] = [0, 0];
  /** Reports the progress as it stands once every batch it counts is on disk (`due`: unless reported lately). */
  const reportDurably = async (client: pg.PoolClient, due = false) => {
    if (!slicesFixed || (due && performance.now() - reportedAt < (request.reportEveryMs ?? REPORT_EVERY_MS))) return;
    reportedAt = performance.now();
    const [durable, seq] = [structuredClone(progress), ++taken];
    if (asyncCommit) await client.query(FLUSH_WAL);
    // Streams flush at once: a later snapshot flushed first is not followed by an older one.
    if (seq < reported) return;
    reported = seq;
    onProgress(durable);
  };
  let alreadyArchived = 0;
  const stopped: string[] = [];
  const notVerified: string[] = [];
  const checks: SliceCheck[] = [];
  let verifyMs = 0;
  // A stream that fails (cancellation, a lost connection) stops the others after their current batch.
  let halted = false;
  let closing: Promise<boolean> | undefined;
  let extensionArchived = false;
  /** Closes the open slice once, on whichever connection asks first; false when a timeout stopped it. */
  const closeOpenSlice = (c: pg.PoolClient) =>
    (closing ??= closeLastSlice(c, cutoff, progress).then(
      async (archived) => {
        extensionArchived = archived;
        slicesFixed = true;
        await reportDurably(c);
        return true;
      },
      (err: unknown) => {
        const reason = timeoutReason(err, t);
        if (!reason) throw err;
        stopped.push(reason);
        notVerified.push(reason); // the extension's census before its first batch is unknown
        return false;
      },
    ));

  const moveSlice = async (client: pg.PoolClient, s: StreamProgress, overlap: boolean) => {
    // Adaptive sizing (ids or rows) starts small (cold cache) and moves by at most x1.25 / x0.5 a
    // batch, so one slow batch does not swing the next one. At most batchSize ids hold at most batchSize rows.
    let size = target ? Math.min(request.batchSize, 500) : request.batchSize;
    // The open slice is moved up to its provisional end; the batch that would reach it waits for the
    // closing (the slice may go on), so batches are cut as in a slice fixed from the start.
    for (;;) {
      const end = s.upTo;
      const skipArchived = overlap || (s === openSlice && extensionArchived);
      const sql = {
        ids: batchSql(columns, 'ids', skipArchived),
        first: batchSql(columns, 'first', skipArchived),
        next: batchSql(columns, 'next', skipArchived),
      };
      while (s.lastId !== end && !halted) {
        if (isCancelled()) throw failure(FailureType.Cancelled, 'archive cancelled between batches; rerun continues');
        const from = s.lastId ?? s.after;
        const byIds = integerIds && from !== null;
        if (s === openSlice && !slicesFixed && byIds && BigInt(from) + BigInt(size) >= BigInt(end)) break;
        const upper = byIds ? `${BigInt(from) + BigInt(size) < BigInt(end) ? BigInt(from) + BigInt(size) : end}` : '';
        const started = performance.now();
        let batch;
        try {
          ({
            rows: [batch],
          } = await client.query<Census & { selected?: number; upper?: string; moved: number }>(
            byIds ? sql.ids : from === null ? sql.first : sql.next,
            byIds ? [cutoff, upper, from] : [cutoff, size, end, ...(from === null ? [] : [from])],
          ));
        } catch (err) {
          const reason = timeoutReason(err, t);
          if (!reason) throw err;
          stopped.push(reason);
          return;
        }
        const elapsed = performance.now() - started;
        durations.push(elapsed);
        if (batch!.selected === 0) {
          s.lastId = end; // nothing old left in the slice: a retry need not look again
          break;
        }
        if (batch!.moved > 0) {
          sizes.min = Math.min(sizes.min, batch!.moved);
          sizes.max = Math.max(sizes.max, batch!.moved);
        }
        if (target)
          size = Math.max(
            Math.min(100, request.batchSize),
            Math.min(request.batchSize, Math.round(size * Math.min(1.25, Math.max(0.5, target / elapsed)))),
          );
        s.lastId = byIds ? upper : batch!.upper!;
        s.rowsMoved += batch!.moved;
        s.batches += 1;
        s.inserted = plus(s.inserted, batch!);
        alreadyArchived += batch!.moved - batch!.rows;
        await reportDurably(client, true);
        if (request.pauseBetweenBatchesMs) await new Promise((r) => setTimeout(r, request.pauseBetweenBatchesMs));
      }
      if (halted || (s === openSlice && !(await closeOpenSlice(client))) || s.lastId === s.upTo) return;
    }
  };

  // A dedicated connection per stream with session-level timeouts: every batch statement is
  // bounded, and none needs BEGIN/SET/COMMIT round trips of its own. A fresh start's open slice is
  // closed on a connection of its own while every stream moves rows when the pool has one to spare
  // (the worker's holds 4, three streams by default) and ids are integers (a batch of other keys
  // cannot tell whether it would pass the provisional end); otherwise its stream closes it first. Each
  // stream checks its own slice once its batches are done, on the same connection, while the others
  // may still move rows.
  const spare = openSlice !== undefined && integerIds && (db.options.max ?? 10) > progress.streams.length;
  const halting = (err: unknown) => {
    halted = true;
    throw err;
  };
  let moving = progress.streams.length;
  const runs: Promise<unknown>[] = progress.streams.map((s, i) =>
    withSessionTimeouts(
      db,
      t,
      async (client) => {
        // Where a retry resumes before the first batch: a resume's progress (a fresh start's waits for its slices).
        if (i === 0) await reportDurably(client);
        if (s === openSlice && !spare && !(await closeOpenSlice(client))) return;
        await moveSlice(client, s, overlaps[i]!);
        if (halted) return;
        // A stream stopped early still waits for the closing: its census and its check cover the same ids.
        if (s === openSlice && !(await closeOpenSlice(client))) return;
        // The stream's last batches on disk before its check counts them.
        await reportDurably(client);
        const started = performance.now();
        // The last stream to finish has the cores to itself: it checks its slice in parts, one per
        // stream's connection, at once.
        moving -= 1;
        const parts =
          moving === 0 && s.after !== null && integerIds
            ? partsOf({ ...s, after: s.after }, progress.streams.length)
            : [s];
        try {
          const counted = await Promise.allSettled(
            parts.map((part, k) =>
              k === 0
                ? checkSlice(client, cutoff, part)
                : withSessionTimeouts(db, t, (c) => checkSlice(c, cutoff, part)),
            ),
          );
          const failed = counted.find((r) => r.status === 'rejected');
          if (failed) throw failed.reason;
          checks[i] = counted.map((r) => (r as PromiseFulfilledResult<SliceCheck>).value).reduce(addChecks);
        } catch (err) {
          const reason = timeoutReason(err, t);
          if (!reason) throw err;
          notVerified.push(reason);
        }
        verifyMs = Math.max(verifyMs, performance.now() - started);
      },
      { asyncCommit },
    ).catch(halting),
  );
  // Asked for after the streams' connections, so it waits when the pool has none to spare.
  if (spare) runs.push(withSessionTimeouts(db, t, closeOpenSlice).catch(halting));
  const failed = (await Promise.allSettled(runs)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;

  const { rowsMoved, batches } = totals(progress);
  const phaseMs = {
    census: Math.round(censusMs),
    move: Math.round(performance.now() - clock - censusMs - verifyMs),
    verify: Math.round(verifyMs),
  };
  const common = {
    rowsMoved,
    batches,
    alreadyArchived,
    resumedPastHeartbeatRows: prepared.gapRows,
    streams: progress.streams.map((s, i): ArchiveStreamResult => ({
      after: s.after,
      upTo: s.upTo,
      resumedAfterId: prepared.resumedAfter[i] ?? null,
      rowsMoved: s.rowsMoved,
      batches: s.batches,
    })),
    phaseMs,
    asyncCommit,
  };
  const expected = progress.streams.reduce((sum, s) => plus(sum, s.inserted), progress.archivedBefore);
  const stoppedBy = stopped[0] && `stopped after ${batches} batch(es): bookings ${stopped[0]}`;
  if (notVerified.length > 0)
    return result('incomplete', `${stoppedBy ?? 'batches done'}; not verified: bookings ${notVerified[0]}`, {
      ...common,
      before: expected,
    });
  const archived = checks.reduce((sum, c) => plus(sum, c.archived), EMPTY);
  const onlyInBookings = checks.reduce((sum, c) => plus(sum, c.onlyInBookings), EMPTY);
  const left = checks.reduce((n, c) => n + c.left, 0);
  const inBothTables = left - onlyInBookings.rows;
  return result(stoppedBy ? 'incomplete' : 'done', stoppedBy, {
    ...common,
    // Distinct old bookings across both tables: a row still only in bookings counts on both sides.
    before: plus(expected, onlyInBookings),
    after: { census: plus(archived, onlyInBookings), remainingInBookings: left, inBothTables },
    conserved: same(archived, expected) && inBothTables === 0,
  });
}

export function createArchiveActivities({
  db,
  timeouts,
  streams,
}: {
  db: pg.Pool;
  timeouts: Timeouts;
  /** Keyset streams when the request names none. */
  streams: number;
}) {
  return {
    /**
     * Heartbeats its progress once on disk, every second at most; a retried attempt (worker crash,
     * heartbeat timeout) resumes each stream after its last batch committed (see
     * committedSinceHeartbeat), not only the last one reported.
     */
    async archiveBookingsOlderThan(request: ArchiveRequest): Promise<ArchiveResult> {
      const ctx = Context.current();
      const resume = ctx.info.heartbeatDetails as ArchiveProgress | SingleKeysetProgress | undefined;
      // Batches waiting on a row lock (lock_timeout may be minutes) send no progress, but the worker
      // is alive: the last progress (a copy, as reported: the streams go on changing theirs) is sent
      // again well within the heartbeat timeout, which then notices only a lost worker.
      let last: ArchiveProgress | SingleKeysetProgress | undefined = resume;
      const { heartbeatTimeoutMs } = ctx.info;
      const keepAlive = heartbeatTimeoutMs ? setInterval(() => ctx.heartbeat(last), heartbeatTimeoutMs / 4) : undefined;
      const result = await moveBookingsInBatches(
        db,
        { ...request, streams: request.streams ?? streams, timeouts: resolveTimeouts(timeouts, request.timeouts) },
        resume,
        (progress) => {
          last = structuredClone(progress);
          ctx.heartbeat(last);
        },
        () => ctx.cancellationSignal.aborted,
      ).finally(() => clearInterval(keepAlive));
      ctx.log.info('archive finished', {
        rowsMoved: result.rowsMoved,
        batches: result.batches,
        streams: result.streams.length,
        conserved: result.conserved,
      });
      return result;
    },
  };
}
