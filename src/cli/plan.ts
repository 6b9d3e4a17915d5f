// `maint plan <workflow>`: what the next run would do against the current targets, from
// read-only lookups made here (never through a workflow). It changes nothing.
import type { Client } from '@temporalio/client';
import { ScheduleNotFoundError } from '@temporalio/client';
import type { Command } from 'commander';
import { createActivities } from '../../activities/index.js';
import type { CleanupKind } from '../../domain/cluster.js';
import { SCHEDULES } from '../../schedules/definitions.js';
import { createClients } from '../clients.js';
import { redactUrl } from '../config/redact.js';
import type { Config } from '../config/schema.js';
import type { z } from 'zod';
import { EmergencyInput, describeAction } from '../../domain/emergency.js';
import { describeInputIssues } from '../../domain/input-errors.js';
import { retentionCheck } from '../../domain/retention.js';
import { windowOccurrences, type WindowSpec } from '../../domain/windows.js';
import { createLogger } from '../logger.js';
import { CliError, type CliIo } from './common.js';
import { AnnualUpgradeInput } from '../../workflows/annual-upgrade.js';
import { describeAnnualPlan, nextDecember25 } from '../../domain/annual-plan.js';
import { registerAnnualPlanCommands } from './annual-plan.js';
import { ApplicationCacheCleanupInput } from '../../workflows/application-cache-cleanup.js';
import { ApplicationImageUpdateInput } from '../../workflows/application-image-update.js';
import { ClusterStorageCleanupInput } from '../../workflows/cluster-storage-cleanup.js';
import { DailyHealthCheckInput } from '../../workflows/daily-health-check.js';
import { EveningStatusInput } from '../../workflows/evening-status.js';
import { MonthlyApplicationMaintenanceInput } from '../../workflows/monthly-application-maintenance.js';
import { MonthlyAuditInput } from '../../workflows/monthly-audit.js';
import { NodeDiskCleanupInput } from '../../workflows/node-disk-cleanup.js';
import { QuarterlyReviewInput } from '../../workflows/quarterly-review.js';
import { StorageCleanupInput } from '../../workflows/storage-cleanup.js';
import { WeeklyDatabaseMaintenanceInput } from '../../workflows/weekly-database-maintenance.js';
import { WeeklyPerformanceReviewInput } from '../../workflows/weekly-performance-review.js';
import { DailyBackupInput } from '../../workflows/daily-backup.js';
import { WeeklySecurityReviewInput } from '../../workflows/weekly-security-review.js';
import { WeeklySystemReviewInput } from '../../workflows/weekly-system-review.js';

export const PLANNABLE = [
  'dailyHealthCheck',
  'eveningStatus',
  'weeklySystemReview',
  'weeklySecurityReview',
  'weeklyPerformanceReview',
  'weeklyDatabaseMaintenance',
  'monthlyAudit',
  'monthlyApplicationMaintenance',
  'quarterlyReview',
  'annualUpgrade',
  'emergencyMaintenance',
  'storageCleanup',
  'applicationCacheCleanup',
  'dailyBackup',
  'clusterStorageCleanup',
  'applicationImageUpdate',
  'nodeDiskCleanup',
] as const;
export type Plannable = (typeof PLANNABLE)[number];

/** Each plannable type's input schema: `--input` is checked exactly as the run would check it. */
const INPUT_SCHEMAS: Record<Plannable, z.ZodType> = {
  dailyHealthCheck: DailyHealthCheckInput,
  eveningStatus: EveningStatusInput,
  weeklySystemReview: WeeklySystemReviewInput,
  weeklySecurityReview: WeeklySecurityReviewInput,
  weeklyPerformanceReview: WeeklyPerformanceReviewInput,
  weeklyDatabaseMaintenance: WeeklyDatabaseMaintenanceInput,
  monthlyAudit: MonthlyAuditInput,
  monthlyApplicationMaintenance: MonthlyApplicationMaintenanceInput,
  quarterlyReview: QuarterlyReviewInput,
  annualUpgrade: AnnualUpgradeInput,
  emergencyMaintenance: EmergencyInput,
  storageCleanup: StorageCleanupInput,
  applicationCacheCleanup: ApplicationCacheCleanupInput,
  dailyBackup: DailyBackupInput,
  clusterStorageCleanup: ClusterStorageCleanupInput,
  applicationImageUpdate: ApplicationImageUpdateInput,
  nodeDiskCleanup: NodeDiskCleanupInput,
};

