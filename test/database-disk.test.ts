// The database's own disk (issue 20): its size and largest tables from the real PostgreSQL on 5432,
// and the free space of its volume from each source users run: the kubelet's volume stats and
// node-exporter's filesystem series through a real Prometheus (scraping an exporter of ours), and
// the data directory PostgreSQL reports, measured with statfs beside it.
import { statfs } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabaseDiskActivities } from '../activities/postgres/disk.js';
import type { CheckResult } from '../domain/checks.js';
import { DEFAULT_THRESHOLDS, type Thresholds } from '../domain/thresholds.js';
import type { DatabaseVolume } from '../src/config/schema.js';
import { freePort } from './helpers/net.js';
import { createTestDatabase, PG_ADMIN_URL, type TestDatabase } from './helpers/postgres.js';
import { startPrometheus, type TestPrometheus } from './helpers/prometheus.js';
import { until, uniqueId } from './helpers/stack.js';

const GB = 1_000_000_000;
const byCheck = (results: CheckResult[]) => Object.fromEntries(results.map((r) => [r.check, r]));

describe("the database's size and its volume", () => {
  let db: TestDatabase;
  let exporter: Server;
  let prometheus: TestPrometheus;
  // Names of this run only: Prometheus here scrapes nothing else, but the figures must be ours.
  const namespace = uniqueId('db')
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-');
  const host = uniqueId('db-host')
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-');

  beforeAll(async () => {
    db = await createTestDatabase('maint_dbdisk');
    // A kubelet's volume stats for the PostgreSQL StatefulSet's claims, and a database host's
    // node-exporter (`instance` as host:port): the series the two sources read.
    exporter = createServer((_req, res) =>
      res.end(
        [
          `kubelet_volume_stats_available_bytes{namespace="${namespace}",persistentvolumeclaim="data-postgres-0"} ${1 * GB}`,
          `kubelet_volume_stats_capacity_bytes{namespace="${namespace}",persistentvolumeclaim="data-postgres-0"} ${10 * GB}`,
          `kubelet_volume_stats_available_bytes{namespace="${namespace}",persistentvolumeclaim="other"} ${9 * GB}`,
          `kubelet_volume_stats_capacity_bytes{namespace="${namespace}",persistentvolumeclaim="other"} ${10 * GB}`,
          `node_filesystem_avail_bytes{instance="${host}:9100",mountpoint="/var/lib/postgresql",fstype="ext4"} ${15 * GB}`,
          `node_filesystem_size_bytes{instance="${host}:9100",mountpoint="/var/lib/postgresql",fstype="ext4"} ${50 * GB}`,
          `node_filesystem_avail_bytes{instance="${host}:9100",mountpoint="/",fstype="ext4"} ${1 * GB}`,
          `node_filesystem_size_bytes{instance="${host}:9100",mountpoint="/",fstype="ext4"} ${50 * GB}`,
          '',
        ].join('\n'),
      ),
    );
    await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
    prometheus = await startPrometheus({ scrapeTargets: [`127.0.0.1:${(exporter.address() as AddressInfo).port}`] });
  });

  afterAll(async () => {
    prometheus?.stop();
    exporter?.close();
    await db?.drop();
  });

  const check = (volume: DatabaseVolume | undefined, thresholds: Thresholds = DEFAULT_THRESHOLDS, pool = db.pool) =>
    createDatabaseDiskActivities({
      db: pool,
      databaseLabel: 'booking-db',
      volume,
      prometheus: { name: 'prom', url: prometheus.url },
    }).checkDatabaseDisk(thresholds);

  it('reads the size of the database and names its largest tables, and sees it grow as it fills', async () => {
    const sizeNow = async () =>
      Number((await db.pool.query('SELECT pg_database_size(current_database()) AS b')).rows[0].b);
    const empty = byCheck(await check(undefined))['db.size']!;
    await db.pool.query('CREATE TABLE bookings_filler (id int, payload text)');
    await db.pool.query('CREATE TABLE small_table (id int)');
    await db.pool.query('INSERT INTO small_table SELECT generate_series(1, 10)');
    // 8,000 rows of 1,024 random hex characters: about 8 MB that TOAST does not compress away.
    await db.pool.query(
      `INSERT INTO bookings_filler
         SELECT g, (SELECT string_agg(md5(random()::text || g || i), '') FROM generate_series(1, 32) i)
           FROM generate_series(1, 8000) g`,
    );
    const before = await sizeNow();
    const { 'db.size': size, 'db.volume': volume } = byCheck(await check(undefined));
    const after = await sizeNow();

    expect(size).toMatchObject({ status: 'ok', unit: 'bytes', target: 'booking-db' });
    expect(size!.value).toBeGreaterThanOrEqual(before);
    expect(size!.value).toBeLessThanOrEqual(after);
    expect(Number(size!.value) - Number(empty.value)).toBeGreaterThan(8_000 * 1_024);
    expect(size!.detail).toMatch(/largest tables: public\.bookings_filler [\d.]+ MiB, public\.small_table /);
    // No source configured: said, not silently passed.
    expect(volume).toMatchObject({ status: 'skipped', detail: expect.stringContaining('no source configured') });
  });

  it("kubelet-volume-stats: the PostgreSQL claim's used share through a real Prometheus, graded", async () => {
    const volume = { source: 'kubelet-volume-stats', namespace, claim: 'data-postgres-0' } as const;
    let found: CheckResult | undefined;
    await until('Prometheus to have scraped the volume stats', async () => {
      found = byCheck(await check(volume))['db.volume'];
      return found?.status !== 'warn';
    });
    expect(found).toMatchObject({
      status: 'critical',
      value: 90,
      unit: '%',
      threshold: 'warn > 80%, critical > 85%',
      detail: expect.stringMatching(
        new RegExp(
          `^PVC ${namespace}/data-postgres-0 \\(kubelet_volume_stats through Prometheus prom\\): 90% used, 953\\.7 MiB free of 9\\.3 GiB; the database is `,
        ),
      ),
    });
    const relaxed = { ...DEFAULT_THRESHOLDS, diskWarnPercent: 89, diskCriticalPercent: 95 };
    expect(byCheck(await check(volume, relaxed))['db.volume']!.status).toBe('warn');

    const missing = byCheck(await check({ ...volume, claim: 'data-postgres-9' }))['db.volume'];
    expect(missing).toMatchObject({
      status: 'warn',
      detail: `volume unreadable: Prometheus prom has no kubelet_volume_stats_available_bytes/kubelet_volume_stats_capacity_bytes for PVC ${namespace}/data-postgres-9: is the claim mounted by a pod, and its kubelet scraped?`,
    });
  });

  it("node-exporter: the database host's mount point, the instance named with or without its port", async () => {
    for (const instance of [host, `${host}:9100`]) {
      let found: CheckResult | undefined;
      await until('Prometheus to have scraped node-exporter', async () => {
        found = byCheck(await check({ source: 'node-exporter', instance, mountpoint: '/var/lib/postgresql' }))[
          'db.volume'
        ];
        return found?.status !== 'warn';
      });
      expect(found).toMatchObject({
        status: 'ok',
        value: 70,
        detail: expect.stringContaining(
          `${instance} /var/lib/postgresql (node-exporter through Prometheus prom): 70% used, 14 GiB free of 46.6 GiB`,
        ),
      });
    }
  });

  it('a Prometheus that does not answer is a warning naming it, without its URL', async () => {
    const port = await freePort();
    const results = await createDatabaseDiskActivities({
      db: db.pool,
      databaseLabel: 'booking-db',
      volume: { source: 'kubelet-volume-stats', namespace, claim: 'data-postgres-0' },
      prometheus: { name: 'prom-gone', url: `http://127.0.0.1:${port}/` },
    }).checkDatabaseDisk(DEFAULT_THRESHOLDS);
    const volume = byCheck(results)['db.volume']!;
    expect(volume).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/^volume unreadable: Prometheus prom-gone unreachable: ECONNREFUSED$/),
    });
    expect(JSON.stringify(results)).not.toContain(`127.0.0.1:${port}`);
    // The database's size does not depend on the volume's source.
    expect(byCheck(results)['db.size']!.status).toBe('ok');
  });

  it('data-directory: statfs of the directory PostgreSQL reports (SHOW data_directory), as df computes it', async () => {
    const directory = (await db.pool.query('SHOW data_directory')).rows[0].data_directory as string;
    const dfPercent = async () => {
      const s = await statfs(directory);
      const used = s.blocks - s.bfree;
      return (used / (used + s.bavail)) * 100;
    };
    const low = await dfPercent();
    const volume = byCheck(await check({ source: 'data-directory' }))['db.volume']!;
    const high = await dfPercent();
    // The machine is shared: the disk may move between the readings, the figure lies between them.
    expect(Number(volume.value)).toBeGreaterThanOrEqual(Math.min(low, high) - 0.05);
    expect(Number(volume.value)).toBeLessThanOrEqual(Math.max(low, high) + 0.05);
    expect(volume.detail).toMatch(new RegExp(`^data directory ${directory} \\(statfs\\): [\\d.]+% used, `));
    // Thresholds on either side of the figure grade it warn.
    const percent = Number(volume.value);
    const around = {
      ...DEFAULT_THRESHOLDS,
      diskWarnPercent: Math.floor(percent) - 1,
      diskCriticalPercent: Math.ceil(percent) + 1,
    };
    expect(byCheck(await check({ source: 'data-directory' }, around))['db.volume']!.status).toBe('warn');
  });

  it('data-directory: a role that may not read the setting gets a warning saying so', async () => {
    const role = `maint_dbdisk_${uniqueId('r').replace(/[^a-z0-9]/g, '_')}`;
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE ROLE "${role}" LOGIN`);
    const url = new URL(db.url);
    url.username = role;
    const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
    try {
      const results = byCheck(await check({ source: 'data-directory' }, DEFAULT_THRESHOLDS, pool));
      expect(results['db.volume']).toMatchObject({
        status: 'warn',
        detail: expect.stringMatching(/^volume unreadable: SHOW data_directory refused: .*pg_read_all_settings/),
      });
      expect(results['db.size']!.status).toBe('ok');
    } finally {
      await pool.end();
      await admin.query(`DROP ROLE "${role}"`);
      await admin.end();
    }
  });
});
