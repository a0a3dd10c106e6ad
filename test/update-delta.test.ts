/**
 * Policy updates: the delta between two compiled plans (src/compile/delta.ts) and its
 * application to live dataplanes.
 *
 * Pure: A→A is empty; the --noflush payload, replayed by a small restore model here that
 * refuses what iptables refuses, turns A's ruleset into exactly the delta's result, which judges
 * like B; the map operations, applied here to A's map contents, give B's; A→B→A comes back to
 * A. Random cluster pairs (fast-check) and the benchmark's change.
 *
 * Kernel: the bpf engine updated in place holds, read back from the kernel, exactly what a fresh
 * load of B holds and judges like a fresh bpf engine on B and the chain engine on B; back to A
 * it holds A again. tc, iptables and nft updated in place (map calls, `--noflush` restores)
 * judge real frames like the chain engine on B. A delta that does not fit the loaded maps is a
 * one-line PfsimError, and the engine keeps working.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { changedCluster, deltaProbes, measureUpdateCost } from '../bench/update-cost.js';
import { workloadCluster } from '../bench/suite.js';
import type { Cluster, L4Proto, NetworkPolicy, Pod, PolicyPeer, PolicyPort, PolicyRule } from '../src/cluster/model.js';
import { METADATA_NAME_LABEL } from '../src/cluster/model.js';
import { compile } from '../src/compile/index.js';
import {
  chainDeltaEmpty, diffChainTables, diffMaps, diffPlans, mapsDeltaEmpty, planAfter, renderChainDelta, type MapsDelta, type PlanDelta,
} from '../src/compile/delta.js';
import { renderIptables } from '../src/compile/iptables.js';
import type { ChainTable, Plan } from '../src/compile/plan.js';
import { demoPolicySets } from '../src/demo/cluster.js';
import { BpfEngine, bpfAvailability } from '../src/engines/bpf.js';
import { ChainEngine } from '../src/engines/chain.js';
import type { Engine } from '../src/engines/engine.js';
import { portsText, viewEntries, viewOfPlan, type MapsView } from '../src/engines/map-update.js';
import { IptablesEngine, netfilterAvailability, NftEngine } from '../src/engines/netfilter.js';
import { packetBatch, PKT_F_SYN, writePacket, type PacketHeader } from '../src/engines/packet.js';
import { TcEngine, tcAvailability } from '../src/engines/tc.js';
import { PfsimError } from '../src/errors.js';
import { familyOf, parseCidr, parseIp, type Cidr } from '../src/net/ip.js';
import { classifyAll, demoCluster } from './helpers/kernel-demo.js';
import { gatedTitle, kernelTestGate, type KernelGate } from './helpers/netns.js';

// ---- a model of iptables-restore, strict where the kernel is ----------------------------------

type Ruleset = Map<string, string[]>;

/**
 * Replays restore input on `start` (a copy) as iptables-restore does: a declared chain is
 * created or flushed (with --noflush; without it the whole table starts empty), -A appends,
 * -F flushes, -X deletes a chain that is empty and that no rule jumps to (else throws, as the
 * kernel refuses), and a jump must name a chain that exists at COMMIT.
 */
function replayRestore(start: Ruleset, input: string, noflush: boolean): Ruleset {
  const t: Ruleset = noflush ? new Map([...start].map(([k, v]) => [k, [...v]])) : new Map();
  for (const line of input.split('\n')) {
    if (line === '' || line.startsWith('#') || line === '*filter' || line === 'COMMIT') continue;
    let m: RegExpExecArray | null;
    if ((m = /^:(\S+) (\S+) \[0:0\]$/.exec(line))) { t.set(m[1]!, []); continue; }
    if ((m = /^-A (\S+) (.*)$/.exec(line))) {
      const c = t.get(m[1]!);
      if (!c) throw new Error(`-A into missing chain ${m[1]}`);
      c.push(m[2]!);
      continue;
    }
    if ((m = /^-F (\S+)$/.exec(line))) {
      if (!t.has(m[1]!)) throw new Error(`-F of missing chain ${m[1]}`);
      t.set(m[1]!, []);
      continue;
    }
    if ((m = /^-X (\S+)$/.exec(line))) {
      const name = m[1]!;
      if (t.get(name)?.length !== 0) throw new Error(`-X ${name}: missing or not empty`);
      for (const [other, rules] of t) if (rules.some((r) => r.endsWith(`-j ${name}`))) throw new Error(`-X ${name}: still jumped to from ${other}`);
      t.delete(name);
      continue;
    }
    throw new Error(`unexpected restore line: ${line}`);
  }
  for (const [name, rules] of t) {
    for (const r of rules) {
      const j = /-j (PFSIM-\S+)$/.exec(r);
      if (j && !t.has(j[1]!)) throw new Error(`${name}: jump to missing chain ${j[1]}`);
    }
  }
  return t;
}

