// What the worker's payload converter (src/payload-converter.ts) hands the workflow in place of a
// payload it cannot decode (an unknown encoding, broken JSON). Without it the SDK throws while
// starting the workflow, the workflow task fails and retries forever: every such run hangs.
// Pure, so workflow code can recognise it.

export const UNDECODABLE_KEY = '__undecodablePayload';

export interface Undecodable {
  [UNDECODABLE_KEY]: string;
}

export const undecodable = (reason: string): Undecodable => ({ [UNDECODABLE_KEY]: reason });

/** Why `value` stands for a payload that could not be decoded, or undefined when it is an ordinary value. */
export function undecodableReason(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || !(UNDECODABLE_KEY in value)) return undefined;
  return `the payload could not be decoded (${String((value as Undecodable)[UNDECODABLE_KEY]).slice(0, 200)}); send JSON (encoding json/plain)`;
}
