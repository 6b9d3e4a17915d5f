import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { DefaultLogger } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { ensureSearchAttributes } from '../schedules/apply.js';
import { startDevServer, type DevServer } from '../dev/devserver.js';
import { startLocalCluster, type LocalCluster } from '../dev/kube-local/cluster.js';
import { cachedMaintenanceBundle } from '../src/workflow-bundle.js';
import { freePort } from './helpers/net.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    /** The suite's own namespace: tests apply, pause, trigger and delete schedules and workflows there. */
    temporalNamespace: string;
    /** The suite's Kubernetes control plane: cluster-admin, for set-up only (test/helpers/cluster.ts). */
    kubeAdminKubeconfig: string;
    kubeAuditLog: string;
    /** Prometheus http_sd of the kwok nodes' emulated kubelet resource metrics. */
    kubeletMetricsDiscovery: string;
    /** Where test files write their own kubeconfigs. */
    kubeDir: string;
  }
}

let server: DevServer | undefined;
let dir: string | undefined;
let cluster: LocalCluster | undefined;
let kubeDir: string | undefined;

/** One Temporal server and one Kubernetes control plane for the whole run. */
export async function setup(project: TestProject): Promise<void> {
  // The Kubernetes control plane starts while Temporal does.
  kubeDir = mkdtempSync(join(tmpdir(), 'maint-test-kube-'));
  const kube = startLocalCluster({ dir: kubeDir, nodes: 1, nodePrefix: 'suite-node' });
  kube.catch(() => undefined);
  // Built once here (or found current), so the test files share it instead of each running webpack;
  // a bundling error is left for the test files to report.
  const bundle = cachedMaintenanceBundle({ logger: new DefaultLogger('WARN') }).catch(() => undefined);
  try {
    await startTemporal(project);
  } catch (err) {
    await kube.then(
      (c) => c.stop(),
      () => undefined,
    );
    throw err;
  }
  cluster = await kube;
  await bundle;
  console.log(
    `global-setup: Kubernetes ${cluster.server}: apiserver ready in ${cluster.timings.apiserverReadyMs} ms, nodes Ready in ${cluster.timings.nodesReadyMs} ms`,
  );
  project.provide('kubeAdminKubeconfig', cluster.adminKubeconfig);
  project.provide('kubeAuditLog', cluster.auditLog);
  project.provide('kubeletMetricsDiscovery', cluster.kubeletMetricsDiscovery);
  project.provide('kubeDir', kubeDir);
}

/**
 * One Temporal server for the whole run: a dev server started here, or the one TEMPORAL_ADDRESS
 * names. Either way the tests work in a namespace of their own, so nothing they do can reach the
 * schedules or runs of a namespace they did not create.
 */
async function startTemporal(project: TestProject): Promise<void> {
  let address: string;
  let namespace: string;
  if (process.env.TEMPORAL_ADDRESS) {
    address = process.env.TEMPORAL_ADDRESS;
    namespace = process.env.TEST_TEMPORAL_NAMESPACE ?? '';
    if (!namespace) {
      throw new Error(
        `TEMPORAL_ADDRESS=${address} is a server these tests did not start: set TEST_TEMPORAL_NAMESPACE to a namespace of their own (they create, change and delete schedules and workflows in it)`,
      );
    }
    if (namespace === (process.env.TEMPORAL_NAMESPACE ?? 'default')) {
      throw new Error(
        `TEST_TEMPORAL_NAMESPACE=${namespace} is the namespace the product uses; give the tests one of their own`,
      );
    }
  } else {
    dir = mkdtempSync(join(tmpdir(), 'maint-test-temporal-'));
    server = await startDevServer({ port: await freePort(), headless: true, dbFilename: join(dir, 'temporal.db') });
    address = server.address;
    namespace = `maint-test-${randomBytes(4).toString('hex')}`;
  }
  await ensureNamespace(address, namespace);
  project.provide('temporalAddress', address);
  project.provide('temporalNamespace', namespace);
}

async function ensureNamespace(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    await connection.workflowService
      .registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('3 days') })
      .catch((err: { code?: number }) => {
        if (err.code !== 6 /* ALREADY_EXISTS */) throw err;
      });
    const client = new Client({ connection, namespace });
    // A new namespace reaches the frontend's cache within moments; wait for it rather than guess.
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await client.workflow.count();
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await ensureSearchAttributes(client, namespace);
  } finally {
    await connection.close();
  }
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
  if (kubeDir) rmSync(kubeDir, { recursive: true, force: true });
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
