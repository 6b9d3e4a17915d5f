import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readdirSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, delimiter, isAbsolute, join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import {
  atLeast,
  BACKUP_LEVELS,
  formatBytes,
  GUARD_LEVEL,
  verificationCheck,
  type BackupLevel,
  type BackupManifest,
  type BackupVerification,
  type RecoveryPoint,
  type TableCount,
} from '../../domain/backup.js';
import { skipped, gradeAbove, type CheckResult } from '../../domain/checks.js';
import { failure, FailureType } from '../../domain/failures.js';
import { retentionSkipped, type RetentionResult } from '../../domain/retention.js';
import type { Thresholds } from '../../domain/thresholds.js';
import { isExecutable } from '../../src/executables.js';
import { applyRetention, heartbeat } from '../storage.js';
import type { createPgbackrestActivities } from './pgbackrest.js';
import { inTransaction, resolveTimeouts, type Timeouts } from './sql.js';

/**
 * The backup module: one meaning of "verified" (domain/backup.ts) for every check, guard and
 * report. Dumps are `pg_dump -Fc` files written under a hidden temporary name; the manifest (sha256,
 * size, database, server version, the dumped snapshot's exact row counts) is written and renamed
 * first, the dump last, so a file that appears under a dump name is complete and has its manifest,
 * and a crash at any point leaves only hidden `.partial` files no check counts. The connection
 * password reaches child processes only through PGPASSWORD, never argv, and is scrubbed from
 * anything they print.
 */

export interface BackupFile {
  file: string;
  bytes: number;
  ageHours: number;
}

export interface TakenBackup extends BackupFile {
  source: 'pg_dump' | 'pgbackrest';
  /** pg_dump: the dump's sha256 (pgBackRest keeps its own per-file checksums). */
  sha256?: string;
  durationMs: number;
  tables?: number;
  database: string;
  serverVersion?: string;
  /** pgbackrest: full, diff or incr. */
  type?: string;
  /** The newest dump before this one, for growth. */
  previous?: { file: string; bytes: number };
}

export interface ListedBackup extends BackupFile {
  manifest: boolean;
  /** `intact` when the manifest matches, else why not. */
  level: 'intact' | 'none';
  detail: string;
}

export const DUMP_SUFFIX = '.dump';
export const MANIFEST_SUFFIX = '.manifest.json';
/** The counts-only file older releases wrote; deleted with its dump, never trusted as a manifest. */
const LEGACY_MANIFEST_SUFFIX = '.counts.json';

/** pg_dump / pg_restore: the configured directory, else PATH, else the newest /usr/lib/postgresql/<n>/bin. */
export function findPgBinary(name: 'pg_dump' | 'pg_restore' | 'pg_ctl', pgBinDir?: string): string {
  const debian = (() => {
    try {
      return readdirSync('/usr/lib/postgresql')
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => join('/usr/lib/postgresql', v, 'bin'));
    } catch {
      return [];
    }
  })();
  const dirs = pgBinDir ? [pgBinDir] : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...debian];
  const found = dirs.map((d) => join(d, name)).find(isExecutable);
  if (!found)
    throw failure(FailureType.MissingTool, `${name} not found in ${pgBinDir ?? 'PATH or /usr/lib/postgresql/*/bin'}`);
  return found;
}

