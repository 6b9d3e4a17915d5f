import { mkdtempSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackupActivities } from '../../activities/postgres/backup.js';
import { createBridge } from '../../src/bridge.js';
import type { Config } from '../../src/config/schema.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics, startMetricsServer } from '../../src/metrics.js';
import { clusterForFile, type TestCluster } from './cluster.js';
import { makeTestKeys, type TestKeys } from './keys.js';
import { freePort } from './net.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { SlackSink } from './slack-sink.js';
import { loadConfig } from '../../src/config/load.js';
import { testConfigEnv, withWorker, type WorkerContext } from './temporal.js';

export const SIGNING_SECRET = 'test-signing-secret';

export interface Stack {
  db: TestDatabase;
  /** Where the stack's backups go, and the real dump it started with. */
  backupDir: string;
  backupFile: string;
  slack: SlackSink;
  /** This stack's namespace, nodes and workloads on the suite's real control plane; the worker uses its ServiceAccount. */
  kube: TestCluster;
  config: Config;
  /** The environment the config was loaded from (MAINT_CONFIG naming its file): `maint` run with it sees the same. */
  env: Record<string, string>;
  /** Signing keys of every approver, Slack-mapped user and extra person, and of the bridge. */
  keys: TestKeys;
  /** Runs `fn` with a worker and the approval bridge listening on a free port. */
  withBridge<T>(fn: (ctx: WorkerContext & { bridgeUrl: string }) => Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

interface StackApprovals {
  emergencyMaintenance?: { approvers: string[]; required: number };
  annualUpgrade?: { approvers: string[]; required: number };
  slackUsers?: Record<string, string>;
}

/**
 * Everything a gated workflow touches, on loopback: a database (booking and report store), the
 * Slack sink, a namespace of the suite's Kubernetes control plane (named after `name`), a fresh verified backup (a real dump with its manifest), a live
 * metrics endpoint, and a config whose approval allow-lists are `approvals`, with a signing key for
 * every person named there or in `people` (requesters, outsiders) and one for the bridge.
 */
export async function startStack(
  approvals: StackApprovals,
  {
    name = 'stack',
    targets = {},
    file = {},
    people = [],
  }: { name?: string; targets?: Record<string, unknown>; file?: Record<string, unknown>; people?: string[] } = {},
): Promise<Stack> {
  const keys = makeTestKeys([
    ...(approvals.emergencyMaintenance?.approvers ?? []),
    ...(approvals.annualUpgrade?.approvers ?? []),
    ...Object.values(approvals.slackUsers ?? {}),
    ...people,
  ]);
  const [db, slack, kube] = await Promise.all([
    createTestDatabase('maint_stack'),
    new SlackSink().start(),
    clusterForFile(name),
  ]);
  const backupDir = mkdtempSync(join(tmpdir(), 'maint-stack-backups-'));
  // A real dump with its manifest, as the daily backup leaves it: checks verify it, they do not just see a file.
  const backup = await createBackupActivities({
    db: db.pool,
    databaseUrl: db.url,
    backupDirectory: backupDir,
    timeouts: { lockTimeoutMs: 5_000, statementTimeoutMs: 60_000 },
  }).createDatabaseBackup();
  const metricsPort = await freePort();
  const metrics: Server = await startMetricsServer(createMetrics(), {
    host: '127.0.0.1',
    port: metricsPort,
    health: () => ({ ok: true, detail: 'test' }),
  });
  const env = testConfigEnv(
    {
      ...slack.workerEnv(db.url, db.url),
      KUBECONFIG: kube.workerKubeconfig,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_RESPONSE_URL_PREFIX: `${slack.url}/`,
      BRIDGE_SIGNING_KEY: keys.bridgePrivateKey,
    },
    {
      targets: {
        kubernetes: { namespace: kube.namespace },
        backup: { directory: backupDir },
        monitoring: [{ name: 'worker-metrics', url: `http://127.0.0.1:${metricsPort}/metrics` }],
        ...targets,
      },
      approvals: { ...approvals, operatorKeys: keys.operatorKeys, bridgeKeys: keys.bridgeKeys },
      ...file,
    },
  );
  const config = loadConfig(env);
  return {
    env,
    db,
    slack,
    kube,
    config,
    keys,
    backupDir,
    backupFile: backup.file,
    withBridge: (fn) =>
      withWorker(config, async (ctx) => {
        const app = await createBridge({ config, client: ctx.client, logger: createLogger('silent') });
        await app.listen({ host: '127.0.0.1', port: 0 });
        try {
          return await fn({ ...ctx, bridgeUrl: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` });
        } finally {
          await app.close();
        }
      }),
    async stop() {
      metrics.close();
      await Promise.all([kube.cleanup(), slack.stop(), db.drop()]);
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(
  what: string,
  predicate: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export const uniqueId = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`;
