/**
 * The cases every kernel-observed engine (tc, iptables, nft) must pass against the in-process
 * engines, written once: the demo's policy sets flow by flow, the stateful trace where only a
 * tracked connection lets a reply through, and a large batch of SYNs.
 */
import { describe, expect, it } from 'vitest';
import { clusterFromText } from '../../src/cluster/load.js';
import { compile } from '../../src/compile/index.js';
import type { Plan } from '../../src/compile/plan.js';
import { DEMO_APP, DEMO_CLIENTS, demoClusterYaml, demoFlows, demoPolicySets } from '../../src/demo/cluster.js';
import { ChainEngine } from '../../src/engines/chain.js';
import { type Engine, type EngineName, type EngineOptions, OUT_WORDS, verdictName } from '../../src/engines/engine.js';
import { packetBatch, PKT_F_ACK, PKT_F_SYN, writePacket, type PacketHeader } from '../../src/engines/packet.js';
import { parseIp } from '../../src/net/ip.js';
import { judgeFlows } from '../../src/verdict/judge.js';
import { gatedTitle, type KernelGate } from './netns.js';

export function demoCluster(extra: readonly string[]) {
  return clusterFromText('demo', [demoClusterYaml(), ...extra].join('---\n'));
}

export function classifyAll(engine: Engine, pkts: Uint8Array, n: number): ('allow' | 'deny')[] {
  const out = new Uint32Array(n * OUT_WORDS);
  engine.classify(pkts, n, out);
  return Array.from({ length: n }, (_, i) => verdictName(out[i * OUT_WORDS]!));
}

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

/** The plan of the stateful trace: everything in default isolated, client-one allowed to demo-app. */
export function conntrackPlan(): Plan {
  const allowOne = demoPolicySets().find((s) => s.name === 'deny-all + allow-client-one')!;
  return compile(demoCluster([DENY_EVERYTHING, ...allowOne.policies.map((p) => p.yaml)]));
}

export function statefulTrace(family: 'v4' | 'v6'): { label: string; pkt: PacketHeader; expected: 'allow' | 'deny' }[] {
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

type MakeEngine = (plan: Plan, opts: EngineOptions) => Engine;

/** Every demo policy set, stateless and stateful: `engine` gives chain's verdict on every flow. */
export function demoSetCases(engine: EngineName, others: readonly EngineName[], gate: KernelGate): void {
  describe(`${engine} engine: the demo`, () => {
    for (const set of demoPolicySets()) {
      for (const stateful of [false, true]) {
        it.skipIf(!gate.ok)(gatedTitle(`policy set "${set.name}"${stateful ? ' (stateful)' : ''}: ${engine} equals ${others.join(', ')}, IPv4 and IPv6`, gate), () => {
          const flows = demoFlows();
          const engines = [...others, engine];
          const verdicts = judgeFlows(demoCluster(set.policies.map((p) => p.yaml)), flows, { engines, stateful });
          expect(verdicts).toHaveLength(flows.length);
          for (const v of verdicts) {
            expect(v.engines, `flow ${v.index} ${flows[v.index]!.src} -> ${flows[v.index]!.dst}`).toEqual(Object.fromEntries(engines.map((e) => [e, v.verdict])));
          }
          // both families of a client agree, and deny-all really denies something
          for (let i = 0; i < flows.length; i += 2) expect(verdicts[i]!.verdict).toBe(verdicts[i + 1]!.verdict);
          if (set.name === 'deny-all') expect(verdicts.every((v) => v.verdict === 'deny')).toBe(true);
          if (set.name === 'no policy') expect(verdicts.every((v) => v.verdict === 'allow')).toBe(true);
        }, 30_000);
      }
    }
  });
}

/** The stateful trace through `make`'s engine, packet by packet and as one batch, against chain. */
export function conntrackCases(name: string, make: MakeEngine, gate: KernelGate): void {
  const plan = conntrackPlan();
  for (const family of ['v4', 'v6'] as const) {
    it.skipIf(!gate.ok)(gatedTitle(`${name} ${family}: an allowed connection's reply passes, a denied one's SYN-ACK opens nothing (as chain)`, gate), () => {
      const trace = statefulTrace(family);
      const pkts = packetBatch(trace.length);
      trace.forEach((t, i) => writePacket(pkts, i, t.pkt));
      const chain = new ChainEngine(plan, { stateful: true });
      const e = make(plan, { stateful: true });
      try {
        const want = trace.map((t) => t.expected);
        expect(classifyAll(chain, pkts, trace.length)).toEqual(want);
        // one packet per batch, so each verdict depends on state left by the batch before
        const got = trace.map((_, i) => classifyAll(e, pkts.subarray(i * 40, (i + 1) * 40), 1)[0]);
        expect(got.map((v, i) => `${trace[i]!.label}: ${v}`)).toEqual(want.map((v, i) => `${trace[i]!.label}: ${v}`));
        // the whole trace as one batch after a reset gives the same
        e.resetState();
        expect(classifyAll(e, pkts, trace.length)).toEqual(want);
        // after a reset the reply no longer belongs to anything
        e.resetState();
        expect(classifyAll(e, pkts.subarray(40, 80), 1)).toEqual(['deny']);
      } finally {
        e.close();
        chain.close();
      }
    }, 30_000);

    it.skipIf(!gate.ok)(gatedTitle(`${name} ${family} stateless: the reply is judged by policy alone (as chain)`, gate), () => {
      const trace = statefulTrace(family);
      const pkts = packetBatch(trace.length);
      trace.forEach((t, i) => writePacket(pkts, i, t.pkt));
      const chain = new ChainEngine(plan, { stateful: false });
      const e = make(plan, { stateful: false });
      try {
        const want = classifyAll(chain, pkts, trace.length);
        expect(want[1]).toBe('deny');
        expect(classifyAll(e, pkts, trace.length)).toEqual(want);
      } finally {
        e.close();
      }
    }, 30_000);
  }
}

/** 20,000 SYNs of the demo's flows in one batch (a small first batch too): equal to chain. */
export function largeBatchCase(name: string, make: MakeEngine, gate: KernelGate): void {
  it.skipIf(!gate.ok)(gatedTitle(`${name}: a 20,000-packet batch gets chain's verdicts`, gate), () => {
    const set = demoPolicySets().find((s) => s.name === 'deny-all + allow-samens')!;
    const plan = compile(demoCluster(set.policies.map((p) => p.yaml)));
    const flows = demoFlows();
    const n = 20_000;
    const pkts = packetBatch(n);
    for (let i = 0; i < n; i++) {
      const f = flows[i % flows.length]!;
      writePacket(pkts, i, { src: parseIp(f.src)!, dst: parseIp(f.dst)!, proto: 6, sport: 1024 + (i % 60000), dport: f.dport!, flags: PKT_F_SYN });
    }
    const want = classifyAll(new ChainEngine(plan, { stateful: false }), pkts, n);
    const e = make(plan, { stateful: false });
    try {
      expect(classifyAll(e, pkts, flows.length)).toEqual(want.slice(0, flows.length));
      expect(classifyAll(e, pkts, n)).toEqual(want);
    } finally {
      e.close();
    }
  }, 120_000);
}
