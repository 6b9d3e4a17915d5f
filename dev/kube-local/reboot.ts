// What a kwok node's "kubelet" reports after a reboot: a new boot id (and, after an upgrade, a new
// kubelet version). kwok keeps such a node Ready; the maintenance workflows wait for the new boot id.
import { randomUUID } from 'node:crypto';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';

export async function reportReboot(kc: KubeConfig, node: string, kubeletVersion?: string): Promise<void> {
  const nodeInfo = { bootID: randomUUID(), ...(kubeletVersion ? { kubeletVersion } : {}) };
  await kc
    .makeApiClient(CoreV1Api)
    .patchNodeStatus(
      { name: node, body: { status: { nodeInfo } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
}
