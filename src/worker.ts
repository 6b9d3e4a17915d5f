import { fileURLToPath } from 'node:url';
import { Runtime, Worker, makeTelemetryFilterString, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { ensureReportSchema } from '../activities/reports.js';
import { createClients, type Clients } from './clients.js';
import { loadConfigOrExit, type Config } from './config.js';
import { createLogger } from './logger.js';
import { createMetrics, startMetricsServer } from './metrics.js';
import { connectWorker } from './temporal.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface MaintenanceWorkerOptions {
  connection: NativeConnection;
  config: Config;
  clients: Clients;
  /** Defaults to the configured task queue (`maintenance`); tests use their own. */
  taskQueue?: string;
  workflowBundle?: WorkerOptions['workflowBundle'];
}

/** One worker with every maintenance workflow and activity; shared by the process entry point, tests and benchmarks. */
export function createMaintenanceWorker(options: MaintenanceWorkerOptions): Promise<Worker> {
  const { connection, config, clients } = options;
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: options.taskQueue ?? config.temporal.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities(clients, config),
    // The worker drains in-flight activities for this long on SIGTERM before it exits.
    shutdownGraceTime: '30 seconds',
  });
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel);
  const sdkMetricsAddress = `127.0.0.1:${config.metrics.sdkPort}`;
  Runtime.install({
    telemetryOptions: {
      metrics: { prometheus: { bindAddress: sdkMetricsAddress } },
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
    },
  });

  const metrics = createMetrics(config.windows);
  const clients = createClients(config, logger, metrics);
  await ensureReportSchema(clients.reports).catch((err) =>
    logger.warn({ err: (err as Error).message }, 'report store unavailable; run reports will record the delivery failure'),
  );
  const connection = await connectWorker(config);
  // A prebuilt bundle (npm run build) skips webpack at start-up; production images use one.
  const bundlePath = process.env.WORKFLOW_BUNDLE;
  const worker = await createMaintenanceWorker({ connection, config, clients, workflowBundle: bundlePath ? { codePath: bundlePath } : undefined });
  const server = await startMetricsServer(metrics, {
    host: config.metrics.host,
    port: config.metrics.port,
    sdkMetricsUrl: `http://${sdkMetricsAddress}/metrics`,
    health: () => ({ ok: worker.getState() === 'RUNNING', detail: worker.getState() }),
  });
  logger.info(
    { taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace, temporal: config.temporal.address, metrics: `http://${config.metrics.host}:${config.metrics.port}/metrics`, slack: clients.notifier.destination, kubernetes: clients.kube ? 'configured' : 'no cluster configured' },
    'worker polling',
  );
  // Worker.run() returns after SIGINT/SIGTERM once in-flight tasks finished (the SDK installs the handlers).
  await worker.run();
  server.close();
  await connection.close();
  await clients.close();
  logger.info('worker stopped');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    console.error(`worker failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
