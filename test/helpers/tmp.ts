/**
 * A scratch folder for one test file: made before its tests, removed with everything in it
 * after them. Call at the top level of the file; the returned function names a path inside.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export function scratchDir(prefix: string): (name: string) => string {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });
  return (name) => {
    if (dir === '') throw new Error('scratchDir: used outside a test (before beforeAll ran)');
    return join(dir, name);
  };
}
