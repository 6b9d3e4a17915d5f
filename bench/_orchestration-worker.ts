// Child process for the orchestration benchmark's ratio: a worker with just the two benchmark
// workflows and a no-op activity, so the ratio is the step wrapper's alone (memory is measured on
// the production worker, bench/_production-worker.ts).
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

const [address, taskQueue, codePath] = process.argv.slice(2) as [string, string, string];
Runtime.install({ logger: new DefaultLogger('WARN') });
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowBundle: { codePath },
  activities: { noop: async () => undefined },
});
process.send?.('ready');
await worker.run();
await connection.close();
