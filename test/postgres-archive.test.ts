import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { defaultPayloadConverter } from '@temporalio/common';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveProgress } from '../activities/postgres/archive.js';
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
    expect(a).toMatchObject({
      status: 'done',
      rowsMoved: 3000,
      alreadyArchived: 100,
      batches: 6,
      conserved: true,
      resumedAfterId: null,
    });
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

  it('survives SIGKILL of its worker mid-archive: the retry resumes after the last committed batch, no row lost, none duplicated', async () => {
    await seedBookings(db.pool, 30_000, 10_000);
    const oldIds = await idFingerprint(db.pool, `bookings WHERE ${OLD}`);
    const recentIds = await idFingerprint(db.pool, `bookings WHERE NOT (${OLD})`);
    const file = join(mkdtempSync(join(tmpdir(), 'maint-config-')), 'config.json');
    writeFileSync(file, JSON.stringify({ database: { backupDirectory: backupDir } }));
    const childEnv = { ...env(), ...temporalEnv(), MAINT_CONFIG: file, LOG_LEVEL: 'silent' };
    const taskQueue = uniqueTaskQueue('archive-kill');
    const client = await testClient();
    const workers: ChildProcess[] = [];
    // The newest old booking locked by another session: the archive moves 59 batches of 500 and then
    // waits on that row however fast or slow the machine is, so the kill always lands mid-archive.
    const locker = new pg.Client({ connectionString: db.url });
    locker.on('error', () => undefined); // a failed test's cleanup drops the database under it
    await locker.connect();
    await locker.query(`BEGIN; SELECT id FROM bookings WHERE ${OLD} ORDER BY id DESC LIMIT 1 FOR UPDATE`);
    try {
      workers.push(await startWorkerProcess(childEnv, taskQueue));
      const handle = await client.workflow.start(weeklyDatabaseMaintenance, {
        taskQueue,
        workflowId: `archive-kill-${Date.now()}`,
        args: [archiveOnly({ archiveBatchSize: 500, lockTimeoutMs: 600_000 })],
      });

      // Wait until the server holds a heartbeat with progress: that is what the retry resumes from.
      let recorded: ArchiveProgress | undefined;
      await until('a heartbeat with progress', async () => {
        const payload = ((await handle.describe()).raw.pendingActivities ?? [])[0]?.heartbeatDetails?.payloads?.[0];
        recorded = payload ? defaultPayloadConverter.fromPayload<ArchiveProgress>(payload) : undefined;
        return Boolean(recorded?.lastId);
      });
      await killHard(workers[0]!);
      const { n: archivedAtKill, last: lastArchivedAtKill } = (
        await db.pool.query(`SELECT count(*)::int AS n, max(id)::text AS last FROM bookings_archive`)
      ).rows[0] as { n: number; last: string };
      expect(archivedAtKill).toBeGreaterThan(0);
      expect(archivedAtKill).toBeLessThan(30_000);
      // The dead worker's session goes with it (as TCP keepalive would end it), then the row is free.
      await db.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      await locker.query('ROLLBACK');

      workers.push(await startWorkerProcess(childEnv, taskQueue));
      const report = await handle.result();
      const a = archiveOf(report);
      expect(a.status).toBe('done');
      expect(a.conserved).toBe(true);
      expect(a.resumedAfterId).not.toBeNull(); // a retried attempt, started from the recorded heartbeat
      expect(BigInt(a.resumedAfterId!)).toBeGreaterThanOrEqual(BigInt(recorded!.lastId!));
      // Not only the (throttled) heartbeat: the retry resumed after every batch committed before the kill.
      expect(BigInt(a.resumedAfterId!)).toBeGreaterThanOrEqual(BigInt(lastArchivedAtKill));
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