const rulesetOf = (t: ChainTable): Ruleset => replayRestore(new Map(), renderIptables(t), false);

// ---- the map operations applied to map contents, independently of the engines -----------------

function applyMaps(view: MapsView, d: MapsDelta): MapsView {
  const pods = new Map(view.pods);
  const tries = new Map([...view.tries].map(([id, m]) => [id, new Map(m)]));
  for (const id of d.trieCreate) {
    if (tries.has(id)) throw new Error(`trie ${id} created twice`);
    tries.set(id, new Map());
  }
  for (const p of d.podSet) pods.set(p.ip, `${p.pod}/${p.ingress}/${p.egress}`);
  for (const ip of d.podDelete) if (!pods.delete(ip)) throw new Error(`pod ${ip} deleted but absent`);
  for (const u of d.lpmUpdate) {
    const t = tries.get(u.trie);
    if (!t) throw new Error(`update in missing trie ${u.trie}`);
    t.set(u.prefix, portsText(u.ports));
  }
  for (const x of d.lpmDelete) if (!tries.get(x.trie)?.delete(x.prefix)) throw new Error(`delete of absent key ${x.trie} ${x.prefix}`);
  for (const id of d.trieRemove) if (!tries.delete(id)) throw new Error(`removal of absent trie ${id}`);
  return { pods, tries };
}

// ---- clusters and packets -----------------------------------------------------------------------

const ip = (s: string) => parseIp(s)!;
const cidr = (s: string): Cidr => {
  const r = parseCidr(s);
  if (!r.ok) throw new Error(r.why);
  return r.cidr;
};

const PODS: readonly Pod[] = [
  ['ns0', 'a0', 'a', ['10.0.0.1', 'fd00::1']], ['ns0', 'b0', 'b', ['10.0.0.2']],
  ['ns1', 'a1', 'a', ['10.0.0.3', 'fd00::3']], ['ns1', 'b1', 'b', ['fd00::4']],
].map(([namespace, name, app, ips]) => ({
  namespace: namespace as string, name: name as string, labels: { app: app as string }, ips: (ips as string[]).map(ip),
  nodeName: 'node-1', hostNetwork: false, ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' as const }],
}));

function clusterWith(policies: readonly NetworkPolicy[], extraPods: readonly Pod[] = []): Cluster {
  return {
    namespaces: ['ns0', 'ns1'].map((name) => ({ name, labels: { [METADATA_NAME_LABEL]: name } })),
    pods: [...PODS, ...extraPods],
    nodes: [{ name: 'node-1', addresses: [ip('192.168.0.1')] }],
    policies,
  };
}

const BLOCKS: readonly [string, string[]][] = [
  ['0.0.0.0/0', ['10.0.0.0/8']], ['10.0.0.0/8', ['10.0.0.0/30']], ['10.0.0.0/29', []], ['203.0.113.0/24', ['203.0.113.128/25']],
  ['203.0.113.0/24', []], ['198.51.100.0/24', ['198.51.100.7/32']], ['::/0', ['fd00::/64']], ['fd00::/120', []], ['2001:db8::/32', ['2001:db8::/48']],
];

