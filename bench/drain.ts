// `npm run bench -- drain [--nodes 50] [--pods 20] [--rounds 3] [--concurrency 1,5] [--poll production|fast]`
//
// Rolling drains on the real local control plane (kube-apiserver, controller-manager, scheduler,
// etcd; kwok nodes and kubelets): `nodes` nodes holding `pods` pods each, from Deployments of 100
// pods behind PodDisruptionBudgets (maxUnavailable 10%). Each round, at each concurrency, drains
// every node twice: once with rollingNodeUpdate (real worker, Temporal dev server, the worker's
// ServiceAccount of deploy/rbac.yaml) and once with the baseline, `kubectl drain` + the update
// hook + `kubectl uncordon` per node, in as many lanes. ratio = ours / baseline; the last line
// holds the worst round. API requests per evicted pod come from the apiserver's audit log.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { AppsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import pg from 'pg';
import { ensureReportSchema } from '../src/maintenance-runs.js';
import { createClients } from '../src/clients.js';
import { loadConfig } from '../src/config/load.js';
import { startDevServer } from '../dev/devserver.js';
import { runStatement } from '../dev/postgres-admin.js';
import { applyObjects, startLocalCluster, WORKER_USERNAME, type LocalCluster } from '../dev/kube-local/cluster.js';
import { waitForAvailable } from '../dev/kube-local/demo.js';
import { reportReboot } from '../dev/kube-local/reboot.js';
import { createLogger } from '../src/logger.js';
import { freePort } from '../src/net.js';
import { createMaintenanceWorker } from '../src/worker.js';
import { rollingNodeUpdate } from '../workflows/rolling-node-update.js';

const run = promisify(execFile);
const NAMESPACE = 'default';
const PODS_PER_DEPLOYMENT = 100;
/** Production (workflows/node-update.ts defaults): drain polls every 2 s and retries a refused eviction every 5 s, readiness every 5 s. */
const POLL = {
  production: { pollInterval: '2 seconds', evictionRetry: '5 seconds', readyPoll: '5 seconds' },
  fast: { pollInterval: '250ms', evictionRetry: '1 second', readyPoll: '250ms' },
} as const;

interface Measure {
  ms: number;
  evicted: number;
  requests: number;
}

/** The drain's targets: a local cluster of `nodeCount` kwok nodes holding `podsPerNode` pods each, behind PDBs. */
export interface DrainTargets {
  cluster: LocalCluster;
  admin: KubeConfig;
  nodes: string[];
  deployments: string[];
  /** The node-update hook every drained node is "updated" through. */
  hookUrl: string;
  setupSeconds: number;
  /** Waits until every Deployment has all its pods available again (after a drain). */
  settle(): Promise<void>;
  /** nodeUpdate's options with the given poll settings, as rollingNodeUpdate's `node` input. */
  nodeOptions(poll: Poll): Record<string, unknown>;
  /** Requests by `user` in the audit log after byte `from`, and the evictions granted among them. */
  audit(from: number, user: (u: string) => boolean): { requests: number; evicted: number };
  close(): Promise<void>;
}

export type Poll = (typeof POLL)[keyof typeof POLL];

export function pollSettings(name: string): Poll {
  const poll = POLL[name as keyof typeof POLL];
  if (!poll) throw new Error(`--poll must be production or fast, not ${name}`);
  return poll;
}

