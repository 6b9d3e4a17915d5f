import { homedir } from 'node:os';
import { join } from 'node:path';
import { isExecutable } from '../../src/executables.js';

/** Keep in step with scripts/bootstrap.sh and scripts/kubernetes/go.mod. */
export const KUBERNETES_VERSION = 'v1.34.2';
export const KWOK_VERSION = 'v0.8.0';

export interface KubeBinaries {
  etcd: string;
  apiserver: string;
  controllerManager: string;
  scheduler: string;
  kubectl: string;
  kwok: string;
}

function cacheDir(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'trixtech-maintenance');
}

/** The directory of etcd, kube-apiserver, … and kubectl: `$KUBERNETES_BIN_DIR`, else bootstrap's cache. */
export function kubernetesBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.KUBERNETES_BIN_DIR || join(cacheDir(env), `kubernetes-${KUBERNETES_VERSION}`);
}

/** Every binary a local cluster needs; throws naming the missing ones and how to get them. */
export function findKubeBinaries(env: NodeJS.ProcessEnv = process.env): KubeBinaries {
  const dir = kubernetesBinDir(env);
  const found: KubeBinaries = {
    etcd: join(dir, 'etcd'),
    apiserver: join(dir, 'kube-apiserver'),
    controllerManager: join(dir, 'kube-controller-manager'),
    scheduler: join(dir, 'kube-scheduler'),
    kubectl: join(dir, 'kubectl'),
    kwok: env.KWOK_BIN || join(cacheDir(env), `kwok-${KWOK_VERSION}`, 'kwok'),
  };
  const missing = Object.values(found).filter((p) => !isExecutable(p));
  if (missing.length > 0) {
    throw new Error(
      `no local Kubernetes: missing ${missing.join(', ')}; run scripts/bootstrap.sh (builds them once), or set KUBERNETES_BIN_DIR and KWOK_BIN`,
    );
  }
  return found;
}