const portArb: fc.Arbitrary<PolicyPort> = fc.record({
  protocol: fc.constantFrom<L4Proto>('TCP', 'UDP', 'SCTP'),
  port: fc.constantFrom<number | string | undefined>(53, 80, 8080, 'http', undefined),
  range: fc.boolean(),
}).map(({ protocol, port, range }) => (port === undefined ? { protocol }
  : typeof port === 'number' && range ? { protocol, port, endPort: port + 10 } : { protocol, port }));

/** 30 single TCP ports that do not merge: a value past the 24 inline slots */
const WIDE_PORTS: readonly PolicyPort[] = Array.from({ length: 30 }, (_, i) => ({ protocol: 'TCP' as const, port: 2000 + 2 * i }));

/** every pod of ns0 open on `ports` from anywhere */
function widePolicy(ports: readonly PolicyPort[]): NetworkPolicy {
  return { namespace: 'ns0', name: 'wide', podSelector: { matchLabels: {}, matchExpressions: [] }, policyTypes: ['ingress'], ingress: [{ peers: [], ports }], egress: [] };
}

const peerArb: fc.Arbitrary<PolicyPeer> = fc.oneof(
  fc.constantFrom(...BLOCKS).map(([b, ex]) => ({ ipBlock: { cidr: cidr(b), except: ex.map(cidr) } })),
  fc.constantFrom('a', 'b').map((app) => ({ podSelector: { matchLabels: { app }, matchExpressions: [] } })),
);

const ruleArb: fc.Arbitrary<PolicyRule> = fc.record({
  peers: fc.array(peerArb, { maxLength: 2 }),
  ports: fc.oneof({ weight: 5, arbitrary: fc.array(portArb, { maxLength: 2 }) }, { weight: 1, arbitrary: fc.constant(WIDE_PORTS) }),
});

const policyArb = (name: string): fc.Arbitrary<NetworkPolicy> => fc.record({
  namespace: fc.constantFrom('ns0', 'ns1'),
  app: fc.constantFrom('a', 'b', undefined),
  ingress: fc.array(ruleArb, { maxLength: 2 }),
  egress: fc.array(ruleArb, { maxLength: 2 }),
  types: fc.constantFrom<('ingress' | 'egress')[]>(['ingress'], ['egress'], ['ingress', 'egress']),
}).map(({ namespace, app, ingress, egress, types }): NetworkPolicy => ({
  namespace, name, podSelector: { matchLabels: app ? { app } : ({} as Record<string, string>), matchExpressions: [] },
  policyTypes: types, ingress: types.includes('ingress') ? ingress : [], egress: types.includes('egress') ? egress : [],
}));

const policiesArb = fc.array(fc.constantFrom('p0', 'p1', 'p2', 'p3'), { maxLength: 4 })
  .chain((names) => fc.tuple(...[...new Set(names)].map(policyArb)));

/** pairs of clusters: two unrelated policy sets, or one set with one policy changed */
const pairArb: fc.Arbitrary<[Cluster, Cluster]> = fc.oneof(
  fc.tuple(policiesArb, policiesArb).map(([a, b]) => [clusterWith(a), clusterWith(b)] as [Cluster, Cluster]),
  fc.tuple(policiesArb, policyArb('p1')).map(([a, p]) => [clusterWith(a), clusterWith([...a.filter((x) => x.name !== 'p1'), p])] as [Cluster, Cluster]),
);

const EXTERNAL = ['203.0.113.9', '203.0.113.200', '198.51.100.7', '198.51.100.8', '10.9.9.9', '192.168.0.1', '2001:db8::9', '2001:db8:1::9', 'fd00::99'].map(ip);
const PROBE_PORTS: readonly [number, number][] = [[6, 80], [6, 8080], [17, 53], [132, 80], [6, 2002], [6, 2058], [6, 3000]];

/** every ordered pair of pod addresses and external addresses of one family, on a few ports */
function pairProbes(plan: Plan): PacketHeader[] {
  const pods = plan.pods.flatMap((p) => p.ips.map(ip));
  const ends = [...pods, ...EXTERNAL];
  const out: PacketHeader[] = [];
  for (const src of ends) {
    for (const dst of ends) {
      if (src === dst || familyOf(src) !== familyOf(dst) || (!pods.includes(src) && !pods.includes(dst))) continue;
      for (const [proto, dport] of PROBE_PORTS) out.push({ src, dst, proto, sport: 40000, dport, flags: proto === 6 ? PKT_F_SYN : 0 });
    }
  }
  return out;
}

