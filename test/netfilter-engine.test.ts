/**
 * The iptables and nft engines against chain and maps: the compiled chains loaded into real
 * netfilter (iptables-legacy and iptables-nft) in a private three-namespace testbed, every
 * verdict observed by whether the frame arrived. Kernel conntrack decides replies in the
 * stateful trace. The host's rulesets, links and namespaces must be the same afterwards.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterFromText } from '../src/cluster/load.js';
import { compile } from '../src/compile/index.js';
import type { ChainRule } from '../src/compile/plan.js';
import { DEMO_APP, DEMO_CLIENTS, demoClusterYaml, demoFlows, demoPolicySets } from '../src/demo/cluster.js';
import { ChainEngine } from '../src/engines/chain.js';
import { type Engine, OUT_WORDS, verdictName } from '../src/engines/engine.js';
import { parseEngineList } from '../src/engines/index.js';
import { IptablesEngine, NftEngine, netfilterAvailability } from '../src/engines/netfilter.js';
import { packetBatch, PKT_F_ACK, PKT_F_SYN, writePacket, type PacketHeader } from '../src/engines/packet.js';
import { cleanupResidue } from '../src/kernel/testbed.js';
import { parseIp } from '../src/net/ip.js';
import { judgeFlows } from '../src/verdict/judge.js';
import { gatedTitle, kernelTestGate, listNetns, type KernelGate } from './helpers/netns.js';

const kernel = kernelTestGate();
function gateOf(backend: 'legacy' | 'nft'): KernelGate {
  if (!kernel.ok) return kernel;
  const a = netfilterAvailability(backend);
  return a.ok ? a : { ok: false, reason: a.reason };
}
const legacyGate = gateOf('legacy');
const nftGate = gateOf('nft');
const both: KernelGate = !legacyGate.ok ? legacyGate : nftGate;

const OWN_NETNS = new RegExp(`^pfsim-${process.pid}-[0-9a-f]{6}-(src|node|dst)$`);

/** The host's firewall and links, with counters and generated-on comments taken out. */
function hostSnapshot(): string {
  const parts: string[] = [];
  for (const [cmd, args] of [['iptables-save', []], ['ip6tables-save', []], ['nft', ['list', 'ruleset']], ['ip', ['-d', 'link']], ['ip', ['netns', 'list']]] as const) {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    const text = (r.stdout ?? '')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      // other test files make their own pfsim-test-* namespaces concurrently, and testbeds
      // of their own (pfsim-<their pid>-..., e.g. the tc engine's)
      .filter((l) => !/^pfsim-test-/.test(l))
      .filter((l) => { const m = /^pfsim-(\d+)-[0-9a-f]{6}-(src|node|dst)\b/.exec(l); return !m || Number(m[1]) === process.pid; })
      .join('\n')
      .replace(/\[\d+:\d+\]/g, '[]')
      .replace(/packets \d+ bytes \d+/g, 'packets bytes');
    parts.push(`== ${cmd} ${args.join(' ')} (exit ${r.status})\n${text}`);
  }
  return parts.join('\n');
}

let before: string | undefined;
beforeAll(() => {
  if (both.ok) before = hostSnapshot();
});

function demoCluster(extra: readonly string[]) {
  return clusterFromText('demo', [demoClusterYaml(), ...extra].join('---\n'));
}

describe('iptables and nft engines: the demo', () => {
  it.skipIf(!both.ok)(gatedTitle('--engines all lists iptables and nft here', both), () => {
    expect(parseEngineList('all')).toEqual(expect.arrayContaining(['chain', 'maps', 'iptables', 'nft']));
  });

  for (const set of demoPolicySets()) {
    for (const stateful of [false, true]) {
      it.skipIf(!both.ok)(gatedTitle(`policy set "${set.name}"${stateful ? ' (stateful)' : ''}: equal verdicts, IPv4 and IPv6`, both), () => {
        const cluster = demoCluster(set.policies.map((p) => p.yaml));
        const flows = demoFlows();
        const verdicts = judgeFlows(cluster, flows, { engines: ['chain', 'maps', 'iptables', 'nft'], stateful });
        expect(verdicts).toHaveLength(flows.length);
        for (const v of verdicts) {
          expect(v.engines, `flow ${v.index} ${flows[v.index]!.src} -> ${flows[v.index]!.dst}`).toEqual({
            chain: v.verdict, maps: v.verdict, iptables: v.verdict, nft: v.verdict,
          });
        }
        // both families of a client agree, and deny-all really denies something
        for (let i = 0; i < flows.length; i += 2) expect(verdicts[i]!.verdict).toBe(verdicts[i + 1]!.verdict);
        if (set.name === 'deny-all') expect(verdicts.every((v) => v.verdict === 'deny')).toBe(true);
        if (set.name === 'no policy') expect(verdicts.every((v) => v.verdict === 'allow')).toBe(true);
      }, 30_000);
    }
  }
});

