// `npm run bench -- backup [--bookings 1500000]`: the backup module on the demo database at size:
// pg_dump with its manifest, then each verification level on the dump it wrote, timed.
// Ends with `backup: dump_s=.. intact_s=.. readable_s=.. restored_s=..`.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createBackupActivities } from '../activities/postgres/backup.js';
import { formatBytes } from '../domain/backup.js';
import { ensureDatabase, seedDemoBookings } from '../dev/demo-db.js';
import { runStatement } from '../dev/postgres-admin.js';

const ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} expects a positive whole number`);
  return v;
}

const seconds = (ms: number) => Math.round(ms / 10) / 100;

export async function main(args: string[]): Promise<void> {
  const bookings = arg(args, 'bookings', 1_500_000);
  const database = `bench_backup_${randomBytes(3).toString('hex')}`;
  const url = Object.assign(new URL(ADMIN_URL), { pathname: `/${database}` }).toString();
  const directory = mkdtempSync(join(tmpdir(), 'maint-bench-backup-'));
  await ensureDatabase(ADMIN_URL, database);
  const db = new pg.Pool({ connectionString: url, max: 2 });
  try {
    let t = performance.now();
    // The demo database (npm run up) at size, in its proportions: bookings : sessions : reset tokens = 100 : 10 : 1.
    await seedDemoBookings(url, {
      bookings,
      sessions: Math.round(bookings / 10),
      resetTokens: Math.round(bookings / 100),
    });
    const {
      rows: [counted],
    } = await db.query<{ n: string }>(
      'SELECT (SELECT count(*) FROM bookings) + (SELECT count(*) FROM user_sessions) + (SELECT count(*) FROM password_reset_tokens) AS n',
    );
    const n = counted!.n;
    console.log(
      `seeded ${database}: ${Number(n).toLocaleString('en')} rows (${bookings.toLocaleString('en')} bookings) in ${seconds(performance.now() - t)} s`,
    );

    const acts = createBackupActivities({
      db,
      databaseUrl: url,
      backupDirectory: directory,
      timeouts: { lockTimeoutMs: 5_000, statementTimeoutMs: 3_600_000 },
    });
    t = performance.now();
    const taken = await acts.createDatabaseBackup();
    const dumpMs = performance.now() - t;
    console.log(
      `dump: ${taken.file} ${formatBytes(taken.bytes)} (counts, pg_dump -Fc, sha256, manifest) in ${seconds(dumpMs)} s`,
    );

    // Each level on its own, as a check asking for it would run it; each includes the ones below.
    const intact = await acts.verifyBackup({ file: taken.file, level: 'intact' });
    const readable = await acts.verifyBackup({ file: taken.file, level: 'readable' });
    const restored = await acts.verifyBackup({ file: taken.file, level: 'restored' });
    for (const v of [intact, readable, restored]) {
      if (v.status !== 'ok') throw new Error(`verification failed: ${v.detail}`);
      console.log(`${v.level}: ${JSON.stringify(v.timings)} ms`);
    }
    console.log(`restored tables: ${restored.tables!.map((x) => `${x.table}=${x.restored}`).join(' ')}`);
    console.log(
      `backup: dump_s=${seconds(dumpMs)} intact_s=${seconds(intact.timings!.intact!)} readable_s=${seconds(readable.timings!.readable!)} restored_s=${seconds(restored.timings!.restored!)} bytes=${taken.bytes} rows=${n}`,
    );
  } finally {
    await db.end();
    rmSync(directory, { recursive: true, force: true });
    await runStatement(ADMIN_URL, `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
  }
}
