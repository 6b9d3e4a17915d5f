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

/** Whether the shipped RBAC lets the worker make `request` (a Role counts only in its own namespace). */
export function granted(request: ServedRequest, rbac = shippedRbac()): boolean {
  const resource = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
  return rbac.some((doc) =>
    (doc.kind === 'ClusterRole' || (request.namespace !== '' && doc.metadata.namespace === request.namespace))
    && (doc.rules ?? []).some((r) => r.apiGroups?.includes(request.group) && r.resources?.includes(resource) && r.verbs?.includes(request.verb)));
}

/** Fails when the code made a request the shipped RBAC does not grant. */
export function expectAllGranted(served: ServedRequest[]): void {
  const rbac = shippedRbac();
  const denied = [...new Set(served.filter((r) => !granted(r, rbac)).map((r) => `${r.verb} ${r.group || 'core'}/${r.resource}${r.subresource ? `/${r.subresource}` : ''}${r.namespace ? ` in ${r.namespace}` : ''}`))];
  expect(denied, 'requests the shipped RBAC (deploy/rbac.yaml) does not grant').toEqual([]);
}

