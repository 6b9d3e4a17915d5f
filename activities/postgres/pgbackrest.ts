import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { BackupLevel, BackupVerification, TableCount } from '../../domain/backup.js';
import { atLeast, formatBytes } from '../../domain/backup.js';
import { heartbeat } from '../storage.js';
import { findPgBinary, scrubSecret, tableCounts } from './backup.js';
import { inTransaction, resolveTimeouts, type Timeouts } from './sql.js';
import { failure, FailureType } from '../../domain/failures.js';

/**
 * pgBackRest as the backup source (database.backupSource = "pgbackrest"): backups, their state from
 * `pgbackrest info --output=json`, `readable` from `pgbackrest verify` (read from its output: it exits
 * 0 even when a file fails its checksum), and the restore test: `pgbackrest restore` into a scratch
 * data directory, recovered to a named restore point created for the test (point-in-time recovery
 * through the WAL archive), started on a free loopback port with archiving off so it never pushes
 * WAL into the real repository, every table counted, stopped and removed.
 */

export interface PgbackrestSettings {
  stanza: string;
  configFile: string;
  fullOn: string[];
  binary?: string;
  runAs?: string;
  scratchDirectory?: string;
}

interface InfoBackup {
  label: string;
  type: 'full' | 'diff' | 'incr';
  error?: boolean;
  timestamp: { start: number; stop: number };
  info: { size: number; delta: number; repository: { size: number; delta: number } };
  archive: { start: string; stop: string };
  prior: string | null;
}
interface InfoStanza {
  name: string;
  status: { code: number; message: string };
  backup: InfoBackup[];
  archive: { id: string; min: string | null; max: string | null }[];
  db: { version: string }[];
}

export interface PgbackrestBackup {
  file: string;
  label: string;
  type: string;
  bytes: number;
  repoBytes: number;
  durationMs: number;
  previous?: { file: string; bytes: number };
}

const DAYS = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'];

