// `npm run bench -- drain [--nodes 50] [--pods 20] [--eviction-ms 1000] [--reboot-ms 1000] [--concurrency 1,5]`
//
// A rolling update of simulated nodes (rollingNodeUpdate -> nodeUpdate children -> real activities
// -> the Kubernetes API double) on a real worker and Temporal dev server. Each node costs at
// least the double's pod termination (evictions run in parallel) plus its reboot, so the ideal
// is nodes x (eviction + reboot) / concurrency; the ratio to it is Temporal's and our overhead.
import { parseArgs } from 'node:util';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import type pg from 'pg';
import { ensureReportSchema } from '../activities/reports.js';
import { createClients } from '../src/clients.js';
import { loadConfig } from '../src/config.js';
import type { RunReport } from '../domain/run.js';
import { startDevServer } from '../dev/devserver.js';
import { createLogger } from '../src/logger.js';
import { createMaintenanceWorker } from '../src/worker.js';
import { freePort } from '../src/net.js';
import { createTestDatabase } from '../test/helpers/postgres.js';
import { rollingNodeUpdate } from '../workflows/rolling-node-update.js';
import type { ClusterReady, ClusterSpec, ClusterStats } from './_drain-cluster.js';

/** How often activities look at the cluster: short against the delays, long enough not to load the worker (each look deserializes a pod list). */
const POLL_MS = 25;

interface Round {
  concurrency: number;
  elapsedMs: number;
  idealMs: number;
  ratio: number;
  evictions: number;
  apiRequests: number;
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      nodes: { type: 'string', default: '50' },
      pods: { type: 'string', default: '20' },
      'eviction-ms': { type: 'string', default: '1000' },
      'reboot-ms': { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '1,5' },
    },
  });
  const nodes = Number(values.nodes);
  const podsPerNode = Number(values.pods);
  const evictionMs = Number(values['eviction-ms']);
  const rebootMs = Number(values['reboot-ms']);
  const levels = values.concurrency.split(',').map(Number);

  Runtime.install({ logger: new DefaultLogger('ERROR') });
  // In memory: the bench measures orchestration, not SQLite's fsyncs.
  const server = process.env.TEMPORAL_ADDRESS ? undefined : await startDevServer({ port: await freePort(), headless: true });
  const address = process.env.TEMPORAL_ADDRESS ?? server!.address;
  const reports = await createTestDatabase('bench_drain_reports');
  await ensureReportSchema(reports.pool);
  const rounds: Round[] = [];
  try {
    console.log(`drain bench: ${nodes} nodes x ${podsPerNode} pods, pod termination ${evictionMs} ms, reboot ${rebootMs} ms, Temporal at ${address}`);
    for (const concurrency of levels) {
      rounds.push(await runRound({ address, reportsUrl: reports.url, nodes, podsPerNode, evictionMs, rebootMs, concurrency }));
      const r = rounds.at(-1)!;
      console.log(`  concurrency ${concurrency}: ${(r.elapsedMs / 1000).toFixed(2)} s, ideal ${(r.idealMs / 1000).toFixed(2)} s, ratio ${r.ratio.toFixed(3)}, `
        + `overhead ${((r.elapsedMs - r.idealMs) / nodes).toFixed(0)} ms/node, ${r.evictions} evictions, ${r.apiRequests} API requests`);
    }
  } finally {
    await reports.drop();
    await server?.stop();
  }
  console.log(`drain: ${rounds.map((r) => `ratio_c${r.concurrency}=${r.ratio.toFixed(2)}`).join(' ')}`);
}

