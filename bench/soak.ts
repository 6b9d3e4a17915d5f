// Soak: the production worker as the image runs it (compiled, prebuilt workflow bundle, every
// workflow and activity; `npm run up`'s demo config against a real booking database) runs 500
// dailyHealthChecks one after another. Its
// resident memory is read at the start, after 250 and after 500 runs. Goal: the last half grows
// under 5 % and the figure stays within the Deployment's memory request (deploy/worker.yaml).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { buildWorkflowBundle } from '../scripts/build-workflow-bundle.js';
import { ensureDatabase, seedDemoBookings } from '../dev/demo-db.js';
import { startDevServer } from '../dev/devserver.js';
import { freePort } from '../src/net.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.env.SOAK_RUNS ?? 500);
const ADMIN_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';

function rssMb(pid: number): number {
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024);
}

export async function main(): Promise<void> {
  const server = await startDevServer({ port: await freePort(), headless: true });
  const dir = mkdtempSync(join(tmpdir(), 'bench-soak-'));
  const database = `bench_soak_${process.pid}`;
  const databaseUrl = `postgresql://postgres@127.0.0.1:5432/${database}`;
  await ensureDatabase(ADMIN_URL, database);
  await seedDemoBookings(databaseUrl);
  const metricsPort = await freePort();
  // The demo's targets (dev/up.ts): the worker's own health endpoint, the disk, the database.
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ targets: { http: [{ name: 'worker-healthz', url: `http://127.0.0.1:${metricsPort}/healthz`, budgetMs: 500 }], diskPaths: ['/'] } }));
  // Compiled inside the repo (git-ignored .data/) so node_modules resolve as they do in the image.
  const outDir = join(ROOT, '.data', 'bench-dist');
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: ROOT, stdio: 'ignore' });
  const bundle = await buildWorkflowBundle(join(dir, 'workflow-bundle.js'));
  const worker = spawn(process.execPath, [join(outDir, 'src', 'worker.js')], {
    cwd: ROOT,
    env: {
      ...process.env, WORKFLOW_BUNDLE: bundle, NODE_ENV: 'production', TEMPORAL_ADDRESS: server.address, DATABASE_URL: databaseUrl, MAINT_DATABASE_URL: databaseUrl, MAINT_CONFIG: config,
      METRICS_PORT: String(metricsPort), SDK_METRICS_PORT: String(await freePort()), LOG_LEVEL: 'warn', TASK_QUEUE: 'bench-soak',
    },
    stdio: 'ignore',
  });
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  try {
    for (;;) {
      if (worker.exitCode !== null) throw new Error(`worker exited with ${worker.exitCode}`);
      if (await fetch(`http://127.0.0.1:${metricsPort}/healthz`).then((r) => r.ok).catch(() => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const rss: Record<number, number> = { 0: rssMb(worker.pid!) };
    const t0 = performance.now();
    for (let i = 1; i <= RUNS; i++) {
      await client.workflow.execute('dailyHealthCheck', { taskQueue: 'bench-soak', workflowId: `soak-${i}-${Date.now()}`, args: [{}] });
      if (i % 50 === 0) {
        rss[i] = rssMb(worker.pid!);
        console.log(`${i} runs: rss ${rss[i]} MB, ${((performance.now() - t0) / i).toFixed(0)} ms per run`);
      }
    }
    const half = rss[Math.floor(RUNS / 2 / 50) * 50]!;
    const end = rss[RUNS]!;
    const request = /memory:\s*"?(\d+)Mi"?/.exec(readFileSync(join(ROOT, 'deploy', 'worker.yaml'), 'utf8'))?.[1];
    console.log(`deployment memory request: ${request ?? '?'} Mi`);
    console.log(`soak: rss_start_mb=${rss[0]} rss_${RUNS / 2}_mb=${half} rss_${RUNS}_mb=${end} growth_last_half_pct=${(((end - half) / half) * 100).toFixed(1)}`);
  } finally {
    worker.kill('SIGTERM');
    await client.connection.close();
    await server.stop();
    const { Client: PgClient } = await import('pg');
    const admin = new PgClient({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}
