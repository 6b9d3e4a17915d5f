// Prebuilds the workflow bundle so a worker started with WORKFLOW_BUNDLE=<path> skips webpack.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DefaultLogger } from '@temporalio/worker';
import { bundleMaintenanceWorkflows } from '../src/workflow-bundle.js';

export async function buildWorkflowBundle(outPath: string): Promise<string> {
  const { code } = await bundleMaintenanceWorkflows({ logger: new DefaultLogger('WARN') });
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, code);
  return outPath;
}

if (import.meta.filename === process.argv[1]) {
  const out = resolve(process.argv[2] ?? 'dist/workflow-bundle.js');
  await buildWorkflowBundle(out);
  console.log(`workflow bundle written to ${out}`);
}
