import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig, loadAllYaml } from '@kubernetes/client-node';
import { MockActivityEnvironment } from '@temporalio/testing';
import { expect } from 'vitest';
import { createKubernetesActivities } from '../../activities/kubernetes/index.js';
import { KubeDouble, type DoubleOptions, type ServedRequest } from '../k8s-double/double.js';

export { startUpdateHook } from '../k8s-double/update-hook.js';

export const APP_NAMESPACE = 'default';

/** A started double, its kubeconfig, and the Kubernetes activities pointed at it. */
export async function startCluster(options: Partial<DoubleOptions> = {}) {
  const k8s = await new KubeDouble(options).start();
  const kubeconfig = k8s.writeKubeconfig(APP_NAMESPACE);
  const kube = new KubeConfig();
  kube.loadFromFile(kubeconfig);
  const activities = createKubernetesActivities({ kube, namespace: APP_NAMESPACE, appLabelSelector: 'app.kubernetes.io/part-of=trixtech' });
  return { k8s, kubeconfig, activities };
}

/** Runs an activity function with a real activity context (heartbeats, sleep), outside a worker. */
export function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, ...args);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Rule { apiGroups?: string[]; resources?: string[]; verbs?: string[] }
interface RbacDoc { kind: string; metadata: { name: string; namespace?: string }; rules?: Rule[] }

/** The Roles and ClusterRoles shipped in deploy/rbac.yaml. */
export function shippedRbac(): RbacDoc[] {
  const text = readFileSync(join(import.meta.dirname, '..', '..', 'deploy', 'rbac.yaml'), 'utf8');
  return (loadAllYaml(text) as RbacDoc[]).filter((d) => d && (d.kind === 'Role' || d.kind === 'ClusterRole'));
}

const resourceOf = (r: ServedRequest) => (r.subresource ? `${r.resource}/${r.subresource}` : r.resource);
/** A Role counts only for requests in its own namespace; a ClusterRole for any. */
const inScope = (doc: RbacDoc, r: ServedRequest) => doc.kind === 'ClusterRole' || (r.namespace !== '' && doc.metadata.namespace === r.namespace);
const allows = (rule: Rule, r: ServedRequest) => Boolean(rule.apiGroups?.includes(r.group) && rule.resources?.includes(resourceOf(r)) && rule.verbs?.includes(r.verb));
const describe = (r: ServedRequest) => `${r.verb} ${r.group || 'core'}/${resourceOf(r)}${r.namespace ? ` in ${r.namespace}` : ''}`;

/** Fails when the code made a request the shipped RBAC does not grant. */
export function expectAllGranted(served: ServedRequest[]): void {
  const rbac = shippedRbac();
  const denied = served.filter((r) => !rbac.some((doc) => inScope(doc, r) && (doc.rules ?? []).some((rule) => allows(rule, r))));
  expect([...new Set(denied.map(describe))], 'requests the shipped RBAC (deploy/rbac.yaml) does not grant').toEqual([]);
}
