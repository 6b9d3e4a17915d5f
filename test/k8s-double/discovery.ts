// The API groups and resources the double serves, and the discovery documents kubectl reads first.

export interface Subresource {
  name: string;
  kind: string;
  verbs: string[];
  group?: string;
  version?: string;
}

export interface ResourceType {
  group: string;
  version: string;
  /** Plural, as in URLs and RBAC rules. */
  resource: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  verbs: string[];
  subresources?: Subresource[];
}

const CRUD = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update'];

export const RESOURCES: ResourceType[] = [
  { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false, shortNames: ['ns'], verbs: CRUD },
  { group: '', version: 'v1', resource: 'nodes', kind: 'Node', namespaced: false, shortNames: ['no'], verbs: CRUD },
  {
    group: '', version: 'v1', resource: 'pods', kind: 'Pod', namespaced: true, shortNames: ['po'], verbs: CRUD,
    subresources: [
      { name: 'eviction', kind: 'Eviction', verbs: ['create'], group: 'policy', version: 'v1' },
      { name: 'log', kind: 'Pod', verbs: ['get'] },
    ],
  },
  { group: '', version: 'v1', resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', namespaced: true, shortNames: ['pvc'], verbs: CRUD },
  { group: '', version: 'v1', resource: 'persistentvolumes', kind: 'PersistentVolume', namespaced: false, shortNames: ['pv'], verbs: CRUD },
  { group: '', version: 'v1', resource: 'events', kind: 'Event', namespaced: true, shortNames: ['ev'], verbs: CRUD },
  { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespaced: true, shortNames: ['deploy'], verbs: CRUD },
  { group: 'apps', version: 'v1', resource: 'replicasets', kind: 'ReplicaSet', namespaced: true, shortNames: ['rs'], verbs: CRUD },
  { group: 'apps', version: 'v1', resource: 'daemonsets', kind: 'DaemonSet', namespaced: true, shortNames: ['ds'], verbs: CRUD },
  { group: 'batch', version: 'v1', resource: 'jobs', kind: 'Job', namespaced: true, verbs: CRUD },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false, verbs: CRUD },
  { group: 'policy', version: 'v1', resource: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true, shortNames: ['pdb'], verbs: CRUD },
  { group: 'metrics.k8s.io', version: 'v1beta1', resource: 'pods', kind: 'PodMetrics', namespaced: true, verbs: ['get', 'list'] },
  { group: 'metrics.k8s.io', version: 'v1beta1', resource: 'nodes', kind: 'NodeMetrics', namespaced: false, verbs: ['get', 'list'] },
];

export function findResource(group: string, version: string, resource: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

export const apiVersionOf = (t: ResourceType) => (t.group ? `${t.group}/${t.version}` : t.version);

const groupNames = () => [...new Set(RESOURCES.filter((r) => r.group).map((r) => r.group))];

function groupDocument(name: string) {
  const version = RESOURCES.find((r) => r.group === name)!.version;
  const gv = { groupVersion: `${name}/${version}`, version };
  return { name, versions: [gv], preferredVersion: gv };
}

/** `GET /api`, `/apis`, `/api/v1`, `/apis/{g}/{v}`; undefined for any other path. */
export function discoveryDocument(path: string, serverAddress: string): object | undefined {
  if (path === '/api') {
    return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
  }
  if (path === '/apis') return { kind: 'APIGroupList', apiVersion: 'v1', groups: groupNames().map(groupDocument) };
  const m = path.match(/^\/apis\/([^/]+)$/);
  if (m && groupNames().includes(m[1]!)) return { kind: 'APIGroup', apiVersion: 'v1', ...groupDocument(m[1]!) };
  const gv = path === '/api/v1' ? { group: '', version: 'v1' } : path.match(/^\/apis\/(?<group>[^/]+)\/(?<version>[^/]+)$/)?.groups;
  if (!gv) return undefined;
  const types = RESOURCES.filter((r) => r.group === gv.group && r.version === gv.version);
  if (types.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: gv.group ? `${gv.group}/${gv.version}` : gv.version,
    resources: types.flatMap((t) => [
      { name: t.resource, singularName: t.kind.toLowerCase(), namespaced: t.namespaced, kind: t.kind, verbs: t.verbs, ...(t.shortNames ? { shortNames: t.shortNames } : {}) },
      ...(t.subresources ?? []).map((s) => ({
        name: `${t.resource}/${s.name}`, singularName: '', namespaced: t.namespaced, kind: s.kind, verbs: s.verbs,
        ...(s.group ? { group: s.group, version: s.version } : {}),
      })),
    ]),
  };
}

export const VERSION = { major: '1', minor: '30', gitVersion: 'v1.30.0-double', platform: 'linux/amd64' };
