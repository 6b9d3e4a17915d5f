// The real kubectl through the fault-injecting proxy (with no faults armed), as the worker's
// ServiceAccount: discovery, JSON, patches, evictions, Status errors and watches pass through
// unchanged, so what the proxy does to our own code's requests is only what a test arms; and a
// watch it cuts short, kubectl re-establishes.
// Each wait here is for a state the test brings about, never a race against a timer.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findKubeBinaries } from '../dev/kube-local/binaries.js';
import { KWOK_NODE_ANNOTATION } from '../dev/kube-local/cluster.js';
import { clusterForFile, QUICK_PODS, waitForDeployment, waitUntil, type TestCluster } from './helpers/cluster.js';
import { startKubeProxy, type KubeProxy } from './helpers/kube-proxy.js';

const run = promisify(execFile);

describe('the real kubectl through the test proxy', { timeout: 180_000 }, () => {
  let t: TestCluster;
  let proxy: KubeProxy;
  let kubectl: (...args: string[]) => Promise<string>;
  let nodes: string[];

  beforeAll(async () => {
    t = await clusterForFile('k8s-kubectl');
    proxy = await startKubeProxy(t.admin, t.workDir);
    const cacheDir = mkdtempSync(join(tmpdir(), 'kubectl-cache-'));
    // Admin through the proxy: kubectl drain and wait need more than deploy/rbac.yaml grants the worker.
    kubectl = async (...args) =>
      (
        await run(
          findKubeBinaries().kubectl,
          ['--kubeconfig', proxy.kubeconfig, '--cache-dir', cacheDir, '-n', t.namespace, ...args],
          { timeout: 120_000 },
        )
      ).stdout;
    nodes = await t.addNodes(2);
    // Both pods on the first node: the second is cordoned while they are scheduled.
    const unschedulable = (name: string, value: boolean) =>
      t.core.patchNode(
        { name, body: { spec: { unschedulable: value || null } } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
    await unschedulable(nodes[1]!, true);
    await t.deploy('web', { replicas: 2, nodes, podAnnotations: QUICK_PODS });
    await t.pdb('web', 'web', { maxUnavailable: 1 });
    await waitForDeployment(t, 'web');
    await unschedulable(nodes[1]!, false);
  });
  afterAll(async () => {
    await proxy?.close();
    await t?.cleanup();
  });

  it('get nodes -o json', async () => {
    const list = JSON.parse(await kubectl('get', 'nodes', '-o', 'json', '-l', `trixtech.test/pool=${t.namespace}`));
    expect(list.kind).toBe('List');
    expect(list.items.map((n: { metadata: { name: string } }) => n.metadata.name).sort()).toEqual([...nodes].sort());
    expect(list.items[0].status.nodeInfo.kubeletVersion).toBe('v1.34.2');
  });

  it('cordon and uncordon patch spec.unschedulable', async () => {
    const from = proxy.served.length;
    expect(await kubectl('cordon', nodes[1]!)).toContain(`node/${nodes[1]} cordoned`);
    expect((await t.core.readNode({ name: nodes[1]! })).spec?.unschedulable).toBe(true);
    expect(await kubectl('uncordon', nodes[1]!)).toContain(`node/${nodes[1]} uncordoned`);
    expect((await t.core.readNode({ name: nodes[1]! })).spec?.unschedulable).toBeFalsy();
    expect(
      proxy.served
        .slice(from)
        .filter((r) => r.resource === 'nodes' && r.verb === 'patch')
        .map((r) => r.code),
    ).toEqual([200, 200]);
  });

  it('drain evicts through the Eviction API past the PDB and waits', async () => {
    const from = proxy.served.length;
    const out = await kubectl(
      'drain',
      nodes[0]!,
      '--ignore-daemonsets',
      '--delete-emptydir-data',
      '--pod-selector',
      'app=web',
      '--timeout=90s',
    );
    expect(out).toContain(`node/${nodes[0]} drained`);
    expect((await t.pods('app=web')).filter((p) => p.spec?.nodeName === nodes[0])).toEqual([]);
    const evictions = proxy.served.slice(from).filter((r) => r.subresource === 'eviction');
    expect(evictions.filter((r) => r.code === 201)).toHaveLength(2);
    expect(evictions.filter((r) => r.verb !== 'create' || ![201, 429].includes(r.code))).toEqual([]);
    await kubectl('uncordon', nodes[0]!);
  });

  it('set image and a NotFound Status', async () => {
    await kubectl('set', 'image', 'deployment/web', 'app=trixtech/web:2.0');
    const dep = JSON.parse(await kubectl('get', 'deployment', 'web', '-o', 'json'));
    expect(dep.spec.template.spec.containers[0].image).toBe('trixtech/web:2.0');
    expect(dep.metadata.generation).toBe(2);
    const err = await kubectl('get', 'deployment', 'missing').catch((e: { stderr: string }) => e.stderr);
    expect(err).toContain('deployments.apps "missing" not found');
  });

  it('rollout status and wait follow watches to the end', async () => {
    await waitForDeployment(t, 'web');
    // Both nodes cordoned: the new release's pod stays Pending until the test lets it schedule.
    for (const n of nodes) await kubectl('cordon', n);
    await kubectl('set', 'image', 'deployment/web', 'app=trixtech/web:3.0');
    const watchesBefore = proxy.served.filter((r) => r.verb === 'watch').length;
    const deploymentWatches = () =>
      proxy.served.filter((r) => r.verb === 'watch' && r.resource === 'deployments').length;
    // kubectl's first watch is cut after 200 ms: it must watch again to see the rollout end.
    proxy.faults.push({ kind: 'drop-watch', verb: 'watch', resource: 'deployments', ms: 200 });
    const status = kubectl('rollout', 'status', 'deployment/web', '--timeout=90s');
    await waitUntil('kubectl to watch the rollout again after the cut', async () =>
      deploymentWatches() >= 2 ? true : undefined,
    );
    for (const n of nodes) await kubectl('uncordon', n);
    const out = await status;
    expect(out).toContain('Waiting for deployment "web" rollout to finish');
    expect(out).toContain('deployment "web" successfully rolled out');
    expect(proxy.faults).toEqual([]);
    const dep = JSON.parse(await kubectl('get', 'deployment', 'web', '-o', 'json'));
    expect(dep.status.observedGeneration).toBe(dep.metadata.generation);
    expect(dep.status.updatedReplicas).toBe(2);

    // A node no kubelet reports for: kubectl waits on a watch until kwok takes it over and reports it Ready.
    const late = `${t.namespace}-late`;
    await t.core.createNode({ body: { metadata: { name: late, labels: { 'trixtech.test/pool': t.namespace } } } });
    try {
      const watchesNow = proxy.served.filter((r) => r.verb === 'watch' && r.resource === 'nodes').length;
      const waited = kubectl('wait', '--for=condition=Ready', `node/${late}`, '--timeout=90s');
      await waitUntil('kubectl to watch the node', async () =>
        proxy.served.filter((r) => r.verb === 'watch' && r.resource === 'nodes').length > watchesNow ? true : undefined,
      );
      await t.core.patchNode(
        { name: late, body: { metadata: { annotations: KWOK_NODE_ANNOTATION } } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      expect(await waited).toContain(`node/${late} condition met`);
    } finally {
      await t.core.deleteNode({ name: late });
    }
    expect(proxy.served.filter((r) => r.verb === 'watch').length).toBeGreaterThan(watchesBefore);
  });
});
