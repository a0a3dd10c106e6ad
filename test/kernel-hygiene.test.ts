/**
 * Kernel hygiene: whatever happens to a pfsim run, the host ends up as it was.
 *  (a) a replay killed with SIGKILL while its testbed exists leaves residue that `pfsim cleanup`
 *      removes completely (namespaces, host links, clsact qdiscs, bpffs pins, tc programs);
 *  (b) two concurrent replays both succeed, and `pfsim cleanup` run meanwhile keeps their objects;
 *  (c) a full kernel run (`pfsim demo --engines all`) leaves the host's firewall, links and
 *      qdiscs exactly as they were.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frame, ipPacket, LINKTYPE_ETHERNET } from '../src/capture/frames.js';
import { PcapWriter } from '../src/capture/pcap-writer.js';
import { CLI, pfsim, ROOT } from './helpers/cli.js';
import { gatedTitle, kernelTestGate, type KernelGate } from './helpers/netns.js';

const kernel = kernelTestGate();
const gate: KernelGate = kernel.ok && spawnSync('iptables-legacy-restore', ['--version']).status !== 0
  ? { ok: false, reason: 'iptables-legacy-restore not runnable' } : kernel;

const PACKETS = 20_000;
let dir: string;
let cluster: string[];
let pcap: string;

beforeAll(() => {
  if (!gate.ok) return;
  dir = mkdtempSync(join(tmpdir(), 'pfsim-hygiene-'));
  expect(pfsim(['demo', '--out', join(dir, 'demo'), '--traces', join(dir, 'traces'), '--engines', 'chain,maps']).code).toBe(0);
  cluster = ['--cluster', join(dir, 'demo', 'cluster.yaml'), '--cluster', join(dir, 'demo', 'policies', 'demo-app-deny-all.yaml'),
    '--cluster', join(dir, 'demo', 'policies', 'demo-app-allow-client-one.yaml')];
  // every client opens connections to demo-app:80 in turn: a quarter allowed, the rest denied
  pcap = join(dir, 'big.pcap');
  const w = new PcapWriter(pcap, { linkType: LINKTYPE_ETHERNET });
  const clients = ['10.244.0.11', '10.244.0.12', '10.244.0.13', '10.244.0.14'];
  let t = 1_700_000_000_000_000_000n;
  for (let i = 0; i < PACKETS; i++) {
    const ip = ipPacket({ src: clients[i % 4]!, dst: '10.244.0.10', proto: 'TCP', sport: 20000 + ((i >> 2) % 40000), dport: 80, tcpFlags: ['SYN'] });
    w.writePacket(t, frame(LINKTYPE_ETHERNET, ip));
    t += 1000n;
  }
  w.close();
});
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function netnsOf(pid: number): string[] {
  let names: string[];
  try { names = readdirSync('/run/netns'); } catch { return []; }
  return names.filter((n) => n.startsWith(`pfsim-${pid}-`));
}

function sh(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.stdout ?? '';
}

/** sched_cls programs loaded now, with the pids holding them (bpftool's pids field). */
function schedCls(): { count: number; pids: number[] } {
  const r = spawnSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8' });
  if (r.status !== 0) return { count: 0, pids: [] };
  const progs = JSON.parse(r.stdout || '[]') as { type?: string; pids?: { pid: number }[] }[];
  const cls = progs.filter((p) => p.type === 'sched_cls');
  return { count: cls.length, pids: cls.flatMap((p) => (p.pids ?? []).map((x) => x.pid)) };
}

function clsactLines(): string[] {
  return sh('tc', ['qdisc', 'show']).split('\n').filter((l) => l.includes('clsact'));
}

function pfsimPins(): string[] {
  try { return readdirSync('/sys/fs/bpf').filter((e) => e.startsWith('pfsim')); } catch { return []; }
}

interface Child { proc: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> }

