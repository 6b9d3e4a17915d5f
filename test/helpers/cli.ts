import { runCli } from '../../src/cli/main.js';

/** `maint` run in this process, as a user types it: its exit code and what it printed. */
export async function maint(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    ['node', 'maint', ...args],
    (s) => out.push(s),
    (s) => err.push(s),
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** `maint` run in this process with `env` on top of the test's environment (a stack's config file, its database). */
export async function maintWith(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  const saved = process.env;
  process.env = { ...saved, ...env };
  try {
    return await maint(...args);
  } finally {
    process.env = saved;
  }
}