/** libpq environment for a connection URL: the password travels here, never on a command line. */
export function libpqEnv(url: string, database?: string): NodeJS.ProcessEnv {
  const u = new URL(url);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    LANG: 'C',
    PGHOST: decodeURIComponent(u.hostname) || 'localhost',
    PGPORT: u.port || '5432',
    PGDATABASE: database ?? decodeURIComponent(u.pathname.replace(/^\//, '')),
    PGAPPNAME: 'trixtech-maintenance',
  };
  if (u.username) env.PGUSER = decodeURIComponent(u.username);
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const sslmode = u.searchParams.get('sslmode');
  if (sslmode) env.PGSSLMODE = sslmode;
  return env;
}

export function scrubSecret(text: string, url: string): string {
  const password = decodeURIComponent(new URL(url).password);
  return password ? text.split(password).join('***') : text;
}

function run(binary: string, args: string[], env: NodeJS.ProcessEnv, url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const why = err.killed ? `killed after ${timeoutMs} ms` : `exit ${err.code ?? '?'}`;
      reject(
        new Error(
          scrubSecret(
            `${binary.split('/').pop()} failed (${why}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
            url,
          ),
        ),
      );
    });
  });
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** sha256 of a file, streamed (dumps are large), heartbeating as it goes. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  let chunks = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    if (++chunks % 64 === 0) heartbeat();
  }
  return hash.digest('hex');
}

/** Dumps in `directory` matching `pattern` (hidden and partial files never count), newest first. */
async function listDumps(directory: string, pattern: RegExp): Promise<BackupFile[]> {
  const found: (BackupFile & { mtimeMs: number })[] = [];
  for (const name of await readdir(directory)) {
    if (name.startsWith('.') || !pattern.test(name)) continue;
    const s = await stat(join(directory, name)).catch(() => undefined);
    if (s?.isFile())
      found.push({
        file: join(directory, name),
        bytes: s.size,
        mtimeMs: s.mtimeMs,
        ageHours: (Date.now() - s.mtimeMs) / 3_600_000,
      });
  }
  found.sort((a, b) => b.mtimeMs - a.mtimeMs || b.file.localeCompare(a.file));
  return found.map(({ file, bytes, ageHours }) => ({ file, bytes, ageHours }));
}

/** The manifest of a dump, or why there is none usable. */
async function readManifest(file: string): Promise<BackupManifest | string> {
  let text: string;
  try {
    text = await readFile(`${file}${MANIFEST_SUFFIX}`, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT'
      ? `manifest ${basename(file)}${MANIFEST_SUFFIX} is missing`
      : `cannot read manifest: ${(err as Error).message}`;
  }
  try {
    const m = JSON.parse(text) as Partial<BackupManifest>;
    if (
      m.format !== 1 ||
      typeof m.sha256 !== 'string' ||
      typeof m.bytes !== 'number' ||
      typeof m.counts !== 'object' ||
      m.counts === null
    ) {
      return `manifest ${basename(file)}${MANIFEST_SUFFIX} lacks sha256, bytes or counts`;
    }
    return m as BackupManifest;
  } catch {
    return `manifest ${basename(file)}${MANIFEST_SUFFIX} is not valid JSON`;
  }
}

/** Exact row counts of every user table, the figures a restore is compared against. */
export async function tableCounts(client: pg.ClientBase): Promise<Record<string, number>> {
  const { rows } = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(temp|toast)'
      ORDER BY 1, 2`,
  );
  const counts: Record<string, number> = {};
  for (const r of rows) {
    const {
      rows: [n],
    } = await client.query<{ n: number }>(
      `SELECT count(*)::float8 AS n FROM ONLY ${pg.escapeIdentifier(r.schema)}.${pg.escapeIdentifier(r.name)}`,
    );
    counts[`${r.schema}.${r.name}`] = n!.n;
  }
  return counts;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const hours = (h: number) => `${Math.round(h * 100) / 100} h old`;

function parseLevel(level: unknown, field = 'level'): BackupLevel {
  if (typeof level === 'string' && (BACKUP_LEVELS as readonly string[]).includes(level)) return level as BackupLevel;
  throw failure(
    FailureType.InvalidInput,
    `${field}: ${JSON.stringify(level)} is not one of ${BACKUP_LEVELS.join(', ')}`,
  );
}

export interface BackupDeps {
  db: pg.Pool;
  /** With backupSource "pgbackrest": every check, guard and backup goes through the stanza instead of dumps. */
  pgbackrest?: ReturnType<typeof createPgbackrestActivities>;
  /** Connection URL of the booking database; may hold a password, which never leaves this module. */
  databaseUrl: string;
  backupDirectory?: string;
  pgBinDir?: string;
  timeouts: Timeouts;
}

export function createBackupActivities({
  db,
  databaseUrl,
  backupDirectory,
  pgBinDir,
  timeouts,
  pgbackrest,
}: BackupDeps) {
  const databaseName = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, '')) || 'postgres';
  const ourDumps = new RegExp(`^${escapeRegex(databaseName)}-.*${escapeRegex(DUMP_SUFFIX)}$`);
  const anyDump = new RegExp(`${escapeRegex(DUMP_SUFFIX)}$`);
  const directory = () => {
    if (!backupDirectory)
      throw failure(
        FailureType.NotConfigured,
        'no backup directory configured (database.backupDirectory or targets.backup.directory)',
      );
    return backupDirectory;
  };
  const longMs = () => resolveTimeouts(timeouts).statementTimeoutMs;

  /** Level `restored`: into a scratch database of its own, dropped afterwards whatever happens. */
  async function restoreAndCount(
    file: string,
    manifest: BackupManifest,
    timeoutMs: number,
  ): Promise<{ ms: number; tables: TableCount[]; mismatches: string[]; error?: string }> {
    // Unique per attempt: two restore tests (the audit and an operator) never share a scratch database.
    const scratch = `${databaseName.slice(0, 30)}_${randomBytes(3).toString('hex')}_restore_check`;
    const quoted = pg.escapeIdentifier(scratch);
    await db.query(`CREATE DATABASE ${quoted}`);
    const started = performance.now();
    try {
      try {
        await run(
          findPgBinary('pg_restore', pgBinDir),
          ['--exit-on-error', '--no-owner', '--no-privileges', '-d', scratch, file],
          libpqEnv(databaseUrl, scratch),
          databaseUrl,
          timeoutMs,
        );
      } catch (err) {
        return {
          ms: Math.round(performance.now() - started),
          tables: [],
          mismatches: [],
          error: (err as Error).message,
        };
      }
      const ms = Math.round(performance.now() - started);
      const url = Object.assign(new URL(databaseUrl), { pathname: `/${encodeURIComponent(scratch)}` }).toString();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const restored = await tableCounts(client).finally(() => client.end());
      const names = [...new Set([...Object.keys(manifest.counts), ...Object.keys(restored)])].sort();
      const tables = names.map((table) => ({
        table,
        expected: manifest.counts[table] ?? null,
        restored: restored[table] ?? null,
      }));
      const mismatches = tables
        .filter((r) => r.expected !== r.restored)
        .map((r) => `${r.table}: expected ${r.expected ?? 'absent'}, restored ${r.restored ?? 'absent'}`);
      return { ms, tables, mismatches };
    } finally {
      await db.query(`DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)`);
    }
  }

  /**
   * The one verification: each level in order, stopping at the first that fails; the answer names
   * the file, the level reached and the level that failed.
   */
  async function verifyFile(
    f: BackupFile,
    required: BackupLevel,
    maxAgeHours = Number.POSITIVE_INFINITY,
    timeoutMs = longMs(),
  ): Promise<BackupVerification> {
    const base = { source: 'pg_dump' as const, required, file: f.file, bytes: f.bytes, ageHours: f.ageHours };
    const timings: Partial<Record<BackupLevel, number>> = {};
    const failed = (
      level: BackupLevel,
      reached: BackupLevel | 'none',
      detail: string,
      extra: Partial<BackupVerification> = {},
    ): BackupVerification => ({
      ...base,
      status: 'failed',
      level: reached,
      failedLevel: level,
      detail: `${f.file} is not ${level}: ${detail}`,
      timings,
      ...extra,
    });

    let t = performance.now();
    const manifest = await readManifest(f.file);
    if (typeof manifest === 'string') return failed('intact', 'none', manifest);
    if (manifest.bytes !== f.bytes)
      return failed('intact', 'none', `size ${f.bytes} bytes, manifest says ${manifest.bytes} (cut or appended)`);
    const sha256 = await sha256File(f.file);
    if (sha256 !== manifest.sha256)
      return failed(
        'intact',
        'none',
        `sha256 ${sha256.slice(0, 12)}… differs from the manifest's ${manifest.sha256.slice(0, 12)}… (bytes changed)`,
      );
    timings.intact = Math.round(performance.now() - t);
    const withSha = { sha256 };

    if (atLeast(required, 'readable')) {
      t = performance.now();
      try {
        // Reads every byte and decompresses every entry; --list would read only the catalogue.
        await run(
          findPgBinary('pg_restore', pgBinDir),
          ['-f', '/dev/null', f.file],
          libpqEnv(databaseUrl),
          databaseUrl,
          timeoutMs,
        );
      } catch (err) {
        return failed('readable', 'intact', (err as Error).message, withSha);
      }
      timings.readable = Math.round(performance.now() - t);
    }
    let restore: { tables: TableCount[]; mismatches: string[] } | undefined;
    if (required === 'restored') {
      const r = await restoreAndCount(f.file, manifest, timeoutMs);
      timings.restored = r.ms;
      if (r.error) return failed('restored', 'readable', r.error, withSha);
      if (r.mismatches.length > 0) {
        return failed(
          'restored',
          'readable',
          `${r.mismatches.length} table(s) differ from the manifest: ${r.mismatches.slice(0, 3).join('; ')}`,
          { ...withSha, tables: r.tables, mismatches: r.mismatches },
        );
      }
      restore = { tables: r.tables, mismatches: [] };
    }

    const what =
      required === 'restored'
        ? `restored in ${timings.restored} ms, ${restore!.tables.length} tables' row counts match the manifest`
        : required === 'readable'
          ? `every byte read back in ${timings.readable} ms`
          : `sha256 and size match the manifest`;
    const summary = `${basename(f.file)}: ${formatBytes(f.bytes)}, sha256 ${sha256.slice(0, 12)}…, ${what}, ${hours(f.ageHours)}`;
    if (f.ageHours > maxAgeHours) {
      return {
        ...base,
        ...withSha,
        ...restore,
        status: 'stale',
        level: required,
        timings,
        detail: `${summary}: older than ${maxAgeHours} h`,
      };
    }
    return { ...base, ...withSha, ...restore, status: 'ok', level: required, timings, detail: summary };
  }

  async function fileFor(path: string): Promise<BackupFile> {
    if (!isAbsolute(path))
      throw failure(FailureType.InvalidInput, `file: ${JSON.stringify(path)} is not an absolute path`);
    const s = await stat(path).catch(() => undefined);
    if (!s?.isFile()) throw failure(FailureType.InvalidInput, `file: ${path} is not a regular file`);
    return { file: path, bytes: s.size, ageHours: (Date.now() - s.mtimeMs) / 3_600_000 };
  }

  async function verifyNewest(
    required: BackupLevel,
    maxAgeHours: number,
    dir = directory(),
    pattern = anyDump,
  ): Promise<BackupVerification> {
    const newest = (await listDumps(dir, pattern).catch(() => []))[0];
    if (!newest)
      return {
        status: 'missing',
        source: 'pg_dump',
        required,
        level: 'none',
        detail: `no backup matching /${pattern.source}/ in ${dir}`,
      };
    return verifyFile(newest, required, maxAgeHours);
  }

  return {
    /**
     * pg_dump -Fc of one snapshot, whose exact row counts go into the manifest with the dump's
     * sha256 and size. Nothing appears under a dump name until the dump and its manifest are
     * complete and on disk.
     */
    async createDatabaseBackup(
      request: { timeoutMs?: number; type?: 'full' | 'diff' | 'incr' } = {},
    ): Promise<TakenBackup> {
      if (pgbackrest) {
        const b = await pgbackrest.takePgbackrestBackup({ type: request.type });
        return {
          source: 'pgbackrest',
          file: b.file,
          bytes: b.bytes,
          ageHours: 0,
          durationMs: b.durationMs,
          database: databaseName,
          type: b.type,
          ...(b.previous ? { previous: b.previous } : {}),
        };
      }
      const dir = directory();
      try {
        await mkdir(dir, { recursive: true });
      } catch (err) {
        // Permissions, a file in the way, a read-only mount: a retry cannot help.
        throw failure(
          FailureType.BackupDirectoryUnusable,
          `cannot use backup directory ${dir}: ${(err as Error).message}`,
        );
      }
      // Partial files from attempts that crashed: ours by name, and old enough not to be a live dump.
      for (const name of await readdir(dir)) {
        if (name.startsWith(`.${databaseName}-`) && name.endsWith('.partial')) {
          const s = await stat(join(dir, name)).catch(() => undefined);
          if (s && Date.now() - s.mtimeMs > 3_600_000) await rm(join(dir, name), { force: true });
        }
      }
      const previous = (await listDumps(dir, ourDumps))[0];
      const name = `${databaseName}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      const final = join(dir, `${name}${DUMP_SUFFIX}`);
      const partial = join(dir, `.${name}${DUMP_SUFFIX}.partial`);
      const manifestPartial = join(dir, `.${name}${DUMP_SUFFIX}${MANIFEST_SUFFIX}.partial`);
      const cleanup = () => Promise.all([rm(partial, { force: true }), rm(manifestPartial, { force: true })]);
      const started = performance.now();
      const t = resolveTimeouts(timeouts);
      let snapshot: { counts: Record<string, number>; serverVersion: string; at: string };
      try {
        snapshot = await inTransaction(db, t, async (c) => {
          // The dump reads the very snapshot the counts were taken in, so the manifest is exact.
          await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
          const {
            rows: [snap],
          } = await c.query<{ id: string; version: string; at: Date }>(
            "SELECT pg_export_snapshot() AS id, current_setting('server_version') AS version, now() AS at",
          );
          const counts = await tableCounts(c);
          await run(
            findPgBinary('pg_dump', pgBinDir),
            ['-Fc', '--snapshot', snap!.id, `--lock-wait-timeout=${t.lockTimeoutMs}`, '-f', partial],
            libpqEnv(databaseUrl),
            databaseUrl,
            request.timeoutMs ?? t.statementTimeoutMs,
          );
          return { counts, serverVersion: snap!.version, at: snap!.at.toISOString() };
        });
      } catch (err) {
        await cleanup();
        if (err instanceof ApplicationFailure) throw err;
        throw failure(
          FailureType.BackupFailed,
          `backup of ${databaseName} failed, nothing was kept: ${(err as Error).message}`,
        );
      }
      try {
        const bytes = (await stat(partial)).size;
        const manifest: BackupManifest = {
          format: 1,
          file: basename(final),
          sha256: await sha256File(partial),
          bytes,
          database: databaseName,
          serverVersion: snapshot.serverVersion,
          snapshotAt: snapshot.at,
          durationMs: Math.round(performance.now() - started),
          counts: snapshot.counts,
        };
        await writeFile(manifestPartial, `${JSON.stringify(manifest, null, 1)}\n`);
        await fsyncPath(partial);
        await fsyncPath(manifestPartial);
        // Manifest first: a dump name appears only once its manifest is there.
        await rename(manifestPartial, `${final}${MANIFEST_SUFFIX}`);
        await rename(partial, final);
        await fsyncPath(dir);
        return {
          source: 'pg_dump',
          file: final,
          bytes,
          ageHours: 0,
          sha256: manifest.sha256,
          durationMs: Math.round(performance.now() - started),
          tables: Object.keys(snapshot.counts).length,
          database: databaseName,
          serverVersion: snapshot.serverVersion,
          ...(previous ? { previous: { file: previous.file, bytes: previous.bytes } } : {}),
        };
      } catch (err) {
        // A full disk while writing the manifest: leave nothing half-written behind.
        await cleanup();
        await rm(`${final}${MANIFEST_SUFFIX}`, { force: true });
        throw failure(
          FailureType.BackupFailed,
          `backup of ${databaseName} could not be completed in ${dir}, nothing was kept: ${(err as Error).message}`,
        );
      }
    },

    /**
     * One backup (a given file, else the newest dump) verified to `level`. Guards use `readable` or
     * more; `restored` restores into a scratch database and compares every table with the manifest.
     */
    async verifyBackup(
      request: { file?: string; level?: BackupLevel; maxAgeHours?: number; timeoutMs?: number } = {},
    ): Promise<BackupVerification> {
      const level = parseLevel(request.level ?? GUARD_LEVEL);
      if (pgbackrest)
        return pgbackrest.verifyPgbackrest(level, request.maxAgeHours, request.file?.replace(/^[^/]*\//, ''));
      if (request.file === undefined) return verifyNewest(level, request.maxAgeHours ?? Number.POSITIVE_INFINITY);
      return verifyFile(await fileFor(request.file), level, request.maxAgeHours, request.timeoutMs);
    },

    /** The guard before data moves: the newest dump, verified `readable` (or more), young enough. */
    async verifyNewestBackup(request: { maxAgeHours: number; level?: BackupLevel }): Promise<BackupVerification> {
      const level = parseLevel(request.level ?? GUARD_LEVEL);
      if (!atLeast(level, GUARD_LEVEL))
        throw failure(FailureType.InvalidInput, `level: a guard accepts no less than ${GUARD_LEVEL}, got ${level}`);
      if (pgbackrest) return pgbackrest.verifyPgbackrest(level, request.maxAgeHours);
      return verifyNewest(level, request.maxAgeHours);
    },

    /** Every dump in the backup directory, newest first, with whether it is `intact`. */
    async listBackups(): Promise<ListedBackup[]> {
      if (pgbackrest) return pgbackrest.listPgbackrest();
      const dumps = await listDumps(directory(), anyDump).catch((err: Error) => {
        throw failure(FailureType.NotConfigured, `cannot list ${directory()}: ${err.message}`);
      });
      const out: ListedBackup[] = [];
      for (const d of dumps) {
        const v = await verifyFile(d, 'intact');
        out.push({
          ...d,
          manifest: !v.detail.includes('is missing'),
          level: v.status === 'ok' ? 'intact' : 'none',
          detail: v.detail,
        });
      }
      return out;
    },

    /**
     * Seed: "Review backup status (last successful backup < 24h old)". The same verification as the
     * guards, at `readable`: a dump pg_dump wrote wrong has a matching manifest (intact) and still
     * cannot be restored. Age graded against the thresholds.
     */
    async checkBackupFreshness(
      backup: { directory: string; pattern: string } | undefined,
      thresholds: Thresholds,
    ): Promise<CheckResult[]> {
      if (pgbackrest) {
        const threshold = `verified ${GUARD_LEVEL}, WAL archiving working; warn > ${thresholds.backupWarnAgeHours} h, critical > ${thresholds.backupMaxAgeHours} h`;
        const [v, wal] = await Promise.all([pgbackrest.verifyPgbackrest(GUARD_LEVEL), pgbackrest.walArchiveStatus()]);
        const check = verificationCheck('backup', `pgbackrest ${v.file?.split('/')[0] ?? ''}`.trim(), v, { threshold });
        const graded =
          v.status !== 'ok' || v.ageHours === undefined
            ? check.status
            : gradeAbove(v.ageHours, thresholds.backupWarnAgeHours, thresholds.backupMaxAgeHours);
        return [
          { ...check, status: graded },
          {
            check: 'backup.wal-archive',
            target: 'pgbackrest',
            status: wal.failing ? 'critical' : wal.lastArchivedAt ? 'ok' : 'warn',
            detail:
              wal.failing ??
              (wal.lastArchivedAt
                ? `last WAL segment ${wal.lastArchivedWal} archived at ${wal.lastArchivedAt}`
                : 'no WAL segment archived yet'),
          },
        ];
      }
      const target =
        backup ??
        (backupDirectory ? { directory: backupDirectory, pattern: `${escapeRegex(DUMP_SUFFIX)}$` } : undefined);
      if (!target) return [skipped('backup', '-', 'no backup location configured')];
      const threshold = `verified ${GUARD_LEVEL}; warn > ${thresholds.backupWarnAgeHours} h, critical > ${thresholds.backupMaxAgeHours} h`;
      let v: BackupVerification;
      try {
        await readdir(target.directory);
        v = await verifyNewest(GUARD_LEVEL, Number.POSITIVE_INFINITY, target.directory, new RegExp(target.pattern));
      } catch (err) {
        return [
          {
            check: 'backup',
            target: target.directory,
            status: 'critical',
            threshold,
            detail: `cannot read backup directory: ${(err as Error).message}`,
          },
        ];
      }
      const check = verificationCheck('backup', target.directory, v, { threshold });
      if (v.status !== 'ok' || v.ageHours === undefined) return [check];
      return [
        { ...check, status: gradeAbove(v.ageHours, thresholds.backupWarnAgeHours, thresholds.backupMaxAgeHours) },
      ];
    },

    /**
     * Seed: "Review backup retention policies": deletes this database's dumps (with their
     * manifests) older than the cutoff beyond the newest `keepNewest`, and never the newest dump
     * that verifies `readable`. With no readable dump, nothing is deleted: any of them might be
     * the one to restore. The result names the dump kept and why.
     */
    async pruneDatabaseBackups(request: {
      olderThan: string;
      keepNewest: number;
      mode: 'report' | 'delete';
    }): Promise<RetentionResult> {
      const dir = directory();
      const rule = {
        name: 'database-backups',
        directory: dir,
        keepNewest: Math.max(1, request.keepNewest),
        recursive: false,
        pattern: ourDumps.source,
      };
      const dumps = await listDumps(dir, ourDumps).catch(() => []);
      if (dumps.length === 0)
        return retentionSkipped(rule, request.mode, `no dump of ${databaseName} in ${dir}: nothing to prune`);
      const rejected: string[] = [];
      let good: BackupVerification | undefined;
      for (const d of dumps) {
        const v = await verifyFile(d, GUARD_LEVEL);
        if (v.status === 'ok') {
          good = v;
          break;
        }
        rejected.push(v.detail.replace(d.file, basename(d.file)));
        heartbeat();
      }
      if (!good) {
        return retentionSkipped(
          rule,
          request.mode,
          `keeping every backup: none of ${dumps.length} verifies ${GUARD_LEVEL}: ${rejected.slice(0, 3).join('; ')}`,
        );
      }
      const keptName = basename(good.file!);
      const why =
        rejected.length === 0
          ? `kept ${keptName}: the newest dump, verified ${GUARD_LEVEL}`
          : `kept ${keptName}: the newest dump that verifies ${GUARD_LEVEL}; ${rejected.length} newer do not: ${rejected.slice(0, 2).join('; ')}`;
      const result = await applyRetention(
        { rule, olderThan: request.olderThan, mode: request.mode },
        (file) => [`${file}${MANIFEST_SUFFIX}`, `${file}${LEGACY_MANIFEST_SUFFIX}`],
        heartbeat,
        new Set([keptName]),
      );
      return { ...result, kept: { file: good.file!, why } };
    },

    /**
     * RPO as it stands: pgBackRest, time since the last WAL segment reached the archive (behind a
     * readable backup); dumps, time since the snapshot of the newest dump that reads back.
     */
    async measureRecoveryPoint(): Promise<RecoveryPoint> {
      if (pgbackrest) {
        const [v, wal] = await Promise.all([pgbackrest.verifyPgbackrest(GUARD_LEVEL), pgbackrest.walArchiveStatus()]);
        if (v.status === 'missing' || v.status === 'failed')
          return { source: 'pgbackrest', rpoSeconds: null, basis: `no readable backup: ${v.detail}` };
        if (!wal.lastArchivedAt)
          return {
            source: 'pgbackrest',
            rpoSeconds: (v.ageHours ?? 0) * 3600,
            basis: `no WAL archived; newest backup ${v.file}`,
            problem: wal.failing ?? undefined,
          };
        return {
          source: 'pgbackrest',
          rpoSeconds: (Date.now() - Date.parse(wal.lastArchivedAt)) / 1000,
          basis: `last WAL segment ${wal.lastArchivedWal} archived at ${wal.lastArchivedAt}, on top of ${v.file}`,
          ...(wal.failing ? { problem: wal.failing } : {}),
        };
      }
      const dumps = await listDumps(directory(), anyDump).catch(() => []);
      for (const d of dumps) {
        const v = await verifyFile(d, GUARD_LEVEL);
        if (v.status !== 'ok') continue;
        const m = await readManifest(d.file);
        const at = typeof m === 'string' ? undefined : m.snapshotAt;
        const seconds = at ? (Date.now() - Date.parse(at)) / 1000 : d.ageHours * 3600;
        return {
          source: 'pg_dump',
          rpoSeconds: seconds,
          basis: `newest readable dump ${basename(d.file)}, snapshot ${at ?? 'time unknown, file age used'}`,
        };
      }
      return { source: 'pg_dump', rpoSeconds: null, basis: `no readable dump in ${directory()}` };
    },

    /**
     * Seed: "Test backup restoration procedures": the newest (or given) dump verified `restored`:
     * restored into a scratch database, every table's row count compared with the manifest, the
     * restore timed (the RTO of a dump), the scratch database dropped.
     */
    async restoreTestBackup(request: { file?: string; timeoutMs?: number } = {}): Promise<BackupVerification> {
      if (pgbackrest) return pgbackrest.verifyPgbackrest('restored', undefined, request.file?.replace(/^[^/]*\//, ''));
      if (request.file === undefined) return verifyNewest('restored', Number.POSITIVE_INFINITY);
      return verifyFile(await fileFor(request.file), 'restored', Number.POSITIVE_INFINITY, request.timeoutMs);
    },
  };
}
