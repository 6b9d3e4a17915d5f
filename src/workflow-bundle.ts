// The maintenance workflows' bundle: what every worker, test and prebuilt image runs. Loads no SDK
// code until it bundles, so a process that only hands a cached bundle on (npm run up) stays light.
import { fileURLToPath } from 'node:url';
import type { BundleOptions } from '@temporalio/worker';
import { cachedWorkflowBundle, type CachedBundle } from './workflow-bundle-cache.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/** Every workflow bundle carries it: an undecodable input fails its run instead of hanging it (see the module). */
export const PAYLOAD_CONVERTER_PATH = fileURLToPath(new URL('./payload-converter.ts', import.meta.url));

const MAINTENANCE_BUNDLE: BundleOptions = {
  workflowsPath: WORKFLOWS_PATH,
  payloadConverterPath: PAYLOAD_CONVERTER_PATH,
  // The source map without the sources' text (1.3 of the bundle's 4 MB): stack traces still name
  // file and line, and the text only serves `showStackTraceSources`, which is off. The SDK decodes
  // and runs the bundle twice at start; this made Worker.create about 0.3 s faster.
  webpackConfigHook: (config) => ({ ...config, devtool: 'inline-nosources-source-map' }),
};

/** The workflow bundle, built now. */
export async function bundleMaintenanceWorkflows(options: Partial<BundleOptions> = {}) {
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  return bundleWorkflowCode({ ...MAINTENANCE_BUNDLE, ...options });
}

/** The same bundle, reused from node_modules/.cache while its sources are unchanged (webpack runs only after an edit). */
export async function cachedMaintenanceBundle(options: Partial<BundleOptions> = {}): Promise<CachedBundle['bundle']> {
  return (await cachedWorkflowBundle({ ...MAINTENANCE_BUNDLE, ...options })).bundle;
}