/** The input as the run would see it (defaults filled in), or an error naming every bad field. */
function parsePlanInput<T extends Plannable>(type: T, raw: unknown): Record<string, unknown> {
  const parsed = INPUT_SCHEMAS[type].safeParse(raw ?? {});
  if (!parsed.success) {
    const hint =
      type === 'emergencyMaintenance' && raw === undefined
        ? ' (plan emergencyMaintenance needs --input with the request)'
        : '';
    throw new Error(`invalid --input for ${type}${hint}: ${describeInputIssues(parsed.error.issues).join('; ')}`);
  }
  return parsed.data as Record<string, unknown>;
}

function nextWindow(windows: WindowSpec[], name: string, override?: WindowSpec): string {
  const spec = override ?? windows.find((w) => w.name === name);
  name = spec?.name ?? name;
  const next =
    spec &&
    windowOccurrences([spec], new Date(), new Date(Date.now() + 367 * 86_400_000)).find(
      (o) => Date.parse(o.end) > Date.now(),
    );
  return next ? `window ${name}: ${next.start} to ${next.end}` : `window ${name}: not configured`;
}

export async function planFor(
  type: Plannable,
  config: Config,
  client: Client | undefined,
  rawInput: unknown,
): Promise<string[]> {
  // Checked before anything is looked up: a bad input is refused, not planned around.
  const input = parsePlanInput(type, rawInput);
  const clients = createClients(config, createLogger('silent'));
  const a = createActivities(clients, config);
  try {
    const lines: string[] = rawInput === undefined ? [] : [`input: ${JSON.stringify(input).slice(0, 500)}`];
    const schedule = SCHEDULES.find((s) => s.workflowType === type);
    if (schedule && client) {
      try {
        const d = await client.schedule.getHandle(schedule.id).describe();
        lines.push(
          `schedule ${schedule.id}: next run ${d.info.nextActionTimes[0]?.toISOString() ?? 'none'}${d.state.paused ? ' (PAUSED)' : ''}`,
        );
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
        lines.push(`schedule ${schedule.id}: not applied (maint schedules apply)`);
      }
    }
    const plan = await a.resolveHealthCheckPlan();
    const http = plan.http.map((t) => `${t.name} ${t.url}`).join(', ') || 'none configured';
    const tls = plan.tls.map((t) => `${t.host}:${t.port}`).join(', ') || 'none configured';
    const cluster = plan.kubernetes === 'none' ? 'skipped: no cluster configured' : `namespace ${plan.kubernetes}`;
    switch (type) {
      case 'dailyHealthCheck':
      case 'weeklySystemReview':
      case 'weeklyPerformanceReview':
        if (type === 'dailyHealthCheck' && input.checks) lines.push(`only: ${(input.checks as string[]).join(', ')}`);
        lines.push(
          `HTTP probes: ${http}`,
          `database: ${plan.database}`,
          `disk: ${plan.diskPaths.join(', ')}`,
          `backup: ${plan.backup?.directory ?? 'none configured'}`,
          `TLS: ${tls}`,
          `Kubernetes: ${cluster}`,
          `thresholds: ${Object.entries({ ...plan.thresholds, ...(input.thresholds as object | undefined) })
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`,
        );
        break;
      case 'weeklySecurityReview':
        lines.push(
          `TLS: ${tls}`,
          `database roles on ${plan.database} (expected superusers: ${plan.expectedDatabaseSuperusers.join(', ')})`,
          `cluster-admin bindings and image tags: ${cluster}`,
          `approval log of the last ${input.lookbackDays as number} days`,
        );
        break;
      case 'weeklyDatabaseMaintenance':
      case 'monthlyApplicationMaintenance': {
        const db = await a.resolveDatabaseMaintenancePlan();
        const cutoff = new Date(
          Date.now() - ((input.archiveAfterDays as number | undefined) ?? db.archiveAfterDays) * 86_400_000,
        ).toISOString();
        const [pending, backup, stats] = await Promise.all([
          a.countPendingMaintenance(cutoff),
          a
            .verifyNewestBackup({ maxAgeHours: 24 })
            .catch((err: Error) => ({ status: 'unavailable', detail: err.message })),
          a.collectDatabaseStatistics(),
        ]);
        lines.push(
          `${nextWindow(plan.windows, type === 'weeklyDatabaseMaintenance' ? 'weekly' : 'monthly-application', input.window as WindowSpec | undefined)} (outside it: ${input.windowPolicy as string})`,
          `backup guard: ${backup.status} (${backup.detail})${backup.status === 'ok' ? '' : '; a backup would be taken first'}`,
          `VACUUM ANALYZE: ${stats.tables.length} table(s); most dead tuples: ${
            stats.tables
              .slice(0, 3)
              .map((t) => `${t.table} ${t.deadTuples}`)
              .join(', ') || 'none'
          }`,
          `REINDEX CONCURRENTLY: invalid or bloated indexes found at run time`,
          `archive: ${pending.bookingsToArchive ?? 'no bookings table'} booking(s) created before ${cutoff} would move to bookings_archive in batches of ${(input.archiveBatchSize as number | undefined) ?? db.batchSize}`,
          `expired rows: ${Object.entries(pending.expiredRows)
            .map(([t, n]) => `${t} ${n ?? 'absent'}`)
            .join(', ')}`,
          `temp tables: ${config.database.tempTables ? JSON.stringify(config.database.tempTables) : 'no rule configured: nothing is dropped'}`,
        );
        break;
      }
      case 'monthlyAudit':
        lines.push(
          `inventory: ${cluster}`,
          `restore test of the newest backup in ${plan.backup?.directory ?? 'none configured'}`,
          `capacity forecast from ${input.forecastHistoryDays as number} days of stored disk figures for ${plan.diskPaths.join(', ')}`,
        );
        break;
      case 'eveningStatus':
        lines.push(
          input.day
            ? `the runs of ${input.day as string} (UTC) from maintenance_runs`
            : "today's runs from maintenance_runs",
          ...windowOccurrences(
            plan.windows,
            new Date(),
            new Date(Date.now() + (input.windowHorizonHours as number) * 3_600_000),
          ).map((w) => `upcoming: ${w.name} ${w.start} to ${w.end}`),
        );
        break;
      case 'quarterlyReview':
        lines.push(
          `success rate (target ${(input.successRateTarget as number) * 100}%), durations, failures and approval latency of every maintenance kind over the last ${input.lookbackDays as number} days`,
        );
        break;
      case 'annualUpgrade': {
        const given = ['nodes', 'applications'].filter((k) => (rawInput as Record<string, unknown>)?.[k] !== undefined);
        if (given.length)
          throw new Error(
            `invalid --input for annualUpgrade: ${given.join(', ')}: the nodes and upgrades are the stored plan's (maint plan annual)`,
          );
        const approvals = await a.resolveApprovalPolicy('annualUpgrade');
        const start = input.windowStart ? new Date(input.windowStart as string) : nextDecember25(new Date());
        const stored = await a.readAnnualPlan({ windowStart: start.toISOString() });
        const chosen =
          stored.plan && stored.plan.nodes !== 'none'
            ? await a.selectNodes({ rule: stored.plan.nodes }).catch((err: Error) => ({ skipped: err.message }))
            : undefined;
        lines.push(
          `window: ${start.toISOString()} to ${new Date(start.getTime() + (input.windowDuration as number)).toISOString()}`,
          ...describeAnnualPlan(stored).map((l) => `stored plan: ${l}`),
          ...(chosen
            ? [
                `nodes the rule selects now: ${'skipped' in chosen ? chosen.skipped : chosen.nodes.join(', ') || 'none'} (chosen again when the window opens)`,
              ]
            : []),
          `approval: ${approvals.required} distinct of ${approvals.approvers.join(', ')}, of the revision stored a week ahead (amended later: asked again)`,
        );
        break;
      }
      case 'storageCleanup': {
        // The activities' own report mode: exactly the selection a run would delete.
        const storage = await a.resolveStorageCleanupPlan();
        const cutoff = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
        if (input.mode === 'delete')
          lines.push('mode delete: a run deletes what is listed below (this plan deletes nothing)');
        const results = await Promise.all(
          storage.rules.map((rule) =>
            a.applyRetentionRule({ rule, olderThan: cutoff(rule.olderThanDays), mode: 'report' }),
          ),
        );
        const backups = storage.backupRetention;
        if (backups)
          results.push(
            await a.pruneDatabaseBackups({
              olderThan: cutoff(backups.olderThanDays),
              keepNewest: backups.keepNewest,
              mode: 'report',
            }),
          );
        lines.push(...results.map(retentionCheck).map((c) => `${c.target}: ${c.detail}`));
        if (!backups) lines.push('database-backups: no backup directory configured');
        if (storage.rules.length === 0)
          lines.push('file retention: no rule configured (config `retention`): no file is deleted');
        break;
      }
      case 'clusterStorageCleanup': {
        // The activity's list-only mode: the selection a run would delete, nothing sent to delete.
        const r = await a.cleanupClusterResources({
          mode: 'report',
          kinds: input.kinds as CleanupKind[],
          completedJobMinAgeSeconds: (input.completedJobsOlderThan as number) / 1000,
        });
        if ('skipped' in r) {
          lines.push(`Kubernetes: ${r.skipped}`);
          break;
        }
        lines.push(
          `mode ${input.mode as string}: ${input.mode === 'apply' ? 'a run deletes' : 'a run dry-runs the deletion of'} what is listed below (this plan deletes nothing)`,
          ...r.candidates.map((c) => `${c.kind}: ${c.namespace ? `${c.namespace}/` : ''}${c.name} (${c.reason})`),
          ...r.kept.map((c) => `kept ${c.kind}: ${c.namespace ? `${c.namespace}/` : ''}${c.name} (${c.reason})`),
        );
        if (r.candidates.length === 0) lines.push('nothing to clean up');
        break;
      }
      case 'nodeDiskCleanup': {
        // The run's own survey: the nodes a clean run would touch and what it runs there.
        const survey = await a.surveyNodeDisks({ thresholdPercent: input.thresholdPercent as number | undefined });
        if ('skipped' in survey) {
          lines.push(`Kubernetes: ${survey.skipped}`);
          break;
        }
        const over = survey.nodes.filter((n) => n.over);
        lines.push(
          `mode ${input.mode as string}: ${input.mode === 'clean' ? 'a run cleans' : 'a run lists'} the nodes below (this plan runs nothing)`,
          `figures: ${survey.source}; threshold ${survey.thresholdPercent} %`,
          ...survey.nodes.map(
            (n) =>
              `${n.node}: ${n.over ? `CLEAN (${n.over})` : n.usedPercent !== undefined ? `${n.usedPercent} % used` : 'no DiskPressure'}`,
          ),
          ...(over.length
            ? [`on each, a privileged Job (${survey.image}, nsenter into the host) runs: ${survey.commands.join('; ')}`]
            : ['no node to clean']),
        );
        break;
      }
      case 'applicationImageUpdate': {
        // The registry lookups a run makes, without the update: what each container would move to.
        const targets = await a.resolveImageUpdateTargets();
        if (targets.length === 0) lines.push('no deployments configured (config imageUpdates): nothing is updated');
        for (const t of targets) {
          const name = `${t.namespace ?? config.kubernetes.namespace}/${t.deployment}/${t.container}`;
          try {
            const current = await a.readDeploymentRevision({ deployment: t.deployment, namespace: t.namespace });
            const image = 'skipped' in current ? undefined : current.images[t.container];
            if (!image) {
              lines.push(`${name}: ${'skipped' in current ? current.skipped : 'no such container'}`);
              continue;
            }
            const found = await a.findNewestImageTag({ image, policy: t.policy, registryUrl: t.registryUrl });
            lines.push(
              `${name}: ${found.image ? `${found.current} -> ${found.newest}` : `${found.current} is the newest ${t.policy} release`}`,
            );
          } catch (err) {
            lines.push(`${name}: not updated: ${(err as Error).message}`);
          }
        }
        break;
      }
      case 'dailyBackup': {
        const b = await a.resolveBackupPlan();
        const newest = await a
          .verifyBackup({ level: 'intact' })
          .catch((err: Error) => ({ status: 'unavailable', level: 'none', detail: err.message }));
        lines.push(
          b.source === 'pgbackrest'
            ? `pgbackrest backup of stanza ${b.stanza}: full on ${b.fullOn.join(', ')}, differential otherwise; then pgbackrest verify (readable)`
            : `pg_dump of ${b.database} into ${b.directory ?? 'no directory configured'} with its manifest; then pg_restore -f /dev/null (readable)`,
          `newest backup now: ${newest.status}, level ${newest.level}: ${newest.detail}`,
        );
        break;
      }
      case 'applicationCacheCleanup': {
        const targets = await a.resolveCacheClearTargets();
        lines.push(
          ...(targets.length === 0
            ? ['no cache endpoints configured (targets.cacheClear): nothing is cleared']
            : targets.map(
                (t) =>
                  `POST ${redactUrl(t.url)} (${t.name}${t.tokenEnv ? `, bearer token from $${t.tokenEnv}` : ', no token'})`,
              )),
        );
        break;
      }
      case 'emergencyMaintenance': {
        const request = input as z.output<typeof EmergencyInput>;
        const approvals = await a.resolveApprovalPolicy('emergencyMaintenance');
        lines.push(
          ...request.actions.map((x) => `action: ${describeAction(x)}`),
          `approval: ${approvals.required} of ${approvals.approvers.join(', ')}, never the requester (${request.requestedBy}, proven by a signed request)`,
        );
        break;
      }
    }
    return lines;
  } finally {
    await clients.close();
  }
}

export function registerPlanCommand(program: Command, io: CliIo): void {
  const { temporal } = io;
  const plan = program
    .command('plan <workflowType>')
    .description('dry run: what the next run would do against the current targets; changes nothing')
    .option('--input <json>', 'the workflow input (needed for emergencyMaintenance)')
    .action(async (type: string, opts: { input?: string }) => {
      if (!(PLANNABLE as readonly string[]).includes(type))
        throw new CliError(`cannot plan '${type}' (known: ${PLANNABLE.join(', ')})`);
      let input: unknown;
      try {
        input = opts.input ? JSON.parse(opts.input) : undefined;
      } catch {
        throw new CliError('--input is not valid JSON');
      }
      const c = await temporal().catch(() => undefined);
      const lines = await planFor(type as Plannable, io.config(), c, input).catch((err: Error) => {
        throw new CliError(err.message);
      });
      io.out(`plan for ${type} (nothing was changed):`);
      for (const line of lines) io.out(`  ${line}`);
    });
  registerAnnualPlanCommands(plan, io);
}
