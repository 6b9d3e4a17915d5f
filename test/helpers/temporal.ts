import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { inject } from 'vitest';
import { createClients, type Clients } from '../../src/clients.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { createMaintenanceWorker } from '../../src/worker.js';
import { cachedMaintenanceBundle } from '../../src/workflow-bundle.js';

let runtimeInstalled = false;
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('WARN') });
}

let bundle: ReturnType<typeof cachedMaintenanceBundle> | undefined;
/** The workflow bundle: built by the first test file after an edit, reused by the others (src/workflow-bundle-cache.ts). */
export function workflowBundle(): ReturnType<typeof cachedMaintenanceBundle> {
  quietRuntime();
  return (bundle ??= cachedMaintenanceBundle({ logger: new DefaultLogger('WARN') }));
}

export function uniqueTaskQueue(name: string): string {
  return `test-${name}-${randomBytes(3).toString('hex')}`;
}

/** A validated Config for tests: env entries plus an optional config file body. */
export function testConfig(env: Record<string, string> = {}, file?: unknown): Config {
  return loadConfig(testConfigEnv(env, file));
}

/** The environment `testConfig` loads (the config file written, MAINT_CONFIG naming it): what `maint` needs to see the same. */
export function testConfigEnv(env: Record<string, string> = {}, file?: unknown): Record<string, string> {
  const vars: Record<string, string> = { ...temporalEnv(), LOG_LEVEL: 'silent', ...env };
  if (file !== undefined) {
    const path = join(mkdtempSync(join(tmpdir(), 'maint-config-')), 'config.json');
    writeFileSync(path, JSON.stringify(file));
    vars.MAINT_CONFIG = path;
  }
  return vars;
}

/** What a child process (maint, a worker) needs to reach the suite's server and namespace. */
export function temporalEnv(): { TEMPORAL_ADDRESS: string; TEMPORAL_NAMESPACE: string } {
  return { TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_NAMESPACE: inject('temporalNamespace') };
}

/** The same for the plain `temporal` CLI. */
export function temporalCliArgs(): string[] {
  return ['--address', inject('temporalAddress'), '--namespace', inject('temporalNamespace')];
}

export async function testClient(): Promise<Client> {
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  return new Client({ connection, namespace: inject('temporalNamespace') });
}

export interface WorkerContext {
  client: Client;
  taskQueue: string;
  config: Config;
  clients: Clients;
}

/** Runs `fn` while a real maintenance worker polls its own task queue on the shared dev server. */
export async function withWorker<T>(
  config: Config,
  fn: (ctx: WorkerContext) => Promise<T>,
  overrides: Partial<Clients> = {},
): Promise<T> {
  quietRuntime();
  const taskQueue = uniqueTaskQueue('wf');
  const clients: Clients = { ...createClients(config, createLogger('silent'), createMetrics()), ...overrides };
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const client = await testClient();
  try {
    const worker = await createMaintenanceWorker({
      connection,
      config,
      clients,
      taskQueue,
      workflowBundle: await workflowBundle(),
    });
    return await worker.runUntil(fn({ client, taskQueue, config, clients }));
  } finally {
    await client.connection.close();
    await connection.close();
    await clients.close();
  }
}
