import { stat } from 'node:fs/promises';
import type pg from 'pg';
import { formatBytes } from '../../domain/backup.js';
import { gradeAbove, skipped, type CheckResult } from '../../domain/checks.js';
import type { HttpTarget } from '../../domain/http-target.js';
import type { Thresholds } from '../../domain/thresholds.js';
import { withoutUrls } from '../../domain/text.js';
import type { DatabaseVolume } from '../../src/config/schema.js';
import { measureFilesystem } from '../../src/disk-usage.js';
import { instantQuery, promRegexLiteral, promString } from '../prometheus.js';

interface DatabaseDiskDeps {
  db: pg.Pool;
  /** How reports name the database: never the connection string (it may hold a password). */
  databaseLabel: string;
  /** targets.databaseVolume: where the volume's free space is read; absent, it is not measured. */
  volume?: DatabaseVolume;
  /** targets.prometheus: the kubelet's and node-exporter's figures are read through it. */
  prometheus?: HttpTarget;
}

/** How many of the largest tables the size finding names. */
const LARGEST_TABLES = 5;

interface DatabaseSize {
  bytes: number;
  tables: { table: string; bytes: number }[];
}

interface VolumeSpace {
  /** What was measured and how, for the finding: "PVC db/data-postgres-0 (kubelet_volume_stats through Prometheus p)". */
  source: string;
  availableBytes: number;
  sizeBytes: number;
  usedPercent: number;
}

const NO_SOURCE =
  'no source configured (targets.databaseVolume: "kubelet-volume-stats" for a PVC, "node-exporter" for a database host, or "data-directory" when the worker runs beside the database)';

