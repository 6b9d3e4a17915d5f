import type { CacheClearTarget, Config, HttpTarget, TlsTarget } from '../src/config/schema.js';
import type { RetentionRule } from '../domain/retention.js';
import type { Thresholds } from '../domain/thresholds.js';
import type { WindowSpec } from '../domain/windows.js';

/** What a health check will look at, resolved from configuration. Holds no secrets: it is recorded in history. */
export interface HealthCheckPlan {
  http: HttpTarget[];
  tls: TlsTarget[];
  diskPaths: string[];
  backup?: Config['targets']['backup'];
  monitoring: HttpTarget[];
  prometheus?: HttpTarget;
  database: string;
  kubernetes: string;
  thresholds: Thresholds;
  windows: WindowSpec[];
  expectedDatabaseSuperusers: string[];
  standards: Config['standards'];
}

/** What storageCleanup may delete, resolved from configuration. */
export interface StorageCleanupPlan {
  rules: RetentionRule[];
  /** null when no backup directory is configured. */
  backupRetention: { directory: string; olderThanDays: number; keepNewest: number } | null;
  diskPaths: string[];
  thresholds: Thresholds;
}

/** What dailyBackup takes and verifies, resolved from configuration. Holds no secrets. */
export interface BackupPlan {
  source: 'pg_dump' | 'pgbackrest';
  database: string;
  /** pg_dump: where dumps go; null when none is configured. */
  directory: string | null;
  /** pgbackrest: the stanza and the UTC days that get a full backup. */
  stanza: string | null;
  fullOn: string[];
  objectives: { rtoMinutes: number; rpoMinutes: number };
}

export function createTargetActivities({
  config,
  databaseLabel,
  kubernetesConfigured,
}: {
  config: Config;
  databaseLabel: string;
  kubernetesConfigured: boolean;
}) {
  return {
    /** Read once per run and recorded in history, so a replay sees the targets the run actually used. */
    async resolveHealthCheckPlan(): Promise<HealthCheckPlan> {
      return {
        http: config.targets.http,
        tls: config.targets.tls,
        diskPaths: config.targets.diskPaths,
        backup: config.targets.backup,
        monitoring: config.targets.monitoring,
        prometheus: config.targets.prometheus,
        database: databaseLabel,
        kubernetes: kubernetesConfigured ? config.kubernetes.namespace : 'none',
        thresholds: config.thresholds,
        windows: config.windows,
        expectedDatabaseSuperusers: config.security.expectedDatabaseSuperusers,
        standards: config.standards,
      };
    },

    async resolveStorageCleanupPlan(): Promise<StorageCleanupPlan> {
      const directory = config.database.backupDirectory;
      return {
        rules: config.retention,
        backupRetention: directory ? { directory, ...config.database.backupRetention } : null,
        diskPaths: config.targets.diskPaths,
        thresholds: config.thresholds,
      };
    },

    async resolveBackupPlan(): Promise<BackupPlan> {
      const d = config.database;
      return {
        source: d.backupSource,
        database: databaseLabel,
        directory: d.backupDirectory ?? null,
        stanza: d.pgbackrest?.stanza ?? null,
        fullOn: d.pgbackrest?.fullOn ?? [],
        objectives: d.recoveryObjectives,
      };
    },

    /** Names and URLs only: the tokens stay with the activity that sends them. */
    async resolveCacheClearTargets(): Promise<CacheClearTarget[]> {
      return config.targets.cacheClear;
    },

    /** Read when a window opens, so a freeze declared after the approval still counts. */
    async resolveBlackouts(): Promise<Config['blackouts']> {
      return config.blackouts;
    },

    async resolveMaintenanceWindows(): Promise<WindowSpec[]> {
      return config.windows;
    },

    /** Who may approve a kind of work, and how many distinct approvers it needs. */
    async resolveApprovalPolicy(
      kind: 'emergencyMaintenance' | 'annualUpgrade',
    ): Promise<{ approvers: string[]; required: number; temporalUiUrl: string }> {
      return { ...config.approvals[kind], temporalUiUrl: config.temporalUiUrl };
    },
  };
}
