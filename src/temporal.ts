import { Client, Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { Config } from './config/schema.js';

function connectionOptions(config: Config) {
  return {
    address: config.temporal.address,
    tls: config.temporal.tls ? {} : undefined,
    apiKey: config.temporal.apiKey,
  };
}

export async function connectClient(config: Config): Promise<Client> {
  const connection = await Connection.connect({ ...connectionOptions(config), connectTimeout: '10 seconds' });
  return new Client({ connection, namespace: config.temporal.namespace });
}

/** The worker SDK is imported on use: the bridge and `npm run up` connect clients only and need not load it. */
export async function connectWorker(config: Config): Promise<NativeConnection> {
  const { NativeConnection } = await import('@temporalio/worker');
  return NativeConnection.connect(connectionOptions(config));
}
