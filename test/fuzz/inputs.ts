// Shared by the fuzz suites: every workflow type's input schema, a valid input for each, and the
// hostile values and mutations tried against them (pure: no services).
import fc from 'fast-check';
import type { z } from 'zod';
import { EmergencyInput } from '../../domain/emergency.js';
import { AnnualUpgradeInput } from '../../workflows/annual-upgrade.js';
import { ApplicationCacheCleanupInput } from '../../workflows/application-cache-cleanup.js';
import { ApplicationImageUpdateInput } from '../../workflows/application-image-update.js';
import { ApplicationUpdateInput } from '../../workflows/application-update.js';
import { ClusterStorageCleanupInput } from '../../workflows/cluster-storage-cleanup.js';
import { DailyHealthCheckInput } from '../../workflows/daily-health-check.js';
import { EveningStatusInput } from '../../workflows/evening-status.js';
import { MonthlyApplicationMaintenanceInput } from '../../workflows/monthly-application-maintenance.js';
import { MonthlyAuditInput } from '../../workflows/monthly-audit.js';
import { NodeDiskCleanupInput } from '../../workflows/node-disk-cleanup.js';
import { NodeUpdateInput } from '../../workflows/node-update.js';
import { QuarterlyReviewInput } from '../../workflows/quarterly-review.js';
import { RollingNodeUpdateInput } from '../../workflows/rolling-node-update.js';
import { StorageCleanupInput } from '../../workflows/storage-cleanup.js';
import { WeeklyDatabaseMaintenanceInput } from '../../workflows/weekly-database-maintenance.js';
import { WeeklyPerformanceReviewInput } from '../../workflows/weekly-performance-review.js';
import { WeeklySecurityReviewInput } from '../../workflows/weekly-security-review.js';
import { WeeklySystemReviewInput } from '../../workflows/weekly-system-review.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface InputCase {
  schema: z.ZodType;
  /** A valid input touching every field, so mutations reach each of them. */
  valid: () => Record<string, Json>;
}

const window = { name: 'fuzz', every: 'day', start: '03:00', durationMinutes: 60 };
const nodeOptions = {
  drain: {
    timeout: '10s',
    gracePeriodSeconds: 30,
    deleteEmptyDirData: true,
    evictUnmanagedPods: false,
    pollInterval: 20,
    evictionRetry: 50,
  },
  update: { hookUrl: 'http://127.0.0.1:9/update', doneWhen: 'signal', timeout: '30s' },
  readyTimeout: '10s',
  pollInterval: 20,
  alerts: { whileFiring: 'wait', waitUpTo: '5 minutes', pollInterval: 20 },
  reason: 'fuzz',
};
const app = {
  deployment: 'trixtech-backend',
  namespace: 'default',
  container: 'app',
  image: 'trixtech/backend:2.0.0',
  rolloutTimeout: '20s',
  pollInterval: 20,
  healthChecks: [{ name: 'backend', url: 'http://127.0.0.1:9/ok' }],
  alerts: { whileFiring: 'refuse', waitUpTo: 0, pollInterval: 20 },
};

export const INPUTS: Record<string, InputCase> = {
  dailyHealthCheck: {
    schema: DailyHealthCheckInput,
    valid: () => ({
      checks: ['database', 'disk'],
      thresholds: { diskWarnPercent: 70, responseTimeBudgetMs: 500 },
      reason: 'fuzz',
    }),
  },
  eveningStatus: { schema: EveningStatusInput, valid: () => ({ windowHorizonHours: 48 }) },
  applicationCacheCleanup: { schema: ApplicationCacheCleanupInput, valid: () => ({}) },
  storageCleanup: { schema: StorageCleanupInput, valid: () => ({ mode: 'report' }) },
  clusterStorageCleanup: {
    schema: ClusterStorageCleanupInput,
    valid: () => ({ mode: 'report', kinds: ['jobs', 'replicasets'], completedJobsOlderThan: '2 days' }),
  },
  applicationImageUpdate: {
    schema: ApplicationImageUpdateInput,
    valid: () => ({
      rolloutTimeout: '20s',
      pollInterval: 20,
      alerts: { whileFiring: 'wait', waitUpTo: '1 hour', pollInterval: '1 minute' },
    }),
  },
  weeklyDatabaseMaintenance: {
    schema: WeeklyDatabaseMaintenanceInput,
    valid: () => ({
      windowPolicy: 'skip',
      window,
      steps: ['statistics'],
      vacuumTables: ['bookings'],
      fullVacuumTables: [],
      archiveAfterDays: 730,
      archiveBatchSize: 500,
      archiveBatchTargetMs: 70,
      archivePauseMs: 0,
      lockTimeoutMs: 5000,
      backupMaxAgeHours: 24,
      statusUpdateEvery: '30 minutes',
      reason: 'fuzz',
    }),
  },
  weeklySystemReview: { schema: WeeklySystemReviewInput, valid: () => ({ logWindowHours: 24 }) },
  weeklySecurityReview: { schema: WeeklySecurityReviewInput, valid: () => ({ lookbackDays: 7 }) },
  weeklyPerformanceReview: {
    schema: WeeklyPerformanceReviewInput,
    valid: () => ({ regressionTolerance: 0.5, slowQueryCount: 5 }),
  },
  monthlyAudit: { schema: MonthlyAuditInput, valid: () => ({ forecastHistoryDays: 180 }) },
  monthlyApplicationMaintenance: {
    schema: MonthlyApplicationMaintenanceInput,
    valid: () => ({ windowPolicy: 'skip', window }),
  },
  quarterlyReview: { schema: QuarterlyReviewInput, valid: () => ({ lookbackDays: 91, successRateTarget: 0.9 }) },
  annualUpgrade: {
    schema: AnnualUpgradeInput,
    valid: () => ({
      windowStart: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      windowDuration: '48 hours',
      approvalLeadTime: '7 days',
      escalateBefore: '48 hours',
      nodes: ['n1', 'n2'],
      concurrency: 1,
      nodeUpdate: nodeOptions,
      applications: [{ ...app, healthChecks: [] }],
      databaseUpgrade: { description: 'pg_upgrade 15 -> 16', timeout: '8 hours' },
      statusUpdateEvery: '30 minutes',
    }),
  },
  emergencyMaintenance: {
    schema: EmergencyInput,
    valid: () => ({
      reason: 'backend leaking memory',
      severity: 'high',
      requestedBy: 'alice',
      actions: [
        { kind: 'scale-deployment', namespace: 'default', deployment: 'trixtech-backend', replicas: 3 },
        { kind: 'vacuum-table', table: 'bookings' },
      ] as Json[],
      approval: { escalateAfterSeconds: 60, timeoutSeconds: 120 },
      postMortemDelaySeconds: 3600,
    }),
  },
  nodeUpdate: { schema: NodeUpdateInput, valid: () => ({ node: 'n1', ...nodeOptions }) },
  rollingNodeUpdate: {
    schema: RollingNodeUpdateInput,
    valid: () => ({ nodes: ['n1', 'n2', 'n3'], concurrency: 2, node: nodeOptions }),
  },
  applicationUpdate: { schema: ApplicationUpdateInput, valid: () => ({ ...app, reason: 'fuzz' }) },
  nodeDiskCleanup: {
    schema: NodeDiskCleanupInput,
    valid: () => ({ mode: 'report', thresholdPercent: 80, timeout: '10 minutes', pollInterval: 20 }),
  },
};