function startReplay(engines: string): Child {
  const proc = spawn(process.execPath, [CLI, 'replay', ...cluster, '--pcap', pcap, '--engines', engines],
    // its own process group: the shells and helpers it spawns can be waited for after a SIGKILL
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  proc.stdout!.on('data', (b: Buffer) => out.push(b));
  proc.stderr!.on('data', (b: Buffer) => err.push(b));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    proc.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
  return { proc, done };
}

/** Waits until the child has a testbed namespace; fails if it exits or 20 s pass first. */
async function waitForTestbed(c: Child): Promise<void> {
  const pid = c.proc.pid!;
  const deadline = Date.now() + 20_000;
  while (netnsOf(pid).length === 0) {
    if (c.proc.exitCode !== null || c.proc.signalCode !== null) throw new Error(`child ${pid} exited before making a testbed`);
    if (Date.now() > deadline) throw new Error(`child ${pid}: no testbed after 20 s`);
    await sleep(5);
  }
}

/**
 * Waits until no process of group `pgid` is left. A SIGKILLed pfsim's running `sh`/`ip`/pktio
 * children are orphaned, not killed, and finish their work (adding or deleting namespaces).
 */
async function waitGroupGone(pgid: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try { process.kill(-pgid, 0); } catch { return; }
    if (Date.now() > deadline) throw new Error(`process group ${pgid} still has processes after ${timeoutMs} ms`);
    await sleep(20);
  }
}

