// The one drain case a real cluster cannot stage on demand: a pod vanishing between the drain's
// listing and its eviction. The others run on the real control plane (kubernetes-cluster.test.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { createKubernetesActivities } from '../activities/kubernetes/index.js';
import type { DrainResult } from '../activities/kubernetes/nodes.js';
import type { KubeDouble } from './k8s-double/double.js';
import { addDeployment, addNode } from './k8s-double/fixtures.js';
import { APP_NAMESPACE, expectAllGranted, runActivity, startCluster } from './helpers/kube.js';

type Activities = ReturnType<typeof createKubernetesActivities>;

const podsOn = (k8s: KubeDouble, node: string) => k8s.list('', 'pods').filter((p) => p.spec.nodeName === node && !p.metadata.deletionTimestamp);

describe('Kubernetes activities against the API double', () => {
  let k8s: KubeDouble;
  let a: Activities;

  beforeEach(async () => {
    ({ k8s, activities: a } = await startCluster({ podTerminationMs: 50, replacementDelayMs: 300, rolloutDelayMs: 100 }));
  });
  afterEach(async () => {
    expectAllGranted(k8s.served);
    await k8s.stop();
  });

  it('a pod already gone when its eviction is asked counts as evicted (404)', async () => {
    addNode(k8s, 'n1');
    addNode(k8s, 'n2');
    addDeployment(k8s, 'web', { replicas: 1 });
    const name = podsOn(k8s, 'n1')[0]!.metadata.name;
    await runActivity(a.cordonNode, { node: 'n1', owner: 'test' });
    // The pod disappears between the drain's listing and its eviction.
    k8s.onServed = (r) => {
      if (r.verb === 'list' && r.resource === 'pods' && k8s.get('', 'pods', APP_NAMESPACE, name)) k8s.deleteNow('', 'pods', APP_NAMESPACE, name);
    };
    const result = (await runActivity(a.drainNode, { node: 'n1', timeoutSeconds: 5, pollIntervalMs: 20 })) as DrainResult;
    expect(result).toMatchObject({ evicted: [], alreadyGone: [`default/${name}`] });
    expect(k8s.served.some((r) => r.subresource === 'eviction' && r.code === 404)).toBe(true);
  });
});
