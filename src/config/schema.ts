import { z } from 'zod';
import {
  HttpTargetSchema,
  httpUrlSchema as httpUrl,
  nameSchema as name,
  type HttpTarget,
} from '../../domain/http-target.js';
import { TempTableRuleSchema } from '../../domain/database.js';
import { k8sLabelName, k8sObjectName } from '../../domain/kubernetes-names.js';
import { NodeJobSettingsSchema, type NodeJobSettings } from '../../domain/node-jobs.js';
import { regexSchema, RetentionRuleSchema } from '../../domain/retention.js';
import { DEFAULT_THRESHOLDS, thresholdsSchema } from '../../domain/thresholds.js';
import { BlackoutSchema, SEED_WINDOWS, WindowSpecSchema } from '../../domain/windows.js';
import { KeyError, parsePublicKey } from '../signing.js';
import { ChecklistRolesSchema, type ChecklistRoles } from '../../domain/checklists.js';

/**
 * One schema for the whole runtime configuration: environment variables for connections and
 * secrets, plus an optional JSON file (MAINT_CONFIG) for targets, thresholds and windows.
 * Validation happens once, at process start; every bad field is named in one error.
 */

const postgresUrl = z.url({ protocol: /^postgres(ql)?$/, error: 'expected a postgres:// URL' });
const port = z.coerce.number().int().min(0).max(65535);
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v));

export { HttpTargetSchema };
export const TlsTargetSchema = z
  .object({ name, host: z.string().min(1), port: z.number().int().min(1).max(65535).default(443) })
  .strict();

const validRegex = (m: { value: string; isRegex: boolean }) => !m.isRegex || regexSchema.safeParse(m.value).success;

/** An Alertmanager silence matcher (API v2 form); the value is an RE2 regex when `isRegex`, checked here as a JS one. */
export const SilenceMatcherSchema = z
  .object({
    name: z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'expected a label name like alertname'),
    value: z.string().max(1000),
    isRegex: z.boolean().default(false),
    isEqual: z.boolean().default(true),
  })
  .strict()
  .refine(validRegex, {
    message: 'not a valid regular expression',
    path: ['value'],
  });
export type SilenceMatcher = z.output<typeof SilenceMatcherSchema>;

/** Alertmanager's matching: a label's value (absent = ""), against an anchored regex or a string, negated by !isEqual. */
export function matcherMatches(m: SilenceMatcher, labelValue: string): boolean {
  const hit = m.isRegex ? new RegExp(`^(?:${m.value})$`).test(labelValue) : labelValue === m.value;
  return hit === m.isEqual;
}

const approverName = z.string().regex(/^[a-z0-9][a-z0-9._@-]*$/i, 'use letters, digits, ".", "_", "@" or "-"');
const ApprovalKindSchema = z
  .object({
    approvers: z.array(approverName).min(1),
    /** Distinct approvers needed; the requester alone never suffices. */
    required: z.number().int().min(1).max(5),
  })
  .strict()
  .refine((k) => new Set(k.approvers).size >= k.required, {
    message: 'fewer distinct approvers than required',
    path: ['approvers'],
  });

/** An OpenSSH ssh-ed25519 public key line; refused here when it does not parse. */
const publicKeyLine = z.string().superRefine((line, ctx) => {
  try {
    parsePublicKey(line);
  } catch (err) {
    if (!(err instanceof KeyError)) throw err;
    ctx.addIssue({ code: 'custom', message: err.message });
  }
});

