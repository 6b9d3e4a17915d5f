// Development processes (`npm run up`'s worker and bridge, the benchmarks' production worker) run
// our TypeScript transpiled by esbuild once per source state, rather than through tsx: tsx's loader
// hooks run on a thread of their own, which every import waits on, and cost a start about 0.5 s
// on two cores. A build is keyed by the content of every source file the image compiles
// (tsconfig.build.json's `include`) and esbuild's version, and lives in .data/dev-build/<key>/
// with the sources' layout, so imports of node_modules resolve as from the sources.
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WORKER_NODE_ENV, WORKER_NODE_FLAGS } from '../src/worker-node-options.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/**
 * A build unused this long is removed. Not sooner: a running worker still imports from its build
 * (its Kubernetes activities load at their first call), and using a build marks it used.
 */
const UNUSED_BUILD_MS = 24 * 3600_000;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

const isTypeScript = (file: string) => file.endsWith('.ts') && !file.endsWith('.d.ts');

function removeUnusedBuilds(buildsDir: string, current: string): void {
  for (const name of readdirSync(buildsDir)) {
    const path = join(buildsDir, name);
    if (path === current) continue;
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat && Date.now() - stat.mtimeMs > UNUSED_BUILD_MS) rmSync(path, { recursive: true, force: true });
  }
}

/**
 * The directory holding the current sources transpiled (`<dir>/src/worker.js` for
 * `src/worker.ts`), built when no build of this exact source state exists. Safe to call from
 * several processes at once: each builds into a directory of its own and the first rename wins.
 */
export async function transpiledSources(root = ROOT): Promise<string> {
  const tsconfig = join(root, 'tsconfig.build.json');
  const { include } = JSON.parse(readFileSync(tsconfig, 'utf8')) as { include: string[] };
  // Every file counts: a module may read one beside it (JSON, SQL), which is copied as it is.
  const files = include.flatMap((dir) => filesUnder(join(root, dir))).sort();
  const esbuildVersion = (createRequire(import.meta.url)('esbuild/package.json') as { version: string }).version;
  const hash = createHash('sha256').update(`esbuild ${esbuildVersion}\n`);
  // The build's settings, and those of the tsconfig.json it extends.
  for (const file of [tsconfig, join(root, 'tsconfig.json')]) if (existsSync(file)) hash.update(readFileSync(file));
  for (const file of files) hash.update(`${relative(root, file)}\n`).update(readFileSync(file));
  const buildsDir = join(root, '.data', 'dev-build');
  const dir = join(buildsDir, hash.digest('hex').slice(0, 16));
  if (existsSync(join(dir, 'package.json'))) {
    const now = new Date();
    utimesSync(dir, now, now);
    return dir;
  }

  const { build } = await import('esbuild');
  const staging = `${dir}.${process.pid}.${Date.now()}.tmp`;
  try {
    await build({
      entryPoints: files.filter(isTypeScript),
      outbase: root,
      outdir: staging,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Stack traces name the TypeScript file and line (node --enable-source-maps).
      sourcemap: 'linked',
      tsconfig,
      logLevel: 'silent',
    });
    // Written last: a directory with it is complete. The sources are ES modules, as the repo's package.json says.
    for (const file of files.filter((f) => !isTypeScript(f))) {
      mkdirSync(dirname(join(staging, relative(root, file))), { recursive: true });
      copyFileSync(file, join(staging, relative(root, file)));
    }
    writeFileSync(join(staging, 'package.json'), '{ "type": "module" }\n');
    renameSync(staging, dir);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    // Another process finished the same build first.
    if (!existsSync(join(dir, 'package.json'))) throw err;
  }
  removeUnusedBuilds(buildsDir, dir);
  return dir;
}

export interface DevelopmentStart {
  /** Node's arguments: flags, then the transpiled entry point. */
  args: string[];
  env: NodeJS.ProcessEnv;
}

/** The cached workflow bundle's file; written beside the transpiled sources when the cache cannot be. */
async function workflowBundleFile(dir: Promise<string>): Promise<string> {
  const { cachedMaintenanceBundle } = await import('../src/workflow-bundle.js');
  const bundle = await cachedMaintenanceBundle();
  if ('codePath' in bundle) return bundle.codePath;
  const file = join(await dir, `workflow-bundle.${process.pid}.js`);
  writeFileSync(file, bundle.code);
  return file;
}

/**
 * How development starts one of our services (`worker.ts`, `bridge.ts` under src/): Node on its
 * transpiled entry point, a worker with every worker's flags and environment
 * (src/worker-node-options.ts). The worker is handed the cached workflow bundle, as the image is
 * handed its prebuilt one: it would look for the workflows' sources beside the transpiled file.
 */
export async function developmentStart(entry: 'worker.ts' | 'bridge.ts'): Promise<DevelopmentStart> {
  const dir = transpiledSources();
  if (entry === 'bridge.ts') return { args: ['--enable-source-maps', join(await dir, 'src', 'bridge.js')], env: {} };
  const [sources, bundle] = await Promise.all([dir, workflowBundleFile(dir)]);
  return {
    args: ['--enable-source-maps', ...WORKER_NODE_FLAGS, join(sources, 'src', 'worker.js')],
    env: { ...WORKER_NODE_ENV, WORKFLOW_BUNDLE: bundle },
  };
}
