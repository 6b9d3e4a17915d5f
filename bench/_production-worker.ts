// The production worker for benchmarks: src/worker.ts with every workflow and activity, the
// production config schema and the demo's targets (src/up.ts) against a real, seeded booking
// database. Started as `npm run up` starts it (the transpiled sources, the cached workflow bundle:
// dev/transpiled.ts), as the image runs it (compiled, prebuilt workflow bundle, NODE_ENV=production)
// or, for comparison, through tsx's loader (workflow bundle from the cache).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWorkflowBundle } from '../scripts/build-workflow-bundle.js';
import { ensureDatabase, seedDemoBookings } from '../dev/demo-db.js';
import { runStatement } from '../dev/postgres-admin.js';
import { developmentStart } from '../dev/transpiled.js';
import { freePort } from '../src/net.js';
import { TYPESCRIPT_LOADER, WORKER_NODE_ENV, WORKER_NODE_FLAGS } from '../src/worker-node-options.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ADMIN_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';

export type WorkerForm = 'npm run up' | 'image' | 'tsx';

export interface ProductionWorker {
  pid: number;
  /** Process start to healthy (metrics endpoint answering, polling). */
  startSeconds: number;
  /** Resident memory now, from /proc. */
  rssMb(): number;
  /** Its /metrics endpoint (runs finished by status, checks). */
  metricsUrl: string;
  stop(): Promise<void>;
}

export function rssMb(pid: number): number {
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024);
}

/** The Deployment's memory request (deploy/worker.yaml), the figure the worker must stay within. */
export function deploymentMemoryRequestMi(): string {
  return /memory:\s*"?(\d+)Mi"?/.exec(readFileSync(join(ROOT, 'deploy', 'worker.yaml'), 'utf8'))?.[1] ?? '?';
}

export interface BookingDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A seeded demo booking database on the local PostgreSQL; it is the worker's report store too. */
export async function createBookingDatabase(): Promise<BookingDatabase> {
  const database = `bench_worker_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const url = `postgresql://postgres@127.0.0.1:5432/${database}`;
  await ensureDatabase(ADMIN_URL, database);
  await seedDemoBookings(url);
  return {
    url,
    drop: () => runStatement(ADMIN_URL, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
  };
}

let imageBuild: Promise<{ entry: string; bundle: string }> | undefined;

/** The image's worker: compiled inside the repo (git-ignored .data/) so node_modules resolve as they do in the image, with a prebuilt bundle. Once per process. */
function buildImage(): Promise<{ entry: string; bundle: string }> {
  imageBuild ??= (async () => {
    const outDir = join(ROOT, '.data', 'bench-dist');
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: ROOT, stdio: 'ignore' });
    return {
      entry: join(outDir, 'src', 'worker.js'),
      bundle: await buildWorkflowBundle(join(outDir, 'workflow-bundle.js')),
    };
  })();
  return imageBuild;
}

export async function startProductionWorker({
  address,
  taskQueue,
  form,
  database,
  env: extraEnv,
}: {
  address: string;
  taskQueue: string;
  form: WorkerForm;
  /** Shared by several workers, as in production; the worker makes (and drops) its own when absent. */
  database?: BookingDatabase;
  /** On top of the bench's environment, e.g. KUBECONFIG. */
  env?: NodeJS.ProcessEnv;
}): Promise<ProductionWorker> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-worker-'));
  const ownDatabase = database ? undefined : await createBookingDatabase();
  const databaseUrl = (database ?? ownDatabase!).url;
  const metricsPort = await freePort();
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      targets: {
        http: [{ name: 'worker-healthz', url: `http://127.0.0.1:${metricsPort}/healthz`, budgetMs: 500 }],
        diskPaths: ['/'],
      },
    }),
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: address,
    DATABASE_URL: databaseUrl,
    MAINT_DATABASE_URL: databaseUrl,
    MAINT_CONFIG: config,
    METRICS_PORT: String(metricsPort),
    SDK_METRICS_PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
    TASK_QUEUE: taskQueue,
    ...WORKER_NODE_ENV,
    ...extraEnv,
  };
  let args: string[];
  // Built ahead, as the image is; a development start's own preparation (the sources' hash, the
  // bundle cache's check) counts.
  const image = form === 'image' ? await buildImage() : undefined;
  const t0 = performance.now();
  if (image) {
    const { entry, bundle } = image;
    Object.assign(env, { WORKFLOW_BUNDLE: bundle, NODE_ENV: 'production' });
    args = [...WORKER_NODE_FLAGS, entry];
  } else if (form === 'tsx') {
    args = [...TYPESCRIPT_LOADER, ...WORKER_NODE_FLAGS, join(ROOT, 'src', 'worker.ts')];
  } else {
    const start = await developmentStart('worker.ts');
    args = start.args;
    Object.assign(env, start.env);
  }
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: 'ignore' });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await ownDatabase?.drop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}`);
      if (
        await fetch(`http://127.0.0.1:${metricsPort}/healthz`)
          .then((r) => r.ok)
          .catch(() => false)
      )
        break;
      await new Promise((r) => setTimeout(r, 25));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    pid: child.pid!,
    startSeconds: (performance.now() - t0) / 1000,
    rssMb: () => rssMb(child.pid!),
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    stop,
  };
}
