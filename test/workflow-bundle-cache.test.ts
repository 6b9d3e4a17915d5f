import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, describe, expect, it } from 'vitest';
import { cachedWorkflowBundle } from '../src/workflow-bundle-cache.js';

// Inside the repo (git-ignored .data/) so the workflows resolve @temporalio/workflow as ours do.
const dir = fileURLToPath(new URL(`../.data/bundle-cache-test-${randomBytes(4).toString('hex')}/`, import.meta.url));
const cacheDir = join(dir, 'cache');
const workflowsPath = join(dir, 'workflows.ts');
mkdirSync(dir, { recursive: true });
writeFileSync(
  workflowsPath,
  "import { greeting } from './greeting.js';\nexport async function greet(): Promise<string> { return greeting; }\n",
);
writeFileSync(join(dir, 'greeting.js'), "export const greeting = 'from-js-file';\n");

const bundle = () => cachedWorkflowBundle({ workflowsPath, logger: new DefaultLogger('WARN') }, cacheDir);
const codeOf = (b: Awaited<ReturnType<typeof bundle>>) =>
  'codePath' in b.bundle ? readFileSync(b.bundle.codePath, 'utf8') : b.bundle.code;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cachedWorkflowBundle', () => {
  it('runs webpack once per source state: unchanged sources reuse the file, an edit or a new file on a probed path rebuilds', async () => {
    const first = await bundle();
    expect(first.built).toBe(true);
    expect(codeOf(first)).toContain('from-js-file');

    const again = await bundle();
    expect(again).toEqual({ bundle: first.bundle, built: false });

    writeFileSync(join(dir, 'greeting.js'), "export const greeting = 'edited-js-file';\n");
    const edited = await bundle();
    expect(edited.built).toBe(true);
    expect(edited.bundle).not.toEqual(first.bundle);
    expect(codeOf(edited)).toContain('edited-js-file');

    // `./greeting.js` resolves to greeting.ts first (the SDK's extension alias): webpack probed it.
    writeFileSync(join(dir, 'greeting.ts'), "export const greeting: string = 'from-ts-file';\n");
    const shadowed = await bundle();
    expect(shadowed.built).toBe(true);
    expect(codeOf(shadowed)).toContain('from-ts-file');
    expect(await bundle()).toEqual({ bundle: shadowed.bundle, built: false });
  });

  it('the webpack hook keys the bundle: one leaving the sources out of the source map (as the maintenance bundle does) is built anew', async () => {
    const plain = await bundle();
    const withoutSources = await cachedWorkflowBundle(
      {
        workflowsPath,
        logger: new DefaultLogger('WARN'),
        webpackConfigHook: (config) => ({ ...config, devtool: 'inline-nosources-source-map' }),
      },
      cacheDir,
    );
    expect(withoutSources.built).toBe(true);
    const sourceMap = (code: string) =>
      JSON.parse(Buffer.from(code.slice(code.lastIndexOf('base64,') + 7), 'base64').toString()) as {
        sources: string[];
        sourcesContent?: string[];
      };
    expect(sourceMap(codeOf(plain)).sourcesContent?.length).toBeGreaterThan(0);
    const map = sourceMap(codeOf(withoutSources));
    expect(map.sources.some((s) => s.endsWith('workflows.ts'))).toBe(true);
    expect(map.sourcesContent).toBeUndefined();
  });
});