/** Shared with bench/scale.ts: the cluster, nodes, workloads and hook, ready for a drain of every node. */
export async function setUpDrainTargets({
  dir,
  nodeCount,
  podsPerNode,
}: {
  dir: string;
  nodeCount: number;
  podsPerNode: number;
}): Promise<DrainTargets> {
  const started = performance.now();
  const nodes = Array.from({ length: nodeCount }, (_, i) => `drain-${String(i + 1).padStart(2, '0')}`);
  const cluster = await startLocalCluster({ dir, nodes: 0 });
  const admin = new KubeConfig();
  admin.loadFromFile(cluster.adminKubeconfig);
  let hook: Awaited<ReturnType<typeof startRebootHook>> | undefined;
  try {
    hook = await startRebootHook(admin);
    await cluster.addNodes(nodes);
    const deployments = await deployWorkloads(admin, nodeCount * podsPerNode);
    const settle = () => waitForAvailable(admin.makeApiClient(AppsV1Api), NAMESPACE, deployments, 15 * 60_000);
    await settle();
    const hookUrl = hook.url;
    const closeHook = hook.close;
    return {
      cluster,
      admin,
      nodes,
      deployments,
      hookUrl,
      setupSeconds: (performance.now() - started) / 1000,
      settle,
      nodeOptions: (poll) => ({
        drain: { timeout: '15 minutes', pollInterval: poll.pollInterval, evictionRetry: poll.evictionRetry },
        update: { hookUrl, doneWhen: 'rebooted' as const, timeout: '15 minutes' },
        readyTimeout: '15 minutes',
        pollInterval: poll.readyPoll,
      }),
      audit: (from, user) => countAudit(cluster.auditLog, from, user),
      close: async () => {
        await closeHook();
        await cluster.stop();
      },
    };
  } catch (err) {
    await hook?.close();
    await cluster.stop();
    throw err;
  }
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      nodes: { type: 'string', default: '50' },
      pods: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '1,5' },
      poll: { type: 'string', default: 'production' },
    },
  });
  const nodeCount = Number(values.nodes);
  const podsPerNode = Number(values.pods);
  const rounds = Number(values.rounds);
  const levels = values.concurrency.split(',').map(Number);
  const poll = pollSettings(values.poll);

  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const dir = mkdtempSync(join(tmpdir(), 'bench-drain-'));
  let targets: DrainTargets | undefined;
  let server: Awaited<ReturnType<typeof startDevServer>> | undefined;
  const db = await createDatabase();
  try {
    [targets, server] = await Promise.all([
      setUpDrainTargets({ dir, nodeCount, podsPerNode }),
      process.env.TEMPORAL_ADDRESS ? undefined : startDevServer({ port: await freePort(), headless: true }),
    ]);
    const { cluster, admin, nodes } = targets;
    // Untimed: loads the workflow bundle and opens the first connections, on a node holding no pods.
    await cluster.addNodes(['drain-warmup']);
    console.log(
      `drain bench: ${nodeCount} nodes x ${podsPerNode} pods (${targets.deployments.length} Deployments with PDBs), set up in ${targets.setupSeconds.toFixed(0)} s; poll ${values.poll} (${JSON.stringify(poll)})`,
    );

    const address = process.env.TEMPORAL_ADDRESS ?? server!.address;
    const config = loadConfig({
      TEMPORAL_ADDRESS: address,
      MAINT_DATABASE_URL: db.url,
      KUBECONFIG: cluster.workerKubeconfig,
      LOG_LEVEL: 'silent',
    });
    const clients = createClients(config, createLogger('silent'));
    const connection = await NativeConnection.connect({ address });
    const client = new Client({ connection: await Connection.connect({ address }) });
    const taskQueue = `bench-drain-${randomBytes(3).toString('hex')}`;
    const worker = await createMaintenanceWorker({ connection, config, clients, taskQueue });
    const t = targets;
    const ours = async (concurrency: number, names: string[]): Promise<Measure> => {
      const from = statSync(cluster.auditLog).size;
      const started = performance.now();
      await client.workflow.execute(rollingNodeUpdate, {
        taskQueue,
        workflowId: `bench-drain-c${concurrency}-${randomBytes(3).toString('hex')}`,
        args: [{ nodes: names, concurrency, node: t.nodeOptions(poll) }],
      });
      const ms = performance.now() - started;
      return { ms, ...t.audit(from, (u) => u === WORKER_USERNAME) };
    };
    const baseline = async (concurrency: number): Promise<Measure> => {
      const from = statSync(cluster.auditLog).size;
      const started = performance.now();
      const queue = [...nodes];
      const kubectl = (...a: string[]) =>
        run(cluster.kubectl, ['--kubeconfig', cluster.adminKubeconfig, ...a], { maxBuffer: 16 << 20 });
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let node = queue.shift(); node; node = queue.shift()) {
            await kubectl('drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=15m');
            await fetch(t.hookUrl, { method: 'POST', body: JSON.stringify({ node }) });
            await kubectl('uncordon', node);
          }
        }),
      );
      const ms = performance.now() - started;
      return { ms, ...t.audit(from, (u) => u === 'admin') };
    };

    const worst = new Map<number, number>();
    let worstRequestsPerPod = 0;
    await worker.runUntil(async () => {
      await ours(1, ['drain-warmup']);
      // Gone before the pods could spread onto it: the measured rounds keep the shape asked for.
      await admin.makeApiClient(CoreV1Api).deleteNode({ name: 'drain-warmup' });
      for (let round = 1; round <= rounds; round++) {
        for (const concurrency of levels) {
          await t.settle();
          const base = await baseline(concurrency);
          await t.settle();
          const our = await ours(concurrency, nodes);
          const ratio = our.ms / base.ms;
          const perPod = our.requests / Math.max(1, our.evicted);
          worst.set(concurrency, Math.max(worst.get(concurrency) ?? 0, ratio));
          worstRequestsPerPod = Math.max(worstRequestsPerPod, perPod);
          console.log(
            `  round ${round} concurrency ${concurrency}: ours ${(our.ms / 1000).toFixed(1)} s (${our.evicted} evictions, ${perPod.toFixed(2)} API requests/pod), ` +
              `kubectl drain ${(base.ms / 1000).toFixed(1)} s (${base.evicted} evictions, ${(base.requests / Math.max(1, base.evicted)).toFixed(2)} requests/pod), ratio ${ratio.toFixed(3)}`,
          );
        }
      }
    });
    await client.connection.close();
    await connection.close();
    await clients.close();
    console.log(
      `drain: ${levels.map((l) => `ratio_c${l}=${worst.get(l)!.toFixed(2)}`).join(' ')} api_requests_per_pod=${worstRequestsPerPod.toFixed(2)}`,
    );
  } finally {
    await targets?.close();
    await server?.stop();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Deployments of up to 100 pods, each behind a PDB allowing 10% unavailable; the scheduler spreads them over the nodes. */
async function deployWorkloads(kc: KubeConfig, totalPods: number): Promise<string[]> {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const names: string[] = [];
  for (let i = 0; i * PODS_PER_DEPLOYMENT < totalPods; i++) {
    const name = `bench-app-${i}`;
    names.push(name);
    const labels = { app: name, 'app.kubernetes.io/part-of': 'trixtech' };
    await applyObjects(objects, [
      {
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: { name, namespace: NAMESPACE },
        spec: { maxUnavailable: '10%', selector: { matchLabels: { app: name } } },
      } as KubernetesObject,
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace: NAMESPACE, labels },
        spec: {
          replicas: Math.min(PODS_PER_DEPLOYMENT, totalPods - i * PODS_PER_DEPLOYMENT),
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels },
            spec: {
              containers: [{ name: 'app', image: `ghcr.io/trixtech/${name}:1.0.0` }],
              // kwok removes an evicted pod at a random moment within its grace period: an app that stops within 5 s.
              terminationGracePeriodSeconds: 5,
            },
          },
        },
      } as KubernetesObject,
    ]);
  }
  return names;
}