export const ApprovalsSchema = z
  .object({
    emergencyMaintenance: ApprovalKindSchema.default({ approvers: ['oncall-lead', 'sre-lead'], required: 1 }),
    annualUpgrade: ApprovalKindSchema.default({ approvers: ['engineering-director', 'sre-lead', 'cto'], required: 2 }),
    /** Slack user id → approver name, for the approval bridge. */
    slackUsers: z
      .record(z.string().regex(/^[UW][A-Z0-9]+$/, 'expected a Slack user id like U012ABCDEF'), approverName)
      .default({}),
    /** Person → their OpenSSH ed25519 public keys; several rotate, a removed one is revoked. */
    operatorKeys: z.record(approverName, z.array(publicKeyLine).max(20)).default({}),
    /** The approval bridge's public keys (statements it signs for verified Slack users). */
    bridgeKeys: z.array(publicKeyLine).max(20).default([]),
  })
  .strict()
  .superRefine((a, ctx) => {
    // One key, one signer: a key shared by two people (or by a person and the bridge) proves nobody.
    const owners = new Map<string, string>();
    const claim = (line: string, owner: string, path: (string | number)[]) => {
      let fingerprint: string;
      try {
        fingerprint = parsePublicKey(line).fingerprint;
      } catch {
        return;
      }
      const previous = owners.get(fingerprint);
      if (previous && previous !== owner)
        ctx.addIssue({ code: 'custom', path, message: `key ${fingerprint} is already listed for ${previous}` });
      owners.set(fingerprint, owner);
    };
    a.bridgeKeys.forEach((line, i) => claim(line, 'the bridge', ['bridgeKeys', i]));
    for (const [person, lines] of Object.entries(a.operatorKeys))
      lines.forEach((line, i) => claim(line, person, ['operatorKeys', person, i]));
  });
export type Approvals = z.infer<typeof ApprovalsSchema>;

/**
 * PostgreSQL maintenance (weekly checklist). Timeouts bound every statement and lock wait so a
 * maintenance step never queues behind application traffic: it skips the table and says why.
 */
export const DatabaseMaintenanceSchema = z
  .object({
    /** Where `pg_dump -Fc` backups go; defaults to targets.backup.directory (the one the health check watches). */
    backupDirectory: z.string().startsWith('/', 'expected an absolute path').optional(),
    /** Bookings whose created_at is older than this many days move to bookings_archive (seed: 2 years). */
    archiveAfterDays: z.number().int().min(30, 'refusing to archive bookings younger than 30 days').default(730),
    /** Most rows per archive or cleanup transaction. */
    batchSize: z.number().int().min(100).max(50_000).default(20_000),
    /**
     * Archive batches adapt their size (up to batchSize) to take about this long, each stream its own;
     * what that gives against the seed and the longest batch: README, Benchmarks (bench/archive.ts).
     */
    archiveBatchTargetMs: z.number().int().min(5).max(10_000).default(40),
    /**
     * Archive keyset streams, each over a slice of the old ids on a connection of its own (PostgreSQL
     * runs a statement on one core). At most 4: the worker's pool holds 4 connections.
     */
    archiveStreams: z.number().int().min(1).max(4).default(3),
    /** What counts as an old temporary table; without a rule, none is ever dropped. */
    tempTables: TempTableRuleSchema.optional(),
    /** Dumps older than this go, the newest `keepNewest` always stay (storageCleanup). */
    backupRetention: z
      .object({ olderThanDays: z.number().positive().default(14), keepNewest: z.number().int().min(1).default(7) })
      .strict()
      .default({ olderThanDays: 14, keepNewest: 7 }),
    lockTimeoutMs: z.number().int().min(10).max(600_000).default(5_000),
    statementTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(24 * 3_600_000)
      .default(30 * 60_000),
    /** Directory holding pg_dump/pg_restore; default: PATH, then /usr/lib/postgresql/<newest>/bin. */
    pgBinDir: z.string().startsWith('/', 'expected an absolute path').optional(),
    /**
     * What dailyBackup takes and the checks read: `pg_dump` files with manifests in backupDirectory,
     * or a pgBackRest stanza (`pgbackrest`) with continuous WAL archiving.
     */
    backupSource: z.enum(['pg_dump', 'pgbackrest']).default('pg_dump'),
    pgbackrest: z
      .object({
        stanza: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected a stanza name (letters, digits, "_", ".", "-")'),
        /** pgbackrest.conf passed as --config to every call. */
        configFile: z.string().startsWith('/', 'expected an absolute path'),
        /** Days (UTC) dailyBackup takes a full backup; differential otherwise. */
        fullOn: z
          .array(z.enum(['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY']))
          .min(1)
          .default(['SUNDAY']),
        /** The pgbackrest binary; default: PATH. */
        binary: z.string().startsWith('/', 'expected an absolute path').optional(),
        /**
         * OS user pgbackrest and the restore test's scratch server run as (through runuser), when the
         * worker runs as root: PostgreSQL refuses to start as root and the repository belongs to it.
         */
        runAs: z
          .string()
          .regex(/^[a-z_][a-z0-9_-]*$/, 'expected a user name')
          .optional(),
        /** Where the restore test creates its scratch data directory (removed afterwards); default the OS temp dir. */
        scratchDirectory: z.string().startsWith('/', 'expected an absolute path').optional(),
      })
      .strict()
      .optional(),
    /** Recovery objectives the monthly audit compares its measured RTO and RPO with. */
    recoveryObjectives: z
      .object({
        rtoMinutes: z.number().positive().default(60),
        rpoMinutes: z
          .number()
          .positive()
          .default(24 * 60),
      })
      .strict()
      .default({ rtoMinutes: 60, rpoMinutes: 24 * 60 }),
  })
  .strict()
  .refine((d) => d.backupSource !== 'pgbackrest' || d.pgbackrest !== undefined, {
    message: 'backupSource "pgbackrest" needs database.pgbackrest (stanza, configFile)',
    path: ['pgbackrest'],
  });
