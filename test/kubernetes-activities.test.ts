// The one drain case the real cluster cannot stage by itself: a pod vanishing between the drain's
// listing and its eviction. The fault-injecting proxy holds the listing back while the pod is
// deleted; the 404 for the eviction then comes from the real apiserver.
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubernetesActivities } from '../activities/kubernetes/index.js';
import type { DrainResult } from '../activities/kubernetes/nodes.js';
import {
  clusterForFile,
  expectRbacExact,
  PART_OF,
  QUICK_PODS,
  waitForDeployment,
  type TestCluster,
} from './helpers/cluster.js';
import { startKubeProxy, type KubeProxy } from './helpers/kube-proxy.js';
import { runActivity } from './helpers/kube.js';

describe('Kubernetes activities through the fault-injecting proxy', () => {
  let t: TestCluster;
  let proxy: KubeProxy;
  beforeAll(async () => {
    t = await clusterForFile('k8s-vanish');
    proxy = await startKubeProxy(t.worker, t.workDir);
  });
  afterAll(async () => {
    await proxy?.close();
    if (t) expectRbacExact(t, { everyGrantUsed: false });
    await t?.cleanup();
  });

  it('a pod already gone when its eviction is asked counts as evicted (404)', async () => {
    const [n1] = await t.addNodes(1);
    await t.deploy('web', { replicas: 1, nodes: [n1!], podAnnotations: QUICK_PODS });
    await waitForDeployment(t, 'web');
    const [pod] = await t.pods('app=web');
    const name = pod!.metadata!.name!;
    const kube = new KubeConfig();
    kube.loadFromFile(proxy.kubeconfig);
    const activities = createKubernetesActivities({ kube, namespace: t.namespace, appLabelSelector: PART_OF });
    await runActivity(activities.cordonNode, { node: n1!, owner: 'test' });
    // The pod disappears between the drain's listing (already answered by the apiserver) and its eviction.
    proxy.beforeAnswer = async (r) => {
      if (r.verb !== 'list' || r.resource !== 'pods' || proxy.beforeAnswer === undefined) return;
      proxy.beforeAnswer = undefined;
      await t.core.deleteNamespacedPod({ name, namespace: t.namespace, gracePeriodSeconds: 0 });
    };
    const result = (await runActivity(activities.drainNode, {
      node: n1!,
      timeoutSeconds: 30,
      pollIntervalMs: 200,
    })) as DrainResult;
    expect(result).toMatchObject({ evicted: [], alreadyGone: [`${t.namespace}/${name}`] });
    expect(proxy.served.filter((r) => r.subresource === 'eviction').map((r) => r.code)).toEqual([404]);
    const audited = t
      .audit()
      .filter((e) => e.objectRef?.subresource === 'eviction')
      .map((e) => e.responseStatus?.code);
    expect(audited).toEqual([404]);
  });
});
