// Scratch signing keys and signed statements for stacks that play operators: the chaos bench and
// the tests (never `npm run up`'s demo keys, which stay under .data/keys).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { planHash, type Proof, type Verdict } from '../domain/approval-proof.js';
import { EmergencyInput, emergencyPlan } from '../domain/emergency.js';
import {
  generateSigningKey,
  parsePrivateKey,
  signStatement,
  type SigningKey,
  type StatementFields,
} from '../src/signing.js';
import { decideUpdate, statusQuery } from '../workflows/lib/definitions.js';

export interface TestKeys {
  /** For the config file: `approvals.operatorKeys` and `approvals.bridgeKeys`. */
  operatorKeys: Record<string, string[]>;
  bridgeKeys: string[];
  /** The bridge's private key text (BRIDGE_SIGNING_KEY). */
  bridgePrivateKey: string;
  key(person: string): SigningKey;
  /** The person's private key as an OpenSSH file, for `maint --key`. */
  keyFile(person: string): string;
  bridge: SigningKey;
}

/** A fresh Ed25519 key pair per person and one for the bridge, written 0600 under a temporary directory. */
export function makeTestKeys(people: string[]): TestKeys {
  const dir = mkdtempSync(join(tmpdir(), 'maint-keys-'));
  const keys = new Map<string, { file: string; key: SigningKey }>();
  for (const person of new Set(people)) {
    const { privateKey } = generateSigningKey(`${person}@test`);
    const file = join(dir, person);
    writeFileSync(file, privateKey, { mode: 0o600 });
    keys.set(person, { file, key: parsePrivateKey(privateKey) });
  }
  const bridgePrivateKey = generateSigningKey('bridge@test').privateKey;
  const bridge = parsePrivateKey(bridgePrivateKey);
  const get = (person: string) => {
    const k = keys.get(person);
    if (!k) throw new Error(`no test key for ${person}`);
    return k;
  };
  return {
    operatorKeys: Object.fromEntries([...keys].map(([person, k]) => [person, [k.key.publicLine]])),
    bridgeKeys: [bridge.publicLine],
    bridgePrivateKey,
    bridge,
    key: (person) => get(person).key,
    keyFile: (person) => get(person).file,
  };
}

/** Signs a decision for the run's current plan, as `maint approve` would; `fields` bend any part of the statement. */
export async function signedDecision(
  client: Client,
  workflowId: string,
  key: SigningKey,
  fields: Partial<StatementFields> & Pick<StatementFields, 'principal'>,
  { validForMs, now }: { validForMs?: number; now?: Date } = {},
): Promise<{ proof: Proof; runId: string }> {
  const handle = client.workflow.getHandle(workflowId);
  const [description, status] = await Promise.all([handle.describe(), handle.query(statusQuery)]);
  if (!status.approval) throw new Error(`${workflowId} shows no approval`);
  const proof = signStatement(
    {
      decision: 'approve',
      workflowId,
      runId: description.runId,
      planHash: status.approval.planHash,
      via: 'cli',
      ...fields,
    },
    key,
    validForMs,
    now,
  );
  return { proof, runId: description.runId };
}

export async function decide(client: Client, workflowId: string, proof: unknown): Promise<Verdict> {
  return client.workflow.getHandle(workflowId).executeUpdate(decideUpdate, { args: [{ proof } as never] });
}

/** An emergency request signed by its requester for `workflowId`, as `maint emergency start --as` makes it. */
export function signedRequest(key: SigningKey, workflowId: string, input: EmergencyInput): EmergencyInput {
  const { actions } = EmergencyInput.parse(input);
  return {
    ...input,
    requestProof: signStatement(
      {
        decision: 'request',
        workflowId,
        planHash: planHash(emergencyPlan(actions)),
        principal: input.requestedBy,
        via: 'cli',
      },
      key,
    ),
  };
}