function batch(pkts: readonly PacketHeader[]): Uint8Array {
  const b = packetBatch(pkts.length);
  pkts.forEach((p, i) => writePacket(b, i, p));
  return b;
}

function judge(e: Engine, pkts: readonly PacketHeader[]): string[] {
  return classifyAll(e, batch(pkts), pkts.length);
}

function chainVerdicts(plan: Plan, pkts: readonly PacketHeader[]): string[] {
  const e = new ChainEngine(plan, { stateful: false });
  try {
    return judge(e, pkts);
  } finally {
    e.close();
  }
}

/** the benchmark's change on a small scale workload */
function scalePair(scale = 60): { a: Plan; b: Plan; delta: PlanDelta } {
  const before = workloadCluster('scale', scale);
  const a = compile(before), b = compile(changedCluster(before).cluster);
  return { a, b, delta: diffPlans(a, b) };
}

/** consecutive demo policy sets (trie made and dropped, pods isolated and released), and the reverse */
function demoPairs(): { name: string; a: Plan; b: Plan }[] {
  const sets = demoPolicySets().map((s) => ({ name: s.name, plan: compile(demoCluster(s.policies.map((p) => p.yaml))) }));
  const out: { name: string; a: Plan; b: Plan }[] = [];
  for (let i = 0; i + 1 < sets.length; i++) out.push({ name: `${sets[i]!.name} → ${sets[i + 1]!.name}`, a: sets[i]!.plan, b: sets[i + 1]!.plan });
  out.push({ name: `${sets[sets.length - 1]!.name} → ${sets[0]!.name}`, a: sets[sets.length - 1]!.plan, b: sets[0]!.plan });
  return out;
}

/** the plan whose chain tables are what the kernel holds after `delta` */
const loaded = (b: Plan, delta: PlanDelta) => planAfter(b, delta);

// ---- pure ------------------------------------------------------------------------------------------