describe('kernel hygiene', () => {
  // each round kills a replay through other kernel engines: bpf (programs and maps under
  // BPF_PROG_TEST_RUN), iptables and nft (rules in a testbed), tc (programs attached on clsact)
  const ROUNDS = ['bpf,iptables', 'nft,tc', 'bpf,tc,iptables', 'iptables'];
  it.skipIf(!gate.ok)(gatedTitle(`SIGKILL at a random moment of a kernel replay: pfsim cleanup leaves zero residue (${ROUNDS.length} rounds)`, gate), async () => {
    let withResidue = 0;
    for (let round = 0; round < ROUNDS.length; round++) {
      const progsBefore = schedCls().count;
      const clsactBefore = clsactLines();
      const c = startReplay(ROUNDS[round]!);
      const pid = c.proc.pid!;
      await waitForTestbed(c);
      await sleep(Math.floor(Math.random() * 400));
      c.proc.kill('SIGKILL');
      const end = await c.done;
      expect(end.signal, `round ${round}: child ended by ${end.signal ?? `exit ${end.code}`}`).toBe('SIGKILL');
      await waitGroupGone(pid);

      // SIGKILL runs no exit hook: whatever namespace existed at that moment is still there
      const left = netnsOf(pid);
      if (left.length > 0) withResidue++;
      const r = pfsim(['cleanup']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^removed \d+, in use \d+/m);
      for (const n of left) expect(r.stdout).toContain(`removed netns ${n} (pid ${pid} is gone)`);
      expect(r.stdout).not.toContain(`in use by pid ${pid}`);

      expect(netnsOf(pid), `round ${round}: namespaces of ${pid}`).toEqual([]);
      expect(sh('ip', ['netns', 'list'])).not.toContain(`pfsim-${pid}-`);
      // testbed links are named pf<hex6><role>; none may be in the host
      expect(sh('ip', ['-o', 'link']).split('\n').filter((l) => /^\d+: pf[0-9a-f]{6}[siod][@:]/.test(l))).toEqual([]);
      expect(clsactLines().filter((l) => !clsactBefore.includes(l))).toEqual([]);
      expect(pfsimPins()).toEqual([]);
      // other test files may load tc programs meanwhile: give them a moment before counting
      let progs = schedCls();
      for (let i = 0; i < 20 && progs.count > progsBefore; i++) { await sleep(100); progs = schedCls(); }
      expect(progs.pids).not.toContain(pid);
      expect(progs.count).toBeLessThanOrEqual(progsBefore);
    }
    expect(withResidue, 'rounds that left namespaces behind for cleanup').toBeGreaterThan(0);
  }, 120_000);

  it.skipIf(!gate.ok)(gatedTitle('cleanup removes a dead pid\'s testbed and test namespaces, keeps a live pid\'s', gate), async () => {
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.on('close', r));
    const deadPid = dead.pid!;
    const names = [`pfsim-${deadPid}-abc123-node`, `pfsim-test-${deadPid}-0badf00d`, `pfsim-${process.pid}-abc123-src`];
    for (const n of names) expect(spawnSync('ip', ['netns', 'add', n]).status).toBe(0);
    try {
      const r = pfsim(['cleanup']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`removed netns ${names[0]} (pid ${deadPid} is gone)`);
      expect(r.stdout).toContain(`removed test netns ${names[1]} (pid ${deadPid} is gone)`);
      expect(r.stdout).toContain(`kept netns ${names[2]}: in use by pid ${process.pid}`);
      expect(r.stdout).toMatch(/^removed \d+, in use \d+$/m);
      expect(netnsOf(deadPid)).toEqual([]);
      expect(readdirSync('/run/netns')).not.toContain(names[1]);
      expect(netnsOf(process.pid)).toEqual([names[2]]);
    } finally {
      for (const n of names) spawnSync('ip', ['netns', 'delete', n], { stdio: 'ignore' });
    }
  });

  it.skipIf(!gate.ok)(gatedTitle('two concurrent replays both finish; cleanup meanwhile keeps their objects', gate), async () => {
    const a = startReplay('tc,iptables');
    const b = startReplay('tc,iptables');
    try {
      await Promise.all([waitForTestbed(a), waitForTestbed(b)]);
      const live = [a, b].map((c) => ({ pid: c.proc.pid!, ns: netnsOf(c.proc.pid!) }));
      const r = pfsim(['cleanup']);
      expect(r.code, r.stderr).toBe(0);
      for (const { pid, ns } of live) {
        expect(r.stdout).not.toMatch(new RegExp(`^removed .*pfsim-${pid}-`, 'm'));
        // each namespace seen before the cleanup is either still there or went with a normal exit
        for (const n of ns) {
          if (!netnsOf(pid).includes(n)) continue;
          expect(r.stdout).toContain(`${n}: in use by pid ${pid}`);
        }
      }
      const [ea, eb] = await Promise.all([a.done, b.done]);
      for (const e of [ea, eb]) {
        expect(e.code, e.stderr).toBe(0);
        expect(e.stdout).toContain(`packets in ${PACKETS} = judged ${PACKETS} + skipped 0`);
      }
      expect(ea.stdout).toBe(eb.stdout);
      expect(netnsOf(a.proc.pid!)).toEqual([]);
      expect(netnsOf(b.proc.pid!)).toEqual([]);
    } finally {
      for (const c of [a, b]) {
        if (c.proc.exitCode === null && c.proc.signalCode === null) try { process.kill(-c.proc.pid!, 'SIGKILL'); } catch { /* gone */ }
      }
    }
  }, 120_000);

  it.skipIf(!gate.ok)(gatedTitle('a full kernel run leaves the host firewall, links and qdiscs unchanged', gate), () => {
    const snapshot = (): string => {
      const parts: string[] = [];
      for (const [cmd, args] of [['iptables-save', []], ['ip6tables-save', []], ['nft', ['list', 'ruleset']], ['ip', ['-o', 'link']],
        ['tc', ['qdisc', 'show']], ['tc', ['filter', 'show', 'dev', 'lo']]] as const) {
        const r = spawnSync(cmd, args, { encoding: 'utf8' });
        const text = (r.stdout ?? '').split('\n')
          .filter((l) => !l.startsWith('#'))
          .join('\n')
          .replace(/\[\d+:\d+\]/g, '[]')
          .replace(/packets \d+ bytes \d+/g, 'packets bytes');
        parts.push(`== ${cmd} ${args.join(' ')} (exit ${r.status})\n${text}`);
      }
      return parts.join('\n');
    };
    const before = snapshot();
    const out = join(dir, 'full');
    const r = pfsim(['demo', '--engines', 'all', '--out', join(out, 'demo'), '--traces', join(out, 'traces')]);
    expect(r.code, r.stderr).toBe(0);
    expect(snapshot()).toBe(before);
  }, 120_000);
});
