// The workflow bundle, built by webpack once per source state and reused from disk afterwards:
// webpack takes seconds, checking the sources it read takes milliseconds. An entry is keyed by
// what the bundler is given (SDK version, entry points) and valid while every file webpack read
// still has the content it had, and every path it probed and did not find is still absent.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BundleOptions } from '@temporalio/worker';

export const DEFAULT_BUNDLE_CACHE_DIR = fileURLToPath(
  new URL('../node_modules/.cache/trixtech-maintenance/workflow-bundles', import.meta.url),
);
const STALE_BUNDLE_MS = 10 * 60_000;

interface Manifest {
  bundle: string;
  /** Every file (or directory) webpack read, with its sha256; null for a path it probed and found absent. */
  sources: Record<string, string | null>;
}

export interface CachedBundle {
  /** The cached file; the code itself when the cache directory cannot be written. */
  bundle: { codePath: string } | { code: string };
  /** True when webpack ran for this call. */
  built: boolean;
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * A file's content hash. Directories webpack stats while resolving count only as existing: what
 * resolution found in them is covered by the files read and the paths probed.
 */
function fileHash(path: string): string | null {
  try {
    if (statSync(path).isDirectory()) return 'directory';
    return sha256(readFileSync(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function readManifest(path: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

/** Written to a temporary name and renamed, so a reader (another worker, a parallel test) never sees half a file. */
function writeAtomically(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function isCurrent(manifest: Manifest, dir: string): boolean {
  if (!existsSync(join(dir, manifest.bundle))) return false;
  return Object.entries(manifest.sources).every(([path, hash]) =>
    hash === null ? !existsSync(path) : fileHash(path) === hash,
  );
}

/** Bundles no manifest names, once old enough that no starting worker is still reading them. */
function removeStaleBundles(dir: string): void {
  const names = readdirSync(dir);
  const named = new Set(
    names.filter((n) => n.endsWith('.manifest.json')).map((n) => readManifest(join(dir, n))?.bundle),
  );
  for (const name of names) {
    if (named.has(name) || !name.endsWith('.js')) continue;
    const path = join(dir, name);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat && Date.now() - stat.mtimeMs > STALE_BUNDLE_MS) rmSync(path, { force: true });
  }
}

/**
 * The bundle for `options` from the cache in `cacheDir`, built (and stored) when a source changed.
 * Options other than paths (a logger) do not key the cache; interceptor and converter paths and the
 * webpack hook's source do.
 */
export async function cachedWorkflowBundle(
  options: BundleOptions,
  cacheDir = DEFAULT_BUNDLE_CACHE_DIR,
): Promise<CachedBundle> {
  const sdkVersion = (createRequire(import.meta.url)('@temporalio/worker/package.json') as { version: string }).version;
  const key = sha256(
    JSON.stringify({
      sdkVersion,
      workflowsPath: options.workflowsPath,
      payloadConverterPath: options.payloadConverterPath,
      failureConverterPath: options.failureConverterPath,
      interceptors: options.workflowInterceptorModules,
      ignoreModules: options.ignoreModules,
      webpackConfigHook: options.webpackConfigHook?.toString(),
    }),
  ).slice(0, 16);
  const manifestPath = join(cacheDir, `${key}.manifest.json`);
  const cached = readManifest(manifestPath);
  if (cached && isCurrent(cached, cacheDir))
    return { bundle: { codePath: join(cacheDir, cached.bundle) }, built: false };

  let read: string[] = [];
  let probed: string[] = [];
  const startedAt = performance.timeOrigin + performance.now(); // sub-millisecond, like file times
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const { code } = await bundleWorkflowCode({
    ...options,
    webpackConfigHook: (config) => {
      const configured = options.webpackConfigHook ? options.webpackConfigHook(config) : config;
      configured.plugins = [
        ...(configured.plugins ?? []),
        {
          apply: (compiler) =>
            compiler.hooks.done.tap('record-workflow-sources', ({ compilation }) => {
              read = [...compilation.fileDependencies];
              probed = [...compilation.missingDependencies];
            }),
        },
      ];
      return configured;
    },
  });
  const sources: Manifest['sources'] = {};
  for (const path of probed) sources[path] = null;
  // The generated entry point lives in webpack's memory only: absent on disk, and it stays so.
  for (const path of read) sources[path] = fileHash(path);
  const bundle = `${sha256(JSON.stringify(sources)).slice(0, 16)}.js`;
  const codePath = join(cacheDir, bundle);
  try {
    mkdirSync(cacheDir, { recursive: true });
    writeAtomically(codePath, code);
  } catch {
    return { bundle: { code }, built: true }; // a read-only tree: no cache, still a worker
  }
  // A source edited while webpack ran may not be in this bundle: use it for this call but record
  // no manifest, so the next start builds again.
  const editedMeanwhile = read.some((path) => {
    const stat = statSync(path, { throwIfNoEntry: false });
    return stat?.isFile() && stat.mtimeMs >= startedAt;
  });
  if (!editedMeanwhile) writeAtomically(manifestPath, JSON.stringify({ bundle, sources } satisfies Manifest));
  removeStaleBundles(cacheDir);
  return { bundle: { codePath }, built: true };
}