/** Requests by `user` in the audit log after byte `from`, and how many of them were evictions granted. */
function countAudit(file: string, from: number, user: (u: string) => boolean): { requests: number; evicted: number } {
  const events = readFileSync(file)
    .subarray(from)
    .toString()
    .split('\n')
    .filter(Boolean)
    .map(
      (l) =>
        JSON.parse(l) as {
          user: { username: string };
          objectRef?: { subresource?: string };
          responseStatus?: { code?: number };
        },
    )
    .filter((e) => user(e.user.username));
  return {
    requests: events.length,
    evicted: events.filter((e) => e.objectRef?.subresource === 'eviction' && e.responseStatus?.code === 201).length,
  };
}

/** The node-update hook: the node "reboots" at once (a new boot id), as if its update took no time. */
async function startRebootHook(kc: KubeConfig): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on(
      'end',
      () =>
        void reportReboot(kc, (JSON.parse(body) as { node: string }).node).then(
          () => res.writeHead(202).end(),
          (err: Error) => res.writeHead(500).end(err.message),
        ),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/update`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** The report store: a fresh database on the local PostgreSQL. */
async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = process.env.TEST_PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const name = `bench_drain_${randomBytes(4).toString('hex')}`;
  const sql = (q: string) => runStatement(adminUrl, q);
  await sql(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  await ensureReportSchema(pool);
  await pool.end();
  return { url: url.toString(), drop: () => sql(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}
