// `npm run bench -- scale [--runs 200] [--nodes 50] [--pods 20] [--workers 1,2,4] [--concurrency 5] [--poll production|fast]`
//
// Several worker processes on one task queue: with 1, 2 and 4 production workers (the image's
// compiled worker, bench/_production-worker.ts, sharing one booking database and report store as
// production does), `runs` concurrent dailyHealthChecks, then a rolling update of the drain
// bench's cluster (bench/drain.ts: `nodes` kwok nodes x `pods` pods behind PDBs) at `concurrency`
// nodes at a time. Time of each, and the workers' resident memory summed (sampled every 250 ms,
// the peak of the sum). The first count is the baseline; each other one is compared with it.
// The Temporal server is the dev server, as the other benches run it (README, Benchmarks).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { RunReport } from '../domain/run.js';
import { startDevServer } from '../dev/devserver.js';
import { WORKER_USERNAME } from '../dev/kube-local/cluster.js';
import { freePort } from '../src/net.js';
import { HEALTH_CHECK_GROUPS } from '../workflows/daily-health-check.js';
import { pollSettings, setUpDrainTargets, type DrainTargets } from './drain.js';
import { createBookingDatabase, startProductionWorker, type ProductionWorker } from './_production-worker.js';

/**
 * Every group but kubernetes: on this cluster that group would read the logs of every drain pod in
 * each run, a load test of kwok rather than of the workers; the drain measures the workers against Kubernetes.
 */
const HEALTH_CHECKS = HEALTH_CHECK_GROUPS.filter((g) => g !== 'kubernetes');

