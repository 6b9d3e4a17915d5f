import type { z } from 'zod';

// Input problems echo what was wrong, so every echoed piece is clipped: a 1 MB unknown key once
// made the failure itself too large for the server, which killed the run instead of failing it.

const MAX_SEGMENT = 40;
const MAX_MESSAGE = 200;
const MAX_PROBLEMS = 10;

export const clipText = (s: string, max: number) => (s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s);

/** One line per problem, `field: what is wrong`, each bounded; at most ten and a count of the rest. */
export function describeInputIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines = issues.slice(0, MAX_PROBLEMS).map((i) => {
    const field = i.path.length ? i.path.map((p) => clipText(String(p), MAX_SEGMENT)).join('.') : '(input)';
    return `${field}: ${clipText(i.message, MAX_MESSAGE)}`;
  });
  if (issues.length > MAX_PROBLEMS) lines.push(`…and ${issues.length - MAX_PROBLEMS} more problem(s)`);
  return lines;
}