describe('update delta: plan to plan', () => {
  it('A→A is empty: no chain written or deleted, no payload, no map operation', () => {
    for (const plan of [scalePair().a, ...demoPairs().map((p) => p.a), compile(clusterWith([]))]) {
      const d = diffPlans(plan, plan);
      for (const t of [d.chain.ipv4, d.chain.ipv6]) {
        expect(chainDeltaEmpty(t)).toBe(true);
        expect(renderChainDelta(t)).toBe('');
        expect(t.rulesRewritten).toBe(0);
      }
      expect(mapsDeltaEmpty(d.maps)).toBe(true);
      expect(d.maps.from).toBe(d.maps.to);
    }
  });

  it('the benchmark change rewrites the changed policy chain only, and two map keys', () => {
    const { a, b, delta } = scalePair();
    const v4 = delta.chain.ipv4;
    // the policy's IPv4 chain gains the rule (now jumping to a new except chain); nothing else moves
    expect(v4.created).toHaveLength(1);
    expect(v4.created[0]).toMatch(/^PFSIM-PX-\d+$/);
    expect(v4.written.map((c) => c.name).sort()).toEqual([v4.created[0], 'PFSIM-PI-0'].sort());
    expect(v4.deleted).toEqual([]);
    const policyChain = b.chain.ipv4.chains.find((c) => c.name === 'PFSIM-PI-0')!;
    expect(v4.rulesRewritten).toBe(policyChain.rules.length + 2);
    expect(chainDeltaEmpty(delta.chain.ipv6)).toBe(true);
    expect(delta.maps.lpmUpdate.map((u) => u.prefix)).toEqual(['198.51.100.0/24', '198.51.100.128/28']);
    expect(delta.maps.ops).toBe(2);
    expect(a.chain.ipv4.chains.length + 1).toBe(b.chain.ipv4.chains.length);
  });

  it('a removed policy renumbers the chains after it: they keep their loaded names and are not rewritten', () => {
    const allow = (name: string, block: string): NetworkPolicy => ({
      namespace: 'ns0', name, podSelector: { matchLabels: { app: 'a' }, matchExpressions: [] }, policyTypes: ['ingress'],
      ingress: [{ peers: [{ ipBlock: { cidr: cidr(block), except: [] } }], ports: [{ protocol: 'TCP', port: 80 }, { protocol: 'UDP', port: 53 }] }], egress: [],
    });
    const a = compile(clusterWith([allow('p1', '203.0.113.0/24'), allow('p2', '198.51.100.0/24')]));
    const b = compile(clusterWith([allow('p2', '198.51.100.0/24')]));
    // in B alone, p2's policy chain is PFSIM-PI-0; loaded, it is A's PFSIM-PI-1
    expect(b.chain.ipv4.chains.map((c) => c.name)).toContain('PFSIM-PI-0');
    const d = diffChainTables(a.chain.ipv4, b.chain.ipv4);
    expect(d.result.chains.map((c) => c.name)).toEqual(expect.arrayContaining(['PFSIM-PI-1', 'PFSIM-PP-1']));
    expect(d.deleted).toEqual(['PFSIM-PP-0', 'PFSIM-PI-0']);
    // only the endpoint chain, which no longer jumps to p1's chain, is written
    expect(d.written.map((c) => c.name)).toEqual(['PFSIM-TW-0']);
    expect(replayRestore(rulesetOf(a.chain.ipv4), renderChainDelta(d), true)).toEqual(rulesetOf(d.result));
  });

  it('the payload turns the loaded ruleset into the delta result, and the result judges like B (random clusters)', () => {
    fc.assert(fc.property(pairArb, ([ca, cb]) => {
      const a = compile(ca), b = compile(cb);
      const d = diffPlans(a, b);
      for (const [fam, t] of [['ipv4', d.chain.ipv4], ['ipv6', d.chain.ipv6]] as const) {
        expect(replayRestore(rulesetOf(a.chain[fam]), renderChainDelta(t), true)).toEqual(rulesetOf(t.result));
        expect(t.rulesRewritten).toBe(t.written.reduce((s, c) => s + c.rules.length, 0));
      }
      const probes = pairProbes(b);
      expect(chainVerdicts(loaded(b, d), probes)).toEqual(chainVerdicts(b, probes));
      // and back: the reverse delta from what is loaded restores A's behaviour
      const back = diffPlans(loaded(b, d), a);
      for (const [fam, t] of [['ipv4', back.chain.ipv4], ['ipv6', back.chain.ipv6]] as const) {
        expect(replayRestore(rulesetOf(d.chain[fam].result), renderChainDelta(t), true)).toEqual(rulesetOf(t.result));
      }
      expect(chainVerdicts(loaded(a, back), pairProbes(a))).toEqual(chainVerdicts(a, pairProbes(a)));
    }), { numRuns: 120 });
  });

  it('the map operations turn A\'s map contents into B\'s, and the reverse ones back into A\'s exactly (random clusters)', () => {
    fc.assert(fc.property(pairArb, ([ca, cb]) => {
      const a = compile(ca), b = compile(cb);
      const d = diffMaps(a.maps, b.maps);
      const mid = applyMaps(viewOfPlan(a.maps), d);
      expect(viewEntries(mid)).toEqual(viewEntries(viewOfPlan(b.maps)));
      const back = diffMaps(b.maps, a.maps);
      expect(viewEntries(applyMaps(mid, back))).toEqual(viewEntries(viewOfPlan(a.maps)));
      const ext = d.lpmUpdate.reduce((s, u) => s + Math.max(0, u.ports.length - 24), 0);
      expect(d.ops).toBe(d.trieCreate.length + d.trieRemove.length + d.podSet.length + d.podDelete.length + d.lpmUpdate.length + d.lpmDelete.length + ext);
    }), { numRuns: 200 });
  });

  it('refuses tables it cannot diff, naming the field', () => {
    const { a, b } = scalePair();
    expect(() => diffChainTables(a.chain.ipv4, b.chain.ipv6)).toThrow(expect.objectContaining({ code: 'PFSIM_ERR_COMPILE', message: 'chain.ipv6.family: 6 against a loaded IPv4 table' }));
    const broken: ChainTable = { ...b.chain.ipv4, chains: b.chain.ipv4.chains.filter((c) => c.name !== 'PFSIM-PI-0') };
    expect(() => diffChainTables(a.chain.ipv4, broken)).toThrow(/^chain\.ipv4: a rule jumps to chain PFSIM-PI-0, which the table does not declare$/);
  });
});

