import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { retentionSkipped, type RetentionResult } from '../../src/domain/retention.js';
import { isExecutable } from '../../src/executables.js';
import { applyRetention, heartbeat } from '../storage.js';
import { inTransaction, resolveTimeouts, type Timeouts } from './sql.js';

/**
 * Backups with `pg_dump -Fc`, written under a temporary name and renamed only once complete and
 * fsynced, with the exact row count of every table in the dumped snapshot kept beside the dump so
 * a restore test can prove the backup holds the data. The connection password reaches the child
 * processes only through PGPASSWORD, never argv, and is scrubbed from anything they print.
 */

export interface BackupFile {
  file: string;
  bytes: number;
  ageHours: number;
}

export interface BackupVerification {
  status: 'ok' | 'missing' | 'stale' | 'empty' | 'corrupt';
  detail: string;
  backup?: BackupFile & { tocEntries?: number };
}

export interface RestoreTest {
  ok: boolean;
  file: string;
  restoreMs: number;
  /** Where expected counts came from: the manifest written at backup time, or the live database. */
  comparedWith: 'backup manifest' | 'live database' | 'nothing';
  tables: { table: string; expected: number | null; restored: number | null }[];
  mismatches: string[];
  detail: string;
}

const DUMP_SUFFIX = '.dump';
const MANIFEST_SUFFIX = '.counts.json';

/** pg_dump / pg_restore: the configured directory, else PATH, else the newest /usr/lib/postgresql/<n>/bin. */
export function findPgBinary(name: 'pg_dump' | 'pg_restore', pgBinDir?: string): string {
  const debian = (() => {
    try {
      return readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)).map((v) => join('/usr/lib/postgresql', v, 'bin'));
    } catch {
      return [];
    }
  })();
  const dirs = pgBinDir ? [pgBinDir] : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...debian];
  const found = dirs.map((d) => join(d, name)).find(isExecutable);
  if (!found) throw ApplicationFailure.create({ type: 'MissingTool', nonRetryable: true, message: `${name} not found in ${pgBinDir ?? 'PATH or /usr/lib/postgresql/*/bin'}` });
  return found;
}