/** Mean time per nodeUpdate step across the round's children, and the time outside any step. */
async function printStepTimes(reports: pg.Pool, parentId: string): Promise<void> {
  const { rows } = await reports.query<{ report: RunReport }>(`SELECT report FROM maintenance_runs WHERE workflow_id LIKE $1`, [`${parentId}/%`]);
  const sums = new Map<string, number>();
  let outside = 0;
  for (const { report } of rows) {
    let inSteps = 0;
    for (const step of report.steps) {
      const ms = Date.parse(step.finishedAt ?? step.startedAt) - Date.parse(step.startedAt);
      inSteps += ms;
      const name = step.name.replace(report.target, '<node>');
      sums.set(name, (sums.get(name) ?? 0) + ms);
    }
    outside += Date.parse(report.finishedAt) - Date.parse(report.startedAt) - inSteps;
  }
  const n = Math.max(1, rows.length);
  console.log(`    per node (mean of ${rows.length}): ${[...sums].map(([name, ms]) => `${name} ${(ms / n).toFixed(0)} ms`).join(', ')}, outside steps ${(outside / n).toFixed(0)} ms`);
}

/** Starts the simulated cluster in its own process; `stop()` ends it and returns what it served. */
async function startCluster(spec: ClusterSpec): Promise<ClusterReady & { stop(): Promise<ClusterStats> }> {
  const child = fork(fileURLToPath(new URL('./_drain-cluster.ts', import.meta.url)), { execArgv: ['--import', 'tsx'] });
  const ready = new Promise<ClusterReady>((resolve, reject) => {
    child.once('message', (m) => resolve(m as ClusterReady));
    child.once('error', reject);
  });
  child.send(spec);
  return {
    ...(await ready),
    stop: () => new Promise<ClusterStats>((resolve) => {
      child.once('message', (m) => resolve(m as ClusterStats));
      child.send('stop');
    }),
  };
}

async function runRound(o: { address: string; reportsUrl: string; nodes: number; podsPerNode: number; evictionMs: number; rebootMs: number; concurrency: number }): Promise<Round> {
  const names = Array.from({ length: o.nodes }, (_, i) => `node-${String(i + 1).padStart(2, '0')}`);
  const cluster = await startCluster({ nodes: names, warmupNode: 'warmup', podsPerNode: o.podsPerNode, evictionMs: o.evictionMs, rebootMs: o.rebootMs });
  const config = loadConfig({ TEMPORAL_ADDRESS: o.address, MAINT_DATABASE_URL: o.reportsUrl, KUBECONFIG: cluster.kubeconfig, LOG_LEVEL: 'silent' });
  const clients = createClients(config, createLogger('silent'));
  const connection = await NativeConnection.connect({ address: o.address });
  const client = new Client({ connection: await Connection.connect({ address: o.address }) });
  const taskQueue = `bench-drain-${o.concurrency}-${Date.now()}`;
  try {
    const worker = await createMaintenanceWorker({ connection, config, clients, taskQueue });
    const nodeOptions = {
      drain: { timeout: '5 minutes', pollInterval: POLL_MS, evictionRetry: 50 },
      update: { hookUrl: cluster.hookUrl, doneWhen: 'rebooted' as const, timeout: '5 minutes' },
      readyTimeout: '5 minutes',
      pollInterval: POLL_MS,
    };
    const rollingUpdate = (workflowId: string, nodes: string[]) =>
      client.workflow.execute(rollingNodeUpdate, { taskQueue, workflowId, args: [{ nodes, concurrency: o.concurrency, node: nodeOptions }] });
    const workflowId = `bench-drain-c${o.concurrency}-${Date.now()}`;
    let started = 0;
    let cpuBefore = process.cpuUsage();
    await worker.runUntil(async () => {
      // Untimed: the first run pays for loading the workflow bundle into its VM and the first API connections.
      await rollingUpdate(`${workflowId}-warmup`, ['warmup']);
      started = performance.now();
      cpuBefore = process.cpuUsage();
      await rollingUpdate(workflowId, names);
    });
    const elapsedMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    console.log(`    worker process CPU: ${(((cpu.user + cpu.system) / 1000 / elapsedMs) * 100).toFixed(0)}% of one core`);
    await printStepTimes(clients.reports, workflowId);
    const idealMs = (o.nodes * (o.evictionMs + o.rebootMs)) / o.concurrency;
    return { concurrency: o.concurrency, elapsedMs, idealMs, ratio: elapsedMs / idealMs, ...(await cluster.stop()) };
  } finally {
    await client.connection.close();
    await connection.close();
    await clients.close();
  }
}
