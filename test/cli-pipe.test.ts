/**
 * `pfsim … | head`: when the reader of standard output goes away, pfsim stops quietly with the
 * status a Unix tool killed by SIGPIPE gets (128 + 13) — no stack, no "internal error" — for
 * output written synchronously (verdict lines) and through process.stdout (replay, compile).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_BROKEN_PIPE, pfsimClosingStdout } from './helpers/cli.js';
import { POOL_CLUSTER_YAML, writePoolTrace } from './helpers/pool-trace.js';

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

describe('a closed standard output', () => {
  const cases: { name: string; args: () => string[] }[] = [
    { name: 'verdict --pcap --json (synchronous lines)', args: () => ['verdict', '--cluster', cluster, '--pcap', trace, '--json', '--engines', 'chain,maps', '--workers', '1'] },
    { name: 'verdict --pcap --json in a pool of workers', args: () => ['verdict', '--cluster', cluster, '--pcap', trace, '--json', '--engines', 'chain,maps', '--workers', '2'] },
    { name: 'replay (one large write through process.stdout)', args: () => ['replay', '--cluster', cluster, '--pcap', trace, '--engines', 'chain,maps'] },
  ];
  for (const c of cases) {
    it(`${c.name}: exit ${EXIT_BROKEN_PIPE}, nothing on stderr`, async () => {
      const r = await pfsimClosingStdout(c.args());
      expect(r.chunk.length).toBeGreaterThan(0);
      expect(r.stderr).toBe('');
      expect(r.signal).toBeNull();
      expect(r.code).toBe(EXIT_BROKEN_PIPE);
    }, 60_000);
  }
});
