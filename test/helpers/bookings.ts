import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { createPostgresActivities } from '../../activities/postgres/index.js';
import { DatabaseMaintenanceSchema, type DatabaseMaintenanceConfig } from '../../src/config/schema.js';
import { SEED_WINDOWS, type WindowSpec } from '../../domain/windows.js';
import type { TestDatabase } from './postgres.js';

/** The booking tables the seed scripts touch, as the application would have them. */
export async function createBookingSchema(pool: pg.Pool): Promise<void> {
  await pool.query(`
    CREATE TABLE bookings (
      id bigserial PRIMARY KEY, user_id bigint NOT NULL, status text NOT NULL DEFAULT 'confirmed',
      notes text, created_at timestamptz NOT NULL);
    CREATE INDEX bookings_created_at_idx ON bookings (created_at);
    CREATE TABLE user_sessions (id bigserial PRIMARY KEY, user_id bigint NOT NULL, expires_at timestamptz NOT NULL);
    CREATE TABLE password_reset_tokens (token text PRIMARY KEY, user_id bigint NOT NULL, expires_at timestamptz NOT NULL);`);
}

/**
 * `old` bookings three years old mixed by id with `recent` ones, so every id range holds both; or,
 * with `idsInTimeOrder`, ids rising with `created_at` as a serial key gives them in production.
 */
export async function seedBookings(pool: pg.Pool, old: number, recent: number, idsInTimeOrder = false): Promise<void> {
  await pool.query(
    `INSERT INTO bookings (user_id, notes, created_at)
     SELECT i, CASE WHEN i % 3 = 0 THEN 'note ' || i END, ts FROM (
       SELECT i, now() - interval '3 years' - i * interval '1 minute' AS ts, md5('old' || i) AS k FROM generate_series(1, $1::int) AS i
       UNION ALL
       SELECT i, now() - i * interval '1 minute', md5('recent' || i) FROM generate_series(1, $2::int) AS i) s
     ORDER BY ${idsInTimeOrder ? 'ts' : 'k'}`,
    [old, recent],
  );
}

export async function seedExpiringRows(pool: pg.Pool, expired: number, valid: number): Promise<void> {
  const expiry = `now() + CASE WHEN i <= $1 THEN -interval '1 hour' ELSE interval '1 hour' END`;
  await pool.query(
    `INSERT INTO user_sessions (user_id, expires_at) SELECT i, ${expiry} FROM generate_series(1, $1::int + $2::int) AS i`,
    [expired, valid],
  );
  await pool.query(
    `INSERT INTO password_reset_tokens (token, user_id, expires_at) SELECT 't' || i, i, ${expiry} FROM generate_series(1, $1::int + $2::int) AS i`,
    [expired, valid],
  );
}

/** Count and an order-independent digest of the ids a query selects: equal fingerprints, same rows. */
export async function idFingerprint(pool: pg.Pool, from: string): Promise<{ count: number; digest: string }> {
  const {
    rows: [r],
  } = await pool.query<{ count: number; digest: string }>(
    `SELECT count(*)::int AS count, md5(coalesce(string_agg(id::text, ',' ORDER BY id), '')) AS digest FROM ${from}`,
  );
  return r!;
}

export const OLD = `created_at < now() - interval '2 years'`;

/** A daily window starting `offsetSeconds` from now (negative: already open), for short real waits. */
export function windowFromNow(offsetSeconds: number, durationMinutes = 10): WindowSpec {
  const start = new Date(Date.now() + offsetSeconds * 1000).toISOString().slice(11, 19);
  // Tests run at any hour, business hours included.
  return { name: 'test', every: 'day', start, durationMinutes, duringBusinessHours: true };
}

/** A blackout (config `blackouts`) from `fromSeconds` to `toSeconds` around now. */
export function blackoutFromNow(name: string, fromSeconds: number, toSeconds: number, reason?: string) {
  const at = (s: number) => new Date(Date.now() + s * 1000).toISOString();
  return { name, start: at(fromSeconds), end: at(toSeconds), ...(reason ? { reason } : {}) };
}

/** The PostgreSQL activities on test databases, called directly (the archive, which heartbeats, runs in workflows). */
export function postgresActivitiesFor(
  db: TestDatabase,
  reports: TestDatabase,
  settings: Partial<DatabaseMaintenanceConfig> = {},
  databaseUrl = db.url,
) {
  return createPostgresActivities({
    db: db.pool,
    reports: reports.pool,
    databaseUrl,
    databaseLabel: db.name,
    settings: DatabaseMaintenanceSchema.parse(settings),
    windows: SEED_WINDOWS,
  });
}

/**
 * A pgBinDir whose pg_dump and pg_restore record their argv and whether PGPASSWORD was set,
 * then run the real binaries: proof of how the password travels.
 */
export function recordingPgBinDir(realBinDir: string): { dir: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), 'maint-pgbin-'));
  const log = join(dir, 'calls.log');
  for (const tool of ['pg_dump', 'pg_restore']) {
    writeFileSync(
      join(dir, tool),
      `#!/bin/sh\necho "${tool} argv: $* password-env: \${PGPASSWORD:+set}" >> ${log}\nexec ${join(realBinDir, tool)} "$@"\n`,
    );
    chmodSync(join(dir, tool), 0o755);
  }
  return { dir, log };
}
