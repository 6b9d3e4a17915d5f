// The weekly reviews' slowest queries, with figures: pg_stat_statements has to be preloaded by the
// server. Whether the machine's cluster on 5432 preloads it depends on who set it up (bootstrap.sh
// does), so both cases run on scratch clusters of their own: one with the library preloaded, one without.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScratchPostgres, type ScratchPostgres } from '../dev/scratch-postgres.js';
import { slowQueryFindings } from '../workflows/lib/database-checks.js';
import { postgresActivitiesFor } from './helpers/bookings.js';
import type { TestDatabase } from './helpers/postgres.js';

describe('slow queries from pg_stat_statements', () => {
  let root: string;
  let server: ScratchPostgres;
  let db: TestDatabase;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'maint-slow-queries-'));
    server = await startScratchPostgres(root, { settings: ["shared_preload_libraries='pg_stat_statements'"] });
    const url = server.url('postgres');
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    db = { name: 'postgres', url, pool, drop: () => pool.end() };
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
    await server?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('lists the slowest statements by mean time with their calls, and the review turns them into findings', async () => {
    await db.pool.query('CREATE EXTENSION pg_stat_statements');
    await db.pool.query('SELECT pg_stat_statements_reset()');
    for (let i = 0; i < 3; i++) await db.pool.query('SELECT pg_sleep(0.12)');
    for (let i = 0; i < 5; i++) await db.pool.query('SELECT count(*) FROM generate_series(1, 1000)');

    const stats = await postgresActivitiesFor(db, db).collectDatabaseStatistics({ slowQueryLimit: 50 });
    expect(stats.checks.find((c) => c.check === 'db.slow-queries')).toMatchObject({ status: 'ok' });
    if (stats.slowQueries.status !== 'available') throw new Error(`unavailable: ${stats.slowQueries.reason}`);
    const [slowest] = stats.slowQueries.queries;
    expect(slowest).toMatchObject({ calls: 3, query: expect.stringContaining('pg_sleep') });
    expect(slowest!.meanMs).toBeGreaterThanOrEqual(120);
    expect(slowest!.totalMs).toBeGreaterThanOrEqual(360);
    const series = stats.slowQueries.queries.find((q) => q.query.includes('generate_series'));
    expect(series).toMatchObject({ calls: 5 });
    expect(series!.meanMs).toBeLessThan(slowest!.meanMs);

    const findings = slowQueryFindings('bookings-db', stats.slowQueries, 2);
    expect(findings).toHaveLength(2);
    expect(findings[0]).toMatchObject({ check: 'db.slow-query', target: '#1', unit: 'ms' });
    expect(findings[0]!.value).toBeGreaterThanOrEqual(120);
    expect(findings[0]!.detail).toMatch(/^3 calls, mean \d+ ms: SELECT pg_sleep/);
  });

  it('says the server must preload the library when the extension exists but is not loaded', async () => {
    const bareRoot = mkdtempSync(join(tmpdir(), 'maint-slow-queries-bare-'));
    const bare = await startScratchPostgres(bareRoot);
    const pool = new pg.Pool({ connectionString: bare.url('postgres'), max: 2 });
    try {
      await pool.query('CREATE EXTENSION pg_stat_statements');
      const target = { name: 'postgres', url: bare.url('postgres'), pool, drop: () => pool.end() };
      const stats = await postgresActivitiesFor(target, target).collectDatabaseStatistics({});
      expect(stats.slowQueries).toEqual({
        status: 'unavailable',
        reason: expect.stringMatching(/shared_preload_libraries/),
      });
    } finally {
      await pool.end();
      await bare.stop();
      rmSync(bareRoot, { recursive: true, force: true });
    }
  }, 120_000);
});
