// The archive's batches commit without waiting for the WAL flush: a crash of PostgreSQL undoes the
// last of them. This runs on a scratch cluster of its own (the machine's on 5432 is never crashed),
// its WAL writer stopped so that what async commits leave in the WAL buffers stays there until a
// commit that waits for the flush, or the crash, which loses it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { moveBookingsInBatches, type ArchiveProgress } from '../activities/postgres/archive.js';
import { startScratchPostgres, type ScratchPostgres } from '../dev/scratch-postgres.js';
import { createBookingSchema, idFingerprint, OLD, seedBookings } from './helpers/bookings.js';
import { until } from './helpers/stack.js';

const timeouts = { lockTimeoutMs: 5_000, statementTimeoutMs: 60_000 };
const moved = (p: ArchiveProgress) => p.streams.reduce((n, s) => n + s.rowsMoved, 0);

describe('archive across a crash of PostgreSQL', () => {
  let root: string;
  let server: ScratchPostgres;
  let stoppedWalWriter: number | undefined;
  const pools: pg.Pool[] = [];
  const poolFor = () => {
    const pool = new pg.Pool({ connectionString: server.url('postgres'), max: 4 });
    // Clients of the crashed server, idle or checked out (src/clients.ts listens alike).
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    pools.push(pool);
    return pool;
  };
  const archived = (pool: pg.Pool) =>
    pool.query<{ n: number }>('SELECT count(*)::int AS n FROM bookings_archive').then((r) => r.rows[0]!.n);

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'maint-archive-crash-'));
    // No autovacuum: its commits would flush the WAL too.
    server = await startScratchPostgres(root, { settings: ['autovacuum=off', "wal_buffers='16MB'"] });
  }, 120_000);
  afterEach(async () => {
    // A test that failed before the crash leaves the WAL writer stopped: it could not quit with the server.
    if (stoppedWalWriter) {
      try {
        process.kill(stoppedWalWriter, 'SIGCONT');
      } catch {
        // gone with the crash
      }
    }
    await Promise.all(pools.splice(0).map((p) => p.end().catch(() => undefined)));
    await server?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('reports only progress on disk: the crash undoes batches never reported, and a retry from the last report moves every row once', async () => {
    const pool = poolFor();
    await createBookingSchema(pool);
    await seedBookings(pool, 9_000, 1_000, true);
    const oldIds = await idFingerprint(pool, `bookings WHERE ${OLD}`);
    const cutoff = new Date(Date.now() - 2 * 365.25 * 86_400_000).toISOString();
    const {
      rows: [walWriter],
    } = await pool.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'`);
    stoppedWalWriter = walWriter!.pid;
    process.kill(stoppedWalWriter, 'SIGSTOP');

    const reports: ArchiveProgress[] = [];
    const request = { cutoff, batchSize: 10, streams: 3, timeouts };
    // Reports 3 s apart: the crash comes well before the next one could make the later batches durable.
    const slow = { ...request, pauseBetweenBatchesMs: 30, reportEveryMs: 3_000 };
    const first = moveBookingsInBatches(pool, slow, undefined, (p) => reports.push(structuredClone(p))).then(
      () => 'finished',
      (err: Error) => err.message,
    );
    // A report made during the batches, then more batches committed after it: the crash comes then.
    const watcher = poolFor();
    let lastReport: ArchiveProgress | undefined;
    let committed = 0;
    await until('batches committed after a report made between batches', async () => {
      lastReport = reports.at(-1);
      committed = lastReport ? await archived(watcher) : 0; // the archive exists once a report does
      return lastReport !== undefined && moved(lastReport) > 0 && committed >= moved(lastReport) + 30;
    });
    await server.crash();
    stoppedWalWriter = undefined;
    expect(await first).toMatch(/terminat|connection|ECONNRESET|shutdown/i);

    const after = poolFor();
    const onDisk = await archived(after);
    // The crash undid batches that had committed (the WAL writer never wrote them)...
    expect(onDisk).toBeLessThan(committed);
    // ...and none of the reported ones: what a retry resumes from was on disk.
    expect(reports.at(-1)).toEqual(lastReport);
    expect(moved(lastReport!)).toBeLessThanOrEqual(onDisk);
    // Each undone batch is whole: every old row is in exactly one table.
    const both = await after.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM bookings b JOIN bookings_archive a USING (id)',
    );
    expect(both.rows[0]!.n).toBe(0);

    const retry = await moveBookingsInBatches(after, request, lastReport);
    expect(retry).toMatchObject({
      status: 'done',
      conserved: true,
      asyncCommit: true,
      after: { remainingInBookings: 0, inBothTables: 0 },
    });
    expect(retry.rowsMoved).toBe(9_000);
    // Its sessions went back to the pool as they came: every commit of others waits for the flush.
    const clients = await Promise.all([1, 2, 3, 4].map(() => after.connect()));
    const settings = await Promise.all(
      clients.map((c) => c.query<{ s: string }>("SELECT current_setting('synchronous_commit') AS s")),
    );
    clients.forEach((c) => c.release());
    expect(settings.map((r) => r.rows[0]!.s)).toEqual(['on', 'on', 'on', 'on']);
    expect(await idFingerprint(after, 'bookings_archive')).toEqual(oldIds);
    expect((await idFingerprint(after, `bookings WHERE ${OLD}`)).count).toBe(0);
  }, 120_000);

  it('commits every batch waiting for the flush, as before, where the role may not write the logical message', async () => {
    const admin = poolFor();
    await createBookingSchema(admin);
    await seedBookings(admin, 3_000, 500, true);
    await admin.query(`CREATE ROLE archiver LOGIN; GRANT CREATE ON SCHEMA public TO archiver;
      ALTER TABLE bookings OWNER TO archiver;
      REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) FROM PUBLIC`);
    const oldIds = await idFingerprint(admin, `bookings WHERE ${OLD}`);
    const url = new URL(server.url('postgres'));
    url.username = 'archiver';
    const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
    pools.push(pool);
    await expect(pool.query(`SELECT pg_logical_emit_message(true, 'x', 'y')`)).rejects.toThrow(/permission denied/);

    const reports: ArchiveProgress[] = [];
    const cutoff = new Date(Date.now() - 2 * 365.25 * 86_400_000).toISOString();
    const result = await moveBookingsInBatches(pool, { cutoff, batchSize: 100, streams: 3, timeouts }, undefined, (p) =>
      reports.push(p),
    );
    expect(result).toMatchObject({ status: 'done', conserved: true, rowsMoved: 3_000, asyncCommit: false });
    expect(reports.length).toBeGreaterThan(0);
    expect(await idFingerprint(pool, 'bookings_archive')).toEqual(oldIds);
  }, 120_000);
});
