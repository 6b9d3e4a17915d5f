import type { KeyObject } from 'node:crypto';
import { Proof, type ProofCheck } from '../domain/approval-proof.js';
import type { Approvals } from '../src/config/schema.js';
import { parsePublicKey, verifyProof } from '../src/signing.js';

const OPERATOR_PATHS: readonly string[] = ['cli', 'temporal-cli'];

/** Who an unproven statement says it is from, for the audit trail only (it is never trusted). */
function claimedPrincipal(statement: string): string | undefined {
  try {
    const p = (JSON.parse(Buffer.from(statement, 'base64url').toString('utf8')) as { principal?: unknown }).principal;
    return typeof p === 'string' ? p.slice(0, 100) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Who signed a decision, checked against the keys in the worker's configuration: operators' keys
 * sign for their owner only; the bridge's keys sign for the Slack user it verified. Whether the
 * statement fits the run (workflow, run, plan, time, allow-list) is the workflow's to judge.
 */
export function createApprovalActivities({ approvals }: { approvals: Approvals }) {
  const keys = new Map<string, { key: KeyObject; owner: string | null }>();
  for (const line of approvals.bridgeKeys) {
    const k = parsePublicKey(line);
    keys.set(k.fingerprint, { key: k.key, owner: null });
  }
  for (const [person, lines] of Object.entries(approvals.operatorKeys)) {
    for (const line of lines) {
      const k = parsePublicKey(line);
      keys.set(k.fingerprint, { key: k.key, owner: person });
    }
  }

  return {
    async verifyApprovalProof(raw: unknown): Promise<ProofCheck> {
      if (raw === undefined || raw === null) return { ok: false, reason: 'no proof: the decision is unsigned' };
      const parsed = Proof.safeParse(raw);
      if (!parsed.success)
        return {
          ok: false,
          reason: `malformed proof: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(proof)'}: ${i.message}`).join('; ')}`,
        };
      const proof = parsed.data;
      const claimed = claimedPrincipal(proof.statement);
      const known = keys.get(proof.key);
      if (!known) return { ok: false, reason: `unknown or revoked key ${proof.key}`, claimed };
      const checked = verifyProof(proof, known.key);
      if (!checked.ok) return { ...checked, claimed };
      const { statement } = checked;
      if (known.owner === null) {
        if (OPERATOR_PATHS.includes(statement.via))
          return { ok: false, reason: `the bridge's key signs Slack decisions only, not ${statement.via}`, claimed };
        return { ok: true, statement, signer: 'bridge', key: proof.key };
      }
      if (statement.principal !== known.owner)
        return { ok: false, reason: `key ${proof.key} belongs to ${known.owner}, not ${statement.principal}`, claimed };
      if (!OPERATOR_PATHS.includes(statement.via))
        return {
          ok: false,
          reason: `an operator's key cannot sign for ${statement.via} (only the bridge does)`,
          claimed,
        };
      return { ok: true, statement, signer: 'operator', key: proof.key };
    },
  };
}
