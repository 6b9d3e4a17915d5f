import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPgBinary } from '../activities/postgres/backup.js';
import type { CheckResult } from '../domain/checks.js';
import { dailyBackup } from '../workflows/daily-backup.js';
import { eveningStatus } from '../workflows/evening-status.js';
import { createBookingSchema, seedBookings } from './helpers/bookings.js';
import { expectWorkflowRejects } from './helpers/failures.js';
import { recordHistory } from './helpers/histories.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { SlackSink } from './helpers/slack-sink.js';
import { temporalEnv, testConfig, withWorker } from './helpers/temporal.js';

const exec = promisify(execFile);
const find = (checks: CheckResult[], check: string) => checks.find((c) => c.check === check);

describe('dailyBackup, its evening confirmation and maint backup', () => {
  let db: TestDatabase;
  let slack: SlackSink;
  let backups: string;

  beforeAll(async () => {
    [db, slack] = await Promise.all([createTestDatabase('maint_daily_backup'), new SlackSink().start()]);
    await createBookingSchema(db.pool);
    await seedBookings(db.pool, 2000, 2000);
    backups = mkdtempSync(join(tmpdir(), 'maint-daily-backups-'));
  });
  afterAll(async () => {
    await Promise.all([db?.drop(), slack?.stop()]);
  });

  const env = () => ({
    ...slack.workerEnv(db.url, db.url),
  });
  const config = (database: Record<string, unknown> = {}) =>
    testConfig(env(), { database: { backupDirectory: backups, ...database } });
  const maint = async (...args: string[]) => {
    const c = config();
    return exec(process.execPath, ['bin/maint.js', ...args], {
      env: { ...process.env, ...env(), ...temporalEnv(), MAINT_CONFIG: c.configFile! },
    }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
  };

  it('takes a dump, verifies it intact and readable, reports size, duration and growth, and the evening status confirms it', async () => {
    const { first, second, evening } = await withWorker(config(), async ({ client, taskQueue }) => {
      const first = await client.workflow.execute(dailyBackup, {
        taskQueue,
        workflowId: `daily-backup-first-${Date.now()}`,
        args: [{}],
      });
      await seedBookings(db.pool, 0, 2000);
      const handle = await client.workflow.start(dailyBackup, {
        taskQueue,
        workflowId: `daily-backup-${Date.now()}`,
        args: [{ reason: 'test' }],
      });
      const second = await handle.result();
      await recordHistory('dailyBackup', await handle.fetchHistory(), handle.workflowId);
      // The backup's own UTC day, should the clock pass midnight in between.
      const evening = await client.workflow.execute(eveningStatus, {
        taskQueue,
        workflowId: `evening-backup-${Date.now()}`,
        args: [{ day: second.startedAt.slice(0, 10) }],
      });
      return { first, second, evening };
    });
    for (const r of [first, second]) {
      expect(r.outcome).toBe('ok');
      expect(find(r.checks, 'backup')).toMatchObject({
        status: 'ok',
        detail: expect.stringMatching(/^level readable: .*every byte read back/),
      });
    }
    const taken = second.details!.backup as {
      file: string;
      sha256: string;
      level: string;
      bytes: number;
      growthPercent: number;
      timings: Record<string, number>;
    };
    expect(taken).toMatchObject({
      level: 'readable',
      previous: { file: (first.details!.backup as { file: string }).file },
    });
    expect(JSON.parse(readFileSync(`${taken.file}.manifest.json`, 'utf8'))).toMatchObject({
      sha256: taken.sha256,
      bytes: taken.bytes,
      counts: { 'public.bookings': 6000 },
    });
    expect(taken.growthPercent).toBeGreaterThan(0);
    expect(Object.keys(taken.timings).sort()).toEqual(['intact', 'readable']);
    expect(find(second.checks, 'backup.size')!.detail).toMatch(
      / of \d+ tables in [\d.]+ s; \+[\d.]+% since the previous dump$/,
    );
    expect(second.summary).toMatch(
      /^Daily backup \(test\): maint_daily_backup_\w+-.*\.dump [\d.]+ KiB, verified readable/,
    );
    // A routine success posts its report, no alert.
    expect(slack.postsTo('/alert')).toEqual([]);

    expect(find(evening.checks, 'backup.today')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining(`${second.workflowId} ok: Daily backup (test)`),
    });
    expect(evening.summary).toContain('backup today: ok');
  });

  it('fails and alerts when the dump does not read back, and the evening status says the day has no good backup', async () => {
    // A pg_dump that "succeeds" with a 6-byte file: intact against its own manifest, not readable.
    const pgBinDir = mkdtempSync(join(tmpdir(), 'maint-six-byte-pgdump-'));
    writeFileSync(
      join(pgBinDir, 'pg_dump'),
      '#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = "-f" ] && printf backup > "$2"; shift; done\nexit 0\n',
    );
    chmodSync(join(pgBinDir, 'pg_dump'), 0o755);
    symlinkSync(findPgBinary('pg_restore'), join(pgBinDir, 'pg_restore'));
    const { report, evening } = await withWorker(config({ pgBinDir }), async ({ client, taskQueue }) => {
      const report = await client.workflow.execute(dailyBackup, {
        taskQueue,
        workflowId: `daily-backup-broken-${Date.now()}`,
        args: [{}],
      });
      return {
        report,
        evening: await client.workflow.execute(eveningStatus, {
          taskQueue,
          workflowId: `evening-broken-${Date.now()}`,
          args: [{ day: report.startedAt.slice(0, 10) }],
        }),
      };
    });
    expect(report.outcome).toBe('failed');
    expect(report.summary).toMatch(/NOT readable/);
    expect(find(report.checks, 'backup')).toMatchObject({
      status: 'critical',
      detail: expect.stringMatching(/^level intact \(required readable\): .* is not readable: pg_restore failed/),
    });
    expect(slack.postsTo('/alert').some((p) => JSON.stringify(p.body).includes(report.workflowId))).toBe(true);
    expect(find(evening.checks, 'backup.today')).toMatchObject({
      status: 'critical',
      detail: expect.stringContaining(`${report.workflowId} failed`),
    });
    expect(evening.outcome).toBe('critical');
  });

  it('maint backup list, verify --level and restore-test give the level and exit 1 when it fails', async () => {
    const list = await maint('backup', 'list', '--json');
    expect(list.code).toBe(0);
    const rows = JSON.parse(list.stdout) as { file: string; level: string; bytes: number }[];
    expect(rows.map((r) => r.level)).toEqual(['intact', 'intact', 'intact']); // the 6-byte one is newest: intact, yet unreadable
    expect(rows[0]!.bytes).toBe(6);

    const newest = await maint('backup', 'verify');
    expect(newest.code).toBe(1);
    expect(newest.stdout).toMatch(/^FAILED: level intact \(required readable\)/);
    expect(newest.stderr).toMatch(/maint: backup .* is not readable/);
    const good = rows[1]!.file;
    expect(await maint('backup', 'verify', good, '--level', 'intact')).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^OK: level intact/),
    });
    const restore = await maint('backup', 'restore-test', good);
    expect(restore).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^OK: level restored \(required restored\)\n.*row counts match the manifest/),
    });
    expect(restore.stdout).toMatch(/restored: \d+ ms/);

    truncateSync(good, 100);
    expect((await maint('backup', 'list')).stdout).toContain(`BROKEN`);
    const cut = await maint('backup', 'verify', good, '--level', 'intact');
    expect(cut.code).toBe(1);
    expect(cut.stdout).toContain('manifest says');

    const plan = await maint('plan', 'dailyBackup');
    expect(plan.stdout).toContain(`pg_dump of 127.0.0.1:5432/${db.name} into ${backups} with its manifest`);
    expect(plan.stdout).toMatch(/newest backup now: failed, level none: .* is not intact: size 100 bytes/); // the one just cut (and so touched)

    const bad = await maint('backup', 'verify', '--level', 'everything');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("'everything' is not one of intact, readable, restored");
    expect(readdirSync(backups).filter((f) => f.endsWith('.dump'))).toHaveLength(3); // nothing was deleted or written
  }, 240_000); // a hang bound only: five maint CLI processes (tsx) in turn, slow on a busy machine

  it('fails at once, non-retryable, naming the bad field', async () => {
    await withWorker(config(), ({ client, taskQueue }) =>
      expectWorkflowRejects(client, taskQueue, 'dailyBackup', 'daily-backup-bad', [
        [{ reason: 5 }, 'reason'],
        [{ level: 'intact' }, 'level'],
      ]),
    );
  });
});
