/**
 * The replay pool with a kernel engine: each worker builds its own testbed (namespaces of this
 * process), the verdicts equal the sequential replay's, and closing the pool — or a SIGINT to a
 * `pfsim replay` running one — removes every testbed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterFromText } from '../src/cluster/load.js';
import { compile } from '../src/compile/index.js';
import type { Plan } from '../src/compile/plan.js';
import type { EngineName } from '../src/engines/engine.js';
import { engineAvailability } from '../src/engines/index.js';
import { ReplayPool } from '../src/pool/pool.js';
import { type PacketVerdict, replayCapture } from '../src/verdict/replay.js';
import { CLI, ROOT } from './helpers/cli.js';
import { gatedTitle, kernelTestGate, type KernelGate } from './helpers/netns.js';
import { POOL_CLUSTER_YAML, writePoolTrace } from './helpers/pool-trace.js';

const kernel = kernelTestGate();
const iptables = engineAvailability('iptables');
const gate: KernelGate = !kernel.ok ? kernel : iptables.ok ? kernel : { ok: false, reason: `iptables engine: ${iptables.reason}` };
const ENGINES: readonly EngineName[] = ['chain', 'iptables'];

let dir: string;
let plan: Plan;
let trace: string;

beforeAll(() => {
  if (!gate.ok) return;
  dir = mkdtempSync(join(tmpdir(), 'pfsim-pool-kernel-'));
  plan = compile(clusterFromText('pool.yaml', POOL_CLUSTER_YAML));
  writeFileSync(join(dir, 'cluster.yaml'), POOL_CLUSTER_YAML);
  trace = join(dir, 'small.pcap');
  writePoolTrace(trace, 60, 5, 16);
});
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

function netnsOf(pid: number): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith(`pfsim-${pid}-`));
  } catch {
    return [];
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('replay pool with a kernel engine', () => {
  it.skipIf(!gate.ok)(gatedTitle('two workers, two testbeds, the sequential verdicts; close removes both testbeds', gate), async () => {
    const ref: PacketVerdict[] = [];
    replayCapture(plan, trace, ENGINES, { packet: (v) => ref.push(v) });
    expect(netnsOf(process.pid)).toEqual([]);
    const pool = await ReplayPool.open(plan, ENGINES, { workers: 2, batchSize: 32 });
    try {
      // three namespaces (src, node, dst) per testbed, one testbed per worker
      expect(netnsOf(process.pid)).toHaveLength(6);
      const got: PacketVerdict[] = [];
      await pool.replay(trace, { sink: { packet: (v) => got.push(v) } });
      expect(got).toEqual(ref);
      expect(got.some((v) => v.engines.iptables === 'deny')).toBe(true);
    } finally {
      await pool.close();
    }
    expect(netnsOf(process.pid)).toEqual([]);
  }, 120_000);

  it.skipIf(!gate.ok)(gatedTitle('SIGINT to pfsim replay with worker testbeds: every testbed removed, the process dies of SIGINT', gate), async () => {
    const big = join(dir, 'big.pcap');
    writePoolTrace(big, 3000, 9);
    const child = spawn(process.execPath, [CLI, 'replay', '--cluster', join(dir, 'cluster.yaml'), '--pcap', big, '--engines', 'chain,iptables', '--workers', '2'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    const pid = child.pid!;
    try {
      const deadline = Date.now() + 30_000;
      while (netnsOf(pid).length < 6) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error('replay ended before its testbeds were up');
        if (Date.now() > deadline) throw new Error(`no worker testbeds after 30 s (${netnsOf(pid).length} namespaces)`);
        await sleep(10);
      }
      child.kill('SIGINT');
      const end = await done;
      expect(end.signal).toBe('SIGINT');
      expect(netnsOf(pid)).toEqual([]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await done;
      // never leave a namespace behind, whatever failed above
      for (const n of netnsOf(pid)) spawnSync('ip', ['netns', 'delete', n], { stdio: 'ignore' });
    }
  }, 120_000);
});
