import type pg from 'pg';
import type { DatabaseMaintenanceConfig, DatabaseVolume } from '../../src/config/schema.js';
import type { HttpTarget } from '../../domain/http-target.js';
import { SEED_WINDOWS, type Blackout, type WindowSpec } from '../../domain/windows.js';
import type { MaintenanceMetrics } from '../../src/metrics.js';
import { createAccessActivities } from './access.js';
import { createArchiveActivities } from './archive.js';
import { createBackupActivities } from './backup.js';
import { createPgbackrestActivities } from './pgbackrest.js';
import { createCleanupActivities } from './cleanup.js';
import { createDatabaseDiskActivities } from './disk.js';
import { createPostgresHealthActivities } from './health.js';
import { createMaintenanceActivities } from './maintenance.js';
import { createQueryActivities } from './queries.js';
import { createStatisticsActivities } from './statistics.js';

export interface PostgresDeps {
  /** The booking database being maintained. */
  db: pg.Pool;
  /** The maintenance store (temp-table sightings live there, not in the booking database). */
  reports: pg.Pool;
  /** Its connection URL, for pg_dump/pg_restore; may hold a password: never logged or reported. */
  databaseUrl: string;
  /** How reports name the database: never the connection string. */
  databaseLabel: string;
  settings: DatabaseMaintenanceConfig;
  /** Configured maintenance windows; the weekly database work uses the one named "weekly". */
  windows: WindowSpec[];
  /** Periods in which no disruptive work runs. */
  blackouts?: Blackout[];
  metrics?: MaintenanceMetrics;
  /** Where the free space of the database's volume is read (targets.databaseVolume). */
  volume?: DatabaseVolume;
  /** Prometheus, for the volume sources read through it. */
  prometheus?: HttpTarget;
}

/** What a database maintenance run works with, read once and recorded in history. Holds no secrets. */
export interface DatabaseMaintenancePlan {
  database: string;
  archiveAfterDays: number;
  batchSize: number;
  archiveBatchTargetMs: number;
  weeklyWindow: WindowSpec;
  blackouts: Blackout[];
}

/** Every PostgreSQL activity, one module per concern, sharing the configured timeouts. */
export function createPostgresActivities({
  db,
  reports,
  databaseUrl,
  databaseLabel,
  settings,
  windows,
  blackouts = [],
  metrics,
  volume,
  prometheus,
}: PostgresDeps) {
  const timeouts = { lockTimeoutMs: settings.lockTimeoutMs, statementTimeoutMs: settings.statementTimeoutMs };
  const weeklyWindow = windows.find((w) => w.name === 'weekly') ?? SEED_WINDOWS.find((w) => w.name === 'weekly')!;
  return {
    async resolveDatabaseMaintenancePlan(): Promise<DatabaseMaintenancePlan> {
      return {
        database: databaseLabel,
        archiveAfterDays: settings.archiveAfterDays,
        batchSize: settings.batchSize,
        archiveBatchTargetMs: settings.archiveBatchTargetMs,
        weeklyWindow,
        blackouts,
      };
    },
    ...createPostgresHealthActivities({ db, databaseLabel }),
    ...createDatabaseDiskActivities({ db, databaseLabel, volume, prometheus }),
    ...createMaintenanceActivities({ db, timeouts }),
    ...createStatisticsActivities({ db, timeouts, databaseLabel, metrics }),
    ...createArchiveActivities({ db, timeouts, streams: settings.archiveStreams }),
    ...createCleanupActivities({ db, reports, timeouts, databaseLabel, tempTableRule: settings.tempTables }),
    ...createBackupActivities({
      db,
      databaseUrl,
      backupDirectory: settings.backupDirectory,
      pgBinDir: settings.pgBinDir,
      timeouts,
      pgbackrest:
        settings.backupSource === 'pgbackrest' && settings.pgbackrest
          ? createPgbackrestActivities({
              db,
              databaseUrl,
              settings: settings.pgbackrest,
              pgBinDir: settings.pgBinDir,
              timeouts,
            })
          : undefined,
    }),
    ...createQueryActivities({ db }),
    ...createAccessActivities({ db, databaseLabel }),
  };
}
