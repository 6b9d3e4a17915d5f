// Soak: the production worker as the image runs it (compiled, prebuilt workflow bundle, every
// workflow and activity; `npm run up`'s demo config against a real booking database) runs 500
// dailyHealthChecks one after another. Its
// resident memory is read at the start, after 250 and after 500 runs. Goal: the last half grows
// under 5 % and the figure stays within the Deployment's memory request (deploy/worker.yaml).
import { Client, Connection } from '@temporalio/client';
import { startDevServer } from '../dev/devserver.js';
import { freePort } from '../src/net.js';
import { deploymentMemoryRequestMi, startProductionWorker } from './_production-worker.js';

const RUNS = Number(process.env.SOAK_RUNS ?? 500);

export async function main(): Promise<void> {
  const server = await startDevServer({ port: await freePort(), headless: true });
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  try {
    const worker = await startProductionWorker({ address: server.address, taskQueue: 'bench-soak', form: 'image' });
    try {
      const rss: Record<number, number> = { 0: worker.rssMb() };
      const t0 = performance.now();
      for (let i = 1; i <= RUNS; i++) {
        await client.workflow.execute('dailyHealthCheck', {
          taskQueue: 'bench-soak',
          workflowId: `soak-${i}-${Date.now()}`,
          args: [{}],
        });
        if (i % 50 === 0) {
          rss[i] = worker.rssMb();
          console.log(`${i} runs: rss ${rss[i]} MB, ${((performance.now() - t0) / i).toFixed(0)} ms per run`);
        }
      }
      const half = rss[Math.floor(RUNS / 2 / 50) * 50]!;
      const end = rss[RUNS]!;
      console.log(`deployment memory request: ${deploymentMemoryRequestMi()} Mi`);
      console.log(
        `soak: rss_start_mb=${rss[0]} rss_${RUNS / 2}_mb=${half} rss_${RUNS}_mb=${end} growth_last_half_pct=${(((end - half) / half) * 100).toFixed(1)}`,
      );
    } finally {
      await worker.stop();
    }
  } finally {
    await client.connection.close();
    await server.stop();
  }
}
