import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  Runtime,
  Worker,
  makeTelemetryFilterString,
  type NativeConnection,
  type WorkerOptions,
} from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { preloadKubernetesActivities } from '../activities/kubernetes/on-demand.js';
import { createClients, type Clients } from './clients.js';
import { loadConfigOrExit } from './config/load.js';
import type { Config } from './config/schema.js';
import { ensureReportSchema } from './maintenance-runs.js';
import { createLogger } from './logger.js';
import { createMetrics, startMetricsServer } from './metrics.js';
import { connectWorker } from './temporal.js';
import { cachedMaintenanceBundle } from './workflow-bundle.js';

export interface MaintenanceWorkerOptions {
  connection: NativeConnection;
  config: Config;
  clients: Clients;
  /** Defaults to the configured task queue (`maintenance`); tests use their own. */
  taskQueue?: string;
  workflowBundle?: WorkerOptions['workflowBundle'];
}

/** One worker with every maintenance workflow and activity; shared by the process entry point, tests and benchmarks. */
export async function createMaintenanceWorker(options: MaintenanceWorkerOptions): Promise<Worker> {
  const { connection, config, clients } = options;
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: options.taskQueue ?? config.temporal.taskQueue,
    // Bundled here rather than through `dataConverter.payloadConverterPath`, which would also
    // require() the TypeScript module in the main thread; activities only decode our own JSON.
    workflowBundle: options.workflowBundle ?? (await cachedMaintenanceBundle()),
    activities: createActivities(clients, config),
    // The worker drains in-flight activities for this long on SIGTERM before it exits.
    shutdownGraceTime: '30 seconds',
  });
}

/**
 * `worker.ts [--preload-kubernetes]`. With the flag (`npm run up`, whose first health check follows
 * the start at once) the Kubernetes activities are imported beside polling rather than by the first
 * one called: that call is 1-2 s faster, the worker holds about 50 MB more from its start.
 */
async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { 'preload-kubernetes': { type: 'boolean', default: false } } });
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel);
  const sdkMetricsAddress = `127.0.0.1:${config.metrics.sdkPort}`;
  Runtime.install({
    telemetryOptions: {
      metrics: { prometheus: { bindAddress: sdkMetricsAddress } },
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
    },
  });

  const metrics = createMetrics({ windows: config.windows, diskPaths: config.targets.diskPaths });
  const clients = createClients(config, logger, metrics);
  // Checked while the connection and the worker come up; awaited before the first task is taken.
  const reportSchemaReady = ensureReportSchema(clients.reports).catch((err) =>
    logger.warn(
      { err: (err as Error).message },
      'report store unavailable; run reports will record the delivery failure',
    ),
  );
  const connection = await connectWorker(config);
  // A prebuilt bundle (npm run build) skips even the cache check; production images use one.
  const bundlePath = process.env.WORKFLOW_BUNDLE;
  const worker = await createMaintenanceWorker({
    connection,
    config,
    clients,
    workflowBundle: bundlePath ? { codePath: bundlePath } : undefined,
  });
  const server = await startMetricsServer(metrics, {
    host: config.metrics.host,
    port: config.metrics.port,
    sdkMetricsUrl: `http://${sdkMetricsAddress}/metrics`,
    health: () => ({ ok: worker.getState() === 'RUNNING', detail: worker.getState() }),
  });
  await reportSchemaReady;
  logger.info(
    {
      taskQueue: config.temporal.taskQueue,
      namespace: config.temporal.namespace,
      temporal: config.temporal.address,
      metrics: `http://${config.metrics.host}:${config.metrics.port}/metrics`,
      slack: clients.notifier.destination,
      kubernetes: clients.kube ? 'configured' : 'no cluster configured',
    },
    'worker polling',
  );
  // Beside polling, not before it: a worker start never waits for the Kubernetes client.
  if (values['preload-kubernetes'] && clients.kube)
    preloadKubernetesActivities().catch((err: Error) =>
      logger.warn({ err: err.message }, 'Kubernetes activities not preloaded; their first call imports them'),
    );
  // Worker.run() returns after SIGINT/SIGTERM once in-flight tasks finished (the SDK installs the handlers).
  await worker.run();
  server.close();
  await connection.close();
  await clients.close();
  logger.info('worker stopped');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`worker failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
