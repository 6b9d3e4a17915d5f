// Child process for the orchestration benchmark: a worker with the benchmark workflows and a
// no-op activity, so its memory is measured apart from the client driving it.
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

const [address, taskQueue, codePath] = process.argv.slice(2) as [string, string, string];
Runtime.install({ logger: new DefaultLogger('WARN') });
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({ connection, taskQueue, workflowBundle: { codePath }, activities: { noop: async () => undefined } });
process.send?.('ready');
await worker.run();
await connection.close();
