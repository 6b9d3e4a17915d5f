// Orchestration overhead: a workflow of 10 no-op activities through our step wrapper
// (MaintenanceRun: search attributes, set at start as the schedules set them; status query; step
// records) against a bare workflow of 10 no-op activities, in one process and one dev server (a
// worker holding just those, so the ratio is the wrapper's alone), in three rounds; the line takes
// the slowest round's medians and the worst round's ratio. Beside them runs an A/A control, the bare
// workflow under a second name: its ratio to the bare one is the noise of the measure itself
// (`control_ratio`, the round farthest from 1), the figure to read a `ratio` against.
// Cold start and memory come from the production worker (bench/_production-worker.ts): cold start
// as the image runs it, resident memory as `npm run up` runs it, after start and after 40
// dailyHealthChecks. Goals (issue 14): median <= 150 ms, ratio <= 1.05, compiled cold start <= 1.5 s,
// development start with a cached workflow bundle <= 2 s, the ratio worker's resident memory after
// its 120th run <= 180 MB, production memory within the Deployment's request.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, bundleWorkflowCode } from '@temporalio/worker';
import { runningSearchAttributes } from '../domain/run.js';
import { DEFAULT_BUNDLE_CACHE_DIR } from '../src/workflow-bundle-cache.js';
import { startDevServer } from '../dev/devserver.js';
import { freePort } from '../src/net.js';
import { TYPESCRIPT_LOADER, WORKER_NODE_ENV, WORKER_NODE_FLAGS } from '../src/worker-node-options.js';
import { deploymentMemoryRequestMi, rssMb, startProductionWorker, type WorkerForm } from './_production-worker.js';

const ROUNDS = 3;
// Runs vary by tens of ms on a shared machine: with a hundred of each per round the A/A control's
// rounds ranged 0.96-1.05, as wide as the goal; with three hundred they stayed within 3 %.
const RUNS_PER_ROUND = 300;
const WARM_UP_RUNS = 10;
const KINDS = ['wrappedNoops', 'bareNoops', 'bareNoopsControl'] as const;
type Kind = (typeof KINDS)[number];
/** The six orders of the three kinds, taken in turn: wrapped and bare runs then follow the same mix of kinds. */
const ORDERS: Kind[][] = KINDS.flatMap((first) =>
  KINDS.filter((k) => k !== first).map((second) => [first, second, KINDS.find((k) => k !== first && k !== second)!]),
);
/** The run after which the benchmark worker's memory is read (the figure issue 14 set its goal on). */
const MEMORY_AFTER_RUNS = 120;
const HEALTH_CHECKS = 40;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timeRun(client: Client, taskQueue: string, type: Kind): Promise<number> {
  const t0 = performance.now();
  await client.workflow.execute(type, {
    taskQueue,
    workflowId: `bench-${type}-${Date.now()}-${Math.random()}`,
    args: [10],
    // Started as the schedules start a routine run: with its kind, target and outcome set.
    ...(type === 'wrappedNoops' ? { typedSearchAttributes: runningSearchAttributes('benchmark', 'noop') } : {}),
  });
  return performance.now() - t0;
}

/** Process start to healthy and polling, for the production worker in the given form. */
async function coldStart(address: string, form: WorkerForm): Promise<number> {
  const worker = await startProductionWorker({ address, taskQueue: 'bench-cold-start', form });
  await worker.stop();
  return worker.startSeconds;
}

