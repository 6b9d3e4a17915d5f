import { randomUUID } from 'node:crypto';
import type { KubeDouble } from './double.js';
import type { Obj } from './wire.js';

// Builders for the objects a test cluster starts with, created through the double's store so
// they get uids, resourceVersions and their controllers' side effects (a Deployment makes its
// ReplicaSet and pods).

const ready = (status: 'True' | 'False') => ({ type: 'Ready', status, reason: status === 'True' ? 'KubeletReady' : 'KubeletNotReady', message: '', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() });

export function addNode(k8s: KubeDouble, name: string, options: { kubeletVersion?: string; ready?: boolean; unschedulable?: boolean } = {}): Obj {
  return k8s.create('', 'nodes', {
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
    spec: options.unschedulable ? { unschedulable: true } : {},
    status: {
      conditions: [
        ready(options.ready === false ? 'False' : 'True'),
        ...['MemoryPressure', 'DiskPressure', 'PIDPressure'].map((type) => ({ type, status: 'False', reason: `KubeletHasNo${type}`, message: '' })),
      ],
      nodeInfo: { kubeletVersion: options.kubeletVersion ?? 'v1.30.2', bootID: randomUUID(), osImage: 'Ubuntu 22.04.4 LTS', containerRuntimeVersion: 'containerd://1.7.13', kernelVersion: '5.15.0', architecture: 'amd64', operatingSystem: 'linux' },
      capacity: { cpu: '4', memory: '16Gi', pods: '110' },
      allocatable: { cpu: '3800m', memory: '15Gi', pods: '110' },
    },
  });
}

export interface DeploymentFixture {
  namespace?: string;
  replicas?: number;
  image?: string;
  labels?: Record<string, string>;
  revisionHistoryLimit?: number;
  progressDeadlineSeconds?: number;
  resources?: Obj;
  volumes?: Obj[];
}

export function addDeployment(k8s: KubeDouble, name: string, f: DeploymentFixture = {}): Obj {
  const labels = { app: name, 'app.kubernetes.io/part-of': 'trixtech', ...f.labels };
  return k8s.create('apps', 'deployments', {
    metadata: { name, namespace: f.namespace ?? 'default', labels },
    spec: {
      replicas: f.replicas ?? 2,
      revisionHistoryLimit: f.revisionHistoryLimit ?? 10,
      progressDeadlineSeconds: f.progressDeadlineSeconds ?? 600,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels },
        spec: {
          containers: [{ name: 'app', image: f.image ?? `trixtech/${name}:1.0.0`, ...(f.resources ? { resources: f.resources } : {}) }],
          ...(f.volumes ? { volumes: f.volumes } : {}),
        },
      },
    },
  });
}

/** A pod placed directly on `node`; `owner` makes it a DaemonSet's or Job's pod, none a bare pod. */
export function addPod(k8s: KubeDouble, name: string, node: string, options: { namespace?: string; owner?: Obj; mirror?: boolean; volumes?: Obj[]; phase?: string; labels?: Record<string, string> } = {}): Obj {
  return k8s.create('', 'pods', {
    metadata: {
      name, namespace: options.namespace ?? 'default', labels: options.labels ?? { app: name },
      ...(options.mirror ? { annotations: { 'kubernetes.io/config.mirror': 'mirror' } } : {}),
      ...(options.owner ? { ownerReferences: [{ apiVersion: options.owner.apiVersion, kind: options.owner.kind, name: options.owner.metadata.name, uid: options.owner.metadata.uid, controller: true }] } : {}),
    },
    spec: { nodeName: node, containers: [{ name: 'main', image: 'busybox' }], ...(options.volumes ? { volumes: options.volumes } : {}) },
    status: { phase: options.phase ?? 'Running', conditions: [{ type: 'Ready', status: options.phase && options.phase !== 'Running' ? 'False' : 'True' }] },
  });
}

/** A DaemonSet with one pod on each given node. */
export function addDaemonSet(k8s: KubeDouble, name: string, nodes: string[], namespace = 'kube-system'): Obj {
  const ds = k8s.create('apps', 'daemonsets', {
    metadata: { name, namespace },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: `${name}:1` }] } } },
  });
  for (const node of nodes) addPod(k8s, `${name}-${node}`, node, { namespace, owner: ds, labels: { app: name } });
  return ds;
}

export function addPdb(k8s: KubeDouble, name: string, app: string, budget: { minAvailable?: number | string; maxUnavailable?: number | string }, namespace = 'default'): Obj {
  return k8s.create('policy', 'poddisruptionbudgets', { metadata: { name, namespace }, spec: { selector: { matchLabels: { app } }, ...budget } });
}

export function addJob(k8s: KubeDouble, name: string, state: 'complete' | 'failed' | 'running', namespace = 'default'): Obj {
  const finished = new Date(Date.now() - 3_600_000).toISOString();
  return k8s.create('batch', 'jobs', {
    metadata: { name, namespace },
    spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] } } },
    status: state === 'complete'
      ? { succeeded: 1, completionTime: finished, conditions: [{ type: 'Complete', status: 'True' }] }
      : state === 'failed' ? { failed: 1, conditions: [{ type: 'Failed', status: 'True' }] } : { active: 1 },
  });
}

export function addVolume(k8s: KubeDouble, name: string, phase: 'Bound' | 'Released' | 'Available', reclaimPolicy: 'Retain' | 'Delete' = 'Retain', claim?: { namespace: string; name: string }): Obj {
  return k8s.create('', 'persistentvolumes', {
    metadata: { name },
    spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: reclaimPolicy, hostPath: { path: `/data/${name}` }, ...(claim ? { claimRef: { kind: 'PersistentVolumeClaim', ...claim } } : {}) },
    status: { phase },
  });
}

export function addClaim(k8s: KubeDouble, name: string, phase: 'Bound' | 'Lost' | 'Pending', volumeName?: string, namespace = 'default'): Obj {
  return k8s.create('', 'persistentvolumeclaims', {
    metadata: { name, namespace },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...(volumeName ? { volumeName } : {}) },
    status: { phase },
  });
}