/** What attackers and careless operators sent (issue 21), plus fast-check's own values. */
export const HOSTILE: Json[] = [
  1e300,
  -1e300,
  9007199254740991,
  1e21,
  1e9,
  -1,
  0,
  -0.5,
  0.000001,
  2 ** 31,
  '',
  ' ',
  '1e300',
  '-10 minutes',
  '0',
  'soon',
  '9007199254740991',
  'Infinity',
  'NaN',
  null,
  true,
  false,
  [],
  {},
  [null],
  { __proto__: 1 } as Json,
  '<!channel>',
  '<http://evil.example|bank>',
  '@here',
  'a\u0000b',
  '\ud800',
  '__proto__',
  'constructor',
  'UPPER_case',
  'a..b',
  '-lead',
  'x'.repeat(300),
  'x'.repeat(100_000),
];
export const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() as fc.Arbitrary<Json> },
  { weight: 1, arbitrary: fc.string({ maxLength: 20, unit: 'binary' }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json> },
);

/** Every path to a value in `v` (objects and arrays included), e.g. ["drain", "pollInterval"]. */
export function paths(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  if (v === null || typeof v !== 'object') return [prefix];
  const children = Array.isArray(v)
    ? v.map((x, i) => paths(x, [...prefix, i]))
    : Object.entries(v).map(([k, x]) => paths(x, [...prefix, k]));
  return [...(prefix.length ? [prefix] : []), ...children.flat()];
}

export type Mutation =
  | { kind: 'replace'; path: (string | number)[]; value: Json }
  | { kind: 'unknown-key'; at: (string | number)[]; key: string }
  | { kind: 'duplicate'; path: (string | number)[] };

/** One mutation of `valid`: a value replaced by a hostile one, an unknown key added, or an array element repeated. */
export function mutation(valid: Record<string, Json>): fc.Arbitrary<Mutation> {
  const all = paths(valid);
  const arrays = all.filter((p) => Array.isArray(get(valid, p)) && (get(valid, p) as Json[]).length > 0);
  const objects = [
    [],
    ...all.filter((p) => {
      const x = get(valid, p);
      return x !== null && typeof x === 'object' && !Array.isArray(x);
    }),
  ];
  const options: fc.Arbitrary<Mutation>[] = [
    fc.record({
      kind: fc.constant('unknown-key' as const),
      at: fc.constantFrom(...objects),
      key: fc.constantFrom('extra', 'k'.repeat(100_000), '__proto__ ', 'constructor '),
    }),
  ];
  if (all.length)
    options.push(
      fc.record({ kind: fc.constant('replace' as const), path: fc.constantFrom(...all), value: hostileValue }),
    );
  if (arrays.length)
    options.push(fc.record({ kind: fc.constant('duplicate' as const), path: fc.constantFrom(...arrays) }));
  return fc.oneof(...options);
}

export function get(v: Json, path: (string | number)[]): Json {
  return path.reduce<Json>((x, k) => (x as Record<string, Json>)[k as string] as Json, v);
}

export function apply(valid: Record<string, Json>, m: Mutation): Record<string, Json> {
  const copy = structuredClone(valid);
  if (m.kind === 'replace') {
    const parent = get(copy, m.path.slice(0, -1)) as Record<string, Json>;
    parent[m.path.at(-1) as string] = m.value;
  } else if (m.kind === 'unknown-key') {
    Object.defineProperty(get(copy, m.at), m.key, { value: 1, enumerable: true, configurable: true, writable: true });
  } else {
    const list = get(copy, m.path) as Json[];
    list.push(structuredClone(list[0]!));
  }
  return copy;
}
