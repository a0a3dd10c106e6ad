/**
 * The tc engine: the tc programs attached for real in a private testbed (tc_from_pod on the
 * ingress hook of the source side's node veth, tc_to_pod on the egress hook of the destination
 * side's), every verdict observed by whether the frame arrived. Against chain, maps and bpf on
 * the demo; the programs' own conntrack across both hooks; nothing left behind after close.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterFromText } from '../src/cluster/load.js';
import { compile } from '../src/compile/index.js';
import { DEMO_APP, DEMO_CLIENTS, demoClusterYaml, demoFlows, demoPolicySets } from '../src/demo/cluster.js';
import { ChainEngine } from '../src/engines/chain.js';
import { type Engine, ENGINE_NAMES, OUT_WORDS, verdictName } from '../src/engines/engine.js';
import { parseEngineList } from '../src/engines/index.js';
import { packetBatch, PKT_F_ACK, PKT_F_SYN, writePacket, type PacketHeader } from '../src/engines/packet.js';
import { TcEngine, tcAvailability } from '../src/engines/tc.js';
import { liveTestbedNamespaces } from '../src/kernel/testbed.js';
import { parseIp } from '../src/net/ip.js';
import { judgeFlows } from '../src/verdict/judge.js';
import { gatedTitle, kernelTestGate, listNetns, type KernelGate } from './helpers/netns.js';

const kernel = kernelTestGate();
const gate: KernelGate = !kernel.ok ? kernel : (() => {
  const a = tcAvailability();
  return a.ok ? a : { ok: false, reason: a.reason };
})();

const OWN_NETNS = new RegExp(`^pfsim-${process.pid}-[0-9a-f]{6}-(src|node|dst)$`);

function demoCluster(extra: readonly string[]) {
  return clusterFromText('demo', [demoClusterYaml(), ...extra].join('---\n'));
}

function classifyAll(engine: Engine, pkts: Uint8Array, n: number): ('allow' | 'deny')[] {
  const out = new Uint32Array(n * OUT_WORDS);
  engine.classify(pkts, n, out);
  return Array.from({ length: n }, (_, i) => verdictName(out[i * OUT_WORDS]!));
}

/** sched_cls programs of the tc engine (tc_from_pod, tc_to_pod) the kernel still holds */
function tcPrograms(): string[] {
  const r = spawnSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bpftool prog show: exit ${r.status}: ${r.stderr}`);
  const progs = JSON.parse(r.stdout) as { id: number; type: string; name?: string }[];
  return progs.filter((p) => p.type === 'sched_cls' && (p.name === 'tc_from_pod' || p.name === 'tc_to_pod')).map((p) => `${p.id} ${p.name}`);
}

/** the kernel frees a program after an RCU grace period: wait a little for it */
async function tcProgramsSettled(): Promise<string[]> {
  let left = tcPrograms();
  for (let i = 0; i < 40 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    left = tcPrograms();
  }
  return left;
}

describe('tc engine: registry', () => {
  it('is a known engine name', () => {
    expect(ENGINE_NAMES).toContain('tc');
  });

  it.skipIf(!gate.ok)(gatedTitle('--engines all lists tc here', gate), () => {
    expect(parseEngineList('all')).toContain('tc');
  });
});

describe('tc engine: the demo', () => {
  for (const set of demoPolicySets()) {
    for (const stateful of [false, true]) {
      it.skipIf(!gate.ok)(gatedTitle(`policy set "${set.name}"${stateful ? ' (stateful)' : ''}: tc equals chain, maps and bpf, IPv4 and IPv6`, gate), () => {
        const cluster = demoCluster(set.policies.map((p) => p.yaml));
        const flows = demoFlows();
        const verdicts = judgeFlows(cluster, flows, { engines: ['chain', 'maps', 'bpf', 'tc'], stateful });
        expect(verdicts).toHaveLength(flows.length);
        for (const v of verdicts) {
          expect(v.engines, `flow ${v.index} ${flows[v.index]!.src} -> ${flows[v.index]!.dst}`).toEqual({
            chain: v.verdict, maps: v.verdict, bpf: v.verdict, tc: v.verdict,
          });
        }
        for (let i = 0; i < flows.length; i += 2) expect(verdicts[i]!.verdict).toBe(verdicts[i + 1]!.verdict);
        if (set.name === 'deny-all') expect(verdicts.every((v) => v.verdict === 'deny')).toBe(true);
        if (set.name === 'no policy') expect(verdicts.every((v) => v.verdict === 'allow')).toBe(true);
      }, 30_000);
    }
  }
});

// default/deny-everything isolates every pod in default for ingress: a reply to a client
// passes only as part of a tracked connection
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
    { label: 'demo-app data to client-one (reply, later)', pkt: pkt(app, c1, 80, 41000, ack), expected: 'allow' },
    { label: 'client-two SYN (denied)', pkt: pkt(c2, app, 42000, 80, syn), expected: 'deny' },
    { label: 'demo-app SYN-ACK to client-two (no connection)', pkt: pkt(app, c2, 80, 42000, synAck), expected: 'deny' },
    { label: 'client-two ACK after it (the SYN-ACK opened nothing)', pkt: pkt(c2, app, 42000, 80, ack), expected: 'deny' },
  ];
}

describe('tc engine: conntrack across both hooks', () => {
  const plan = compile(demoCluster([DENY_EVERYTHING, ...demoPolicySets().find((s) => s.name === 'deny-all + allow-client-one')!.policies.map((p) => p.yaml)]));

  for (const family of ['v4', 'v6'] as const) {
    it.skipIf(!gate.ok)(gatedTitle(`${family}: an allowed connection's reply passes, a denied one's SYN-ACK opens nothing (as chain)`, gate), () => {
      const trace = statefulTrace(family);
      const pkts = packetBatch(trace.length);
      trace.forEach((t, i) => writePacket(pkts, i, t.pkt));
      const chain = new ChainEngine(plan, { stateful: true });
      const tc = new TcEngine(plan, { stateful: true });
      try {
        const want = trace.map((t) => t.expected);
        expect(classifyAll(chain, pkts, trace.length)).toEqual(want);
        // one packet per batch, so each verdict depends on state left by the batch before
        const got = trace.map((_, i) => classifyAll(tc, pkts.subarray(i * 40, (i + 1) * 40), 1)[0]);
        expect(got.map((v, i) => `${trace[i]!.label}: ${v}`)).toEqual(want.map((v, i) => `${trace[i]!.label}: ${v}`));
        // the whole trace as one batch after a reset gives the same
        tc.resetState();
        expect(classifyAll(tc, pkts, trace.length)).toEqual(want);
        // after a reset the reply no longer belongs to anything
        tc.resetState();
        expect(classifyAll(tc, pkts.subarray(40, 80), 1)).toEqual(['deny']);
      } finally {
        tc.close();
        chain.close();
      }
    }, 30_000);

    it.skipIf(!gate.ok)(gatedTitle(`${family} stateless: the reply is judged by policy alone (as chain)`, gate), () => {
      const trace = statefulTrace(family);
      const pkts = packetBatch(trace.length);
      trace.forEach((t, i) => writePacket(pkts, i, t.pkt));
      const chain = new ChainEngine(plan, { stateful: false });
      const tc = new TcEngine(plan, { stateful: false });
      try {
        const want = classifyAll(chain, pkts, trace.length);
        expect(want[1]).toBe('deny');
        expect(classifyAll(tc, pkts, trace.length)).toEqual(want);
      } finally {
        tc.close();
      }
    }, 30_000);
  }

  // egress isolation of the client: the from-pod hook must judge the client's SYN, and an
  // allowed egress must not let the to-pod hook wave a NEW connection through
  it.skipIf(!gate.ok)(gatedTitle('an egress-allowed first packet is still judged by ingress at the to-pod hook', gate), () => {
    const trace = statefulTrace('v4');
    const pkts = packetBatch(2);
    writePacket(pkts, 0, trace[4]!.pkt); // client-two SYN: egress not isolated, ingress denies
    writePacket(pkts, 1, trace[4]!.pkt); // again: nothing was tracked by the first
    const tc = new TcEngine(plan, { stateful: true });
    try {
      expect(classifyAll(tc, pkts, 1)).toEqual(['deny']);
      expect(classifyAll(tc, pkts.subarray(40), 1)).toEqual(['deny']);
    } finally {
      tc.close();
    }
  }, 30_000);
});

describe('tc engine: throughput', () => {
  it.skipIf(!gate.ok)(gatedTitle('µs per packet at the demo size', gate), () => {
    const set = demoPolicySets().find((s) => s.name === 'deny-all + allow-samens')!;
    const plan = compile(demoCluster(set.policies.map((p) => p.yaml)));
    const flows = demoFlows();
    const n = 20_000;
    const pkts = packetBatch(n);
    for (let i = 0; i < n; i++) {
      const f = flows[i % flows.length]!;
      writePacket(pkts, i, { src: parseIp(f.src)!, dst: parseIp(f.dst)!, proto: 6, sport: 1024 + (i % 60000), dport: f.dport!, flags: PKT_F_SYN });
    }
    const chain = new ChainEngine(plan, { stateful: false });
    const want = classifyAll(chain, pkts, n);
    const tc = new TcEngine(plan, { stateful: false });
    try {
      const small = new Uint32Array(flows.length * OUT_WORDS);
      let t = performance.now();
      tc.classify(pkts, flows.length, small);
      const smallUs = ((performance.now() - t) * 1000) / flows.length;
      t = performance.now();
      const got = classifyAll(tc, pkts, n);
      const bigUs = ((performance.now() - t) * 1000) / n;
      expect(got).toEqual(want);
      console.log(`tc: ${flows.length}-packet batch ${smallUs.toFixed(0)} µs/packet; ${n}-packet batch ${bigUs.toFixed(2)} µs/packet`);
    } finally {
      tc.close();
    }
  }, 120_000);
});

describe('tc engine: cleanup', () => {
  it.skipIf(!gate.ok)(gatedTitle('after close: no testbed namespace, no clsact in the host, no tc program in the kernel', gate), async () => {
    const plan = compile(demoCluster([]));
    const tc = new TcEngine(plan, { stateful: true });
    const mine = liveTestbedNamespaces();
    expect(mine.length).toBeGreaterThanOrEqual(3);
    const node = mine.find((n) => n.endsWith('-node'))!;
    // attached in the node namespace, on the two veth ends only
    const q = spawnSync('tc', ['-n', node, 'qdisc', 'show'], { encoding: 'utf8' });
    expect(q.stdout.match(/qdisc clsact/g)?.length).toBe(2);
    expect((await tcProgramsSettled()).length).toBeGreaterThanOrEqual(2);
    tc.close();
    tc.close(); // idempotent
    expect(liveTestbedNamespaces()).toEqual([]);
    expect((await listNetns()).filter((n) => OWN_NETNS.test(n))).toEqual([]);
    const host = spawnSync('tc', ['qdisc', 'show'], { encoding: 'utf8' });
    expect(host.status).toBe(0);
    expect(host.stdout).not.toMatch(/clsact/);
    expect(await tcProgramsSettled()).toEqual([]);
  }, 30_000);

  it.skipIf(!gate.ok)(gatedTitle('a closed engine refuses to classify', gate), () => {
    const tc = new TcEngine(compile(demoCluster([])), { stateful: false });
    tc.close();
    expect(() => tc.classify(packetBatch(1), 1, new Uint32Array(OUT_WORDS))).toThrow(/tc: engine is closed/);
  }, 30_000);
});

afterAll(async () => {
  if (!gate.ok) return;
  expect((await listNetns()).filter((n) => OWN_NETNS.test(n))).toEqual([]);
  expect(await tcProgramsSettled()).toEqual([]);
});