/** The database's size and its largest tables; one short read-only transaction, bounded like the health check's. */
async function databaseSize(client: pg.PoolClient): Promise<DatabaseSize> {
  await client.query('BEGIN READ ONLY');
  try {
    await client.query("SET LOCAL statement_timeout = '10s'");
    // pg_total_relation_size waits for a lock a VACUUM FULL holds: give up rather than queue.
    await client.query("SET LOCAL lock_timeout = '5s'");
    const size = await client.query<{ bytes: string }>('SELECT pg_database_size(current_database()) AS bytes');
    const tables = await client.query<{ table: string; bytes: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS table, pg_total_relation_size(c.oid) AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%'
        ORDER BY 2 DESC, 1 LIMIT $1`,
      [LARGEST_TABLES],
    );
    return {
      bytes: Number(size.rows[0]!.bytes),
      tables: tables.rows.map((r) => ({ table: r.table, bytes: Number(r.bytes) })),
    };
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/** One figure from Prometheus: the largest value of the series the selector matches. */
async function promFigure(prometheus: HttpTarget, metric: string, selector: string): Promise<number | undefined> {
  const [sample] = await instantQuery(prometheus, `max(${metric}{${selector}})`, `the ${metric} query`);
  return sample && Number.isFinite(sample.value) ? sample.value : undefined;
}

/** Available and total bytes from two Prometheus series; absent series say what to look at. */
async function prometheusSpace(
  prometheus: HttpTarget,
  [availableMetric, sizeMetric]: [string, string],
  selector: string,
  source: string,
  missing: string,
): Promise<VolumeSpace> {
  const [available, size] = await Promise.all([
    promFigure(prometheus, availableMetric, selector),
    promFigure(prometheus, sizeMetric, selector),
  ]);
  if (available === undefined || size === undefined || size <= 0)
    throw new Error(`Prometheus ${prometheus.name} has no ${availableMetric}/${sizeMetric} for ${missing}`);
  return {
    source,
    availableBytes: available,
    sizeBytes: size,
    usedPercent: Math.round((1 - available / size) * 1000) / 10,
  };
}

/** The data directory PostgreSQL reports, measured from here: only when the worker runs beside the database. */
async function dataDirectorySpace(client: pg.PoolClient | undefined): Promise<VolumeSpace> {
  if (!client) throw new Error('the database is unreachable, so its data directory is unknown');
  let directory: string;
  try {
    directory = (await client.query<{ data_directory: string }>('SHOW data_directory')).rows[0]!.data_directory;
  } catch (err) {
    // Needs superuser or pg_read_all_settings.
    throw new Error(`SHOW data_directory refused: ${(err as Error).message}`);
  }
  const seen = await stat(directory).catch((err: NodeJS.ErrnoException) => err);
  if (seen instanceof Error || !seen.isDirectory())
    throw new Error(
      `the data directory ${directory} is not visible to the worker (${seen instanceof Error ? (seen.code ?? seen.message) : 'not a directory'}): it does not run beside the database; use the kubelet-volume-stats or node-exporter source`,
    );
  const usage = await measureFilesystem(directory).catch((err: Error) => {
    throw new Error(`cannot statfs the data directory ${directory}: ${err.message}`);
  });
  return { source: `data directory ${directory} (statfs)`, ...usage };
}

function volumeSpace(
  volume: DatabaseVolume,
  prometheus: HttpTarget | undefined,
  client: pg.PoolClient | undefined,
): Promise<VolumeSpace> {
  if (volume.source === 'data-directory') return dataDirectorySpace(client);
  // The schema refuses these sources without targets.prometheus.
  const through = prometheus!;
  if (volume.source === 'kubelet-volume-stats') {
    const claim = `PVC ${volume.namespace}/${volume.claim}`;
    return prometheusSpace(
      through,
      ['kubelet_volume_stats_available_bytes', 'kubelet_volume_stats_capacity_bytes'],
      `namespace=${promString(volume.namespace)},persistentvolumeclaim=${promString(volume.claim)}`,
      `${claim} (kubelet_volume_stats through Prometheus ${through.name})`,
      `${claim}: is the claim mounted by a pod, and its kubelet scraped?`,
    );
  }
  const filesystem = `${volume.instance} ${volume.mountpoint}`;
  return prometheusSpace(
    through,
    ['node_filesystem_avail_bytes', 'node_filesystem_size_bytes'],
    // The instance with or without node-exporter's port.
    `instance=~${promString(`${promRegexLiteral(volume.instance)}(:[0-9]+)?`)},mountpoint=${promString(volume.mountpoint)}`,
    `${filesystem} (node-exporter through Prometheus ${through.name})`,
    `${filesystem}: is node-exporter on that host scraped, and is that the mount point holding the data directory?`,
  );
}

function sizeFinding(target: string, size: DatabaseSize | Error): CheckResult {
  if (size instanceof Error)
    return { check: 'db.size', target, status: 'warn', detail: `database size unreadable: ${size.message}` };
  const largest = size.tables.map((t) => `${t.table} ${formatBytes(t.bytes)}`).join(', ');
  return {
    check: 'db.size',
    target,
    status: 'ok',
    value: size.bytes,
    unit: 'bytes',
    detail: `${formatBytes(size.bytes)}${largest ? `; largest tables: ${largest}` : ''}`,
  };
}

function volumeFinding(
  target: string,
  space: VolumeSpace | Error | undefined,
  size: DatabaseSize | Error,
  { diskWarnPercent, diskCriticalPercent }: Thresholds,
): CheckResult {
  if (!space) return skipped('db.volume', target, NO_SOURCE);
  const threshold = `warn > ${diskWarnPercent}%, critical > ${diskCriticalPercent}%`;
  if (space instanceof Error)
    return {
      check: 'db.volume',
      target,
      status: 'warn',
      threshold,
      detail: `volume unreadable: ${withoutUrls(space.message)}`,
    };
  const share = size instanceof Error ? undefined : Math.round((size.bytes / space.sizeBytes) * 1000) / 10;
  return {
    check: 'db.volume',
    target,
    status: gradeAbove(space.usedPercent, diskWarnPercent, diskCriticalPercent),
    value: space.usedPercent,
    unit: '%',
    threshold,
    detail: `${space.source}: ${space.usedPercent}% used, ${formatBytes(space.availableBytes)} free of ${formatBytes(space.sizeBytes)}${
      share === undefined ? '' : `; the database is ${share < 0.1 ? 'under 0.1' : share}% of it`
    }`,
  };
}

export function createDatabaseDiskActivities({ db, databaseLabel, volume, prometheus }: DatabaseDiskDeps) {
  return {
    /**
     * Seed "Check disk space utilization" / "Check storage utilization" for the database itself:
     * its size and largest tables (`db.size`), and the free space of the volume its data lives on
     * (`db.volume`), graded against the disk thresholds. Read-only; what cannot be read is a finding.
     */
    async checkDatabaseDisk(thresholds: Thresholds): Promise<CheckResult[]> {
      const client = await db.connect().catch((err: Error) => err);
      const connected = client instanceof Error ? undefined : client;
      try {
        const size = connected
          ? await databaseSize(connected).catch((err: Error) => err)
          : new Error(`cannot connect: ${(client as Error).message}`);
        const space = volume ? await volumeSpace(volume, prometheus, connected).catch((err: Error) => err) : undefined;
        return [sizeFinding(databaseLabel, size), volumeFinding(databaseLabel, space, size, thresholds)];
      } finally {
        connected?.release();
      }
    },
  };
}
