import type { Clients } from '../src/clients.js';
import type { Config } from '../src/config/schema.js';
import { createAlertActivities } from './alerts.js';
import { createAnnualPlanActivities } from './annual-plan.js';
import { createApprovalActivities } from './approvals.js';
import { createChecklistTaskActivities } from './checklist-tasks.js';
import { createHttpActivities } from './http.js';
import { kubernetesActivitiesOnDemand } from './kubernetes/on-demand.js';
import { createMonitoringActivities } from './monitoring.js';
import { createPostgresActivities } from './postgres/index.js';
import { createRegistryActivities } from './registry.js';
import { createReportActivities } from './reports.js';
import { createSlackActivities } from './slack.js';
import { createStorageActivities } from './storage.js';
import { createTargetActivities } from './targets.js';

/** How reports name a database: host/name only, never credentials. */
export function databaseLabel(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}/${u.pathname.replace(/^\//, '')}`;
  } catch {
    return 'database';
  }
}

/** Every activity the worker registers, built from injected clients so tests can point them at local services. */
export function createActivities(clients: Clients, config: Config) {
  const label = databaseLabel(config.databaseUrl);
  return {
    ...createApprovalActivities({ approvals: config.approvals }),
    ...createTargetActivities({ config, databaseLabel: label, kubernetesConfigured: clients.kube !== null }),
    ...createHttpActivities({ cacheClearTokens: config.cacheClearTokens }),
    ...createAlertActivities({ alerts: config.alerts }),
    ...createRegistryActivities({ targets: config.imageUpdates, credentials: config.registryCredentials }),
    ...createMonitoringActivities(),
    ...createStorageActivities(),
    ...createPostgresActivities({
      db: clients.db,
      reports: clients.reports,
      databaseUrl: config.databaseUrl,
      databaseLabel: label,
      settings: config.database,
      windows: config.windows,
      blackouts: config.blackouts,
      metrics: clients.metrics,
      volume: config.targets.databaseVolume,
      prometheus: config.targets.prometheus,
    }),
    ...kubernetesActivitiesOnDemand({
      kube: clients.kube,
      namespace: config.kubernetes.namespace,
      appLabelSelector: config.kubernetes.appLabelSelector,
      nodeJobs: config.nodeJobs,
      prometheus: config.targets.prometheus,
      diskThresholds: {
        warnPercent: config.thresholds.diskWarnPercent,
        criticalPercent: config.thresholds.diskCriticalPercent,
      },
    }),
    ...createReportActivities({ reports: clients.reports, metrics: clients.metrics }),
    ...createAnnualPlanActivities({ reports: clients.reports }),
    ...createSlackActivities({ notifier: clients.notifier }),
    ...createChecklistTaskActivities({
      reports: clients.reports,
      notifier: clients.notifier,
      roles: config.checklistRoles,
      approvals: config.approvals,
    }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
