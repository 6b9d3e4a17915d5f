#!/usr/bin/env node
// The `maint` CLI: compiled JavaScript in the container image (NODE_ENV=production), else the
// TypeScript sources through tsx, so a fresh clone needs no build step.
let runCli;
if (process.env.NODE_ENV === 'production') {
  ({ runCli } = await import('../dist/src/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ runCli } = await import('../src/cli/main.ts'));
}
process.exitCode = await runCli(process.argv);