export type DatabaseMaintenanceConfig = z.infer<typeof DatabaseMaintenanceSchema>;
const DATABASE_DEFAULTS = DatabaseMaintenanceSchema.parse({});

/** A registry as image references name it: `host[:port]`, no scheme, path or credentials. */
const registryHost = z
  .string()
  .regex(
    /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i,
    'expected a registry host such as ghcr.io or 127.0.0.1:5000 (no scheme, path or credentials)',
  )
  .transform((h) => h.toLowerCase());
const envVarName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name');

/**
 * Credentials for one registry, used only when it answers 401 with a challenge: HTTP Basic to the
 * registry itself, or to its Bearer token realm when that is on the registry's host or `realmHost`.
 * The password is read from an environment variable or a file, never written here.
 */
export const RegistryCredentialSchema = z
  .object({
    host: registryHost,
    // HTTP Basic joins user and password with ":", so a user name cannot hold one.
    username: z.string().regex(/^[^:\s]{1,256}$/, 'expected a user name without ":" or spaces'),
    passwordEnv: envVarName.optional(),
    passwordFile: z.string().startsWith('/', 'expected an absolute path').optional(),
    /** The token service's host when it is not the registry's own (Docker Hub: auth.docker.io). */
    realmHost: registryHost.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if ((r.passwordEnv === undefined) === (r.passwordFile === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['passwordEnv'],
        message: `the password of ${r.username} at ${r.host}: give exactly one of passwordEnv (an environment variable) or passwordFile (a file)`,
      });
  });

/** Registry credentials by host, passwords resolved. Secret: never logged or reported. */
export interface RegistryCredential {
  username: string;
  password: string;
  realmHost?: string;
}

/**
 * Where the free space of the booking database's volume is read (`db.volume`): the PostgreSQL
 * StatefulSet's claim from the kubelet's volume stats, or a database host's filesystem from
 * node-exporter (both through targets.prometheus), or the data directory itself when the worker
 * runs beside the database and sees it.
 */
