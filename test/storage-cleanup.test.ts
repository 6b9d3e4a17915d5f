import { execFile } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupActivities } from '../activities/postgres/backup.js';
import { applyRetention } from '../activities/storage.js';
import { ConfigError } from '../src/config/load.js';
import { RetentionRuleSchema, type RetentionRule } from '../domain/retention.js';
import { storageCleanup } from '../workflows/storage-cleanup.js';
import { expectWorkflowRejects } from './helpers/failures.js';
import { recordHistory } from './helpers/histories.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { SlackSink } from './helpers/slack-sink.js';
import { temporalEnv, testConfig, withWorker } from './helpers/temporal.js';

const DAY_MS = 86_400_000;
const exec = promisify(execFile);

/** Writes a file whose modification time is `ageDays` ago. */
function fileAged(path: string, ageDays: number, body = 'x'.repeat(100)): string {
  writeFileSync(path, body);
  const t = new Date(Date.now() - ageDays * DAY_MS);
  utimesSync(path, t, t);
  return path;
}

const listing = (dir: string) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();

describe('applyRetention (the file retention activity)', () => {
  let dir: string;
  let outside: string;
  const rule = (over: Partial<RetentionRule> = {}): RetentionRule =>
    RetentionRuleSchema.parse({ name: 'app-logs', directory: dir, pattern: '\\.log$', olderThanDays: 30, ...over });
  const olderThan = () => new Date(Date.now() - 30 * DAY_MS).toISOString();

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'maint-retention-'));
    outside = mkdtempSync(join(tmpdir(), 'maint-retention-outside-'));
    fileAged(join(dir, 'app-1.log'), 40);
    fileAged(join(dir, 'app-2.log'), 35);
    fileAged(join(dir, 'app-3.log'), 1);
    fileAged(join(dir, 'notes.txt'), 40);
    mkdirSync(join(dir, 'sub'));
    fileAged(join(dir, 'sub', 'old.log'), 40);
    // An old file reached through a link must survive, link and target both.
    symlinkSync(fileAged(join(outside, 'precious.log'), 400), join(dir, 'linked.log'));
  });

  it('lists in report mode exactly what delete mode then deletes, and a second run changes nothing', async () => {
    const before = listing(dir);
    const report = await applyRetention({ rule: rule(), olderThan: olderThan(), mode: 'report' });
    expect(listing(dir)).toEqual(before);
    expect(report).toMatchObject({
      status: 'done',
      matched: 3,
      expired: 2,
      expiredBytes: 200,
      deleted: 0,
      sample: ['app-2.log', 'app-1.log'],
    });

    const deleted = await applyRetention({ rule: rule(), olderThan: olderThan(), mode: 'delete' });
    expect(deleted).toMatchObject({ status: 'done', expired: 2, deleted: 2, failed: [], sample: report.sample });
    const after = listing(dir);
    expect(before.filter((f) => !after.includes(f))).toEqual(['app-1.log', 'app-2.log']);
    expect(readFileSync(join(outside, 'precious.log'), 'utf8')).toHaveLength(100);

    const again = await applyRetention({ rule: rule(), olderThan: olderThan(), mode: 'delete' });
    expect(again).toMatchObject({ expired: 0, deleted: 0 });
    expect(listing(dir)).toEqual(after);
  });

  it('descends into subdirectories only when recursive, and keeps the newest N whatever their age', async () => {
    const kept = await applyRetention({
      rule: rule({ recursive: true, keepNewest: 2 }),
      olderThan: olderThan(),
      mode: 'report',
    });
    // app-3.log (1 day) and sub/old.log (40 days) are the two newest of the two left: nothing goes.
    expect(kept).toMatchObject({ matched: 2, expired: 0, keptNewest: 1 });
    const recursive = await applyRetention({ rule: rule({ recursive: true }), olderThan: olderThan(), mode: 'delete' });
    expect(recursive).toMatchObject({ deleted: 1, sample: [join('sub', 'old.log')] });
    expect(existsSync(join(dir, 'sub'))).toBe(true);
    expect(
      existsSync(join(dir, 'app-3.log')) && existsSync(join(dir, 'notes.txt')) && existsSync(join(dir, 'linked.log')),
    ).toBe(true);
  });

  it('skips a missing directory with its reason and refuses a malformed cutoff', async () => {
    const missing = await applyRetention({
      rule: rule({ directory: join(dir, 'nope') }),
      olderThan: olderThan(),
      mode: 'delete',
    });
    expect(missing).toMatchObject({ status: 'skipped', reason: `${join(dir, 'nope')} does not exist` });
    await expect(applyRetention({ rule: rule(), olderThan: 'last tuesday', mode: 'delete' })).rejects.toThrow(
      'olderThan: "last tuesday" is not a timestamp',
    );
    expect(existsSync(join(dir, 'app-3.log'))).toBe(true);
  });

  it('reports progress while it lists and deletes, so the activity can heartbeat through a large directory', async () => {
    const big = mkdtempSync(join(tmpdir(), 'maint-retention-big-'));
    for (let i = 0; i < 1_200; i++) fileAged(join(big, `x-${i}.log`), 40, '');
    let progress = 0;
    const r = await applyRetention(
      { rule: rule({ directory: big }), olderThan: olderThan(), mode: 'delete' },
      undefined,
      () => progress++,
    );
    expect(r).toMatchObject({ matched: 1_200, deleted: 1_200 });
    // once for the listing, then every 500 files deleted
    expect(progress).toBe(4);
    expect(readdirSync(big)).toEqual([]);
  });

  it('rejects dangerous or malformed rules in config, naming each field', () => {
    const bad = [
      { name: 'root', directory: '/', pattern: '.*', olderThanDays: 1 },
      { name: 'up', directory: '/var/log/../..', pattern: '.*', olderThanDays: 1 },
      { name: 'Bad Name', directory: '/var/log', pattern: '([', olderThanDays: 0 },
    ];
    let error: unknown;
    try {
      testConfig({}, { retention: bad });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const field of [
      'retention[0].directory: refusing to clean the root directory',
      'retention[1].directory: no ".." segments',
      'retention[2].name',
      'retention[2].pattern: not a valid regular expression',
      'retention[2].olderThanDays',
    ]) {
      expect(problems).toContain(field);
    }
    expect(() => testConfig({}, { retention: [bad[0]!, bad[0]!].map((r) => ({ ...r, directory: '/tmp' })) })).toThrow(
      'rule names must be unique',
    );
  });
});

