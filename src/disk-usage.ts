import { statfs } from 'node:fs/promises';

/** One filesystem's space as `df` reports it. */
export interface FilesystemUsage {
  /** Used / (used + available to unprivileged users), as `df`'s Use% (blocks reserved for root excluded). */
  usedPercent: number;
  /** Available to unprivileged users. */
  availableBytes: number;
  sizeBytes: number;
}

/**
 * The filesystem holding `path`, measured now (statfs). Throws what statfs throws (ENOENT, EACCES),
 * and for a filesystem with no blocks (proc, sysfs, a tmpfs of size 0), whose percentage would be NaN.
 */
export async function measureFilesystem(path: string): Promise<FilesystemUsage> {
  const s = await statfs(path);
  const used = s.blocks - s.bfree;
  if (used + s.bavail <= 0)
    throw new Error(`the filesystem holding ${path} reports no blocks (a pseudo-filesystem such as proc or sysfs?)`);
  return {
    usedPercent: Math.round((used / (used + s.bavail)) * 1000) / 10,
    availableBytes: s.bavail * s.bsize,
    sizeBytes: s.blocks * s.bsize,
  };
}
