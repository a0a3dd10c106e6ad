import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');

/** Runs the built CLI (npm test builds first) and returns its exit code and output. */
export function pfsim(args: readonly string[], opts: { cwd?: string } = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: opts.cwd ?? ROOT, timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export { EXIT_BROKEN_PIPE } from '../../src/errors.js';

/**
 * Runs the built CLI, closes its standard output after the first chunk it reads (as `| head`
 * does once it has enough), and resolves with the exit, the chunk and stderr.
 */
export function pfsimClosingStdout(args: readonly string[]): Promise<{ code: number | null; signal: string | null; chunk: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '', chunk = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.stdout.setEncoding('utf8').once('data', (d: string) => {
      chunk = d;
      child.stdout.destroy();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, chunk, stderr: err }));
  });
}
