// deploy/worker.yaml must start what the Dockerfile puts in the image: it used to run
// `node --import tsx src/worker.ts`, and the image holds only dist/, bin/, node_modules and package.json.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** The directories and files the Dockerfile's last stage copies into /app. */
function imageContents(dockerfile: string): string[] {
  const stages = dockerfile.split(/^FROM /m);
  const last = stages[stages.length - 1]!;
  return [...last.matchAll(/^COPY (?:--from=\S+ )?\S+ \.\/(\S*)$/gm)].map((m) => m[1]!.replace(/\/$/, ''));
}

describe('the worker manifest and the image', () => {
  const manifests = loadAllYaml(read('deploy/worker.yaml')) as {
    kind: string;
    spec?: { template: { spec: { containers: { name: string; image: string; command?: string[] }[] } } };
  }[];
  const worker = manifests
    .find((m) => m.kind === 'Deployment')!
    .spec!.template.spec.containers.find((c) => c.name === 'worker')!;
  const version = (JSON.parse(read('package.json')) as { version: string }).version;

  it('starts a compiled file the image holds, built from a source the build compiles', () => {
    const copied = imageContents(read('Dockerfile'));
    expect(copied).toEqual(expect.arrayContaining(['dist', 'node_modules']));
    const command = worker.command ?? [];
    expect(command[0]).toBe('node');
    const scripts = command.slice(1).filter((a) => !a.startsWith('-'));
    expect(scripts).toHaveLength(1);
    const script = scripts[0]!;
    // Inside something the image has, and no loader that needs TypeScript sources.
    expect(copied.some((dir) => script === dir || script.startsWith(`${dir}/`))).toBe(true);
    expect(command).not.toContain('tsx');
    // dist/<path>.js is tsc's output for <path>.ts under an included root of tsconfig.build.json.
    const source = script.replace(/^dist\//, '').replace(/\.js$/, '.ts');
    expect(existsSync(join(root, source))).toBe(true);
    const include = (JSON.parse(read('tsconfig.build.json')) as { include: string[] }).include;
    expect(include.some((dir) => source.startsWith(`${dir}/`))).toBe(true);
  });

  it('runs a version tag, the package version, never latest', () => {
    const [, tag] = worker.image.split(':');
    expect(tag).toBe(version);
  });
});
