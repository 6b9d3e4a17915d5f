import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findKubeBinaries } from '../dev/kube-local/binaries.js';
import type { KubeDouble } from './k8s-double/double.js';
import { addDaemonSet, addDeployment, addNode, addPdb } from './k8s-double/fixtures.js';
import { startCluster } from './helpers/kube.js';

const run = promisify(execFile);

// The real kubectl against the double proves its wire format (discovery, JSON, patches,
// evictions, Status errors) is what Kubernetes clients expect, not just what our code sends.
describe('the Kubernetes API double speaks to the real kubectl', () => {
  let k8s: KubeDouble;
  let kubectl: (...args: string[]) => Promise<string>;

  beforeAll(async () => {
    let kubeconfig: string;
    ({ k8s, kubeconfig } = await startCluster({ podTerminationMs: 50, replacementDelayMs: 100 }));
    const cacheDir = mkdtempSync(join(tmpdir(), 'kubectl-cache-'));
    kubectl = async (...args) => (await run(findKubeBinaries().kubectl, ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args], { timeout: 60_000 })).stdout;
    addNode(k8s, 'n1');
    addNode(k8s, 'n2');
    addDeployment(k8s, 'web', { replicas: 2 });
    addDaemonSet(k8s, 'fluent-bit', ['n1', 'n2']);
    addPdb(k8s, 'web', 'web', { maxUnavailable: 1 });
  });
  afterAll(() => k8s?.stop());

  it('get nodes -o json', async () => {
    const list = JSON.parse(await kubectl('get', 'nodes', '-o', 'json'));
    expect(list.kind).toBe('List');
    expect(list.items.map((n: { metadata: { name: string } }) => n.metadata.name)).toEqual(['n1', 'n2']);
    expect(list.items[0].status.nodeInfo.kubeletVersion).toBe('v1.30.2');
  });

  it('cordon and uncordon patch spec.unschedulable', async () => {
    expect(await kubectl('cordon', 'n2')).toContain('node/n2 cordoned');
    expect(k8s.get('', 'nodes', undefined, 'n2')!.spec.unschedulable).toBe(true);
    expect(await kubectl('uncordon', 'n2')).toContain('node/n2 uncordoned');
    expect(k8s.get('', 'nodes', undefined, 'n2')!.spec.unschedulable).toBeFalsy();
    expect(k8s.served.filter((r) => r.resource === 'nodes' && r.verb === 'patch').map((r) => r.code)).toEqual([200, 200]);
  });

  it('drain --ignore-daemonsets --delete-emptydir-data evicts through the Eviction API and waits', async () => {
    const managed = k8s.list('', 'pods').filter((p) => p.spec.nodeName === 'n1' && !p.metadata.name.startsWith('fluent-bit')).length;
    expect(managed).toBeGreaterThan(0);
    const out = await kubectl('drain', 'n1', '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=30s');
    expect(out).toContain('node/n1 drained');
    const left = k8s.list('', 'pods').filter((p) => p.spec.nodeName === 'n1').map((p) => p.metadata.name);
    expect(left).toEqual(['fluent-bit-n1']);
    const evictions = k8s.served.filter((r) => r.subresource === 'eviction');
    expect(evictions.filter((r) => r.code === 201)).toHaveLength(managed);
    expect(evictions.filter((r) => r.verb !== 'create' || ![201, 429].includes(r.code!))).toEqual([]);
    await kubectl('uncordon', 'n1');
  });

  it('set image and a NotFound Status', async () => {
    await kubectl('set', 'image', 'deployment/web', 'app=trixtech/web:2.0');
    const dep = JSON.parse(await kubectl('get', 'deployment', 'web', '-o', 'json'));
    expect(dep.spec.template.spec.containers[0].image).toBe('trixtech/web:2.0');
    expect(dep.metadata.generation).toBe(2);
    const err = await kubectl('get', 'deployment', 'missing').catch((e: { stderr: string }) => e.stderr);
    expect(err).toContain('deployments.apps "missing" not found');
  });

  it('rollout status and wait follow watches to the end of a rollout', async () => {
    const watchesBefore = k8s.served.filter((r) => r.verb === 'watch').length;
    // Slow enough that kubectl sees the rollout in progress and must follow it.
    const { rolloutDelayMs } = k8s.options;
    k8s.options.rolloutDelayMs = 1_500;
    await kubectl('set', 'image', 'deployment/web', 'app=trixtech/web:3.0');
    const status = await kubectl('rollout', 'status', 'deployment/web', '--timeout=30s').finally(() => (k8s.options.rolloutDelayMs = rolloutDelayMs));
    expect(status).toContain('Waiting for deployment "web" rollout to finish');
    expect(status).toContain('deployment "web" successfully rolled out');
    const dep = JSON.parse(await kubectl('get', 'deployment', 'web', '-o', 'json'));
    expect(dep.status.observedGeneration).toBe(dep.metadata.generation);
    expect(dep.status.updatedReplicas).toBe(2);

    k8s.rebootNode('n2', 300);
    expect(k8s.get('', 'nodes', undefined, 'n2')!.status.conditions.find((c: { type: string }) => c.type === 'Ready').status).toBe('False');
    expect(await kubectl('wait', '--for=condition=Ready', 'node/n2', '--timeout=30s')).toContain('node/n2 condition met');
    expect(k8s.served.filter((r) => r.verb === 'watch').length).toBeGreaterThan(watchesBefore);
  });
});
