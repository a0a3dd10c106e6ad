/**
 * `pfsim … | head`: when the reader of standard output goes away, pfsim stops quietly with the
 * status a Unix tool killed by SIGPIPE gets (128 + 13) — no stack, no "internal error" — for
 * output written synchronously (verdict lines) and through process.stdout (replay, compile).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT } from './helpers/cli.js';
import { POOL_CLUSTER_YAML, writePoolTrace } from './helpers/pool-trace.js';

/** 128 + SIGPIPE (src/cli.ts EXIT_BROKEN_PIPE; importing cli.ts would run it) */
const EXIT_BROKEN_PIPE = 141;

let dir: string;
let cluster: string;
let trace: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pfsim-pipe-'));
  cluster = join(dir, 'cluster.yaml');
  writeFileSync(cluster, POOL_CLUSTER_YAML);
  trace = join(dir, 'trace.pcap');
  writePoolTrace(trace, 3000);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI, reads its first line of output, closes the pipe; resolves with its exit and stderr. */
function firstLineThenClose(args: readonly string[]): Promise<{ code: number | null; signal: string | null; line: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '', line = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0 && line === '') {
        line = out.slice(0, nl);
        child.stdout.destroy();
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, line, stderr: err }));
  });
}

describe('a closed standard output', () => {
  const cases: { name: string; args: () => string[] }[] = [
    { name: 'verdict --pcap --json (synchronous lines)', args: () => ['verdict', '--cluster', cluster, '--pcap', trace, '--json', '--engines', 'chain,maps', '--workers', '1'] },
    { name: 'verdict --pcap --json in a pool of workers', args: () => ['verdict', '--cluster', cluster, '--pcap', trace, '--json', '--engines', 'chain,maps', '--workers', '2'] },
    { name: 'replay (one large write through process.stdout)', args: () => ['replay', '--cluster', cluster, '--pcap', trace, '--engines', 'chain,maps'] },
  ];
  for (const c of cases) {
    it(`${c.name}: exit ${EXIT_BROKEN_PIPE}, nothing on stderr`, async () => {
      const r = await firstLineThenClose(c.args());
      expect(r.line.length).toBeGreaterThan(0);
      expect(r.stderr).toBe('');
      expect(r.signal).toBeNull();
      expect(r.code).toBe(EXIT_BROKEN_PIPE);
    }, 60_000);
  }
});
