import { accessSync, constants } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { IncomingWebhook } from '@slack/webhook';
import pg from 'pg';
import type { Config } from './config/schema.js';
import type { Logger } from './logger.js';
import { createMetrics, type MaintenanceMetrics } from './metrics.js';

/** A Slack message in Block Kit form; `text` is the notification fallback. */
export interface SlackMessage {
  text: string;
  blocks?: unknown[];
}

export interface Notifier {
  /** Where messages go, for reports ("slack" or "log"); never the webhook URL itself. */
  readonly destination: 'slack' | 'log';
  /** Whether checklist tasks have a webhook (SLACK_TASKS_WEBHOOK_URL): their buttons only work in the bridge's Slack app. */
  readonly postsTasks: boolean;
  post(message: SlackMessage, channel?: 'report' | 'alert' | 'tasks'): Promise<void>;
}

export interface Clients {
  /** The booking database being maintained. */
  db: pg.Pool;
  /** The store of run reports (`maintenance_runs`). */
  reports: pg.Pool;
  /** Null when no cluster is configured: Kubernetes steps then report "skipped: no cluster configured". */
  kube: KubeConfigSource | null;
  notifier: Notifier;
  metrics: MaintenanceMetrics;
  logger: Logger;
  close(): Promise<void>;
}

export function createPool(
  connectionString: string,
  logger: Logger,
  applicationName = 'trixtech-maintenance',
): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: 4,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: applicationName,
  });
  // An idle client losing its server must not crash the worker; the next query reports it.
  pool.on('error', (err) => logger.warn({ err: err.message }, 'idle PostgreSQL client error'));
  // Nor one checked out between two queries (the archive's pause between batches): a PostgreSQL
  // restart then emitted 'error' with no listener and killed the worker (npm run chaos).
  pool.on('connect', (client) =>
    client.on('error', (err) => logger.warn({ err: err.message }, 'PostgreSQL connection lost')),
  );
  return pool;
}

/** `load` run by the first call, its result shared by the later ones; a failure is not kept (the next call tries again). */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () =>
    (loaded ??= load().catch((err: unknown) => {
      loaded = undefined;
      throw err;
    }));
}

/** The cluster's KubeConfig, loaded by the first call and shared by the later ones. */
export type KubeConfigSource = () => Promise<KubeConfig>;

/**
 * The configured cluster, loaded on first use: importing @kubernetes/client-node takes about a
 * second and 50 MB, which a worker start need not wait for. A kubeconfig file that cannot be read
 * still fails the start.
 */
export function kubeConfigSource(config: Config): KubeConfigSource | null {
  const { kubeconfigPath, inCluster } = config.kubernetes;
  if (!kubeconfigPath && !inCluster) return null;
  if (kubeconfigPath) accessSync(kubeconfigPath, constants.R_OK);
  return loadOnce(async () => {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else kc.loadFromCluster();
    return kc;
  });
}

/** Slack incoming webhooks when configured, the log otherwise. Errors never carry the webhook URL. */
export function createNotifier(config: Config, logger: Logger): Notifier {
  const { webhookUrl, alertWebhookUrl, tasksWebhookUrl } = config.slack;
  if (!webhookUrl) {
    return {
      destination: 'log',
      postsTasks: false,
      async post(message, channel = 'report') {
        logger.info({ channel, slack: message.text }, 'slack message (no SLACK_WEBHOOK_URL configured)');
      },
    };
  }
  const hooks = {
    report: new IncomingWebhook(webhookUrl, { timeout: 10_000 }),
    alert: new IncomingWebhook(alertWebhookUrl ?? webhookUrl, { timeout: 10_000 }),
    tasks: new IncomingWebhook(tasksWebhookUrl ?? webhookUrl, { timeout: 10_000 }),
  };
  return {
    destination: 'slack',
    postsTasks: tasksWebhookUrl !== undefined,
    async post(message, channel = 'report') {
      try {
        await hooks[channel].send({ text: message.text, blocks: message.blocks as never });
      } catch (err) {
        // Rebuilt from the status alone: the library's error may quote the request, webhook URL included.
        const e = err as {
          statusCode?: number;
          code?: string;
          original?: { code?: string; cause?: { code?: string } };
        };
        const reason = e.statusCode
          ? `HTTP ${e.statusCode}`
          : (e.original?.cause?.code ?? e.original?.code ?? e.code ?? 'request error');
        throw new Error(`Slack webhook post failed: ${reason}`);
      }
    },
  };
}

export function createClients(config: Config, logger: Logger, metrics: MaintenanceMetrics = createMetrics()): Clients {
  const db = createPool(config.databaseUrl, logger);
  const reports = createPool(config.reportDatabaseUrl, logger);
  return {
    db,
    reports,
    kube: kubeConfigSource(config),
    notifier: createNotifier(config, logger),
    metrics,
    logger,
    async close() {
      await Promise.allSettled([db.end(), reports.end()]);
    },
  };
}
