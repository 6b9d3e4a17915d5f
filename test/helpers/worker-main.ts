// `node --import tsx test/helpers/worker-main.ts <task queue>`: one maintenance worker in its own
// process, configured from the environment, so a test can SIGKILL it mid-activity.
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createClients } from '../../src/clients.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logger.js';
import { createMaintenanceWorker } from '../../src/worker.js';

const taskQueue = process.argv[2];
if (!taskQueue) throw new Error('usage: worker-main.ts <task queue>');
Runtime.install({ logger: new DefaultLogger('WARN') });
const config = loadConfig();
const clients = createClients(config, createLogger('silent'));
const connection = await NativeConnection.connect({ address: config.temporal.address });
const worker = await createMaintenanceWorker({ connection, config, clients, taskQueue });
console.log('worker ready');
await worker.run();