export async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const server = await startDevServer({ port: await freePort(), headless: true });
  const dir = mkdtempSync(join(tmpdir(), 'bench-orchestration-'));
  try {
    const client = new Client({ connection: await Connection.connect({ address: server.address }) });
    const taskQueue = 'bench-orchestration';
    const benchBundle = join(dir, 'bench-bundle.js');
    const { code } = await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('./_orchestration-workflows.ts', import.meta.url)),
      logger: new DefaultLogger('WARN'),
    });
    writeFileSync(benchBundle, code);
    const worker = fork(
      fileURLToPath(new URL('./_orchestration-worker.ts', import.meta.url)),
      [server.address, taskQueue, benchBundle],
      // Started as every worker is (src/worker-node-options.ts).
      {
        execArgv: [...TYPESCRIPT_LOADER, ...WORKER_NODE_FLAGS],
        env: { ...process.env, ...WORKER_NODE_ENV },
        stdio: 'ignore',
      },
    );
    await new Promise((resolve) => worker.once('message', resolve));

    // One run at a time, the cycles taking the six orders in turn: what a run leaves the server to
    // do after it ends (its closing, visibility) delays the next run, which is of each kind equally
    // often; and wrapped and bare runs follow the same mix of kinds (a rotation put bare after
    // wrapped two times in three, wrapped after the control).
    let runs = 0;
    let benchWorkerRss = 0;
    const cycle = async (i: number) => {
      const times = {} as Record<Kind, number>;
      for (const type of ORDERS[i % ORDERS.length]!) {
        times[type] = await timeRun(client, taskQueue, type);
        if (++runs === MEMORY_AFTER_RUNS) benchWorkerRss = rssMb(worker.pid!);
      }
      return times;
    };
    for (let i = 0; i < WARM_UP_RUNS; i++) await cycle(i);
    const rounds: Record<Kind, number[]>[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const round = { wrappedNoops: [], bareNoops: [], bareNoopsControl: [] } as Record<Kind, number[]>;
      for (let i = 0; i < RUNS_PER_ROUND; i++) {
        const times = await cycle(i);
        for (const kind of KINDS) round[kind].push(times[kind]);
      }
      rounds.push(round);
    }
    worker.kill('SIGTERM');
    const ratios = rounds.map((r) => median(r.wrappedNoops) / median(r.bareNoops));
    const controls = rounds.map((r) => median(r.bareNoopsControl) / median(r.bareNoops));
    const control = controls.reduce((far, c) => (Math.abs(c - 1) > Math.abs(far - 1) ? c : far));
    const slowest = (kind: Kind) => Math.max(...rounds.map((r) => median(r[kind])));

    const colds: number[] = [];
    for (let r = 0; r < ROUNDS; r++) colds.push(await coldStart(server.address, 'image'));
    // Development start (npm run up: the transpiled sources), first with an empty workflow bundle
    // cache (webpack at start, as after an edit), then with the bundle that start cached; beside it,
    // the same start through tsx's loader, as it was before.
    rmSync(DEFAULT_BUNDLE_CACHE_DIR, { recursive: true, force: true });
    const devWebpack = await coldStart(server.address, 'npm run up');
    const devs: number[] = [];
    const tsxs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      devs.push(await coldStart(server.address, 'npm run up'));
      tsxs.push(await coldStart(server.address, 'tsx'));
    }
    const [cold, coldDev, coldTsx] = [Math.max(...colds), Math.max(...devs), Math.max(...tsxs)];

    // Memory: the worker `npm run up` starts, all workflows and activities, running real health checks.
    const production = await startProductionWorker({
      address: server.address,
      taskQueue: 'bench-orchestration-memory',
      form: 'npm run up',
    });
    let rssStart: number;
    let rssAfter: number;
    try {
      rssStart = production.rssMb();
      for (let i = 0; i < HEALTH_CHECKS; i++) {
        await client.workflow.execute('dailyHealthCheck', {
          taskQueue: 'bench-orchestration-memory',
          workflowId: `bench-memory-${i}-${Date.now()}`,
          args: [{}],
        });
      }
      rssAfter = production.rssMb();
    } finally {
      await production.stop();
    }

    rounds.forEach((r, i) =>
      console.log(
        `round ${i + 1}: median wrapped ${median(r.wrappedNoops).toFixed(1)} ms, bare ${median(r.bareNoops).toFixed(1)} ms, ratio ${ratios[i]!.toFixed(3)}; A/A control ${median(r.bareNoopsControl).toFixed(1)} ms, ratio ${controls[i]!.toFixed(3)} (${RUNS_PER_ROUND} runs of each)`,
      ),
    );
    console.log(
      `benchmark worker (the two workflows and a no-op activity, through tsx) resident memory after its ${MEMORY_AFTER_RUNS}th run: ${benchWorkerRss} MB`,
    );
    const seconds = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    console.log(
      `worker cold start, process start to healthy and polling: ${seconds(colds)} s compiled with a prebuilt bundle; transpiled (npm run up) ${seconds(devs)} s with the cached bundle, ${devWebpack.toFixed(2)} s with webpack at start; through tsx ${seconds(tsxs)} s`,
    );
    console.log(
      `production worker (npm run up) resident memory: ${rssStart} MB after start, ${rssAfter} MB after ${HEALTH_CHECKS} dailyHealthChecks; deployment memory request: ${deploymentMemoryRequestMi()} Mi`,
    );
    console.log(
      `orchestration: median_ms=${slowest('wrappedNoops').toFixed(0)} bare_median_ms=${slowest('bareNoops').toFixed(0)} ratio=${Math.max(...ratios).toFixed(2)} control_ratio=${control.toFixed(2)} cold_start_s=${cold.toFixed(2)} dev_start_s=${coldDev.toFixed(2)} dev_start_tsx_s=${coldTsx.toFixed(2)} dev_start_webpack_s=${devWebpack.toFixed(2)} rss_start_mb=${rssStart} rss_mb=${rssAfter} bench_worker_rss_mb=${benchWorkerRss}`,
    );
    await client.connection.close();
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
