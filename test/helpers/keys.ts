import type { SigningKey } from '../../src/signing.js';
import type { EmergencyInput } from '../../domain/emergency.js';
import { signedRequest } from '../../dev/signing-keys.js';

export { decide, makeTestKeys, signedDecision, signedRequest, type TestKeys } from '../../dev/signing-keys.js';

/** The emergency most tests gate: alice's signed request to scale the backend of `namespace`, post-mortem after 1 s. */
export function alicesBackendScaling(
  key: SigningKey,
  workflowId: string,
  namespace: string,
  replicas: number,
  extra: Partial<EmergencyInput> = {},
): EmergencyInput {
  return signedRequest(key, workflowId, {
    reason: 'backend overloaded',
    severity: 'high',
    requestedBy: 'alice',
    postMortemDelaySeconds: 1,
    actions: [{ kind: 'scale-deployment', namespace, deployment: 'trixtech-backend', replicas }],
    ...extra,
  });
}
