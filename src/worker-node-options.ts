// How every worker process is started: the image (Dockerfile CMD and ENV), the Deployment
// (deploy/worker.yaml), `npm run up` and the benchmarks; test/deploy.test.ts keeps them in step.
// Measured side by side (bench orchestration): a worker after 120 runs held 253 MB with Node's
// defaults and 175 MB with these, for the same median run time. V8 keeps smaller young
// generations (2 MB semi-spaces instead of 16 MB, in the main and the workflow thread alike) and
// favours memory over peak speed; glibc keeps two malloc arenas instead of one per core and thread
// of the SDK's Rust runtime.
// glibc's mmap threshold stays at 128 KiB instead of rising with each large block freed (up to
// 32 MiB): blocks above it are unmapped when freed rather than kept in the arenas; 10-15 MB less
// after 120 runs (bench orchestration).
export const WORKER_NODE_FLAGS = ['--optimize-for-size', '--max-semi-space-size=2'] as const;
export const WORKER_NODE_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' } as const;

// How a worker is started from its TypeScript sources where no transpiled build is used (the
// orchestration bench's ratio worker and its tsx baseline; `npm run up` uses dev/transpiled.ts): tsx's ESM
// hooks only. Our sources are ES modules; `--import tsx` also hooks every require() of the SDK's
// CommonJS files, in the main and the workflow thread: about 0.3 s of CPU more at each start.
export const TYPESCRIPT_LOADER = ['--import', 'tsx/esm'] as const;