export const DatabaseVolumeSchema = z.discriminatedUnion(
  'source',
  [
    z
      .object({
        source: z.literal('kubelet-volume-stats'),
        namespace: k8sLabelName,
        /** The PersistentVolumeClaim holding the data directory, e.g. data-postgres-0. */
        claim: k8sObjectName,
      })
      .strict(),
    z
      .object({
        source: z.literal('node-exporter'),
        /** node-exporter's `instance` label, with or without its port (db-1 or db-1:9100). */
        instance: z
          .string()
          .regex(/^[A-Za-z0-9._[\]:-]{1,253}$/, 'expected an instance label such as db-1:9100 or db-1'),
        /** The mount point holding the data directory, as node-exporter's `mountpoint` label names it. */
        mountpoint: z
          .string()
          .max(4096)
          .regex(/^\/[^"\\\n]*$/, 'expected an absolute path without quotes, backslashes or newlines'),
      })
      .strict(),
    z.object({ source: z.literal('data-directory') }).strict(),
  ],
  { error: 'expected source "kubelet-volume-stats", "node-exporter" or "data-directory"' },
);
export type DatabaseVolume = z.infer<typeof DatabaseVolumeSchema>;

export const FileConfigSchema = z
  .object({
    targets: z
      .object({
        http: z.array(HttpTargetSchema).default([]),
        tls: z.array(TlsTargetSchema).default([]),
        diskPaths: z.array(z.string().startsWith('/', 'expected an absolute path')).default(['/']),
        backup: z
          .object({
            directory: z.string().startsWith('/', 'expected an absolute path'),
            pattern: regexSchema.default('\\.(dump|sql|sql\\.gz|tar|tar\\.gz)$'),
          })
          .strict()
          .optional(),
        monitoring: z.array(HttpTargetSchema).optional(),
        /**
         * Prometheus whose rules, Alertmanagers and watchdog alert the daily health check reads, and
         * where node-exporter's disk figures and the kubelets' container working set are read.
         */
        prometheus: HttpTargetSchema.optional(),
        databaseVolume: DatabaseVolumeSchema.optional(),
        /**
         * Seed app-cache-cleanup: endpoints applicationCacheCleanup POSTs to. The bearer token is read
         * from the environment variable `tokenEnv` names, so it never sits in this file or in history.
         */
        cacheClear: z
          .array(
            z
              .object({
                name,
                url: httpUrl,
                tokenEnv: envVarName.optional(),
              })
              .strict(),
          )
          .default([])
          .refine(
            (targets) => new Set(targets.map((t) => t.name)).size === targets.length,
            'endpoint names must be unique',
          ),
        kubernetes: z
          .object({
            namespace: z.string().min(1).default('default'),
            appLabelSelector: z.string().min(1).default('app.kubernetes.io/part-of=trixtech'),
          })
          .strict()
          .default({ namespace: 'default', appLabelSelector: 'app.kubernetes.io/part-of=trixtech' }),
      })
      .strict()
      .refine((t) => !t.databaseVolume || t.databaseVolume.source === 'data-directory' || t.prometheus, {
        message:
          'the kubelet-volume-stats and node-exporter sources are read through Prometheus: set targets.prometheus',
        path: ['databaseVolume', 'source'],
      })
      .default({
        http: [],
        tls: [],
        diskPaths: ['/'],
        cacheClear: [],
        kubernetes: { namespace: 'default', appLabelSelector: 'app.kubernetes.io/part-of=trixtech' },
      }),
    thresholds: thresholdsSchema().default(DEFAULT_THRESHOLDS),
    windows: z.array(WindowSpecSchema).default(SEED_WINDOWS),
    blackouts: z.array(BlackoutSchema).default([]),
    /** Files storageCleanup deletes (seed log-cleanup-daily); nothing else is ever deleted. */
    retention: z
      .array(RetentionRuleSchema)
      .default([])
      .refine((rules) => new Set(rules.map((r) => r.name)).size === rules.length, 'rule names must be unique'),
    approvals: ApprovalsSchema.default(ApprovalsSchema.parse({})),
    /** Checklist role -> the people who sign off its tasks (the first is the owner; any may sign). */
    checklistRoles: ChecklistRolesSchema,
    security: z
      .object({
        /** Login roles allowed superuser-like powers; any other is reported by the weekly security review. */
        expectedDatabaseSuperusers: z.array(z.string().min(1)).default(['postgres']),
      })
      .strict()
      .default({ expectedDatabaseSuperusers: ['postgres'] }),
    /** The declared standards the monthly audit and application maintenance compare against. */
    standards: z
      .object({
        minReplicas: z.number().int().min(1).default(2),
        /** Image repository -> the version tag that is current, e.g. {"trixtech/backend": "2.4.1"}. */
        currentImages: z.record(z.string().min(1), z.string().min(1)).default({}),
      })
      .strict()
      .default({ minReplicas: 2, currentImages: {} }),
    database: DatabaseMaintenanceSchema.default(DATABASE_DEFAULTS),
    /**
     * Seed app-update-weekly: deployments whose container follows the newest tag in its registry
     * allowed by `policy` (semver; pre-releases never). `registryUrl`: the registry's API base when
     * it is not https://<image host> (a plain-HTTP registry on loopback, a mirror). Private registries:
     * `registries`, by the host of that URL.
     */
    imageUpdates: z
      .array(
        z
          .object({
            deployment: k8sObjectName,
            namespace: k8sLabelName.optional(),
            container: k8sLabelName,
            policy: z.enum(['patch', 'minor', 'major']),
            registryUrl: httpUrl.optional(),
          })
          .strict(),
      )
      .max(100)
      .default([])
      .refine(
        (t) => new Set(t.map((x) => `${x.namespace ?? ''}/${x.deployment}/${x.container}`)).size === t.length,
        'each deployment container once',
      ),
    /** Credentials for private registries (imageUpdates), one entry per registry host. */
    registries: z
      .array(RegistryCredentialSchema)
      .max(100)
      .default([])
      .refine((r) => new Set(r.map((x) => x.host)).size === r.length, 'each registry host once'),
    /**
     * Alert-aware maintenance (as kured does): nothing disruptive starts while a blocking alert
     * fires in this Alertmanager. Without `alertmanagerUrl` the gate is skipped (and says so).
     */
    alerts: z
      .object({
        alertmanagerUrl: httpUrl.optional(),
        /** Alert names that never hold maintenance back (kured's --alert-filter-regexp). */
        ignore: z.array(z.string().min(1).max(200)).max(100).default(['Watchdog', 'InfoInhibitor']),
        /** When given, only these alert names hold maintenance back (kured's --alert-filter-match-only). */
        block: z.array(z.string().min(1).max(200)).min(1).max(100).optional(),
        /** Silenced while a disruptive step works (nodeUpdate, applicationUpdate): the alerts the work is expected to raise. */
        silenceDuringWindows: z
          .object({
            matchers: z
              .array(SilenceMatcherSchema)
              .min(1)
              .max(20)
              // Alertmanager refuses such a silence: it would silence every alert.
              .refine((ms) => ms.length === 0 || ms.some((m) => !validRegex(m) || !matcherMatches(m, '')), {
                message: 'at least one matcher must not match the empty string (this would silence every alert)',
              }),
            comment: z.string().trim().min(1).max(500).default('maintenance window'),
            createdBy: z.string().trim().min(1).max(100).default('trixtech-maintenance'),
          })
          .strict()
          .optional(),
      })
      .strict()
      .refine((a) => !a.silenceDuringWindows || a.alertmanagerUrl, {
        message: 'silenceDuringWindows needs alertmanagerUrl (the Alertmanager to create the silences in)',
        path: ['silenceDuringWindows'],
      })
      .default({ ignore: ['Watchdog', 'InfoInhibitor'] }),
    /** Node jobs (nodeUpdate's `update.method: "job"`, nodeDiskCleanup): the image and the commands run on the host. */
    nodeJobs: NodeJobSettingsSchema.prefault({}),
  })
  .strict();

export const EnvSchema = z.object({
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'expected host:port')
    .default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TASK_QUEUE: z.string().min(1).default('maintenance'),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS: bool.optional(),
  DATABASE_URL: postgresUrl.default('postgresql://postgres@127.0.0.1:5432/trixtech'),
  MAINT_DATABASE_URL: postgresUrl.default('postgresql://postgres@127.0.0.1:5432/trixtech_maintenance'),
  SLACK_WEBHOOK_URL: httpUrl.optional(),
  SLACK_ALERT_WEBHOOK_URL: httpUrl.optional(),
  /** Checklist tasks with Done / Blocked / Not applicable buttons (a webhook of the Slack app the bridge serves); unset: not posted. */
  SLACK_TASKS_WEBHOOK_URL: httpUrl.optional(),
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  BRIDGE_HOST: z.string().min(1).default('0.0.0.0'),
  BRIDGE_PORT: port.default(3000),
  /** /healthz and /metrics of the bridge, apart from the public Slack port so a flood there cannot fail the probes. */
  BRIDGE_HEALTH_PORT: port.default(3001),
  /** Most open connections on the public port; more are closed at once (Slack's traffic is human-paced). */
  BRIDGE_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(100_000).default(1_000),
  /** Longest time a client may take to send a whole request, headers and body; then 408 and closed. */
  BRIDGE_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** The bridge's Ed25519 private key (OpenSSH or PKCS#8 PEM): a file, or the key itself. Secret. */
  BRIDGE_SIGNING_KEY_FILE: z.string().min(1).optional(),
  BRIDGE_SIGNING_KEY: z.string().min(1).optional(),
  /** Slack requests per source address and minute before the bridge answers 429. */
  BRIDGE_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(120),
  /** The bridge posts outcomes only to response URLs under this prefix (Slack's), never elsewhere. */
  SLACK_RESPONSE_URL_PREFIX: httpUrl.default('https://hooks.slack.com/'),
  TEMPORAL_UI_URL: httpUrl.default('http://localhost:8233'),
  METRICS_HOST: z.string().min(1).default('0.0.0.0'),
  METRICS_PORT: port.default(9464),
  SDK_METRICS_PORT: port.default(9465),
  KUBECONFIG: z.string().min(1).optional(),
  KUBERNETES_SERVICE_HOST: z.string().optional(),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  MAINT_CONFIG: z.string().min(1).optional(),
});

export type FileConfig = z.infer<typeof FileConfigSchema>;
export type { HttpTarget };
export type TlsTarget = z.infer<typeof TlsTargetSchema>;
export type CacheClearTarget = FileConfig['targets']['cacheClear'][number];

export interface Config {
  temporal: { address: string; namespace: string; taskQueue: string; apiKey?: string; tls: boolean };
  /** The booking database being maintained. Contains a password in production: never log it. */
  databaseUrl: string;
  /** Where run reports live (`maintenance_runs`). */
  reportDatabaseUrl: string;
  slack: { webhookUrl?: string; alertWebhookUrl?: string; tasksWebhookUrl?: string; signingSecret?: string };
  metrics: { host: string; port: number; sdkPort: number };
  bridge: {
    host: string;
    port: number;
    healthPort: number;
    maxConnections: number;
    requestTimeoutMs: number;
    responseUrlPrefix: string;
    rateLimitPerMinute: number;
    signingKeyFile?: string;
    signingKey?: string;
  };
  /** Links in Slack messages point here. */
  temporalUiUrl: string;
  approvals: Approvals;
  checklistRoles: ChecklistRoles;
  security: FileConfig['security'];
  standards: FileConfig['standards'];
  kubernetes: {
    kubeconfigPath?: string;
    inCluster: boolean;
    namespace: string;
    appLabelSelector: string;
  };
  logLevel: string;
  targets: Omit<FileConfig['targets'], 'kubernetes' | 'monitoring'> & { monitoring: HttpTarget[] };
  /** Bearer tokens of targets.cacheClear by target name, from the environment. Secret: never logged. */
  cacheClearTokens: Record<string, string>;
  thresholds: FileConfig['thresholds'];
  windows: FileConfig['windows'];
  blackouts: FileConfig['blackouts'];
  retention: FileConfig['retention'];
  database: DatabaseMaintenanceConfig;
  nodeJobs: NodeJobSettings;
  alerts: FileConfig['alerts'];
  imageUpdates: FileConfig['imageUpdates'];
  /** Registry credentials by host (config `registries`, passwords from env or file). Secret: never logged. */
  registryCredentials: Record<string, RegistryCredential>;
  configFile?: string;
}