// default/deny-everything isolates every pod in default: a reply to a client passes only as
// part of a connection the kernel tracks
const DENY_EVERYTHING = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-everything
  namespace: default
spec:
  podSelector: {}
  policyTypes:
  - Ingress
`;

function statefulTrace(family: 'v4' | 'v6'): { label: string; pkt: PacketHeader; expected: 'allow' | 'deny' }[] {
  const one = DEMO_CLIENTS.find((c) => c.name === 'client-one')!;
  const two = DEMO_CLIENTS.find((c) => c.name === 'client-two')!;
  const ip = (s: string) => parseIp(s)!;
  const app = ip(DEMO_APP[family]);
  const syn = PKT_F_SYN, synAck = PKT_F_SYN | PKT_F_ACK, ack = PKT_F_ACK;
  const pkt = (src: bigint, dst: bigint, sport: number, dport: number, flags: number): PacketHeader => ({ src, dst, proto: 6, sport, dport, flags });
  const c1 = ip(one[family]), c2 = ip(two[family]);
  return [
    { label: 'client-one SYN (allowed by policy)', pkt: pkt(c1, app, 41000, 80, syn), expected: 'allow' },
    { label: 'demo-app SYN-ACK to client-one (reply)', pkt: pkt(app, c1, 80, 41000, synAck), expected: 'allow' },
    { label: 'client-one ACK', pkt: pkt(c1, app, 41000, 80, ack), expected: 'allow' },
    { label: 'client-two SYN (denied)', pkt: pkt(c2, app, 42000, 80, syn), expected: 'deny' },
    { label: 'demo-app SYN-ACK to client-two (no connection)', pkt: pkt(app, c2, 80, 42000, synAck), expected: 'deny' },
    { label: 'client-two ACK after it (the SYN-ACK opened nothing)', pkt: pkt(c2, app, 42000, 80, ack), expected: 'deny' },
  ];
}

function classifyAll(engine: Engine, pkts: Uint8Array, n: number): ('allow' | 'deny')[] {
  const out = new Uint32Array(n * OUT_WORDS);
  engine.classify(pkts, n, out);
  return Array.from({ length: n }, (_, i) => verdictName(out[i * OUT_WORDS]!));
}

describe('iptables and nft engines: kernel conntrack', () => {
  const plan = compile(demoCluster([DENY_EVERYTHING, ...demoPolicySets().find((s) => s.name === 'deny-all + allow-client-one')!.policies.map((p) => p.yaml)]));

  for (const [name, Cls, gate] of [['iptables', IptablesEngine, legacyGate], ['nft', NftEngine, nftGate]] as const) {
    for (const family of ['v4', 'v6'] as const) {
      it.skipIf(!gate.ok)(gatedTitle(`${name} ${family}: an allowed connection's reply passes, a denied one's SYN-ACK opens nothing (as chain)`, gate), () => {
        const trace = statefulTrace(family);
        const pkts = packetBatch(trace.length);
        trace.forEach((t, i) => writePacket(pkts, i, t.pkt));
        const chain = new ChainEngine(plan, { stateful: true });
        const kernelEngine = new Cls(plan, { stateful: true });
        try {
          const want = trace.map((t) => t.expected);
          expect(classifyAll(chain, pkts, trace.length)).toEqual(want);
          // one packet per batch, so each verdict depends on state left by the batch before
          const got = trace.map((_, i) => classifyAll(kernelEngine, pkts.subarray(i * 40, (i + 1) * 40), 1)[0]);
          expect(got.map((v, i) => `${trace[i]!.label}: ${v}`)).toEqual(want.map((v, i) => `${trace[i]!.label}: ${v}`));
          // and the whole trace as one batch after a reset gives the same
          kernelEngine.resetState();
          expect(classifyAll(kernelEngine, pkts, trace.length)).toEqual(want);
          // after a reset the reply no longer belongs to anything
          kernelEngine.resetState();
          expect(classifyAll(kernelEngine, pkts.subarray(40, 80), 1)).toEqual(['deny']);
        } finally {
          kernelEngine.close();
          chain.close();
        }
      }, 30_000);

      it.skipIf(!gate.ok)(gatedTitle(`${name} ${family} stateless: the reply is judged by policy alone (as chain)`, gate), () => {
        const trace = statefulTrace(family);
        const pkts = packetBatch(trace.length);
        trace.forEach((t, i) => writePacket(pkts, i, t.pkt));
        const chain = new ChainEngine(plan, { stateful: false });
        const kernelEngine = new Cls(plan, { stateful: false });
        try {
          const want = classifyAll(chain, pkts, trace.length);
          expect(want[1]).toBe('deny');
          expect(classifyAll(kernelEngine, pkts, trace.length)).toEqual(want);
        } finally {
          kernelEngine.close();
        }
      }, 30_000);
    }
  }
});

describe('iptables and nft engines: throughput', () => {
  it.skipIf(!both.ok)(gatedTitle('µs per packet at the demo\'s rule count', both), () => {
    const set = demoPolicySets().find((s) => s.name === 'deny-all + allow-samens')!;
    const plan = compile(demoCluster(set.policies.map((p) => p.yaml)));
    const flows = demoFlows();
    const n = 20_000;
    const pkts = packetBatch(n);
    const chain = new ChainEngine(plan, { stateful: false });
    const base = packetBatch(flows.length);
    const small = new Uint32Array(flows.length * OUT_WORDS);
    for (let i = 0; i < n; i++) {
      const f = flows[i % flows.length]!;
      writePacket(pkts, i, { src: parseIp(f.src)!, dst: parseIp(f.dst)!, proto: 6, sport: 1024 + (i % 60000), dport: f.dport!, flags: PKT_F_SYN });
    }
    const want = classifyAll(chain, pkts, n);
    for (const Cls of [IptablesEngine, NftEngine]) {
      const e = new Cls(plan, { stateful: false });
      try {
        flows.forEach((_, i) => base.set(pkts.subarray(i * 40, (i + 1) * 40), i * 40));
        let t = performance.now();
        e.classify(base, flows.length, small);
        const smallUs = ((performance.now() - t) * 1000) / flows.length;
        t = performance.now();
        const got = classifyAll(e, pkts, n);
        const bigUs = ((performance.now() - t) * 1000) / n;
        expect(got).toEqual(want);
        console.log(`${e.name}: ${plan.chain.ipv4.chains.reduce((k, c) => k + c.rules.length, 0)} IPv4 rules; ` +
          `${flows.length}-packet batch ${smallUs.toFixed(0)} µs/packet; ${n}-packet batch ${bigUs.toFixed(2)} µs/packet`);
      } finally {
        e.close();
      }
    }
  }, 120_000);
});

describe('iptables and nft engines: cleanup', () => {
  it.skipIf(!legacyGate.ok)(gatedTitle('a ruleset the kernel refuses is PFSIM_ERR_UNSUPPORTED naming the load, and leaves no testbed', legacyGate), async () => {
    const plan = structuredClone(compile(demoCluster([])));
    (plan.chain.ipv4.chains[0]!.rules as unknown as ChainRule[]).push({ target: { kind: 'JUMP', chain: 'PFSIM-NOWHERE' } });
    let err: unknown;
    try {
      new IptablesEngine(plan, { stateful: false }).close();
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'PFSIM_ERR_UNSUPPORTED' });
    expect((err as Error).message).toMatch(/^iptables: load ipv4 rules: .*failed: .*PFSIM-NOWHERE/);
    expect((await listNetns()).filter((n) => OWN_NETNS.test(n))).toEqual([]);
  });

  it.skipIf(!kernel.ok)(gatedTitle('cleanupResidue removes the testbed of a dead pfsim process', kernel), () => {
    // pid numbers above /proc/sys/kernel/pid_max are never alive
    const dead = `pfsim-4194305-abcdef-node`;
    expect(spawnSync('ip', ['netns', 'add', dead]).status).toBe(0);
    spawnSync('ip', ['-n', dead, 'link', 'add', 'pfabcdefi', 'type', 'veth', 'peer', 'name', 'pfabcdefo']);
    const live = `pfsim-${process.pid}-abcdef-node`;
    expect(spawnSync('ip', ['netns', 'add', live]).status).toBe(0);
    try {
      expect(cleanupResidue()).toContain(dead);
      const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
      expect(left).not.toContain(dead);
      expect(left).toContain(live); // a live process's testbed is not residue
    } finally {
      spawnSync('ip', ['netns', 'delete', dead]);
      spawnSync('ip', ['netns', 'delete', live]);
    }
  });

  const dist = fileURLToPath(new URL('../dist/src/kernel/testbed.js', import.meta.url));
  const sigGate: KernelGate = !both.ok ? both : existsSync(dist) ? both : { ok: false, reason: 'dist not built (npx tsc -p .)' };
  it.skipIf(!sigGate.ok)(gatedTitle('SIGTERM removes a live testbed', sigGate), async () => {
    const script = `import { Testbed } from ${JSON.stringify(dist)}; const t = new Testbed(); console.log(t.node); setInterval(() => {}, 1000);`;
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const node = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (b: Buffer) => resolve(b.toString().trim()));
      child.once('exit', (c) => reject(new Error(`child exited ${c}`)));
    });
    expect((await listNetns())).toContain(node);
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, s) => r(s)));
    child.kill('SIGTERM');
    expect(await exited).toBe('SIGTERM');
    const prefix = node.replace(/-node$/, '');
    expect((await listNetns()).filter((n) => n.startsWith(prefix))).toEqual([]);
  }, 30_000);
});

afterAll(async () => {
  if (!both.ok || before === undefined) return;
  // every engine above was closed: nothing of ours remains, and the host is as it was
  expect((await listNetns()).filter((n) => OWN_NETNS.test(n))).toEqual([]);
  expect(hostSnapshot()).toBe(before);
});
