import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startDevServer, type DevServer } from '../src/devserver.js';
import { freePort } from './helpers/net.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
  }
}

let server: DevServer | undefined;
let dir: string | undefined;

/** One Temporal dev server for the whole run, or the one TEMPORAL_ADDRESS names. */
export async function setup(project: TestProject): Promise<void> {
  if (process.env.TEMPORAL_ADDRESS) {
    project.provide('temporalAddress', process.env.TEMPORAL_ADDRESS);
    return;
  }
  dir = mkdtempSync(join(tmpdir(), 'maint-test-temporal-'));
  server = await startDevServer({ port: await freePort(), headless: true, dbFilename: join(dir, 'temporal.db') });
  project.provide('temporalAddress', server.address);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