/** libpq environment for a connection URL: the password travels here, never on a command line. */
function libpqEnv(url: string, database?: string): NodeJS.ProcessEnv {
  const u = new URL(url);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH, LANG: 'C',
    PGHOST: decodeURIComponent(u.hostname) || 'localhost', PGPORT: u.port || '5432',
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
      reject(new Error(scrubSecret(`${binary.split('/').pop()} failed (${why}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`, url)));
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

async function newestDump(directory: string): Promise<BackupFile | undefined> {
  let newest: { file: string; mtimeMs: number; bytes: number } | undefined;
  for (const name of await readdir(directory).catch(() => [] as string[])) {
    if (!name.endsWith(DUMP_SUFFIX) || name.startsWith('.')) continue;
    const s = await stat(join(directory, name));
    if (s.isFile() && (!newest || s.mtimeMs > newest.mtimeMs)) newest = { file: join(directory, name), mtimeMs: s.mtimeMs, bytes: s.size };
  }
  return newest && { file: newest.file, bytes: newest.bytes, ageHours: (Date.now() - newest.mtimeMs) / 3_600_000 };
}

async function tableCounts(client: pg.ClientBase): Promise<Record<string, number>> {
  const { rows } = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(temp|toast)'
      ORDER BY 1, 2`,
  );
  const counts: Record<string, number> = {};
  for (const r of rows) {
    const { rows: [n] } = await client.query<{ n: number }>(`SELECT count(*)::float8 AS n FROM ONLY ${pg.escapeIdentifier(r.schema)}.${pg.escapeIdentifier(r.name)}`);
    counts[`${r.schema}.${r.name}`] = n!.n;
  }
  return counts;
}

export interface BackupDeps {
  db: pg.Pool;
  /** Connection URL of the booking database; may hold a password, which never leaves this module. */
  databaseUrl: string;
  backupDirectory?: string;
  pgBinDir?: string;
  timeouts: Timeouts;
}

export function createBackupActivities({ db, databaseUrl, backupDirectory, pgBinDir, timeouts }: BackupDeps) {
  const databaseName = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, '')) || 'postgres';
  const directory = () => {
    if (!backupDirectory) throw ApplicationFailure.create({ type: 'NotConfigured', nonRetryable: true, message: 'no backup directory configured (database.backupDirectory or targets.backup.directory)' });
    return backupDirectory;
  };

  async function verify(file: BackupFile, maxAgeHours: number): Promise<BackupVerification> {
    if (file.bytes === 0) return { status: 'empty', detail: `${file.file} is empty`, backup: file };
    try {
      const toc = await run(findPgBinary('pg_restore', pgBinDir), ['--list', file.file], libpqEnv(databaseUrl), databaseUrl, 60_000);
      const tocEntries = toc.split('\n').filter((l) => l && !l.startsWith(';')).length;
      const backup = { ...file, tocEntries };
      const age = `${Math.round(file.ageHours * 100) / 100} h old`;
      if (file.ageHours > maxAgeHours) return { status: 'stale', detail: `newest backup ${file.file} is ${age} (limit ${maxAgeHours} h)`, backup };
      return { status: 'ok', detail: `${file.file}: ${file.bytes} bytes, ${tocEntries} entries, ${age}`, backup };
    } catch (err) {
      return { status: 'corrupt', detail: `pg_restore --list rejects ${file.file}: ${(err as Error).message}`, backup: file };
    }
  }

  async function verifyNewest(maxAgeHours: number): Promise<BackupVerification> {
    const newest = await newestDump(directory());
    if (!newest) return { status: 'missing', detail: `no *${DUMP_SUFFIX} backup in ${directory()}` };
    return verify(newest, maxAgeHours);
  }

  return {
    /** pg_dump -Fc of the snapshot whose exact row counts go into the manifest beside it. */
    async createDatabaseBackup(request: { timeoutMs?: number } = {}): Promise<BackupFile & { durationMs: number; tables: number }> {
      const dir = directory();
      try {
        await mkdir(dir, { recursive: true });
      } catch (err) {
        // Permissions, a file in the way, a read-only mount: a retry cannot help.
        throw ApplicationFailure.create({ type: 'BackupDirectoryUnusable', nonRetryable: true, message: `cannot use backup directory ${dir}: ${(err as Error).message}` });
      }
      // Partial files from attempts that crashed: ours by name, and old enough not to be a live dump.
      for (const name of await readdir(dir)) {
        if (name.startsWith(`.${databaseName}-`) && name.endsWith('.partial')) {
          const s = await stat(join(dir, name)).catch(() => undefined);
          if (s && Date.now() - s.mtimeMs > 3_600_000) await rm(join(dir, name), { force: true });
        }
      }
      const name = `${databaseName}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      const final = join(dir, `${name}${DUMP_SUFFIX}`);
      const partial = join(dir, `.${name}${DUMP_SUFFIX}.partial`);
      const started = performance.now();
      const t = resolveTimeouts(timeouts);
      const counts = await inTransaction(db, t, async (c) => {
        // The dump reads the very snapshot the counts were taken in, so the manifest is exact.
        await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
        const { rows: [snap] } = await c.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
        const counted = await tableCounts(c);
        await run(findPgBinary('pg_dump', pgBinDir), ['-Fc', '--snapshot', snap!.id, `--lock-wait-timeout=${t.lockTimeoutMs}`, '-f', partial], libpqEnv(databaseUrl), databaseUrl, request.timeoutMs ?? t.statementTimeoutMs);
        return counted;
      }).catch(async (err) => {
        await rm(partial, { force: true });
        throw err;
      });
      await writeFile(`${partial}${MANIFEST_SUFFIX}`, JSON.stringify({ database: databaseName, counts }));
      await fsyncPath(partial);
      await fsyncPath(`${partial}${MANIFEST_SUFFIX}`);
      await rename(`${partial}${MANIFEST_SUFFIX}`, `${final}${MANIFEST_SUFFIX}`);
      await rename(partial, final);
      await fsyncPath(dir);
      const s = await stat(final);
      return { file: final, bytes: s.size, ageHours: 0, durationMs: Math.round(performance.now() - started), tables: Object.keys(counts).length };
    },

    /** Seed: "Verify backup integrity": the newest dump exists, is not empty, is young enough and pg_restore can read its catalogue. */
    async verifyNewestBackup(request: { maxAgeHours: number }): Promise<BackupVerification> {
      return verifyNewest(request.maxAgeHours);
    },

    /**
     * Seed: "Review backup retention policies": deletes this database's dumps (and their manifests)
     * older than the cutoff, always keeping the newest `keepNewest` (at least one), and only once the
     * newest dump is readable: with no good backup, every older one might be the one to restore.
     */
    async pruneDatabaseBackups(request: { olderThan: string; keepNewest: number; mode: 'report' | 'delete' }): Promise<RetentionResult> {
      const rule = {
        name: 'database-backups', directory: directory(), keepNewest: Math.max(1, request.keepNewest), recursive: false,
        pattern: `^${databaseName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-.*\\${DUMP_SUFFIX}$`,
      };
      const integrity = await verifyNewest(Number.POSITIVE_INFINITY);
      if (integrity.status !== 'ok') return retentionSkipped(rule, request.mode, `keeping every backup: ${integrity.detail}`);
      return applyRetention({ rule, olderThan: request.olderThan, mode: request.mode }, (file) => [`${file}${MANIFEST_SUFFIX}`], heartbeat);
    },

    /**
     * Seed: "Test backup restoration procedures": restores the newest (or given) dump into a scratch
     * database, compares every table's row count, reports the restore time, and drops the scratch copy.
     */
    async restoreTestBackup(request: { file?: string; timeoutMs?: number } = {}): Promise<RestoreTest> {
      const file = request.file ? { file: request.file, ...(await stat(request.file).then((s) => ({ bytes: s.size, ageHours: 0 }))) } : await newestDump(directory());
      if (!file) return { ok: false, file: '', restoreMs: 0, comparedWith: 'nothing', tables: [], mismatches: [], detail: `no backup in ${directory()}` };
      const fail = (detail: string, restoreMs = 0): RestoreTest => ({ ok: false, file: file.file, restoreMs, comparedWith: 'nothing', tables: [], mismatches: [], detail });
      const integrity = await verify(file, Number.POSITIVE_INFINITY);
      if (integrity.status !== 'ok') return fail(integrity.detail);

      const scratch = `${databaseName.slice(0, 40)}_restore_check`;
      const quoted = pg.escapeIdentifier(scratch);
      await db.query(`DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)`);
      await db.query(`CREATE DATABASE ${quoted}`);
      try {
        const started = performance.now();
        try {
          await run(findPgBinary('pg_restore', pgBinDir), ['--exit-on-error', '--no-owner', '--no-privileges', '-d', scratch, file.file],
            libpqEnv(databaseUrl, scratch), databaseUrl, request.timeoutMs ?? resolveTimeouts(timeouts).statementTimeoutMs);
        } catch (err) {
          return fail((err as Error).message, Math.round(performance.now() - started));
        }
        const restoreMs = Math.round(performance.now() - started);
        const url = Object.assign(new URL(databaseUrl), { pathname: `/${encodeURIComponent(scratch)}` }).toString();
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        const restored = await tableCounts(client).finally(() => client.end());
        const manifest = await readFile(`${file.file}${MANIFEST_SUFFIX}`, 'utf8').then((m) => (JSON.parse(m) as { counts: Record<string, number> }).counts).catch(() => undefined);
        const expected = manifest ?? (await inTransaction(db, resolveTimeouts(timeouts), (c) => tableCounts(c)));
        const names = [...new Set([...Object.keys(expected), ...Object.keys(restored)])].sort();
        const tables = names.map((table) => ({ table, expected: expected[table] ?? null, restored: restored[table] ?? null }));
        const mismatches = tables.filter((r) => r.expected !== r.restored).map((r) => `${r.table}: expected ${r.expected ?? 'absent'}, restored ${r.restored ?? 'absent'}`);
        return {
          ok: mismatches.length === 0, file: file.file, restoreMs, comparedWith: manifest ? 'backup manifest' : 'live database', tables, mismatches,
          detail: mismatches.length === 0 ? `restored ${tables.length} tables in ${restoreMs} ms, every row count matches` : `${mismatches.length} table(s) differ: ${mismatches.slice(0, 3).join('; ')}`,
        };
      } finally {
        await db.query(`DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)`);
      }
    },
  };
}