// ---- kernel -------------------------------------------------------------------------------------------

const kernel = kernelTestGate();
const gateOf = (a: { ok: true } | { ok: false; reason: string }): KernelGate => (!kernel.ok ? kernel : a.ok ? a : { ok: false, reason: a.reason });
const bpfGate = gateOf(bpfAvailability());
const tcGate = gateOf(tcAvailability());
const legacyGate = gateOf(netfilterAvailability('legacy'));
const nftGate = gateOf(netfilterAvailability('nft'));

function withBpf<T>(plan: Plan, f: (e: BpfEngine) => T, capacity?: ConstructorParameters<typeof BpfEngine>[1]['capacity']): T {
  const e = new BpfEngine(plan, { stateful: false, ...(capacity ? { capacity } : {}) });
  try {
    return f(e);
  } finally {
    e.close();
  }
}

/** A→B in place on a bpf engine, checked against fresh loads; then B→A, checked likewise */
function bpfRoundTrip(a: Plan, b: Plan, probes: readonly PacketHeader[]): void {
  const freshB = withBpf(b, (e) => ({ maps: viewEntries(e.dumpMaps()), verdicts: judge(e, probes) }));
  const freshA = withBpf(a, (e) => viewEntries(e.dumpMaps()));
  expect(freshB.maps).toEqual(viewEntries(viewOfPlan(b.maps)));
  withBpf(a, (e) => {
    const d = diffMaps(a.maps, b.maps);
    expect(e.applyDelta(d, b)).toBe(d.ops);
    expect(viewEntries(e.dumpMaps())).toEqual(freshB.maps);
    const got = judge(e, probes);
    expect(got).toEqual(freshB.verdicts);
    expect(got).toEqual(chainVerdicts(b, probes));
    const back = diffMaps(b.maps, a.maps);
    expect(e.applyDelta(back, a)).toBe(back.ops);
    expect(viewEntries(e.dumpMaps())).toEqual(freshA);
    expect(judge(e, probes)).toEqual(chainVerdicts(a, probes));
  });
}

