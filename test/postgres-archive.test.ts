import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { defaultPayloadConverter } from '@temporalio/common';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  moveBookingsInBatches,
  type ArchiveProgress,
  type SingleKeysetProgress,
} from '../activities/postgres/archive.js';
import type { ArchiveResult } from '../domain/database.js';
import type { RunReport } from '../domain/run.js';
import {
  weeklyDatabaseMaintenance,
  type WeeklyDatabaseMaintenanceInput,
} from '../workflows/weekly-database-maintenance.js';
import {
  createBookingSchema,
  idFingerprint,
  OLD,
  postgresActivitiesFor,
  seedBookings,
  windowFromNow,
} from './helpers/bookings.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { until } from './helpers/stack.js';
import { temporalEnv, testClient, testConfig, uniqueTaskQueue, withWorker } from './helpers/temporal.js';
import { killHard, startWorkerProcess } from './helpers/worker-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const archiveOf = (report: RunReport) => report.details!.archive as ArchiveResult;
/** Only the archive, inside a window that opened a minute ago. */
const archiveOnly = (extra: WeeklyDatabaseMaintenanceInput = {}): WeeklyDatabaseMaintenanceInput => ({
  steps: ['archive'],
  window: windowFromNow(-60, 120),
  ...extra,
});

describe('archive of old bookings (weeklyDatabaseMaintenance, steps: archive)', () => {
  let db: TestDatabase;
  let reports: TestDatabase;
  let backupDir: string;
  const env = () => ({ DATABASE_URL: db.url, MAINT_DATABASE_URL: reports.url });
  // Batches of exactly archiveBatchSize: a loaded machine must not shrink them (sizes adapt below 10 s).
  const config = () => testConfig(env(), { database: { backupDirectory: backupDir, archiveBatchTargetMs: 10_000 } });
  const fingerprints = async () => ({
    archive: await idFingerprint(db.pool, `bookings_archive WHERE ${OLD}`),
    bookings: await idFingerprint(db.pool, 'bookings'),
    oldInBookings: await idFingerprint(db.pool, `bookings WHERE ${OLD}`),
  });

  beforeEach(async () => {
    [db, reports] = await Promise.all([
      createTestDatabase('maint_archive'),
      createTestDatabase('maint_archive_reports'),
    ]);
    await createBookingSchema(db.pool);
    backupDir = mkdtempSync(join(tmpdir(), 'maint-archive-backups-'));
  });
  afterEach(async () => {
    await Promise.all([db?.drop(), reports?.drop()]);
  });

  it('moves every old booking exactly once, keeps recent ones, absorbs what a crashed seed run left, and a rerun changes nothing', async () => {
    await seedBookings(db.pool, 3000, 2000);
    // The seed script crashed between its INSERT and its DELETE: 100 old rows are in both tables.
    await db.pool.query(`CREATE TABLE bookings_archive (LIKE bookings INCLUDING ALL);
      INSERT INTO bookings_archive SELECT * FROM bookings WHERE ${OLD} ORDER BY id LIMIT 100`);
    const oldIds = await idFingerprint(db.pool, `bookings WHERE ${OLD}`);
    const recentIds = await idFingerprint(db.pool, `bookings WHERE NOT (${OLD})`);
    expect(oldIds.count).toBe(3000);

    const [first, second] = await withWorker(config(), async ({ client, taskQueue }) => {
      const run = (n: number) =>
        client.workflow.execute(weeklyDatabaseMaintenance, {
          taskQueue,
          workflowId: `archive-twice-${n}-${Date.now()}`,
          args: [archiveOnly({ archiveBatchSize: 500 })],
        });
      return [await run(1), await run(2)];
    });

    const a = archiveOf(first);
    expect(a).toMatchObject({ status: 'done', rowsMoved: 3000, alreadyArchived: 100, conserved: true });
    // The default three streams over adjacent slices of the old ids, each in batches of 500 ids, none resumed.
    expect(a.streams).toHaveLength(3);
    expect(a.streams.slice(1).map((s) => s.after)).toEqual(a.streams.slice(0, 2).map((s) => s.upTo));
    expect(a.streams.map((s) => s.resumedAfterId)).toEqual([null, null, null]);
    expect(a.streams.reduce((n, s) => n + s.rowsMoved, 0)).toBe(3000);
    expect(a.batches).toBe(a.streams.reduce((n, s) => n + Math.ceil((Number(s.upTo) - Number(s.after)) / 500), 0));
    expect(a.before.rows).toBe(3000);
    expect(a.after).toMatchObject({
      remainingInBookings: 0,
      inBothTables: 0,
      census: { rows: 3000, idChecksum: a.before.idChecksum },
    });
    expect(a.batchMs.max).toBeGreaterThan(0);
    expect(first.checks.find((c) => c.check === 'db.archive')).toMatchObject({ status: 'ok' });
    expect(first.checks.find((c) => c.check === 'db.backup')!.detail).toMatch(/^backup taken/);

    const state = await fingerprints();
    expect(state.archive).toEqual(oldIds);
    expect(state.bookings).toEqual(recentIds);
    expect(state.oldInBookings.count).toBe(0);

    expect(archiveOf(second)).toMatchObject({ status: 'done', rowsMoved: 0, alreadyArchived: 0, conserved: true });
    expect(second.checks.find((c) => c.check === 'db.backup')!.detail).not.toMatch(/^backup taken/); // the first run's backup is fresh
    expect(await fingerprints()).toEqual(state);
  });

  it('survives SIGKILL of its worker mid-archive with three streams: each resumes after its last committed batch, every row exactly once', async () => {
    // Ids in time order, as production's serial key: the slices are thirds of the old ids.
    await seedBookings(db.pool, 30_000, 10_000, true);
    const oldIds = await idFingerprint(db.pool, `bookings WHERE ${OLD}`);
    const recentIds = await idFingerprint(db.pool, `bookings WHERE NOT (${OLD})`);
    const file = join(mkdtempSync(join(tmpdir(), 'maint-config-')), 'config.json');
    writeFileSync(file, JSON.stringify({ database: { backupDirectory: backupDir, archiveStreams: 3 } }));
    const childEnv = { ...env(), ...temporalEnv(), MAINT_CONFIG: file, LOG_LEVEL: 'silent' };
    const taskQueue = uniqueTaskQueue('archive-kill');
    const client = await testClient();
    const workers: ChildProcess[] = [];
    // Old bookings at 20%, 55% and 85% of the old ids (in id order) locked by another session: the
    // three streams (thirds of the old id span) each move thousands of rows in batches of up to 500
    // ids and then wait on their locked row however fast or slow the machine is, so the kill lands
    // with all three mid-slice.
    const locker = new pg.Client({ connectionString: db.url });
    locker.on('error', () => undefined); // a failed test's cleanup drops the database under it
    await locker.connect();
    await locker.query(`BEGIN; SELECT id FROM bookings WHERE id IN (
                           SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM bookings WHERE ${OLD}) o
                            WHERE n IN (6000, 16500, 25500)) FOR UPDATE`);
    try {
      workers.push(await startWorkerProcess(childEnv, taskQueue));
      const handle = await client.workflow.start(weeklyDatabaseMaintenance, {
        taskQueue,
        workflowId: `archive-kill-${Date.now()}`,
        args: [archiveOnly({ archiveBatchSize: 500, lockTimeoutMs: 600_000 })],
      });

      const recordedHeartbeat = async () => {
        const payload = ((await handle.describe()).raw.pendingActivities ?? [])[0]?.heartbeatDetails?.payloads?.[0];
        return payload ? defaultPayloadConverter.fromPayload<ArchiveProgress>(payload) : undefined;
      };
      // Kill as soon as all three streams wait on their locked row: heartbeats are throttled (8 s
      // here), so the one the server holds then is usually batches behind what was committed.
      await until('the three streams waiting on their locked rows, a heartbeat recorded', async () => {
        const { rows } = await db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        return rows[0]!.n === 3 && (await recordedHeartbeat())?.streams.length === 3;
      });
      // All three are the first attempt's: a live worker's lock waits are not heartbeat timeouts.
      expect((await handle.describe()).raw.pendingActivities?.[0]?.attempt).toBe(1);
      await killHard(workers[0]!);
      // What the retry resumes from: the server's last heartbeat, which a dead worker can no longer change.
      const recorded = (await recordedHeartbeat())!;
      // Each slice's archived rows at the kill: every batch committed before it.
      const atKill = await Promise.all(
        recorded.streams.map(async (s) => {
          const { rows } = await db.pool.query<{ n: number; last: string }>(
            `SELECT count(*)::int AS n, max(id)::text AS last FROM bookings_archive WHERE id > $1 AND id <= $2`,
            [s.after, s.upTo],
          );
          expect(rows[0]!.n).toBeGreaterThan(0);
          return rows[0]!;
        }),
      );
      const archivedAtKill = atKill.reduce((n, k) => n + k.n, 0);
      expect(archivedAtKill).toBeLessThan(30_000);
      // The dead worker's sessions go with it (as TCP keepalive would end them), then the rows are free.
      await db.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      await locker.query('ROLLBACK');

      workers.push(await startWorkerProcess(childEnv, taskQueue));
      const report = await handle.result();
      const a = archiveOf(report);
      expect(a.status).toBe('done');
      // Conserved: the rows committed after the last heartbeat are counted as inserted, found in the archive.
      expect(a.conserved).toBe(true);
      // A retried attempt: the same three slices as recorded, each started after its recorded heartbeat
      // and, not only the (throttled) heartbeat, after every batch it committed before the kill.
      expect(a.streams.map((s) => [s.after, s.upTo])).toEqual(recorded.streams.map((s) => [s.after, s.upTo]));
      a.streams.forEach((s, i) => {
        expect(BigInt(s.resumedAfterId!)).toBeGreaterThanOrEqual(BigInt(recorded.streams[i]!.lastId ?? 0));
        expect(BigInt(s.resumedAfterId!)).toBeGreaterThanOrEqual(BigInt(atKill[i]!.last));
      });
      expect(a.resumedPastHeartbeatRows).toBe(archivedAtKill - recorded.streams.reduce((n, s) => n + s.rowsMoved, 0));
      expect(a.rowsMoved).toBe(30_000);
      expect(a.after).toMatchObject({ remainingInBookings: 0, inBothTables: 0, census: { rows: 30_000 } });
    } finally {
      for (const w of workers) await killHard(w);
      await locker.end();
      await client.connection.close();
    }
    const archived = await idFingerprint(db.pool, 'bookings_archive');
    expect(archived).toEqual(oldIds); // every old id once: none lost, none twice (count and digest)
    expect(await idFingerprint(db.pool, 'bookings')).toEqual(recentIds);
  }, 300_000); // a hang bound only: two worker processes each bundle every workflow at start, slow on a busy machine

  it('resumes an attempt that heartbeated the single-keyset progress of the version before streams', async () => {
    await seedBookings(db.pool, 3000, 1000);
    const oldIds = await idFingerprint(db.pool, `bookings WHERE ${OLD}`);
    const cutoff = new Date(Date.now() - 2 * 365.25 * 86_400_000).toISOString();
    // What that version recorded before its first batch: both tables' census (its own SQL) and the highest old id.
    const {
      rows: [before],
    } = await db.pool.query<SingleKeysetProgress['before']>(
      `SELECT count(*)::int AS rows, coalesce(sum(hashtextextended(id::text, 0)::numeric), 0)::text AS "idChecksum",
              max(id)::text AS "lastOldId", NULL AS "archivedCeiling" FROM bookings WHERE created_at < $1`,
      [cutoff],
    );
    // Its batches moved the first 1,000 old rows; its last heartbeat reached the server after 600.
    const moved = async (n: number) => {
      const { rows } = await db.pool.query<{ id: string }>(
        `SELECT id::text FROM bookings WHERE created_at < $1 ORDER BY bookings.id OFFSET $2 - 1 LIMIT 1`,
        [cutoff, n],
      );
      return rows[0]!.id;
    };
    const [heartbeatId, committedId] = [await moved(600), await moved(1000)];
    await db.pool.query(`CREATE TABLE bookings_archive (LIKE bookings INCLUDING ALL);
      WITH m AS (DELETE FROM bookings WHERE id <= ${committedId} AND ${OLD} RETURNING *) INSERT INTO bookings_archive SELECT * FROM m`);
    const heartbeat: SingleKeysetProgress = { lastId: heartbeatId, rowsMoved: 600, batches: 3, before: before! };

    const a = await moveBookingsInBatches(
      db.pool,
      { cutoff, batchSize: 500, streams: 2, timeouts: { lockTimeoutMs: 5_000, statementTimeoutMs: 60_000 } },
      heartbeat,
    );
    expect(a).toMatchObject({
      status: 'done',
      conserved: true,
      rowsMoved: 3000,
      resumedPastHeartbeatRows: 400,
      streams: [{ after: null, upTo: before!.lastOldId, resumedAfterId: committedId, rowsMoved: 3000 }],
      before: { rows: 3000, idChecksum: before!.idChecksum },
      after: { census: { rows: 3000, idChecksum: before!.idChecksum }, remainingInBookings: 0, inBothTables: 0 },
    });
    expect(await idFingerprint(db.pool, 'bookings_archive')).toEqual(oldIds);
  });

  it.each([
    [3, 'on a spare connection while every stream moves rows'],
    [4, 'by the last stream before its first batch (no connection to spare)'],
  ])(
    'with %i streams finds the highest old id %s: old ids above the newest old booking are moved too, once',
    async (streams) => {
      await seedBookings(db.pool, 3000, 1000); // ids in no relation to created_at
      const cutoff = new Date(Date.now() - 2 * 365.25 * 86_400_000).toISOString();
      const {
        rows: [bounds],
      } = await db.pool.query<{ newest: string; last: string }>(
        `SELECT (SELECT id FROM bookings WHERE created_at < $1 ORDER BY created_at DESC LIMIT 1)::text AS newest,
                max(id)::text AS last FROM bookings WHERE created_at < $1`,
        [cutoff],
      );
      expect(BigInt(bounds!.last)).toBeGreaterThan(BigInt(bounds!.newest));
      // What a crashed seed run left, above the newest old booking's id: the slice's extension holds archived ids.
      await db.pool.query(`CREATE TABLE bookings_archive (LIKE bookings INCLUDING ALL);
        INSERT INTO bookings_archive SELECT * FROM bookings WHERE ${OLD} AND id > ${bounds!.newest} ORDER BY id LIMIT 50`);
      const oldIds = await idFingerprint(db.pool, `bookings WHERE ${OLD}`);
      const reported: string[] = [];

      const a = await moveBookingsInBatches(
        db.pool, // 4 connections, as the worker's
        { cutoff, batchSize: 100, streams, timeouts: { lockTimeoutMs: 5_000, statementTimeoutMs: 60_000 } },
        undefined,
        (p) => reported.push(p.streams.at(-1)!.upTo),
      );
      expect(a).toMatchObject({ status: 'done', conserved: true, rowsMoved: 3000, alreadyArchived: 50 });
      expect(a.streams).toHaveLength(streams);
      expect(a.streams.at(-1)!.upTo).toBe(bounds!.last);
      // Nothing was reported before the last slice reached its end: a retry resumes from fixed slices.
      expect(reported.length).toBeGreaterThan(0);
      expect(new Set(reported)).toEqual(new Set([bounds!.last]));
      expect(await idFingerprint(db.pool, 'bookings_archive')).toEqual(oldIds);
      expect((await idFingerprint(db.pool, `bookings WHERE ${OLD}`)).count).toBe(0);
    },
  );

  it('skips the archive, within the lock timeout and saying why, while another session locks bookings', async () => {
    await seedBookings(db.pool, 500, 500);
    const before = await idFingerprint(db.pool, 'bookings');
    // A fresh backup first: the guard then has nothing to dump while the table is locked.
    await postgresActivitiesFor(db, reports, { backupDirectory: backupDir }).createDatabaseBackup();
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('BEGIN; LOCK TABLE bookings IN ACCESS EXCLUSIVE MODE');
    let report: RunReport;
    try {
      report = await withWorker(config(), ({ client, taskQueue }) =>
        client.workflow.execute(weeklyDatabaseMaintenance, {
          taskQueue,
          workflowId: `archive-locked-${Date.now()}`,
          args: [archiveOnly({ lockTimeoutMs: 300 })],
        }),
      );
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    expect(archiveOf(report)).toMatchObject({ status: 'skipped', rowsMoved: 0 });
    expect(archiveOf(report).reason).toMatch(/bookings: locked by another session.*300 ms/);
    expect(report.checks.find((c) => c.check === 'db.archive')).toMatchObject({ status: 'warn' });
    expect(await idFingerprint(db.pool, 'bookings')).toEqual(before);
  });

  it('waits on a locked row longer than its heartbeat timeout without being taken for a lost worker', async () => {
    await seedBookings(db.pool, 2_000, 500);
    const locker = new pg.Client({ connectionString: db.url });
    locker.on('error', () => undefined);
    await locker.connect();
    await locker.query(`BEGIN; SELECT id FROM bookings WHERE ${OLD} ORDER BY id OFFSET 1000 LIMIT 1 FOR UPDATE`);
    try {
      const report = await withWorker(config(), async ({ client, taskQueue }) => {
        const handle = await client.workflow.start(weeklyDatabaseMaintenance, {
          taskQueue,
          workflowId: `archive-lock-wait-${Date.now()}`,
          args: [archiveOnly({ archiveBatchSize: 200, lockTimeoutMs: 600_000 })],
        });
        await until('a batch waiting on the locked row', async () => {
          const { rows } = await db.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          );
          return rows[0]!.n > 0;
        });
        // The archive's heartbeat timeout is 10 s (workflows/lib/activity-profiles.ts): past it, a
        // worker that only heartbeats after batches has its attempt timed out and retried.
        await sleep(14_000);
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        // Released before asserting: the worker's shutdown waits for every attempt still waiting on it.
        await locker.query('ROLLBACK');
        expect(pending.map((p) => [p.activityType?.name, p.attempt, p.lastFailure?.message ?? null])).toEqual([
          ['archiveBookingsOlderThan', 1, null],
        ]);
        return handle.result();
      });
      expect(archiveOf(report)).toMatchObject({ status: 'done', rowsMoved: 2_000, conserved: true });
    } finally {
      await locker.end();
    }
  });

  it('stops cleanly, unverified, when bookings gets locked mid-archive, and a rerun finishes the job', async () => {
    await seedBookings(db.pool, 10_000, 2_000);
    const oldIds = await idFingerprint(db.pool, `bookings WHERE ${OLD}`);
    const recentIds = await idFingerprint(db.pool, `bookings WHERE NOT (${OLD})`);
    const archived = () =>
      db.pool.query(`SELECT count(*)::int AS n FROM bookings_archive`).then(
        (r) => r.rows[0].n as number,
        () => 0,
      );
    const [first, second] = await withWorker(config(), async ({ client, taskQueue }) => {
      const handle = await client.workflow.start(weeklyDatabaseMaintenance, {
        taskQueue,
        workflowId: `archive-lock-mid-${Date.now()}`,
        args: [archiveOnly({ archiveBatchSize: 200, archivePauseMs: 100, lockTimeoutMs: 300 })],
      });
      for (let i = 0; i < 200 && (await archived()) === 0; i++) await sleep(100);
      const locker = new pg.Client({ connectionString: db.url });
      await locker.connect();
      await locker.query('BEGIN; LOCK TABLE bookings IN ACCESS EXCLUSIVE MODE');
      let report: RunReport;
      try {
        report = await handle.result();
      } finally {
        await locker.query('ROLLBACK');
        await locker.end();
      }
      const rerun = await client.workflow.execute(weeklyDatabaseMaintenance, {
        taskQueue,
        workflowId: `archive-lock-rerun-${Date.now()}`,
        args: [archiveOnly()],
      });
      return [report, rerun];
    });

    const a = archiveOf(first);
    expect(a.status).toBe('incomplete');
    expect(a.reason).toMatch(/bookings locked by another session.*not verified: bookings locked by another session/);
    expect(a.conserved).toBeNull();
    expect(a.rowsMoved).toBeGreaterThan(0);
    expect(a.rowsMoved).toBeLessThan(10_000);
    expect(first.checks.find((c) => c.check === 'db.archive')).toMatchObject({ status: 'warn' });

    const b = archiveOf(second);
    expect(b).toMatchObject({ status: 'done', conserved: true, rowsMoved: 10_000 - a.rowsMoved });
    expect(await idFingerprint(db.pool, `bookings_archive WHERE ${OLD}`)).toEqual(oldIds);
    expect(await idFingerprint(db.pool, 'bookings')).toEqual(recentIds);
  });

  it('refuses, without retrying or moving a row, an archive that could hold a booking twice', async () => {
    await seedBookings(db.pool, 200, 200);
    await db.pool.query(`CREATE TABLE bookings_archive (LIKE bookings INCLUDING DEFAULTS)`); // no primary key
    const before = await idFingerprint(db.pool, 'bookings');
    const report = await withWorker(config(), ({ client, taskQueue }) =>
      client.workflow.execute(weeklyDatabaseMaintenance, {
        taskQueue,
        workflowId: `archive-no-key-${Date.now()}`,
        args: [archiveOnly()],
      }),
    );
    expect(report.checks.find((c) => c.check === 'db.step')).toMatchObject({
      target: 'archive old bookings',
      status: 'critical',
    });
    expect(report.checks.find((c) => c.check === 'db.step')!.detail).toMatch(/no primary key or unique index on id/);
    expect(report.outcome).toBe('critical');
    expect(await idFingerprint(db.pool, 'bookings')).toEqual(before);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM bookings_archive')).rows[0].n).toBe(0);
  });
});
