import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { developmentStart, transpiledSources } from '../dev/transpiled.js';
import { WORKER_NODE_ENV, WORKER_NODE_FLAGS } from '../src/worker-node-options.js';

const run = promisify(execFile);
// Inside the repo (git-ignored .data/) so a transpiled module resolves node_modules as ours do.
const root = fileURLToPath(new URL(`../.data/transpiled-test-${randomBytes(4).toString('hex')}/`, import.meta.url));
const builds = join(root, '.data', 'dev-build');
const write = (path: string, text: string) => {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), text);
};
write(
  'tsconfig.build.json',
  JSON.stringify({ compilerOptions: { verbatimModuleSyntax: true }, include: ['src', 'lib'] }),
);
write(
  'src/main.ts',
  "import type { Label } from './types.js';\nimport { greeting } from '../lib/greeting.js';\nimport { mark } from '../lib/punctuation.js';\nconst label: Label = 'main';\nconsole.log(label, greeting(2) + mark);\n",
);
write('src/types.ts', "export type Label = 'main';\n");
write('lib/greeting.ts', 'export const greeting = (n: number): string => `hello ${n}`;\n');
// A file a module reads beside itself, as a module may read JSON or SQL.
write(
  'lib/punctuation.ts',
  "import { readFileSync } from 'node:fs';\nexport const mark = readFileSync(new URL('./mark.txt', import.meta.url), 'utf8').trim();\n",
);
write('lib/mark.txt', '!\n');
afterAll(() => rmSync(root, { recursive: true, force: true }));

const output = async (dir: string) => (await run(process.execPath, [join(dir, 'src', 'main.js')])).stdout.trim();

describe('transpiledSources', () => {
  it('builds once per source state: unchanged sources reuse the build, an edit makes a new one', async () => {
    const first = await transpiledSources(root);
    expect(await output(first)).toBe('main hello 2!');
    writeFileSync(join(first, 'marker'), '');
    expect(await transpiledSources(root)).toBe(first);
    expect(existsSync(join(first, 'marker'))).toBe(true);

    write('lib/greeting.ts', 'export const greeting = (n: number): string => `hi ${n * 2}`;\n');
    const second = await transpiledSources(root);
    expect(second).not.toBe(first);
    expect(await output(second)).toBe('main hi 4!');
    // The earlier build stays: a process started from it may still import from it.
    expect(await output(first)).toBe('main hello 2!');
    // A file that is not TypeScript is copied, and its content keys the build too.
    write('lib/mark.txt', '?\n');
    const third = await transpiledSources(root);
    expect(third).not.toBe(second);
    expect(await output(third)).toBe('main hi 4?');
  });

  it('processes building the same sources at once end with one complete build and no leftovers', async () => {
    write('src/extra.ts', 'export const extra = 1;\n');
    const dirs = await Promise.all(
      Array.from({ length: 3 }, () =>
        run(process.execPath, [
          '--import',
          'tsx/esm',
          '--input-type=module',
          '-e',
          `import { transpiledSources } from ${JSON.stringify(fileURLToPath(new URL('../dev/transpiled.ts', import.meta.url)))};
           console.log(await transpiledSources(${JSON.stringify(root)}));`,
        ]).then(({ stdout }) => stdout.trim()),
      ),
    );
    expect(new Set(dirs).size).toBe(1);
    expect(await output(dirs[0]!)).toBe('main hi 4?');
    expect(readdirSync(builds).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('a source that does not compile fails naming the file and leaves no build behind', async () => {
    const before = readdirSync(builds).sort();
    write('lib/broken.ts', 'export const = ;\n');
    await expect(transpiledSources(root)).rejects.toThrow(/lib\/broken\.ts/);
    expect(readdirSync(builds).sort()).toEqual(before);
    rmSync(join(root, 'lib', 'broken.ts'));
  });
});

describe('developmentStart', () => {
  it('starts the worker from the transpiled sources with the cached workflow bundle and every worker flag', async () => {
    const { args, env } = await developmentStart('worker.ts');
    const entry = args.at(-1)!;
    expect(entry).toMatch(/\/\.data\/dev-build\/[0-9a-f]{16}\/src\/worker\.js$/);
    expect(existsSync(env.WORKFLOW_BUNDLE!)).toBe(true);
    expect(args.slice(-1 - WORKER_NODE_FLAGS.length, -1)).toEqual(WORKER_NODE_FLAGS);
    expect(env).toMatchObject(WORKER_NODE_ENV);
    // The transpiled worker runs: it parses its arguments as src/worker.ts does.
    const err = await run(process.execPath, [...args, '--prelaod'], {
      env: { ...process.env, ...env },
      timeout: 30_000,
    }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(/^worker failed: Unknown option '--prelaod'/);
  });
});
