import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import sshpk from 'sshpk';
import {
  ApprovalStatement,
  MAX_STATEMENT_LIFETIME_MS,
  Proof,
  STATEMENT_VERSION,
  type ApprovalStatement as Statement,
} from '../domain/approval-proof.js';

// Ed25519 keys in the formats operators already have: OpenSSH public key lines
// ("ssh-ed25519 AAAA... comment") in the config, OpenSSH or PKCS#8 private keys on disk.
// sshpk parses them; node:crypto signs and verifies.

export class KeyError extends Error {}

export interface PublicKey {
  /** "SHA256:..." as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  key: KeyObject;
}

export function parsePublicKey(line: string): PublicKey {
  let parsed: sshpk.Key;
  try {
    parsed = sshpk.parseKey(line.trim(), 'ssh');
  } catch (err) {
    throw new KeyError(`not an OpenSSH public key: ${(err as Error).message}`);
  }
  if (parsed.type !== 'ed25519') throw new KeyError(`expected an ssh-ed25519 key, got ${parsed.type}`);
  const x = (parsed.part as unknown as Record<string, { data: Buffer }>).A!.data;
  return {
    fingerprint: parsed.fingerprint('sha256').toString(),
    key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: x.toString('base64url') }, format: 'jwk' }),
  };
}

export interface SigningKey {
  fingerprint: string;
  key: KeyObject;
  /** The OpenSSH public key line, for the config. */
  publicLine: string;
}

/** An unencrypted Ed25519 private key, OpenSSH (`ssh-keygen -t ed25519 -N ''`) or PKCS#8 PEM. */
export function parsePrivateKey(text: string | Buffer): SigningKey {
  let parsed: sshpk.PrivateKey;
  try {
    parsed = sshpk.parsePrivateKey(text, 'auto');
  } catch (err) {
    const why = /encrypted/i.test((err as Error).message)
      ? 'it is encrypted (use a key without a passphrase for signing, or decrypt a copy)'
      : (err as Error).message;
    throw new KeyError(`cannot read the private key: ${why}`);
  }
  if (parsed.type !== 'ed25519') throw new KeyError(`expected an Ed25519 private key, got ${parsed.type}`);
  const parts = parsed.part as unknown as Record<string, { data: Buffer }>;
  const key = createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: parts.k!.data.subarray(0, 32).toString('base64url'),
      x: parts.A!.data.toString('base64url'),
    },
    format: 'jwk',
  });
  const pub = parsed.toPublic();
  return { fingerprint: pub.fingerprint('sha256').toString(), key, publicLine: pub.toString('ssh') };
}

/** A new key pair: the OpenSSH private key text and its public line (demo keys, tests). */
export function generateSigningKey(comment: string): { privateKey: string; publicLine: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const parsed = sshpk.parsePrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' }), 'pem');
  parsed.comment = comment;
  return { privateKey: parsed.toString('openssh'), publicLine: parsed.toPublic().toString('ssh') };
}

export type StatementFields = Omit<Statement, 'v' | 'issuedAt' | 'expiresAt' | 'nonce'>;

/** Signs a statement valid for `validForMs` from now. */
export function signStatement(
  fields: StatementFields,
  signer: SigningKey,
  validForMs = 15 * 60_000,
  now = new Date(),
): Proof {
  const statement = ApprovalStatement.parse({
    v: STATEMENT_VERSION,
    ...fields,
    issuedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + Math.min(validForMs, MAX_STATEMENT_LIFETIME_MS)).toISOString(),
    nonce: randomBytes(12).toString('base64url'),
  });
  const bytes = Buffer.from(JSON.stringify(statement), 'utf8');
  return {
    statement: bytes.toString('base64url'),
    signature: sign(null, bytes, signer.key).toString('base64'),
    key: signer.fingerprint,
  };
}

export type SignatureCheck = { ok: true; statement: Statement } | { ok: false; reason: string };

/** Checks the signature with `key` and the statement's shape; binding and freshness are the workflow's to judge. */
export function verifyProof(proof: Proof, key: KeyObject): SignatureCheck {
  const bytes = Buffer.from(proof.statement, 'base64url');
  if (!verify(null, bytes, key, Buffer.from(proof.signature, 'base64'))) return { ok: false, reason: 'bad signature' };
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed proof: the signed statement is not JSON' };
  }
  const parsed = ApprovalStatement.safeParse(json);
  if (!parsed.success)
    return {
      ok: false,
      reason: `malformed statement: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(statement)'}: ${i.message}`).join('; ')}`,
    };
  return { ok: true, statement: parsed.data };
}

export { Proof };