describe('storageCleanup end to end', () => {
  let db: TestDatabase;
  let slack: SlackSink;
  let logs: string;
  let backups: string;
  /** The newest good dump the first run kept. */
  let lastGood: string;

  beforeAll(async () => {
    [db, slack] = await Promise.all([createTestDatabase('maint_storage'), new SlackSink().start()]);
    await db.pool.query(
      'CREATE TABLE bookings (id bigint PRIMARY KEY); INSERT INTO bookings SELECT generate_series(1, 50)',
    );
    logs = mkdtempSync(join(tmpdir(), 'maint-storage-logs-'));
    backups = mkdtempSync(join(tmpdir(), 'maint-storage-backups-'));
  });
  afterAll(async () => {
    await Promise.all([db?.drop(), slack?.stop()]);
  });

  const config = () =>
    testConfig(
      {
        ...slack.workerEnv(db.url, db.url),
      },
      {
        retention: [{ name: 'app-logs', directory: logs, pattern: '\\.log$', olderThanDays: 30 }],
        database: { backupDirectory: backups, backupRetention: { olderThanDays: 14, keepNewest: 2 } },
        targets: { diskPaths: [logs] },
      },
    );

  /** Real dumps of the test database, the older ones backdated: [newest .. oldest]. */
  async function takeBackups(ages: number[]): Promise<string[]> {
    const acts = createBackupActivities({
      db: db.pool,
      databaseUrl: db.url,
      backupDirectory: backups,
      timeouts: { lockTimeoutMs: 2_000, statementTimeoutMs: 60_000 },
    });
    const files: string[] = [];
    for (const age of ages) {
      const { file } = await acts.createDatabaseBackup();
      const t = new Date(Date.now() - age * DAY_MS);
      utimesSync(file, t, t);
      files.push(file);
    }
    return files;
  }

  it('reports what would go without deleting, then deletes expired logs and backups (with manifests) and keeps the newest', async () => {
    for (const age of [45, 31, 2]) fileAged(join(logs, `api-${age}d.log`), age);
    const [newest, second, third, oldest] = await takeBackups([1, 20, 30, 60]);
    const before = { logs: listing(logs), backups: listing(backups) };

    const { dryRun, report, history, workflowId } = await withWorker(config(), async ({ client, taskQueue }) => {
      const dryRun = await client.workflow.execute(storageCleanup, {
        taskQueue,
        workflowId: `storage-cleanup-dry-${Date.now()}`,
        args: [{ mode: 'report' }],
      });
      const handle = await client.workflow.start(storageCleanup, {
        taskQueue,
        workflowId: `storage-cleanup-${Date.now()}`,
        args: [{}],
      });
      return {
        dryRun,
        report: await handle.result(),
        history: await handle.fetchHistory(),
        workflowId: handle.workflowId,
      };
    });
    await recordHistory('storageCleanup', history, workflowId);

    const rule = (r: typeof report, name: string) =>
      (r.details!.rules as { rule: string; sample: string[]; deleted: number }[]).find((x) => x.rule === name)!;
    expect(rule(dryRun, 'app-logs').sample).toEqual(['api-31d.log', 'api-45d.log']);
    // keepNewest 2 spares the 20-day dump; the 30- and 60-day ones go.
    expect(rule(dryRun, 'database-backups').sample.map((f) => join(backups, f))).toEqual([third, oldest]);
    expect(dryRun.summary).toMatch(/^Storage cleanup \(report only\): 4 file\(s\)/);

    expect(rule(report, 'app-logs')).toMatchObject({ deleted: 2, sample: rule(dryRun, 'app-logs').sample });
    expect(rule(report, 'database-backups')).toMatchObject({
      deleted: 2,
      sample: rule(dryRun, 'database-backups').sample,
    });
    expect(report.outcome).toBe('ok');
    // A routine run is stored, not posted.
    expect(slack.postsTo('/report').filter((p) => JSON.stringify(p.body).includes(workflowId))).toEqual([]);
    expect(listing(logs)).toEqual(before.logs.filter((f) => f === 'api-2d.log'));
    const manifestOf = (f: string) => `${f.split('/').pop()}.manifest.json`;
    expect(listing(backups)).toEqual([newest!, second!].flatMap((f) => [f.split('/').pop()!, manifestOf(f)]).sort());
    expect(before.backups).toContain(manifestOf(oldest!));
    expect(
      (report.details!.rules as { rule: string; kept?: { file: string; why: string } }[]).find(
        (x) => x.rule === 'database-backups',
      )!.kept,
    ).toEqual({ file: newest, why: `kept ${newest!.split('/').pop()}: the newest dump, verified readable` });
    lastGood = newest!;

    const { rows } = await db.pool.query<{ outcome: string; summary: string }>(
      'SELECT outcome, summary FROM maintenance_runs WHERE workflow_id = $1',
      [workflowId],
    );
    expect(rows[0]).toMatchObject({
      outcome: 'ok',
      summary: expect.stringMatching(/^Storage cleanup: 4 file\(s\) deleted/),
    });
  });

  it('keeps the newest backup that reads back when newer ones are broken, and deletes nothing when none does', async () => {
    const [cut, flipped, old] = await takeBackups([0, 0.5, 90]);
    truncateSync(cut!, Math.floor(statSync(cut!).size / 3));
    const fd = openSync(flipped!, 'r+');
    writeSync(fd, Buffer.alloc(256, 0xa5), 0, 256, Math.floor(statSync(flipped!).size * 0.6));
    closeSync(fd);
    const run = (name: string) =>
      withWorker(config(), ({ client, taskQueue }) =>
        client.workflow.execute(storageCleanup, {
          taskQueue,
          workflowId: `storage-cleanup-${name}-${Date.now()}`,
          args: [{}],
        }),
      );

    const report = await run('broken-newest');
    const backupCheck = report.checks.find((c) => c.target.startsWith('database-backups'))!;
    const name = (f: string) => f.split('/').pop()!;
    expect(backupCheck.status).toBe('ok');
    expect(backupCheck.detail).toContain(
      `kept ${name(lastGood)}: the newest dump that verifies readable; 2 newer do not: `,
    );
    expect(backupCheck.detail).toContain(`${name(cut!)} is not intact: size `);
    expect(backupCheck.detail).toContain(`${name(flipped!)} is not intact: sha256 `);
    // keepNewest 2 holds the two broken ones; the good one is protected; the 90-day one goes.
    expect(existsSync(lastGood)).toBe(true);
    expect(existsSync(old!)).toBe(false);
    expect([cut, flipped].every((f) => existsSync(f!))).toBe(true);

    // Now nothing reads back: every dump stays, whatever its age.
    truncateSync(lastGood, 100);
    const [older] = await takeBackups([95]);
    truncateSync(older!, 100);
    // Truncating touched the file: age it again, so the rule would expire it if anything read back.
    utimesSync(older!, new Date(Date.now() - 95 * DAY_MS), new Date(Date.now() - 95 * DAY_MS));
    const before = listing(backups);
    const none = await run('none-readable');
    expect(none.checks.find((c) => c.target.startsWith('database-backups'))).toMatchObject({
      status: 'skipped',
      detail: expect.stringMatching(/^keeping every backup: none of 4 verifies readable: /),
    });
    expect(listing(backups)).toEqual(before);
  });

  it('fails at once, changing nothing, on bad input', async () => {
    fileAged(join(logs, 'api-99d.log'), 99);
    await withWorker(config(), ({ client, taskQueue }) =>
      expectWorkflowRejects(client, taskQueue, 'storageCleanup', 'storage-cleanup-bad', [
        [{ mode: 'everything' }, 'mode'],
        [{ rules: [] }, 'rules'],
      ]),
    );
    expect(existsSync(join(logs, 'api-99d.log'))).toBe(true);
  });

  it('maint plan storageCleanup lists what would go and deletes nothing', async () => {
    const before = { logs: listing(logs), backups: listing(backups) };
    const c = config();
    const { stdout } = await exec(process.execPath, ['bin/maint.js', 'plan', 'storageCleanup'], {
      env: {
        ...process.env,
        ...temporalEnv(),
        MAINT_CONFIG: c.configFile!,
        DATABASE_URL: db.url,
        MAINT_DATABASE_URL: db.url,
      },
    });
    expect(stdout).toContain('plan for storageCleanup (nothing was changed)');
    expect(stdout).toContain(`app-logs (${logs}): would delete 1 of 2 file(s), 0 MiB: api-99d.log`);
    expect(stdout).toMatch(/database-backups \(.*\): keeping every backup: none of 4 verifies readable/);
    expect({ logs: listing(logs), backups: listing(backups) }).toEqual(before);
  });
});
