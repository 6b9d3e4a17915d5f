// Orchestration overhead: a workflow of 10 no-op activities through our step wrapper
// (MaintenanceRun.step: status query, step records) against a bare workflow of 10 no-op
// activities, in one process and one dev server; plus the worker's cold start and its RSS
// after 120 runs. Goals (issue 14): median <= 150 ms, ratio <= 1.05, compiled cold start <= 1.5 s,
// development start (tsx, cached workflow bundle) <= 2 s, RSS <= 180 MB.
import { execFileSync, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, bundleWorkflowCode } from '@temporalio/worker';
import { buildWorkflowBundle } from '../scripts/build-workflow-bundle.js';
import { DEFAULT_BUNDLE_CACHE_DIR } from '../src/workflow-bundle-cache.js';
import { startDevServer } from '../src/devserver.js';
import { freePort } from '../src/net.js';

const RUNS = 100;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timeRuns(client: Client, taskQueue: string, type: string, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await client.workflow.execute(type, { taskQueue, workflowId: `bench-${type}-${i}-${Date.now()}`, args: [10] });
    times.push(performance.now() - t0);
  }
  return times;
}

/** Process start to healthy and polling, for the real worker entry point given as `args`. */
async function coldStart(address: string, args: string[], extraEnv: Record<string, string>): Promise<number> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...extraEnv, TEMPORAL_ADDRESS: address, METRICS_PORT: String(port), SDK_METRICS_PORT: String(await freePort()), TASK_QUEUE: 'bench-cold-start', LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok).catch(() => false);
      if (ok) return (performance.now() - t0) / 1000;
      if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round(kb / 1024);
}

export async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const server = await startDevServer({ port: await freePort(), headless: true });
  const dir = mkdtempSync(join(tmpdir(), 'bench-orchestration-'));
  try {
    const client = new Client({ connection: await Connection.connect({ address: server.address }) });
    const taskQueue = 'bench-orchestration';
    const benchBundle = join(dir, 'bench-bundle.js');
    const { code } = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('./_orchestration-workflows.ts', import.meta.url)), logger: new DefaultLogger('WARN') });
    writeFileSync(benchBundle, code);
    const worker = fork(fileURLToPath(new URL('./_orchestration-worker.ts', import.meta.url)), [server.address, taskQueue, benchBundle], { execArgv: ['--import', 'tsx'], stdio: 'ignore' });
    await new Promise((resolve) => worker.once('message', resolve));

    await timeRuns(client, taskQueue, 'wrappedNoops', 10); // warm-up
    await timeRuns(client, taskQueue, 'bareNoops', 10);
    const ours: number[] = [];
    const bare: number[] = [];
    // Interleaved so drift on the shared machine hits both equally.
    for (let i = 0; i < RUNS / 2; i++) {
      ours.push(...(await timeRuns(client, taskQueue, 'wrappedNoops', 1)));
      bare.push(...(await timeRuns(client, taskQueue, 'bareNoops', 1)));
    }
    const workerRss = rssMb(worker.pid!);
    worker.kill('SIGTERM');
    const ratio = median(ours) / median(bare);

    // Production start-up: compiled JavaScript and a prebuilt workflow bundle (what the image runs).
    // Compiled inside the repo (git-ignored .data/) so node_modules resolve as they do in the image.
    const outDir = join(ROOT, '.data', 'bench-dist');
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: ROOT, stdio: 'ignore' });
    const bundle = await buildWorkflowBundle(join(dir, 'workflow-bundle.js'));
    const cold = await coldStart(server.address, [join(outDir, 'src', 'worker.js')], { WORKFLOW_BUNDLE: bundle });
    // Development start-up (npm run worker, npm run up), TypeScript through tsx: first with an
    // empty bundle cache (webpack at start, as every start was before the cache, and as the first
    // start after an edit is), then with the cache that start left.
    rmSync(DEFAULT_BUNDLE_CACHE_DIR, { recursive: true, force: true });
    const devWebpack = await coldStart(server.address, ['--import', 'tsx', 'src/worker.ts'], {});
    const coldDev = await coldStart(server.address, ['--import', 'tsx', 'src/worker.ts'], {});

    console.log(`median wrapped: ${median(ours).toFixed(1)} ms, median bare: ${median(bare).toFixed(1)} ms, ${RUNS / 2} runs each after 10 warm-up runs each`);
    console.log(`worker cold start, process start to healthy and polling: ${cold.toFixed(2)} s compiled with a prebuilt bundle; through tsx (npm run worker, npm run up) ${coldDev.toFixed(2)} s with the cached bundle, ${devWebpack.toFixed(2)} s with webpack at start`);
    console.log(`worker resident memory after ${RUNS + 20} runs: ${workerRss} MB`);
    console.log(`orchestration: median_ms=${median(ours).toFixed(0)} bare_median_ms=${median(bare).toFixed(0)} ratio=${ratio.toFixed(2)} cold_start_s=${cold.toFixed(2)} dev_start_s=${coldDev.toFixed(2)} dev_start_webpack_s=${devWebpack.toFixed(2)} rss_mb=${workerRss}`);
    await client.connection.close();
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
