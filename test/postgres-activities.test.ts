import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findPgBinary } from '../activities/postgres/backup.js';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { DEFAULT_THRESHOLDS } from '../domain/thresholds.js';
import { until } from './helpers/stack.js';
import { expectInvalidInput } from './helpers/failures.js';
import {
  createBookingSchema,
  idFingerprint,
  postgresActivitiesFor,
  recordingPgBinDir,
  seedBookings,
  seedExpiringRows,
} from './helpers/bookings.js';
import { createTestDatabase, PG_ADMIN_URL, type TestDatabase } from './helpers/postgres.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Statistics reach pg_stat_* up to a second after the writing session goes idle. */
async function waitForDeadTuples(pool: pg.Pool, table: string, atLeast: number): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT n_dead_tup::int AS n FROM pg_stat_user_tables WHERE relname = $1`,
      [table],
    );
    if ((rows[0]?.n ?? 0) >= atLeast) return;
    await sleep(200);
  }
  throw new Error(`${table} never showed ${atLeast} dead tuples`);
}

async function expectRejected(promise: Promise<unknown>, field: string): Promise<void> {
  expectInvalidInput(
    await promise.then(
      () => undefined,
      (e: unknown) => e,
    ),
    field,
  );
}

/** A session holding ACCESS EXCLUSIVE on a table until released, as a long migration would. */
async function lockTable(url: string, table: string): Promise<{ release(): Promise<void> }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  return {
    async release() {
      await c.query('ROLLBACK');
      await c.end();
    },
  };
}

describe('PostgreSQL maintenance activities on a real database', () => {
  let db: TestDatabase;
  let reports: TestDatabase;
  beforeEach(async () => {
    [db, reports] = await Promise.all([createTestDatabase('maint_pg'), createTestDatabase('maint_pg_reports')]);
    await createBookingSchema(db.pool);
  });
  afterEach(async () => {
    await Promise.all([db?.drop(), reports?.drop()]);
  });

  it('vacuums each table, reports dead tuples before and after, and a second run finds nothing to do', async () => {
    const acts = postgresActivitiesFor(db, reports);
    await seedBookings(db.pool, 1000, 1000);
    await db.pool.query(`DELETE FROM bookings WHERE id % 2 = 0`);
    await waitForDeadTuples(db.pool, 'bookings', 1000);

    const first = await acts.vacuumAnalyzeTables({ tables: ['bookings', 'public.user_sessions'], allowFull: false });
    expect(first.map((t) => [t.table, t.status, t.mode])).toEqual([
      ['public.bookings', 'done', 'analyze'],
      ['public.user_sessions', 'done', 'analyze'],
    ]);
    expect(first[0]!.deadTuplesBefore).toBeGreaterThanOrEqual(1000);
    expect(first[0]!.deadTuplesAfter).toBe(0);

    const second = await acts.vacuumAnalyzeTables({ tables: ['bookings'], allowFull: false });
    expect(second[0]).toMatchObject({ status: 'done', deadTuplesBefore: 0, deadTuplesAfter: 0 });
    expect((await db.pool.query('SELECT count(*)::int AS n FROM bookings')).rows[0].n).toBe(1000);

    // Every user table by default; a table that does not exist is skipped, not an error.
    const all = await acts.vacuumAnalyzeTables({ allowFull: false });
    expect(all.map((t) => t.table).sort()).toEqual([
      'public.bookings',
      'public.password_reset_tokens',
      'public.user_sessions',
    ]);
    expect((await acts.vacuumAnalyzeTables({ tables: ['no_such_table'], allowFull: false }))[0]).toMatchObject({
      status: 'skipped',
      reason: 'no such table',
    });
  });

  it('runs VACUUM FULL only on a named table and only when the window allows it', async () => {
    const acts = postgresActivitiesFor(db, reports);
    await seedBookings(db.pool, 100, 100);
    const fileNode = async () =>
      (await db.pool.query(`SELECT relfilenode::text AS f FROM pg_class WHERE relname = 'bookings'`)).rows[0]
        .f as string;
    const original = await fileNode();

    const outside = await acts.vacuumAnalyzeTables({
      tables: ['bookings'],
      fullTables: ['bookings'],
      allowFull: false,
    });
    expect(outside[0]).toMatchObject({ mode: 'analyze', status: 'done' });
    expect(outside[0]!.reason).toMatch(/outside the maintenance window/);
    expect(await fileNode()).toBe(original);

    const inside = await acts.vacuumAnalyzeTables({
      tables: ['bookings', 'user_sessions'],
      fullTables: ['bookings'],
      allowFull: true,
    });
    expect(inside.map((t) => t.mode)).toEqual(['full', 'analyze']);
    expect(await fileNode()).not.toBe(original); // VACUUM FULL rewrote the table
  });

  it('skips a table another session holds locked, within the lock timeout, and says why', async () => {
    const acts = postgresActivitiesFor(db, reports, { lockTimeoutMs: 300 });
    await seedExpiringRows(db.pool, 10, 10);
    const lock = await lockTable(db.url, 'user_sessions');
    try {
      // Both return while the lock is still held: the lock timeout, not the other session, ended the wait.
      const vacuumed = await acts.vacuumAnalyzeTables({
        tables: ['user_sessions', 'password_reset_tokens'],
        allowFull: false,
      });
      const cleaned = await acts.deleteExpiredSessions({ asOf: new Date().toISOString(), batchSize: 100 });
      expect(vacuumed[0]).toMatchObject({ table: 'public.user_sessions', status: 'skipped' });
      expect(vacuumed[0]!.reason).toMatch(/locked by another session.*300 ms/);
      expect(vacuumed[1]).toMatchObject({ table: 'public.password_reset_tokens', status: 'done' });
      expect(cleaned[0]).toMatchObject({ table: 'public.user_sessions', status: 'skipped', deleted: 0 });
      expect(cleaned[0]!.reason).toMatch(/locked by another session/);
      expect(cleaned[1]).toMatchObject({ table: 'public.password_reset_tokens', status: 'done', deleted: 10 });
    } finally {
      await lock.release();
    }
    expect((await db.pool.query('SELECT count(*)::int AS n FROM user_sessions')).rows[0].n).toBe(20);
  });

  it('rebuilds bloated and invalid indexes concurrently, drops interrupted-reindex leftovers, and then has nothing to do', async () => {
    const acts = postgresActivitiesFor(db, reports);
    await seedBookings(db.pool, 30_000, 30_000);
    await db.pool.query(`DELETE FROM bookings WHERE id % 10 <> 0`);
    await db.pool.query('VACUUM ANALYZE bookings');
    // An invalid index: a unique index built concurrently over duplicates fails and stays behind, invalid.
    await db.pool.query(`CREATE TABLE codes (code int NOT NULL); INSERT INTO codes VALUES (1), (1), (2)`);
    await db.pool.query(`CREATE UNIQUE INDEX CONCURRENTLY codes_code_key ON codes (code)`).catch(() => undefined);
    await db.pool.query(`DELETE FROM codes WHERE ctid = (SELECT max(ctid) FROM codes WHERE code = 1)`);
    // What an interrupted REINDEX CONCURRENTLY leaves: an invalid *_ccnew index.
    await db.pool
      .query(`CREATE UNIQUE INDEX CONCURRENTLY codes_code_key_ccnew ON codes ((code * 0))`)
      .catch(() => undefined);
    const invalid = async () =>
      (
        await db.pool.query(
          `SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid ORDER BY 1`,
        )
      ).rows.map((r) => r.relname);
    expect(await invalid()).toEqual(['codes_code_key', 'codes_code_key_ccnew']);

    const first = await acts.reindexInvalidOrBloatedIndexes({ minIndexBytes: 0, bloatRatio: 0.5 });
    const byIndex = Object.fromEntries(first.map((a) => [a.index, a]));
    expect(byIndex['public.codes_code_key']).toMatchObject({ why: 'invalid', action: 'reindexed' });
    expect(byIndex['public.codes_code_key_ccnew']).toMatchObject({ action: 'dropped' });
    const pkey = byIndex['public.bookings_pkey']!;
    expect(pkey).toMatchObject({ why: 'bloated', action: 'reindexed' });
    expect(pkey.estimatedBloat).toBeGreaterThan(0.5);
    expect(pkey.bytesAfter).toBeLessThan(pkey.bytesBefore / 3);
    expect(await invalid()).toEqual([]);

    expect(await acts.reindexInvalidOrBloatedIndexes({ minIndexBytes: 0, bloatRatio: 0.5 })).toEqual([]);
  });

  it('reports bloat safely on empty tables, index usage, stale statistics, cache hits, and why slow queries are unavailable', async () => {
    const acts = postgresActivitiesFor(db, reports);
    await db.pool.query(`CREATE TABLE empty_table (id int)`);
    await seedBookings(db.pool, 6000, 6000);
    await db.pool.query(`DELETE FROM bookings WHERE id % 2 = 0`);
    await waitForDeadTuples(db.pool, 'bookings', 6000);

    const stats = await acts.collectDatabaseStatistics({ minRows: 1000 });
    const empty = stats.tables.find((t) => t.table === 'public.empty_table')!;
    expect(empty).toMatchObject({ liveTuples: 0, deadTuples: 0, deadRatio: null });
    expect(stats.bloated.map((t) => t.table)).toEqual(['public.bookings']);
    expect(stats.bloated[0]!.deadRatio).toBeCloseTo(0.5, 1);
    expect(stats.checks.find((c) => c.check === 'db.bloat')).toMatchObject({ status: 'warn', value: 1 });
    // Never analyzed and 12,000 rows written: stale. The created_at index was never used.
    expect(stats.staleStatistics.map((s) => s.table)).toContain('public.bookings');
    expect(stats.unusedIndexes.map((i) => i.index)).toContain('public.bookings_created_at_idx');
    expect(stats.unusedIndexes.map((i) => i.index)).not.toContain('public.bookings_pkey');
    expect(stats.cacheHitPercent).toBeGreaterThan(0);
    // Not created in this database (installed but not preloaded: test/postgres-slow-queries.test.ts).
    expect(stats.slowQueries).toEqual({ status: 'unavailable', reason: expect.stringMatching(/not installed/) });
  });

  it('deletes expired sessions and reset tokens in batches; a second run deletes nothing more', async () => {
    const acts = postgresActivitiesFor(db, reports);
    await seedExpiringRows(db.pool, 1200, 300);
    const asOf = new Date().toISOString();
    const first = await acts.deleteExpiredSessions({ asOf, batchSize: 500 });
    expect(first).toEqual([
      { table: 'public.user_sessions', status: 'done', deleted: 1200 },
      { table: 'public.password_reset_tokens', status: 'done', deleted: 1200 },
    ]);
    const state = async () =>
      Promise.all([
        idFingerprint(db.pool, 'user_sessions'),
        (await db.pool.query(`SELECT count(*)::int AS n FROM password_reset_tokens`)).rows[0].n,
      ]);
    const after = await state();
    expect(after[0].count).toBe(300);
    expect(after[1]).toBe(300);
    expect((await acts.deleteExpiredSessions({ asOf, batchSize: 500 })).map((r) => r.deleted)).toEqual([0, 0]);
    expect(await state()).toEqual(after);

    await db.pool.query('DROP TABLE password_reset_tokens');
    expect((await acts.deleteExpiredSessions({ asOf, batchSize: 500 }))[1]).toMatchObject({
      status: 'skipped',
      reason: 'no such table',
    });
  });

  it('drops only tables the configured rule names, once seen for the minimum age, and nothing without a rule', async () => {
    await db.pool.query(
      `CREATE TABLE tmp_import_a (x int); CREATE TABLE tmp_import_b (x int); CREATE TABLE tmpx_keep (x int)`,
    );
    const tables = async () =>
      (
        await db.pool.query(
          `SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY 1`,
        )
      ).rows.map((r) => r.relname);
    const before = await tables();

    expect(await postgresActivitiesFor(db, reports).dropOldTempTables()).toEqual({
      rule: null,
      dropped: [],
      tooYoung: [],
      skipped: [],
    });
    expect(await tables()).toEqual(before);

    // "_" is a LIKE wildcard: tmpx_keep would match LIKE 'tmp_%' but does not start with "tmp_".
    const acts = postgresActivitiesFor(db, reports, { tempTables: { namePrefix: 'tmp_', minAgeHours: 1 / 3600 } });
    const first = await acts.dropOldTempTables();
    expect(first.dropped).toEqual([]);
    expect(first.tooYoung.map((t) => t.table)).toEqual(['public.tmp_import_a', 'public.tmp_import_b']);
    await sleep(1_200);
    const second = await acts.dropOldTempTables();
    expect(second.dropped).toEqual(['public.tmp_import_a', 'public.tmp_import_b']);
    const remaining = await tables();
    expect(remaining).toEqual(before.filter((t) => !t.startsWith('tmp_import')));
    expect(remaining).toContain('tmpx_keep');
    expect(await acts.dropOldTempTables()).toMatchObject({ dropped: [], tooYoung: [] });
    expect(await tables()).toEqual(remaining);
  });

  it('rejects table names that are not plain identifiers, before any SQL runs', async () => {
    const acts = postgresActivitiesFor(db, reports);
    await expectRejected(
      acts.vacuumAnalyzeTables({ tables: ['bookings; DROP TABLE bookings'], allowFull: false }),
      'tables[0]',
    );
    await expectRejected(
      acts.vacuumAnalyzeTables({ tables: ['bookings'], fullTables: ['x" OR "1'], allowFull: true }),
      'fullTables[0]',
    );
    await expectRejected(acts.vacuumAnalyzeTables({ tables: ['a.b.c'], allowFull: false }), 'tables[0]');
    await expectRejected(
      acts.vacuumAnalyzeTables({ tables: ['bookings'], allowFull: false, timeouts: { lockTimeoutMs: 0.5 } }),
      'lockTimeoutMs',
    );
    expect((await db.pool.query(`SELECT to_regclass('public.bookings') IS NOT NULL AS ok`)).rows[0].ok).toBe(true);

    const configFile = join(mkdtempSync(join(tmpdir(), 'maint-config-')), 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        database: { tempTables: { namePrefix: "tmp'; DROP TABLE bookings; --", minAgeHours: 1 }, archiveAfterDays: 7 },
      }),
    );
    const err = (() => {
      try {
        loadConfig({ MAINT_CONFIG: configFile });
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.join('\n')).toMatch(/database\.tempTables\.namePrefix/);
    expect((err as ConfigError).problems.join('\n')).toMatch(/database\.archiveAfterDays/);
  });
});

describe('backups: pg_dump with a manifest, three verification levels, restore test', () => {
  let db: TestDatabase;
  let reports: TestDatabase;
  let backupDir: string;
  let recorder: { dir: string; log: string };
  // trust auth accepts any password, so a real one can travel without being needed.
  const password = 's3cret-Pa55';
  let urlWithPassword: string;

  beforeEach(async () => {
    [db, reports] = await Promise.all([createTestDatabase('maint_backup'), createTestDatabase('maint_backup_reports')]);
    await createBookingSchema(db.pool);
    await seedBookings(db.pool, 4000, 4000);
    await seedExpiringRows(db.pool, 50, 50);
    backupDir = mkdtempSync(join(tmpdir(), 'maint-pgdump-'));
    recorder = recordingPgBinDir(findPgBinary('pg_dump').replace(/\/pg_dump$/, ''));
    urlWithPassword = Object.assign(new URL(db.url), { password }).toString();
  });
  afterEach(async () => {
    await Promise.all([db?.drop(), reports?.drop()]);
  });
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    const { rows } = await admin.query(
      `SELECT datname FROM pg_database WHERE datname LIKE 'maint_backup%_restore_check'`,
    );
    await admin.end();
    expect(rows).toEqual([]); // every restore test dropped its scratch database
  });

  const activities = () =>
    postgresActivitiesFor(db, reports, { backupDirectory: backupDir, pgBinDir: recorder.dir }, urlWithPassword);
  const thresholds = { ...DEFAULT_THRESHOLDS };

  /** A copy of `file` (with its manifest) under a new dump name, damaged by `damage`. */
  function damagedCopy(file: string, name: string, damage: (copy: string) => void): string {
    const copy = join(backupDir, name);
    copyFileSync(file, copy);
    copyFileSync(`${file}.manifest.json`, `${copy}.manifest.json`);
    damage(copy);
    return copy;
  }
  const flipBytes = (copy: string) => {
    const fd = openSync(copy, 'r+');
    writeSync(fd, Buffer.alloc(256, 0xa5), 0, 256, Math.floor(statSync(copy).size * 0.6));
    closeSync(fd);
  };

  it('writes a dump and its manifest atomically, verifies each level, restores with equal row counts, and never exposes the password', async () => {
    const acts = activities();
    expect(await acts.verifyNewestBackup({ maxAgeHours: 24 })).toMatchObject({ status: 'missing', level: 'none' });
    const backup = await acts.createDatabaseBackup();
    expect(backup.bytes).toBeGreaterThan(0);
    expect(statSync(backup.file).size).toBe(backup.bytes);
    expect(readdirSync(backupDir).filter((f) => f.startsWith('.'))).toEqual([]);
    const manifest = JSON.parse(readFileSync(`${backup.file}.manifest.json`, 'utf8'));
    expect(manifest).toMatchObject({
      format: 1,
      file: basename(backup.file),
      bytes: backup.bytes,
      database: db.name,
      sha256: createHash('sha256').update(readFileSync(backup.file)).digest('hex'),
      serverVersion: expect.stringMatching(/^\d+/),
      counts: { 'public.bookings': 8000, 'public.user_sessions': 100, 'public.password_reset_tokens': 100 },
    });

    for (const level of ['intact', 'readable'] as const) {
      const v = await acts.verifyBackup({ level });
      expect(v).toMatchObject({ status: 'ok', level, required: level, file: backup.file, sha256: manifest.sha256 });
      expect(v.detail).toContain(basename(backup.file));
    }
    expect(await acts.verifyNewestBackup({ maxAgeHours: 24 })).toMatchObject({ status: 'ok', level: 'readable' });
    expect(await acts.verifyNewestBackup({ maxAgeHours: 1e-6 })).toMatchObject({ status: 'stale' });
    const fresh = await acts.checkBackupFreshness(undefined, thresholds);
    expect(fresh).toEqual([
      expect.objectContaining({ check: 'backup', status: 'ok', detail: expect.stringMatching(/^level readable: /) }),
    ]);

    // Rows written after the backup must not count: the comparison is with the dumped snapshot.
    await seedBookings(db.pool, 10, 10);
    const restore = await acts.restoreTestBackup();
    expect(restore).toMatchObject({ status: 'ok', level: 'restored', mismatches: [] });
    expect(restore.timings!.restored).toBeGreaterThan(0);
    expect(restore.tables!.find((t) => t.table === 'public.bookings')).toEqual({
      table: 'public.bookings',
      expected: 8000,
      restored: 8000,
    });
    expect((await acts.restoreTestBackup()).status).toBe('ok'); // runs again from a clean scratch database

    const calls = readFileSync(recorder.log, 'utf8');
    expect(calls).toMatch(/pg_dump argv: -Fc --snapshot \S+ --lock-wait-timeout=\d+ -f \S+ password-env: set/);
    expect(calls).toMatch(/pg_restore argv: -f \/dev\/null .* password-env: set/);
    expect(calls).toMatch(/pg_restore argv: --exit-on-error .* password-env: set/);
    expect(calls).not.toContain(password);
    expect(JSON.stringify([backup, restore, fresh])).not.toContain(password);
  });

  it('fails a cut, a corrupted, an unmanifested and a mis-manifested dump at the right level, naming the file', async () => {
    const acts = activities();
    const { file } = await acts.createDatabaseBackup();
    const size = statSync(file).size;
    // What the product used to call verification accepts the cut dump: it reads only the catalogue.
    const cutOnly = join(mkdtempSync(join(tmpdir(), 'maint-cut-')), 'x.dump');
    copyFileSync(file, cutOnly);
    truncateSync(cutOnly, Math.floor(size / 3));
    await promisify(execFile)(findPgBinary('pg_restore'), ['--list', cutOnly]);

    const cases: [string, (copy: string) => void, string][] = [
      [
        'cut.dump',
        (c) => truncateSync(c, Math.floor(size / 3)),
        `size ${Math.floor(size / 3)} bytes, manifest says ${size}`,
      ],
      ['flipped.dump', flipBytes, 'differs from the manifest'],
      ['unmanifested.dump', (c) => rmSync(`${c}.manifest.json`), 'manifest unmanifested.dump.manifest.json is missing'],
      [
        'wrong-manifest.dump',
        (c) => writeFileSync(`${c}.manifest.json`, '{"format":1,"bytes":12}'),
        'lacks sha256, bytes or counts',
      ],
      ['garbled-manifest.dump', (c) => writeFileSync(`${c}.manifest.json`, '{"format":1,'), 'is not valid JSON'],
    ];
    for (const [name, damage, why] of cases) {
      const copy = damagedCopy(file, name, damage);
      for (const level of ['intact', 'readable', 'restored'] as const) {
        const v = await acts.verifyBackup({ file: copy, level });
        expect(v, `${name} at ${level}`).toMatchObject({
          status: 'failed',
          level: 'none',
          failedLevel: 'intact',
          required: level,
          file: copy,
        });
        expect(v.detail).toContain(`${copy} is not intact: `);
        expect(v.detail).toContain(why);
      }
    }

    // Bytes flipped and the manifest rewritten to match (as a dump written wrong would be): intact, not readable.
    const rewritten = damagedCopy(file, 'rewritten.dump', (c) => {
      flipBytes(c);
      const m = JSON.parse(readFileSync(`${c}.manifest.json`, 'utf8'));
      writeFileSync(
        `${c}.manifest.json`,
        JSON.stringify({ ...m, sha256: createHash('sha256').update(readFileSync(c)).digest('hex') }),
      );
    });
    expect(await acts.verifyBackup({ file: rewritten, level: 'intact' })).toMatchObject({
      status: 'ok',
      level: 'intact',
    });
    const unreadable = await acts.verifyBackup({ file: rewritten, level: 'readable' });
    expect(unreadable).toMatchObject({ status: 'failed', level: 'intact', failedLevel: 'readable' });
    expect(unreadable.detail).toMatch(/is not readable: pg_restore failed/);

    // Counts in the manifest that the dump does not hold: readable, not restored.
    const miscounted = damagedCopy(file, 'miscounted.dump', (c) => {
      const m = JSON.parse(readFileSync(`${c}.manifest.json`, 'utf8'));
      writeFileSync(`${c}.manifest.json`, JSON.stringify({ ...m, counts: { ...m.counts, 'public.bookings': 9999 } }));
    });
    const restored = await acts.verifyBackup({ file: miscounted, level: 'restored' });
    expect(restored).toMatchObject({
      status: 'failed',
      level: 'readable',
      failedLevel: 'restored',
      mismatches: ['public.bookings: expected 9999, restored 8000'],
    });

    // The newest is the corrupted one: every guard and check says so, at its level.
    utimesSync(rewritten, new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
    expect(await acts.verifyNewestBackup({ maxAgeHours: 24 })).toMatchObject({
      status: 'failed',
      file: rewritten,
      failedLevel: 'readable',
    });
    expect(
      (await acts.checkBackupFreshness({ directory: backupDir, pattern: '\\.dump$' }, thresholds))[0],
    ).toMatchObject({ status: 'critical', target: backupDir, detail: expect.stringContaining(rewritten) });
    expect((await acts.listBackups()).find((b) => b.file === join(backupDir, 'unmanifested.dump'))).toMatchObject({
      manifest: false,
      level: 'none',
    });

    // Bad input names the field and changes nothing.
    expectInvalidInput(await acts.verifyBackup({ level: 'most' as never }).catch((e: unknown) => e), 'level');
    expectInvalidInput(
      await acts.verifyNewestBackup({ maxAgeHours: 24, level: 'intact' }).catch((e: unknown) => e),
      'level',
    );
    expectInvalidInput(await acts.verifyBackup({ file: 'relative.dump' }).catch((e: unknown) => e), 'file');
  });

  it('leaves nothing a check counts as a backup when killed -9 mid-dump, or when pg_dump fails', async () => {
    await seedBookings(db.pool, 150_000, 150_000);
    const script = `
      import pg from 'pg';
      import { createBackupActivities } from ${JSON.stringify(join(import.meta.dirname, '..', 'activities', 'postgres', 'backup.ts'))};
      const db = new pg.Pool({ connectionString: ${JSON.stringify(db.url)} });
      await createBackupActivities({ db, databaseUrl: ${JSON.stringify(db.url)}, backupDirectory: ${JSON.stringify(backupDir)}, timeouts: { lockTimeoutMs: 5000, statementTimeoutMs: 600000 } }).createDatabaseBackup();
      console.log('finished');`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      detached: true,
      stdio: 'pipe',
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    // Wait for pg_dump to be writing, then kill the whole process group: worker and pg_dump.
    await until(
      'pg_dump writing its partial file',
      () => readdirSync(backupDir).some((f) => f.endsWith('.partial') && statSync(join(backupDir, f)).size > 0),
      30_000,
    );
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(out).not.toContain('finished');

    const acts = activities();
    expect(readdirSync(backupDir).filter((f) => !f.startsWith('.'))).toEqual([]);
    expect(await acts.listBackups()).toEqual([]);
    expect(await acts.verifyNewestBackup({ maxAgeHours: 24 })).toMatchObject({ status: 'missing' });
    expect((await acts.checkBackupFreshness(undefined, thresholds))[0]).toMatchObject({
      status: 'critical',
      detail: expect.stringContaining('no backup matching'),
    });

    // pg_dump failing (a database that is gone): a typed failure naming the database; nothing kept.
    const gone = postgresActivitiesFor(
      db,
      reports,
      { backupDirectory: backupDir },
      Object.assign(new URL(db.url), { pathname: '/maint_backup_does_not_exist' }).toString(),
    );
    const err = await gone.createDatabaseBackup().catch((e: unknown) => e);
    expect(err).toMatchObject({
      type: 'BackupFailed',
      message: expect.stringContaining('backup of maint_backup_does_not_exist failed, nothing was kept'),
    });
    expect(readdirSync(backupDir).filter((f) => !f.startsWith('.'))).toEqual([]);
    // A full backup directory (a 64 KiB tmpfs, when we may mount one): the dump fails, nothing is left.
    const full = mkdtempSync(join(tmpdir(), 'maint-full-backups-'));
    const mounted = await promisify(execFile)('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]).then(
      () => true,
      () => false,
    );
    if (mounted) {
      try {
        const onFull = postgresActivitiesFor(db, reports, { backupDirectory: full });
        expect(await onFull.createDatabaseBackup().catch((e: unknown) => e)).toMatchObject({
          type: 'BackupFailed',
          message: expect.stringMatching(/nothing was kept: .*No space left on device/),
        });
        expect(readdirSync(full)).toEqual([]);
        expect(await onFull.verifyNewestBackup({ maxAgeHours: 24 })).toMatchObject({ status: 'missing' });
      } finally {
        await promisify(execFile)('umount', [full]);
      }
    }
    rmSync(full, { recursive: true, force: true });
    // An unusable directory: non-retryable, named.
    const unusable = postgresActivitiesFor(db, reports, { backupDirectory: '/dev/null/backups' });
    expect(await unusable.createDatabaseBackup().catch((e: unknown) => e)).toMatchObject({
      type: 'BackupDirectoryUnusable',
      nonRetryable: true,
    });
  });
});
