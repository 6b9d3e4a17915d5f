import { closeSync, openSync, readdirSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresActivities } from '../activities/postgres/index.js';
import { DatabaseMaintenanceSchema } from '../src/config/schema.js';
import { DEFAULT_THRESHOLDS } from '../domain/thresholds.js';
import { SEED_WINDOWS } from '../domain/windows.js';
import { dailyBackup } from '../workflows/daily-backup.js';
import { monthlyAudit } from '../workflows/monthly-audit.js';
import { createBookingSchema, seedBookings } from './helpers/bookings.js';
import { startScratchCluster, type ScratchCluster } from './helpers/pgbackrest.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { until } from './helpers/stack.js';
import { testConfig, withWorker } from './helpers/temporal.js';

const DAYS = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'];

describe('pgBackRest as the backup source, on a scratch cluster of our own', () => {
  let cluster: ScratchCluster;
  let booking: pg.Pool;
  let reports: TestDatabase;
  // Full only on a day that is not today: the first backup is full (none before), the next differential.
  const notToday = DAYS[(new Date().getUTCDay() + 3) % 7]!;
  const settings = (extra: Record<string, unknown> = {}) => ({
    backupSource: 'pgbackrest' as const,
    pgbackrest: {
      stanza: cluster.stanza,
      configFile: cluster.configFile,
      fullOn: [notToday],
      runAs: cluster.runAs,
      ...extra,
    },
  });
  const activities = (extra: Record<string, unknown> = {}) =>
    createPostgresActivities({
      db: booking,
      reports: reports.pool,
      databaseUrl: cluster.url('trixtech'),
      databaseLabel: 'scratch/trixtech',
      settings: DatabaseMaintenanceSchema.parse(settings(extra)),
      windows: SEED_WINDOWS,
    });

  beforeAll(async () => {
    [cluster, reports] = await Promise.all([startScratchCluster(), createTestDatabase('maint_pgbr_reports')]);
    const admin = new pg.Client({ connectionString: cluster.url('postgres') });
    await admin.connect();
    await admin.query('CREATE DATABASE trixtech');
    await admin.end();
    booking = new pg.Pool({ connectionString: cluster.url('trixtech'), max: 3 });
    await createBookingSchema(booking);
    await seedBookings(booking, 3000, 3000);
  });
  afterAll(async () => {
    await booking?.end();
    await Promise.all([cluster?.stop(), reports?.drop()]);
  });

  it('dailyBackup takes a full then a differential backup, each verified readable by pgbackrest verify', async () => {
    const config = testConfig(
      { DATABASE_URL: cluster.url('trixtech'), MAINT_DATABASE_URL: reports.url },
      { database: settings() },
    );
    const [first, second] = await withWorker(config, async ({ client, taskQueue }) => [
      await client.workflow.execute(dailyBackup, {
        taskQueue,
        workflowId: `daily-pgbr-full-${Date.now()}`,
        args: [{}],
      }),
      await client.workflow.execute(dailyBackup, {
        taskQueue,
        workflowId: `daily-pgbr-diff-${Date.now()}`,
        args: [{}],
      }),
    ]);
    for (const [r, type] of [
      [first, 'full'],
      [second, 'diff'],
    ] as const) {
      expect(r.outcome).toBe('ok');
      expect(r.details!.backup).toMatchObject({
        source: 'pgbackrest',
        type,
        level: 'readable',
        file: expect.stringMatching(new RegExp(`^${cluster.stanza}/\\d{8}-\\d{6}F`)),
      });
      expect(r.checks.find((c) => c.check === 'backup')!.detail).toMatch(
        /^level readable: .*pgbackrest verify: every file and the WAL archive valid/,
      );
      expect(r.steps.map((s) => s.name)).toContain(
        `pgbackrest backup of stanza ${cluster.stanza} of 127.0.0.1:${cluster.port}/trixtech`,
      );
    }
    const info = JSON.parse(await cluster.pgbackrest('info', '--output=json')) as { backup: { type: string }[] }[];
    expect(info[0]!.backup.map((b) => b.type)).toEqual(['full', 'diff']);
    expect((await activities().listBackups()).map((b) => [b.file, b.level, b.detail.split(' ')[0]])).toEqual([
      [(second.details!.backup as { file: string }).file, 'intact', 'diff'],
      [(first.details!.backup as { file: string }).file, 'intact', 'full'],
    ]);

    const freshness = await activities().checkBackupFreshness(undefined, DEFAULT_THRESHOLDS);
    expect(freshness).toEqual([
      expect.objectContaining({ check: 'backup', status: 'ok', detail: expect.stringMatching(/^level readable: /) }),
      expect.objectContaining({
        check: 'backup.wal-archive',
        status: 'ok',
        detail: expect.stringMatching(/^last WAL segment \w{24}(\.\w+\.backup)? archived at /),
      }),
    ]);
  });

  it('restore test: restores into a scratch data directory, recovers to a point in time after the backup, counts match', async () => {
    // Written after the newest backup: only WAL replay to the restore point brings these back.
    await seedBookings(booking, 0, 500);
    const r = await activities().restoreTestBackup();
    expect(r).toMatchObject({ status: 'ok', level: 'restored', source: 'pgbackrest', mismatches: [] });
    expect(r.tables!.find((t) => t.table === 'public.bookings')).toEqual({
      table: 'public.bookings',
      expected: 6500,
      restored: 6500,
    });
    expect(r.timings!.restored).toBeGreaterThan(0);
    expect(r.detail).toMatch(/recovered to restore point maint-restore-test-\w+ in \d+ ms/);
    // The scratch directory is gone and the real cluster still archives to the repository.
    expect(
      readdirSync(join(cluster.root, '..')).filter((d) => d.startsWith(`maint-pgbackrest-restore-${cluster.stanza}-`)),
    ).toEqual([]);
    expect((await booking.query('SELECT count(*)::int AS n FROM bookings')).rows[0].n).toBe(6500);
  });

  it('the monthly audit measures RTO (restore test) and RPO (time since the last archived WAL) against the objectives', async () => {
    const config = testConfig(
      { DATABASE_URL: cluster.url('trixtech'), MAINT_DATABASE_URL: reports.url },
      {
        database: { ...settings(), recoveryObjectives: { rtoMinutes: 30, rpoMinutes: 60 } },
      },
    );
    const report = await withWorker(config, ({ client, taskQueue }) =>
      client.workflow.execute(monthlyAudit, { taskQueue, workflowId: `monthly-audit-pgbr-${Date.now()}`, args: [{}] }),
    );
    const check = (name: string) => report.checks.find((c) => c.check === name)!;
    expect(check('db.restore-test')).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/^level restored: .*recovered to restore point/),
    });
    expect(check('backup.rto')).toMatchObject({ status: 'ok', unit: 's', threshold: 'objective 1800 s' });
    expect(check('backup.rto').value).toBeGreaterThan(0);
    expect(check('backup.rpo')).toMatchObject({
      status: 'ok',
      unit: 's',
      threshold: 'objective 3600 s',
      detail: expect.stringMatching(/last WAL segment \w{24}(\.\w+\.backup)? archived at .* on top of test\d+\//),
    });
    expect(check('backup.rpo').value).toBeLessThan(600);
  });

  it('a gap in the WAL archive since the newest backup fails readable (pgbackrest verify alone does not see it) and the health check', async () => {
    const acts = activities();
    for (let i = 0; i < 3; i++) {
      await seedBookings(booking, 0, 10);
      await booking.query('SELECT pg_switch_wal()');
    }
    await until('WAL archived', async () => (await acts.verifyBackup({ level: 'readable' })).status === 'ok', 30_000);
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
      );
    const segments = walk(join(cluster.root, 'repo', 'archive', cluster.stanza))
      .filter((f) => /\/[0-9A-F]{24}-/.test(f))
      .sort();
    const victim = segments.at(-2)!;
    const aside = join(cluster.root, 'wal-aside');
    renameSync(victim, aside);
    try {
      expect(await cluster.pgbackrest('verify', '--output=text', '--verbose')).toContain('status: ok'); // what verify alone says
      const v = await acts.verifyBackup({ level: 'readable' });
      expect(v).toMatchObject({ status: 'failed', failedLevel: 'readable' });
      expect(v.detail).toContain(`WAL archive gap since `);
      expect(v.detail).toContain(`1 segment(s) missing (${victim.split('/').pop()!.slice(0, 24)})`);
      expect((await acts.checkBackupFreshness(undefined, DEFAULT_THRESHOLDS))[0]).toMatchObject({
        status: 'critical',
        detail: expect.stringContaining('WAL archive gap'),
      });
    } finally {
      renameSync(aside, victim);
    }
    expect((await acts.verifyBackup({ level: 'readable' })).status).toBe('ok');
  });

  it('a file corrupted in the repository fails readable (read from verify output, whose exit code says 0), an unknown stanza is named', async () => {
    const acts = activities();
    const label = ((await acts.verifyBackup({ level: 'intact' })).file ?? '').split('/')[1]!;
    // The largest data file of the newest backup: flip bytes in the middle.
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
      );
    const files = walk(join(cluster.root, 'repo', 'backup', cluster.stanza))
      .filter((f) => f.includes(`/${label}/pg_data/`))
      .sort((a, b) => statSync(b).size - statSync(a).size);
    const victim = files[0]!;
    const fd = openSync(victim, 'r+');
    writeSync(fd, Buffer.alloc(64, 0x5a), 0, 64, Math.floor(statSync(victim).size / 2));
    closeSync(fd);
    await expect(cluster.pgbackrest('verify')).resolves.toBeDefined(); // the trap: exit 0

    const v = await acts.verifyBackup({ level: 'readable' });
    expect(v).toMatchObject({
      status: 'failed',
      level: 'intact',
      failedLevel: 'readable',
      file: `${cluster.stanza}/${label}`,
    });
    expect(v.detail).toMatch(/is not readable: verify status error/);
    expect(v.detail).toMatch(/checksum invalid 1/);
    expect((await acts.checkBackupFreshness(undefined, DEFAULT_THRESHOLDS))[0]).toMatchObject({ status: 'critical' });

    const unknown = activities({ stanza: 'no-such-stanza' });
    await expect(unknown.verifyBackup({ level: 'readable' })).rejects.toMatchObject({
      type: 'PgbackrestStanzaUnusable',
      message: 'pgbackrest stanza no-such-stanza: missing stanza path',
    });
  });

  it('config: backupSource pgbackrest without its stanza is rejected naming the field', () => {
    expect(() => testConfig({}, { database: { backupSource: 'pgbackrest' } })).toThrow(
      /database\.pgbackrest: backupSource "pgbackrest" needs database\.pgbackrest/,
    );
  });
});