describe('update delta: bpf maps updated in place', () => {
  it.skipIf(!bpfGate.ok)(gatedTitle('the benchmark change: maps equal a fresh load of B, verdicts equal bpf and chain on B; back to A exactly', bpfGate), () => {
    const { a, b, delta } = scalePair(200);
    bpfRoundTrip(a, b, [...deltaProbes(a, b, delta), ...pairProbes(b)]);
  });

  it.skipIf(!bpfGate.ok)(gatedTitle('demo policy sets one after another: tries made and dropped, pods isolated and released', bpfGate), () => {
    for (const { a, b } of demoPairs()) bpfRoundTrip(a, b, pairProbes(b));
  });

  it.skipIf(!bpfGate.ok)(gatedTitle('random cluster pairs, values past the 24 inline port slots included', bpfGate), () => {
    const pairs = fc.sample(pairArb, { numRuns: 12, seed: 7 });
    // a long value made, then changed (a new extension range while the old one is in use), then gone
    const more = [...WIDE_PORTS, { protocol: 'UDP' as const, port: 9000 }];
    pairs.push([clusterWith([]), clusterWith([widePolicy(WIDE_PORTS)])], [clusterWith([widePolicy(WIDE_PORTS)]), clusterWith([widePolicy(more)])]);
    let wide = 0;
    for (const [ca, cb] of pairs) {
      const a = compile(ca), b = compile(cb);
      wide += b.maps.values.filter((v) => v.length > 24).length;
      bpfRoundTrip(a, b, pairProbes(b));
    }
    expect(wide).toBeGreaterThan(0);
  });

  it.skipIf(!bpfGate.ok)(gatedTitle('a delta that does not fit the loaded maps is a one-line PfsimError and changes nothing', bpfGate), () => {
    const { a, b, delta } = scalePair(200);
    const probes = deltaProbes(a, b, delta);
    const largest = Math.max(...a.maps.tries.map((t) => t.entries.length));
    withBpf(a, (e) => {
      let err: unknown;
      try { e.prepareUpdate(delta.maps, b); } catch (x) { err = x; }
      expect(err).toBeInstanceOf(PfsimError);
      expect(err).toMatchObject({ code: 'PFSIM_ERR_COMPILE' });
      expect((err as Error).message).toMatch(/^bpf engine: update: maps\.tries\[0\]: \d+ entries \(pod 0 ingress\) exceed the loaded tries' capacity of \d+$/);
      expect(judge(e, probes)).toEqual(chainVerdicts(a, probes));
    }, { trieEntries: largest });

    // a new pod: one pod record more than the map holds
    const extra: Pod = { ...PODS[0]!, name: 'c0', ips: [ip('10.0.0.9')] };
    const pa = compile(clusterWith([])), pb = compile(clusterWith([], [extra]));
    withBpf(pa, (e) => {
      expect(() => e.prepareUpdate(diffMaps(pa.maps, pb.maps), pb)).toThrow(/^bpf engine: update: pod_state: 7 pod addresses exceed the loaded map's 6$/);
    }, { pods: 6 });

    // a value past the inline slots with no room left in the extension pool
    const wide = compile(clusterWith([widePolicy(WIDE_PORTS)]));
    withBpf(pa, (e) => {
      expect(() => e.prepareUpdate(diffMaps(pa.maps, wide.maps), wide)).toThrow(/^bpf engine: update: delta\.lpmUpdate\[\d+\]\.ports: ports_ext: 6 extension slots needed in a row, 4 of 4 free$/);
    }, { ext: 4 });
  });

  it.skipIf(!bpfGate.ok)(gatedTitle('a delta made for other maps is refused', bpfGate), () => {
    const { a, b, delta } = scalePair();
    withBpf(b, (e) => {
      expect(() => e.prepareUpdate(delta.maps, b)).toThrow(/^bpf engine: update: delta: made for other maps than the loaded ones$/);
      expect(() => e.prepareUpdate(diffMaps(b.maps, a.maps), b)).toThrow(/^bpf engine: update: delta: does not lead to the plan given with it$/);
    });
    withBpf(a, (e) => {
      const first = e.prepareUpdate(delta.maps, b);
      const again = e.prepareUpdate(delta.maps, b);
      e.commitUpdate(first);
      expect(() => e.commitUpdate(again)).toThrow(/prepared for other maps than the loaded ones/);
    });
  });
});

describe('update delta: a failed update', () => {
  it.skipIf(!bpfGate.ok)(gatedTitle('a native failure part way leaves the engine refusing to judge, not judging from half-updated maps', bpfGate), () => {
    const { a, b, delta } = scalePair();
    withBpf(a, (e) => {
      // passes every check in TypeScript and C; the kernel finds no such key
      const bogus: MapsDelta = { ...delta.maps, lpmDelete: [{ trie: 0, prefix: '192.0.2.1/32' }], ops: delta.maps.ops + 1 };
      expect(() => e.applyDelta(bogus, b)).toThrow(expect.objectContaining({
        code: 'PFSIM_ERR_NATIVE', message: 'bpf engine: update: applyDelta: trie 0: delete of lpm operation 2: No such file or directory',
      }));
      expect(() => judge(e, deltaProbes(a, b, delta))).toThrow(/^bpf engine: maps part updated by a failed update \(.+\); load the plan again$/);
      expect(() => e.prepareUpdate(diffMaps(a.maps, b.maps), b)).toThrow(/load the plan again$/);
    });
  });
});

describe('update delta: attached tc programs updated in place', () => {
  it.skipIf(!tcGate.ok)(gatedTitle('frames through the hooks are judged like the chain engine on B', tcGate), () => {
    const { a, b, delta } = scalePair(100);
    const cases = [{ a, b, probes: [...deltaProbes(a, b, delta), ...pairProbes(b).slice(0, 200)] }, ...demoPairs().slice(0, 3).map((p) => ({ ...p, probes: pairProbes(p.b) }))];
    for (const c of cases) {
      const e = new TcEngine(c.a, { stateful: false });
      try {
        const d = diffMaps(c.a.maps, c.b.maps);
        expect(e.applyDelta(d, c.b)).toBe(d.ops);
        expect(judge(e, c.probes)).toEqual(chainVerdicts(c.b, c.probes));
      } finally {
        e.close();
      }
    }
  });
});

function netfilterCases(name: 'iptables' | 'nft', make: (p: Plan) => IptablesEngine | NftEngine, gate: KernelGate): void {
  describe(`update delta: ${name} updated with --noflush`, () => {
    it.skipIf(!gate.ok)(gatedTitle('the restore of the changed chains judges like the chain engine on B, the reverse like A', gate), () => {
      const { a, b, delta } = scalePair(100);
      const cases = [{ a, b, delta, probes: [...deltaProbes(a, b, delta), ...pairProbes(b).slice(0, 100)] },
        ...demoPairs().slice(0, 3).map((p) => ({ ...p, delta: diffPlans(p.a, p.b), probes: pairProbes(p.b) }))];
      for (const c of cases) {
        const e = make(c.a);
        try {
          const after = loaded(c.b, c.delta);
          for (const f of [4, 6] as const) {
            const t = c.delta.chain[f === 4 ? 'ipv4' : 'ipv6'];
            if (!chainDeltaEmpty(t)) expect(e.restore(f, renderChainDelta(t), { noflush: true, plan: after })).toBeGreaterThan(0);
          }
          expect(judge(e, c.probes)).toEqual(chainVerdicts(c.b, c.probes));
          const back = diffPlans(after, c.a);
          for (const f of [4, 6] as const) {
            const t = back.chain[f === 4 ? 'ipv4' : 'ipv6'];
            if (!chainDeltaEmpty(t)) e.restore(f, renderChainDelta(t), { noflush: true, plan: c.a });
          }
          expect(judge(e, c.probes)).toEqual(chainVerdicts(c.a, c.probes));
        } finally {
          e.close();
        }
      }
    });

    it.skipIf(!gate.ok)(gatedTitle('a refused restore is a one-line error naming the family', gate), () => {
      const e = make(scalePair().a);
      try {
        expect(() => e.restore(4, '*filter\n-A NO-SUCH-CHAIN -j ACCEPT\nCOMMIT\n', { noflush: true, plan: scalePair().a }))
          .toThrow(expect.objectContaining({ code: 'PFSIM_ERR_UNSUPPORTED', message: expect.stringMatching(new RegExp(`^${name}: restore ipv4 rules: [^\\n]+$`)) }));
      } finally {
        e.close();
      }
    });
  });
}

netfilterCases('iptables', (p) => new IptablesEngine(p, { stateful: false }), legacyGate);
netfilterCases('nft', (p) => new NftEngine(p, { stateful: false }), nftGate);

describe('update delta: the benchmark', () => {
  const gate = [bpfGate, legacyGate, nftGate].find((g) => !g.ok) ?? bpfGate;
  it.skipIf(!gate.ok)(gatedTitle('measureUpdateCost at 100 rules measures every engine and checks its verdicts', gate), () => {
    const cost = measureUpdateCost(100, { repeats: 1 });
    const { delta } = scalePair(100);
    expect(cost.change).toMatch(/^policy bench\/allow-\d+: one ingress rule added/);
    expect(cost.bpfOps).toBe(delta.maps.ops);
    expect(cost.chainRulesRewritten).toBe(delta.chain.ipv4.rulesRewritten + delta.chain.ipv6.rulesRewritten);
    for (const s of [cost.iptablesLegacyMs, cost.nftMs, cost.bpfMs]) {
      expect(s?.n).toBe(1);
      expect(s!.median).toBeGreaterThan(0);
    }
  });
});