interface Measured {
  workers: number;
  healthChecksSeconds: number;
  /** Each run's start to its result, sorted: the phase's time is the slowest one's. */
  runSeconds: number[];
  /** How many of the runs each worker finished (its maintenance_job_runs_total). */
  runsPerWorker: number[];
  outcomes: Record<string, number>;
  drainSeconds: number;
  drainOutcome: string;
  evicted: number;
  rssStartMb: number;
  /** Peak of the workers' summed resident memory over both phases, and each worker's own peak. */
  rssPeakMb: number;
  rssPeakPerWorkerMb: number[];
}

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, not ${value}`);
  return n;
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: 'string', default: '200' },
      nodes: { type: 'string', default: '50' },
      pods: { type: 'string', default: '20' },
      workers: { type: 'string', default: '1,2,4' },
      concurrency: { type: 'string', default: '5' },
      poll: { type: 'string', default: 'production' },
    },
  });
  const runs = positiveInt('runs', values.runs);
  const nodeCount = positiveInt('nodes', values.nodes);
  const podsPerNode = positiveInt('pods', values.pods);
  const concurrency = positiveInt('concurrency', values.concurrency);
  const workerCounts = values.workers.split(',').map((w) => positiveInt('workers', w));
  // With every node cordoned at once the evicted pods have nowhere to go: the drain would wait out its timeout.
  if (concurrency >= nodeCount)
    throw new Error(
      `--concurrency (${concurrency}) must be below --nodes (${nodeCount}): pods need an uncordoned node`,
    );
  const poll = pollSettings(values.poll);

  const dir = mkdtempSync(join(tmpdir(), 'bench-scale-'));
  let targets: DrainTargets | undefined;
  let server: Awaited<ReturnType<typeof startDevServer>> | undefined;
  let client: Client | undefined;
  const database = await createBookingDatabase();
  try {
    [targets, server] = await Promise.all([
      setUpDrainTargets({ dir, nodeCount, podsPerNode }),
      process.env.TEMPORAL_ADDRESS ? undefined : startDevServer({ port: await freePort(), headless: true }),
    ]);
    const address = process.env.TEMPORAL_ADDRESS ?? server!.address;
    client = new Client({ connection: await Connection.connect({ address }) });
    console.log(
      `scale bench: ${runs} concurrent dailyHealthChecks (${HEALTH_CHECKS.join(', ')}) and a rolling update of ${nodeCount} nodes x ${podsPerNode} pods ` +
        `(${targets.deployments.length} Deployments with PDBs, set up in ${targets.setupSeconds.toFixed(0)} s) at concurrency ${concurrency}, poll ${values.poll}; ` +
        `workers ${workerCounts.join(', ')}; Temporal ${process.env.TEMPORAL_ADDRESS ? `at ${address}` : 'dev server'}`,
    );

    const results: Measured[] = [];
    for (const count of workerCounts) {
      const m = await measure({ client, targets, database, address, count, runs, concurrency, poll });
      results.push(m);
      console.log(
        `  ${count} worker${count > 1 ? 's' : ''}: ${runs} health checks ${m.healthChecksSeconds.toFixed(1)} s (${formatCounts(m.outcomes)}; runs per worker ${m.runsPerWorker.join('/')}; ` +
          `each run ${quantile(m.runSeconds, 0.5)} s median, ${quantile(m.runSeconds, 0.99)} s p99, slowest ${m.runSeconds.at(-1)!.toFixed(1)} s), ` +
          `drain of ${nodeCount} nodes ${m.drainSeconds.toFixed(1)} s (${m.drainOutcome}, ${m.evicted} evictions); ` +
          `rss ${m.rssStartMb} MB after start, peak ${m.rssPeakMb} MB summed (per worker ${m.rssPeakPerWorkerMb.join(' + ')})`,
      );
    }
    const [base] = results;
    for (const m of results.slice(1))
      console.log(
        `  ${m.workers} vs ${base!.workers} worker${base!.workers > 1 ? 's' : ''}: health checks x${(m.healthChecksSeconds / base!.healthChecksSeconds).toFixed(2)}, ` +
          `drain x${(m.drainSeconds / base!.drainSeconds).toFixed(2)}, summed peak rss x${(m.rssPeakMb / base!.rssPeakMb).toFixed(2)}`,
      );
    const key = (prefix: string, pick: (m: Measured) => string) =>
      results.map((m) => `${prefix}_w${m.workers}=${pick(m)}`).join(' ');
    console.log(
      `scale: ${key(`hc${runs}_s`, (m) => m.healthChecksSeconds.toFixed(1))} ${key(`drain${nodeCount}_s`, (m) => m.drainSeconds.toFixed(1))} ${key('rss_mb', (m) => String(m.rssPeakMb))}`,
    );
    const failed = results.filter((m) => m.drainOutcome !== 'ok' || (m.outcomes.failed ?? 0) > 0);
    if (failed.length > 0) {
      console.error(`scale: failed runs with ${failed.map((m) => m.workers).join(', ')} workers`);
      process.exitCode = 1;
    }
  } finally {
    await client?.connection.close();
    await targets?.close();
    await server?.stop();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One configuration: `count` fresh workers on a task queue of their own, both phases, then stopped. */
async function measure({
  client,
  targets,
  database,
  address,
  count,
  runs,
  concurrency,
  poll,
}: {
  client: Client;
  targets: DrainTargets;
  database: Awaited<ReturnType<typeof createBookingDatabase>>;
  address: string;
  count: number;
  runs: number;
  concurrency: number;
  poll: ReturnType<typeof pollSettings>;
}): Promise<Measured> {
  const taskQueue = `bench-scale-w${count}-${randomBytes(3).toString('hex')}`;
  const workers: ProductionWorker[] = [];
  try {
    // One at a time: their start (bundle load) is not what is measured.
    for (let i = 0; i < count; i++)
      workers.push(
        await startProductionWorker({
          address,
          taskQueue,
          form: 'image',
          database,
          env: { KUBECONFIG: targets.cluster.workerKubeconfig },
        }),
      );
    const rssStartMb = sum(workers.map((w) => w.rssMb()));
    const peaks = workers.map(() => 0);
    let peakSum = 0;
    const sample = () => {
      const now = workers.map((w) => w.rssMb());
      now.forEach((mb, i) => (peaks[i] = Math.max(peaks[i]!, mb)));
      peakSum = Math.max(peakSum, sum(now));
    };
    sample();
    const sampler = setInterval(sample, 250);
    try {
      // All started at once; each run timed from its own start to its result.
      const healthChecks = (n: number, tag: string) =>
        Promise.all(
          Array.from({ length: n }, async (_, i) => {
            const started = performance.now();
            const report = (await client.workflow.execute('dailyHealthCheck', {
              taskQueue,
              workflowId: `${taskQueue}-${tag}-${i}`,
              args: [{ checks: HEALTH_CHECKS, reason: 'scale bench' }],
            })) as RunReport;
            return { report, seconds: (performance.now() - started) / 1000 };
          }),
        );
      // Untimed: every worker's first workflow and activity tasks (isolate, pools) before the clock starts.
      await healthChecks(4 * count, 'warm-up');
      const before = await runsFinished(workers);
      const started = performance.now();
      const finished = await healthChecks(runs, 'run');
      const healthChecksSeconds = (performance.now() - started) / 1000;
      const after = await runsFinished(workers);

      await targets.settle();
      const from = statSync(targets.cluster.auditLog).size;
      const drainStarted = performance.now();
      const drain = (await client.workflow.execute('rollingNodeUpdate', {
        taskQueue,
        workflowId: `${taskQueue}-drain`,
        args: [{ nodes: targets.nodes, concurrency, node: targets.nodeOptions(poll) }],
      })) as RunReport;
      const drainSeconds = (performance.now() - drainStarted) / 1000;
      sample();
      return {
        workers: count,
        healthChecksSeconds,
        runsPerWorker: after.map((n, i) => n - before[i]!),
        runSeconds: finished.map((f) => f.seconds).sort((a, b) => a - b),
        outcomes: countBy(finished.map((f) => f.report.outcome)),
        drainSeconds,
        drainOutcome: drain.outcome,
        evicted: targets.audit(from, (u) => u === WORKER_USERNAME).evicted,
        rssStartMb,
        rssPeakMb: peakSum,
        rssPeakPerWorkerMb: peaks,
      };
    } finally {
      clearInterval(sampler);
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

/** dailyHealthCheck runs each worker has finished so far (any status), from its /metrics. */
async function runsFinished(workers: ProductionWorker[]): Promise<number[]> {
  return Promise.all(
    workers.map(async (w) => {
      const text = await (await fetch(w.metricsUrl)).text();
      return sum(
        [...text.matchAll(/^maintenance_job_runs_total\{[^}]*kind="dailyHealthCheck"[^}]*\} (\d+)/gm)].map((m) =>
          Number(m[1]),
        ),
      );
    }),
  );
}

/** The q-quantile of sorted seconds, to a tenth. */
const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function countBy(xs: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const x of xs) counts[x] = (counts[x] ?? 0) + 1;
  return counts;
}

const formatCounts = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