function exec(
  binary: string,
  args: string[],
  timeoutMs: number,
  env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LANG: 'C' },
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve({ stdout, stderr });
      const why = err.killed ? `killed after ${timeoutMs} ms` : `exit ${err.code ?? '?'}`;
      reject(new Error(`${why}: ${`${stderr}${stdout}`.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** "000000010000000000000002" -> a number that orders segments of one timeline (16 MB segments: 256 per log id). */
const segmentNumber = (wal: string) =>
  Number.parseInt(wal.slice(8, 16), 16) * 0x100 + Number.parseInt(wal.slice(16, 24), 16);

export function createPgbackrestActivities({
  db,
  databaseUrl,
  settings,
  pgBinDir,
  timeouts,
}: {
  db: pg.Pool;
  databaseUrl: string;
  settings: PgbackrestSettings;
  pgBinDir?: string;
  timeouts: Timeouts;
}) {
  const { stanza } = settings;
  const databaseName = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, '')) || 'postgres';
  const longMs = () => resolveTimeouts(timeouts).statementTimeoutMs;

  /** As `runAs` (through runuser) when set: the repository and PostgreSQL's files belong to that user. */
  function asUser(binary: string, args: string[]): [string, string[]] {
    return settings.runAs ? ['runuser', ['-u', settings.runAs, '--', binary, ...args]] : [binary, args];
  }
  async function pgbackrest(
    command: string,
    args: string[] = [],
    timeoutMs = longMs(),
    positional: string[] = [],
  ): Promise<string> {
    const [bin, argv] = asUser(settings.binary ?? 'pgbackrest', [
      `--config=${settings.configFile}`,
      `--stanza=${stanza}`,
      '--log-level-console=warn',
      ...args,
      command,
      ...positional,
    ]);
    try {
      return (await exec(bin, argv, timeoutMs)).stdout;
    } catch (err) {
      throw failure(
        FailureType.PgbackrestFailed,
        scrubSecret(`pgbackrest ${command} for stanza ${stanza} failed: ${(err as Error).message}`, databaseUrl),
      );
    }
  }

  /** The stanza's info; an unknown or broken stanza is a clear, non-retryable failure naming it. */
  async function info(): Promise<InfoStanza> {
    const parsed = JSON.parse(await pgbackrest('info', ['--output=json'], 60_000)) as InfoStanza[];
    const s = parsed.find((x) => x.name === stanza);
    // 0 ok, 2 no backup yet, 6 a backup running: usable. Anything else (1 missing stanza path, 3
    // missing stanza data, 5 database mismatch...) is a stanza that a retry will not mend.
    if (!s || ![0, 2, 6].includes(s.status.code)) {
      throw failure(
        FailureType.PgbackrestStanzaUnusable,
        `pgbackrest stanza ${stanza}: ${s?.status.message ?? 'not found'}`,
      );
    }
    return s;
  }

  const nameOf = (b: InfoBackup) => `${stanza}/${b.label}`;
  const newestGood = (s: InfoStanza) => [...s.backup].reverse().find((b) => !b.error);

  /** `pgbackrest verify` of the whole repository, read from its text (its exit code says 0 on a bad checksum). */
  async function verifyRepository(label: string): Promise<{ ok: boolean; detail: string }> {
    const text = await pgbackrest('verify', ['--output=text', '--verbose'], longMs());
    const lines = text.split('\n').map((l) => l.trim());
    const status = lines
      .find((l) => l.startsWith('status:'))
      ?.slice('status:'.length)
      .trim();
    const backupLine = lines.findIndex((l) => l.startsWith(`backup: ${label},`));
    const problems: string[] = [];
    if (status !== 'ok')
      problems.push(
        `verify status ${status ?? 'missing'}${lines
          .filter((l) => !l.startsWith('stanza:') && !l.startsWith('status:'))
          .slice(0, 2)
          .map((l) => `: ${l}`)
          .join('')}`,
      );
    if (backupLine < 0) problems.push(`verify did not list backup ${label}`);
    else if (!lines[backupLine]!.includes('status: valid'))
      problems.push(`${lines[backupLine]}; ${lines[backupLine + 1] ?? ''}`);
    // Counts of bad files and WAL gaps ("missing: 0, checksum invalid: 0, ..."): any non-zero fails.
    for (const [i, l] of lines.entries()) {
      if (!l.startsWith('missing:')) continue;
      const bad = [...l.matchAll(/([a-z ]+): (\d+)/g)]
        .filter((m) => Number(m[2]) > 0)
        .map((m) => `${m[1]!.trim()} ${m[2]}`);
      if (bad.length > 0) problems.push(`${lines[i - 1]}: ${bad.join(', ')}`);
    }
    return problems.length === 0
      ? { ok: true, detail: `pgbackrest verify: backup ${label} and its WAL archive valid` }
      : { ok: false, detail: [...new Set(problems)].join('; ') };
  }

  /**
   * WAL archive continuity from a backup's first segment to the archive's newest: `pgbackrest
   * verify` does not notice a segment missing in between (checked here), yet recovery stops there.
   * Listed with `repo-ls`, so it works for any repository type.
   */
  async function walGaps(s: InfoStanza, from: string): Promise<string[]> {
    const archive = s.archive.at(-1);
    if (!archive?.max) return [`no WAL archived for ${archive?.id ?? 'the stanza'}`];
    const timeline = from.slice(0, 8);
    const present = new Set<number>();
    for (let hi = Number.parseInt(from.slice(8, 16), 16); hi <= Number.parseInt(archive.max.slice(8, 16), 16); hi++) {
      const dir = `${timeline}${hi.toString(16).toUpperCase().padStart(8, '0')}`;
      const listing = JSON.parse(
        await pgbackrest('repo-ls', ['--output=json'], 60_000, [`archive/${stanza}/${archive.id}/${dir}`]),
      ) as Record<string, unknown>;
      for (const name of Object.keys(listing))
        if (/^[0-9A-F]{24}-/.test(name)) present.add(segmentNumber(name.slice(0, 24)));
    }
    const missing: string[] = [];
    for (let n = segmentNumber(from); n <= segmentNumber(archive.max); n++) {
      if (!present.has(n))
        missing.push(
          `${timeline}${Math.floor(n / 0x100)
            .toString(16)
            .toUpperCase()
            .padStart(8, '0')}${(n % 0x100).toString(16).toUpperCase().padStart(8, '0')}`,
        );
    }
    return missing;
  }

  /**
   * Level `restored`: a restore point made now (counts taken in the same transaction), the WAL
   * holding it archived, the newest backup restored into a scratch directory and recovered to that
   * point, counted and compared. The time from restore to a promoted server is the RTO.
   */
  async function restoreTest(
    backup: InfoBackup,
    version: string,
  ): Promise<{ ms: number; tables: TableCount[]; mismatches: string[]; target: string; error?: string }> {
    const t = resolveTimeouts(timeouts);
    const target = `maint-restore-test-${randomBytes(4).toString('hex')}`;
    const expected = await inTransaction(db, t, async (c) => {
      await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      const counts = await tableCounts(c);
      await c.query('SELECT pg_create_restore_point($1)', [target]);
      return counts;
    });
    // The restore point must reach the archive: switch WAL and wait until it is archived.
    const {
      rows: [sw],
    } = await db.query<{ wal: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS wal');
    const deadline = Date.now() + 120_000;
    for (;;) {
      const {
        rows: [a],
      } = await db.query<{ last: string | null }>('SELECT last_archived_wal AS last FROM pg_stat_archiver');
      if (a?.last && !a.last.includes('.') && segmentNumber(a.last) >= segmentNumber(sw!.wal)) break;
      if (Date.now() > deadline)
        throw failure(
          FailureType.WalNotArchived,
          `WAL ${sw!.wal} holding the restore point was not archived within 120 s: the archive is behind or broken`,
        );
      heartbeat();
      await new Promise((r) => setTimeout(r, 200));
    }

    const parent = settings.scratchDirectory ?? tmpdir();
    const scratch = await mkdtemp(join(parent, `maint-pgbackrest-restore-${stanza}-`));
    const dataDir = join(scratch, 'data');
    const versionBin = `/usr/lib/postgresql/${version}/bin`;
    const pgCtl =
      existsSync(join(versionBin, 'pg_ctl')) && !pgBinDir
        ? join(versionBin, 'pg_ctl')
        : findPgBinary('pg_ctl', pgBinDir);
    if (settings.runAs) {
      const { stdout } = await exec('id', ['-u', settings.runAs], 5_000);
      const { stdout: gid } = await exec('id', ['-g', settings.runAs], 5_000);
      await chown(scratch, Number(stdout.trim()), Number(gid.trim()));
    }
    const port = await freePort();
    const started = performance.now();
    let running = false;
    try {
      await pgbackrest('restore', [
        `--pg1-path=${dataDir}`,
        `--set=${backup.label}`,
        '--type=name',
        `--target=${target}`,
        '--target-action=promote',
        '--archive-mode=off',
      ]);
      heartbeat();
      // Its own port and socket, archiving off: the scratch server never touches the real cluster or repository.
      const opts = `-c port=${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${scratch} -c archive_mode=off -c hot_standby=on`;
      const [bin, argv] = asUser(pgCtl, [
        '-D',
        dataDir,
        '-l',
        join(scratch, 'server.log'),
        '-o',
        opts,
        '-w',
        '-t',
        String(Math.ceil(longMs() / 1000)),
        'start',
      ]);
      await exec(bin, argv, longMs());
      running = true;
      const url = Object.assign(new URL(databaseUrl), { hostname: '127.0.0.1', port: String(port) }).toString();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        // Promotion ends recovery at the target; until then the counts could still move.
        for (;;) {
          const {
            rows: [r],
          } = await client.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
          if (!r!.rec) break;
          heartbeat();
          await new Promise((res) => setTimeout(res, 100));
        }
        const ms = Math.round(performance.now() - started);
        const restored = await tableCounts(client);
        const names = [...new Set([...Object.keys(expected), ...Object.keys(restored)])].sort();
        const tables = names.map((table) => ({
          table,
          expected: expected[table] ?? null,
          restored: restored[table] ?? null,
        }));
        const mismatches = tables
          .filter((r) => r.expected !== r.restored)
          .map((r) => `${r.table}: expected ${r.expected ?? 'absent'}, restored ${r.restored ?? 'absent'}`);
        return { ms, tables, mismatches, target };
      } finally {
        await client.end();
      }
    } catch (err) {
      return {
        ms: Math.round(performance.now() - started),
        tables: [],
        mismatches: [],
        target,
        error: (err as Error).message,
      };
    } finally {
      if (running) {
        const [bin, argv] = asUser(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
        await exec(bin, argv, 60_000).catch(() => undefined);
      }
      await rm(scratch, { recursive: true, force: true });
    }
  }

  async function verifyNewest(
    required: BackupLevel,
    maxAgeHours = Number.POSITIVE_INFINITY,
    label?: string,
  ): Promise<BackupVerification> {
    const s = await info();
    const b = label ? s.backup.find((x) => x.label === label) : newestGood(s);
    const base = { source: 'pgbackrest' as const, required };
    if (!b)
      return {
        ...base,
        status: 'missing',
        level: 'none',
        detail: label ? `no backup ${label} in stanza ${stanza}` : `no backup in stanza ${stanza}`,
      };
    const ageHours = (Date.now() / 1000 - b.timestamp.stop) / 3600;
    const with_ = { ...base, file: nameOf(b), bytes: b.info.size, ageHours };
    const timings: Partial<Record<BackupLevel, number>> = {};
    if (b.error)
      return {
        ...with_,
        status: 'failed',
        level: 'none',
        failedLevel: 'intact',
        detail: `${nameOf(b)} is not intact: pgbackrest marks it in error`,
        timings,
      };
    timings.intact = 0;
    if (atLeast(required, 'readable')) {
      const t = performance.now();
      const [v, gaps] = await Promise.all([verifyRepository(b.label), walGaps(s, b.archive.start)]);
      timings.readable = Math.round(performance.now() - t);
      const problems = [
        ...(v.ok ? [] : [v.detail]),
        ...(gaps.length
          ? [
              `WAL archive gap since ${b.archive.start}: ${gaps.length} segment(s) missing (${gaps.slice(0, 3).join(', ')}${gaps.length > 3 ? ', …' : ''})`,
            ]
          : []),
      ];
      if (problems.length)
        return {
          ...with_,
          status: 'failed',
          level: 'intact',
          failedLevel: 'readable',
          detail: `${nameOf(b)} is not readable: ${problems.join('; ')}`,
          timings,
        };
    }
    let restore: { tables: TableCount[]; mismatches: string[] } | undefined;
    let target = '';
    if (required === 'restored') {
      const r = await restoreTest(b, s.db.at(-1)?.version ?? '');
      timings.restored = r.ms;
      target = r.target;
      if (r.error)
        return {
          ...with_,
          status: 'failed',
          level: 'readable',
          failedLevel: 'restored',
          detail: `${nameOf(b)} is not restored: ${r.error}`,
          timings,
        };
      if (r.mismatches.length > 0) {
        return {
          ...with_,
          status: 'failed',
          level: 'readable',
          failedLevel: 'restored',
          tables: r.tables,
          mismatches: r.mismatches,
          timings,
          detail: `${nameOf(b)} is not restored: ${r.mismatches.length} table(s) differ at restore point ${target}: ${r.mismatches.slice(0, 3).join('; ')}`,
        };
      }
      restore = { tables: r.tables, mismatches: [] };
    }
    const what =
      required === 'restored'
        ? `restored and recovered to restore point ${target} in ${timings.restored} ms, ${restore!.tables.length} tables' row counts match`
        : required === 'readable'
          ? `pgbackrest verify: every file and the WAL archive valid, no gap since the backup (${timings.readable} ms)`
          : 'listed without error by pgbackrest info';
    const summary = `${nameOf(b)} (${b.type}): ${formatBytes(b.info.size)}, ${formatBytes(b.info.repository.delta)} in the repository, ${what}, ${Math.round(ageHours * 100) / 100} h old`;
    return {
      ...with_,
      ...restore,
      status: ageHours > maxAgeHours ? 'stale' : 'ok',
      level: required,
      timings,
      detail: ageHours > maxAgeHours ? `${summary}: older than ${maxAgeHours} h` : summary,
    };
  }

  return {
    /** Full on the configured days (UTC, default Sunday), differential otherwise, unless `type` says. */
    async takePgbackrestBackup(request: { type?: 'full' | 'diff' | 'incr' } = {}): Promise<PgbackrestBackup> {
      const before = newestGood(await info());
      const type =
        request.type ?? (settings.fullOn.includes(DAYS[new Date().getUTCDay()]!) || !before ? 'full' : 'diff');
      const started = performance.now();
      await pgbackrest('backup', [`--type=${type}`]);
      const after = newestGood(await info());
      if (!after || after.label === before?.label)
        throw failure(
          FailureType.PgbackrestFailed,
          `pgbackrest backup for stanza ${stanza} reported success but info lists no new backup`,
        );
      return {
        file: nameOf(after),
        label: after.label,
        type: after.type,
        bytes: after.info.size,
        repoBytes: after.info.repository.delta,
        durationMs: Math.round(performance.now() - started),
        ...(before ? { previous: { file: nameOf(before), bytes: before.info.size } } : {}),
      };
    },
    verifyPgbackrest: verifyNewest,
    /** The stanza's backups, newest first, as `maint backup list` shows them. */
    async listPgbackrest(): Promise<
      { file: string; bytes: number; ageHours: number; manifest: boolean; level: 'intact' | 'none'; detail: string }[]
    > {
      return [...(await info()).backup].reverse().map((b) => ({
        file: nameOf(b),
        bytes: b.info.size,
        ageHours: (Date.now() / 1000 - b.timestamp.stop) / 3600,
        manifest: true,
        level: b.error ? ('none' as const) : ('intact' as const),
        detail: `${b.type} backup, ${formatBytes(b.info.repository.delta)} in the repository${b.error ? ', marked in error by pgbackrest' : ''}`,
      }));
    },
    /** RPO inputs: when the last WAL segment reached the archive, and whether archiving is failing. */
    async walArchiveStatus(): Promise<{
      lastArchivedAt: string | null;
      lastArchivedWal: string | null;
      failing: string | null;
    }> {
      const {
        rows: [a],
      } = await db.query<{ wal: string | null; at: Date | null; failed: string | null; failedAt: Date | null }>(
        'SELECT last_archived_wal AS wal, last_archived_time AS at, last_failed_wal AS failed, last_failed_time AS "failedAt" FROM pg_stat_archiver',
      );
      const failing =
        a?.failed && a.failedAt && (!a.at || a.failedAt > a.at)
          ? `archiving ${a.failed} failed at ${a.failedAt.toISOString()}`
          : null;
      return { lastArchivedAt: a?.at?.toISOString() ?? null, lastArchivedWal: a?.wal ?? null, failing };
    },
    databaseName,
  };
}
