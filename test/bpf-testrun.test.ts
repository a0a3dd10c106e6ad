/**
 * The bpf engine: the tc program loaded into this kernel and run with BPF_PROG_TEST_RUN must
 * judge as the maps and chain engines do (demo, random clusters stateless and stateful, the
 * except-no-inherit case), parse real frames (VLAN tags, IPv4 options, IPv6 extension headers,
 * fragments, short and non-IP frames), and fail with the error codes of the vocabulary.
 * Every test here needs the kernel; without root they are skipped and say why.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clusterFromText } from '../src/cluster/load.js';
import type { Cluster, NetworkPolicy, Pod, PolicyPeer, PolicyPort, PolicyRule, L4Proto } from '../src/cluster/model.js';
import { METADATA_NAME_LABEL } from '../src/cluster/model.js';
import { compile } from '../src/compile/index.js';
import { encodeMaps } from '../src/compile/layout.js';
import type { MapsPlan, Plan } from '../src/compile/plan.js';
import { frame, ipPacket, ipv4RecordRoute, LINKTYPE_ETHERNET, type IpPacketOptions } from '../src/capture/frames.js';
import { demoClusterYaml, demoFlows, demoPolicySets } from '../src/demo/cluster.js';
import { BpfEngine, bpfAvailability, createBpfClassifier, type NativeBpfClassifier } from '../src/engines/bpf.js';
import {
  OUT_WORDS,
  REASON_DENY_EGRESS,
  REASON_DENY_INGRESS,
  REASON_ESTABLISHED,
  REASON_NOT_ISOLATED,
  REASON_POLICY,
  VERDICT_ALLOW,
  VERDICT_DENY,
  type Engine,
  type EngineName,
} from '../src/engines/engine.js';
import { createEngine, parseEngineList } from '../src/engines/index.js';
import { packetBatch, writePacket, type PacketHeader } from '../src/engines/packet.js';
import { PfsimError } from '../src/errors.js';
import { parseCidr, parseIp, type Cidr } from '../src/net/ip.js';
import { flowToPacket } from '../src/verdict/flows.js';
import type { Flow } from '../src/verdict/types.js';
import { gatedTitle, kernelTestGate } from './helpers/netns.js';

const gate = kernelTestGate();
const bpfGate = gate.ok ? bpfAvailability() : gate;
const title = (t: string) => gatedTitle(t, bpfGate);
const itKernel = bpfGate.ok ? it : it.skip;

const ip = (s: string): bigint => parseIp(s)!;
const cidr = (s: string): Cidr => {
  const r = parseCidr(s);
  if (!r.ok) throw new Error(r.why);
  return r.cidr;
};

/** every engine's four words for the same packets, and (`reasons`) its reason texts */
function judge(names: readonly EngineName[], plan: Plan, pkts: Uint8Array, n: number, stateful: boolean,
  reasons?: Map<EngineName, string[]>): Map<EngineName, Uint32Array> {
  const out = new Map<EngineName, Uint32Array>();
  for (const name of names) {
    const engine: Engine = createEngine(name, plan, { stateful });
    try {
      const o = new Uint32Array(Math.max(n, 1) * OUT_WORDS);
      engine.classify(pkts, n, o);
      out.set(name, o);
      reasons?.set(name, Array.from({ length: n }, (_, i) => engine.describe(pkts, o, i)));
    } finally {
      engine.close();
    }
  }
  return out;
}

function batch(packets: readonly PacketHeader[]): Uint8Array {
  const b = packetBatch(Math.max(packets.length, 1));
  packets.forEach((p, i) => writePacket(b, i, p));
  return b;
}

/** the disagreements between bpf and maps (verdict and reason) and chain (verdict) */
function differences(words: Map<EngineName, Uint32Array>, n: number, show: (i: number) => string): string[] {
  const bpf = words.get('bpf')!, maps = words.get('maps')!, chain = words.get('chain')!;
  const bad: string[] = [];
  for (let i = 0; i < n; i++) {
    const o = i * OUT_WORDS;
    if (bpf[o] !== maps[o] || bpf[o + 1] !== maps[o + 1] || bpf[o] !== chain[o]) {
      bad.push(`${show(i)}: bpf ${bpf[o]}/${bpf[o + 1]}, maps ${maps[o]}/${maps[o + 1]}, chain ${chain[o]}`);
    }
  }
  return bad;
}

describe('bpf engine: same verdicts as maps and chain', () => {
  for (const set of demoPolicySets()) {
    itKernel(title(`demo policy set "${set.name}"`), () => {
      const cluster = clusterFromText('demo', [demoClusterYaml(), ...set.policies.map((p) => p.yaml)].join('---\n'));
      const plan = compile(cluster);
      const flows = demoFlows();
      const pkts = batch(flows.map((f, i) => flowToPacket(f, `flow ${i}`)));
      const words = judge(['chain', 'maps', 'bpf'], plan, pkts, flows.length, false);
      expect(differences(words, flows.length, (i) => JSON.stringify(flows[i]))).toEqual([]);
      // the reason text reads as the maps engine's, though the kernel names no entry
      const bpf = new BpfEngine(plan, { stateful: false });
      const maps = createEngine('maps', plan, { stateful: false });
      try {
        const b = new Uint32Array(flows.length * OUT_WORDS), m = new Uint32Array(flows.length * OUT_WORDS);
        bpf.classify(pkts, flows.length, b);
        maps.classify(pkts, flows.length, m);
        for (let i = 0; i < flows.length; i++) expect(bpf.describe(pkts, b, i)).toBe(maps.describe(pkts, m, i));
      } finally {
        bpf.close();
        maps.close();
      }
    });
  }

  itKernel(title('an except does not inherit: UDP 53 from inside the hole is allowed by 0.0.0.0/0'), () => {
    const server: Pod = { namespace: 'ns', name: 'dns', labels: { app: 'dns' }, ips: [ip('10.0.0.10')], hostNetwork: false, ports: [] };
    const policy: NetworkPolicy = {
      namespace: 'ns', name: 'np', podSelector: { matchLabels: { app: 'dns' }, matchExpressions: [] }, policyTypes: ['ingress'],
      ingress: [
        { peers: [{ ipBlock: { cidr: cidr('0.0.0.0/0'), except: [] } }], ports: [{ protocol: 'UDP', port: 53 }] },
        { peers: [{ ipBlock: { cidr: cidr('10.0.0.0/16'), except: [cidr('10.0.5.0/24')] } }], ports: [{ protocol: 'TCP', port: 80 }] },
      ],
      egress: [],
    };
    const cluster: Cluster = { namespaces: [{ name: 'ns', labels: { [METADATA_NAME_LABEL]: 'ns' } }], pods: [server], nodes: [], policies: [policy] };
    const flows: Flow[] = [
      { src: '10.0.5.9', dst: '10.0.0.10', proto: 'UDP', sport: 5353, dport: 53 },
      { src: '10.0.5.9', dst: '10.0.0.10', proto: 'TCP', sport: 40000, dport: 80 },
      { src: '10.0.6.9', dst: '10.0.0.10', proto: 'TCP', sport: 40000, dport: 80 },
      { src: '192.0.2.1', dst: '10.0.0.10', proto: 'TCP', sport: 40000, dport: 80 },
    ];
    const pkts = batch(flows.map((f, i) => flowToPacket(f, `flow ${i}`)));
    const words = judge(['chain', 'maps', 'bpf'], compile(cluster), pkts, flows.length, false);
    expect(differences(words, flows.length, (i) => JSON.stringify(flows[i]))).toEqual([]);
    const bpf = words.get('bpf')!;
    expect([0, 1, 2, 3].map((i) => bpf[i * OUT_WORDS])).toEqual([VERDICT_ALLOW, VERDICT_DENY, VERDICT_ALLOW, VERDICT_DENY]);
  });
});

// ---- random clusters: a small generator of model objects (no YAML round trip) ----

const LABELS = ['a', 'b'] as const;
const V4_POOL = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.1.7', '192.168.9.9'];
const V6_POOL = ['fd00::1', 'fd00::2', 'fd00::3', 'fd00::4', 'fd00::5', 'fd00::6', 'fd00:1::7', '2001:db8::9'];
const BLOCKS = ['0.0.0.0/0', '10.0.0.0/8', '10.0.0.0/29', '10.0.0.4/30', '10.0.0.2/32', '10.0.1.0/24', '::/0', 'fd00::/16', 'fd00::/125', 'fd00::4/126'];
const EXCEPTS = ['10.0.0.0/30', '10.0.0.6/31', '10.0.1.7/32', 'fd00::/126', 'fd00::6/127', 'fd00:1::/32'];

const selectorArb = fc.record({
  matchLabels: fc.dictionary(fc.constantFrom('app', 'tier'), fc.constantFrom(...LABELS), { maxKeys: 1 }),
  matchExpressions: fc.constant([]),
});

const peerArb: fc.Arbitrary<PolicyPeer> = fc.oneof(
  fc.record({ podSelector: selectorArb }),
  fc.record({ namespaceSelector: selectorArb }),
  fc.record({ block: fc.constantFrom(...BLOCKS), except: fc.subarray(EXCEPTS) }).map(({ block, except }) => {
    const c = cidr(block);
    const inside = except.map(cidr).filter((e) => e.family === c.family && e.len > c.len && (e.addr & ~((1n << BigInt(128 - c.len)) - 1n)) === c.addr);
    return { ipBlock: { cidr: c, except: inside } };
  }),
);

const portArb: fc.Arbitrary<PolicyPort> = fc.oneof(
  fc.record({ protocol: fc.constantFrom<L4Proto>('TCP', 'UDP', 'SCTP') }),
  fc.record({ protocol: fc.constantFrom<L4Proto>('TCP', 'UDP', 'SCTP'), port: fc.constantFrom(53, 80, 443, 8080) }),
  fc.record({ protocol: fc.constantFrom<L4Proto>('TCP', 'UDP'), port: fc.constantFrom(1000, 8000), endPort: fc.constantFrom(1000, 1100, 9000) })
    .map((p) => ({ ...p, endPort: Math.max(p.port, p.endPort) })),
  fc.record({ protocol: fc.constant<L4Proto>('TCP'), port: fc.constantFrom('http', 'nope') }),
);

const ruleArb: fc.Arbitrary<PolicyRule> = fc.record({ peers: fc.array(peerArb, { maxLength: 2 }), ports: fc.array(portArb, { maxLength: 2 }) });

const scenarioArb = fc.record({
  pods: fc.array(fc.record({ ns: fc.nat(1), app: fc.constantFrom(...LABELS), tier: fc.constantFrom(...LABELS), kind: fc.constantFrom('v4', 'v4', 'dual', 'v6') }), { minLength: 2, maxLength: 6 }),
  policies: fc.array(fc.record({
    ns: fc.nat(1),
    podSelector: selectorArb,
    types: fc.constantFrom<('ingress' | 'egress')[]>(['ingress'], ['egress'], ['ingress', 'egress']),
    ingress: fc.array(ruleArb, { maxLength: 2 }),
    egress: fc.array(ruleArb, { maxLength: 2 }),
  }), { maxLength: 4 }),
  flows: fc.array(fc.record({
    v6: fc.boolean(), src: fc.nat(7), dst: fc.nat(7),
    proto: fc.constantFrom('TCP', 'TCP', 'UDP', 'SCTP', 'ICMP'),
    dport: fc.constantFrom(53, 80, 443, 1000, 1050, 8080, 9001),
  }), { minLength: 5, maxLength: 25 }),
  replies: fc.array(fc.nat(), { maxLength: 15 }),
});
type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

function clusterOf(s: Scenario): Cluster {
  const namespaces = ['ns0', 'ns1'].map((name) => ({ name, labels: { [METADATA_NAME_LABEL]: name, app: name === 'ns0' ? 'a' : 'b' } }));
  const pods: Pod[] = s.pods.map((p, i) => ({
    namespace: `ns${p.ns}`, name: `pod${i}`, labels: { app: p.app, tier: p.tier }, hostNetwork: false,
    ips: [...(p.kind !== 'v6' ? [ip(V4_POOL[i]!)] : []), ...(p.kind !== 'v4' ? [ip(V6_POOL[i]!)] : [])],
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
  }));
  const policies: NetworkPolicy[] = s.policies.map((p, i) => ({
    namespace: `ns${p.ns}`, name: `np${i}`, podSelector: p.podSelector, policyTypes: p.types,
    ingress: p.types.includes('ingress') ? p.ingress : [], egress: p.types.includes('egress') ? p.egress : [],
  }));
  return { namespaces, pods, nodes: [], policies };
}

/** flows, then (for stateful runs) replies of some of them interleaved */
function packetsOf(s: Scenario, stateful: boolean): PacketHeader[] {
  const flows: Flow[] = s.flows.map((f, i) => {
    const pool = f.v6 ? V6_POOL : V4_POOL;
    const src = pool[f.src]!;
    const dst = f.dst === f.src ? pool[(f.src + 1) % pool.length]! : pool[f.dst]!;
    return f.proto === 'ICMP' ? { src, dst, proto: 'ICMP' } : { src, dst, proto: f.proto, sport: 30000 + i, dport: f.dport };
  });
  const pkts = flows.map((f, i) => flowToPacket(f, `flow ${i}`));
  if (!stateful) return pkts;
  for (const pick of s.replies) {
    const p = pkts[pick % pkts.length]!;
    // the reply's first segment: a SYN-ACK for TCP, which opens nothing
    const reply: PacketHeader = { src: p.dst, dst: p.src, proto: p.proto, sport: p.dport, dport: p.sport, flags: p.proto === 6 ? 0x12 : 0 };
    pkts.splice((pick >>> 4) % (pkts.length + 1), 0, reply);
  }
  return pkts;
}

function show(p: PacketHeader): string {
  return `proto ${p.proto} ${p.src.toString(16)}:${p.sport} -> ${p.dst.toString(16)}:${p.dport} flags ${p.flags ?? 0}`;
}

describe('bpf engine: random clusters', () => {
  for (const stateful of [false, true]) {
    itKernel(title(`bpf = maps = chain on every flow (${stateful ? 'stateful, with replies' : 'stateless'})`), () => {
      const reasons = new Set<number>();
      fc.assert(fc.property(scenarioArb, (s) => {
        const cluster = clusterOf(s);
        const plan = compile(cluster);
        const packets = packetsOf(s, stateful);
        const texts = new Map<EngineName, string[]>();
        const words = judge(['chain', 'maps', 'bpf'], plan, batch(packets), packets.length, stateful, texts);
        const bad = differences(words, packets.length, (i) => show(packets[i]!));
        // the reason text too: bpf finds in the plan the entry the kernel does not name
        texts.get('bpf')!.forEach((t, i) => {
          if (t !== texts.get('maps')![i]) bad.push(`${show(packets[i]!)}: bpf says "${t}", maps "${texts.get('maps')![i]}"`);
        });
        if (bad.length > 0) throw new Error(`${bad.join('\n')}\n${JSON.stringify(plan.maps)}`);
        const bpf = words.get('bpf')!;
        for (let i = 0; i < packets.length; i++) reasons.add(bpf[i * OUT_WORDS + 1]!);
      }), { numRuns: 30, seed: stateful ? 2 : 1 });
      // the generator reaches every reason (and so both verdicts)
      const want = [REASON_NOT_ISOLATED, REASON_POLICY, REASON_DENY_EGRESS, REASON_DENY_INGRESS, ...(stateful ? [REASON_ESTABLISHED] : [])];
      expect([...reasons].sort()).toEqual(want.sort());
    }, 120_000);
  }
});

// ---- the program on frames: parsing as the capture decoder parses ----

/** pod 10.0.0.1 / fd00::1 (pod 0), ingress isolated: TCP 80 from 10.1.0.0/16 and fd01::/32 */
const FRAME_PLAN: MapsPlan = {
  podState: [{ ip: '10.0.0.1', pod: 0, ingress: 1, egress: 0 }, { ip: 'fd00::1', pod: 0, ingress: 1, egress: 0 }],
  tries: [{ id: 0, pod: 0, dir: 'ingress', entries: [{ prefix: '10.1.0.0/16', value: 0, rules: [] }, { prefix: 'fd01::/32', value: 0, rules: [] }] }],
  values: [[{ proto: 6, start: 80, end: 80 }]],
};

function loaded(plan: MapsPlan): NativeBpfClassifier {
  const c = createBpfClassifier();
  const l = encodeMaps(plan);
  c.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
  return c;
}

const v4 = (o: Partial<IpPacketOptions> = {}): IpPacketOptions => ({ src: '10.1.2.3', dst: '10.0.0.1', proto: 'TCP', sport: 40000, dport: 80, ...o });
const v6 = (o: Partial<IpPacketOptions> = {}): IpPacketOptions => ({ src: 'fd01::5', dst: 'fd00::1', proto: 'TCP', sport: 40000, dport: 80, ...o });
const eth = (o: IpPacketOptions, f: Parameters<typeof frame>[2] = {}) => frame(LINKTYPE_ETHERNET, ipPacket(o), f);

describe('bpf program on frames', () => {
  itKernel(title('link and IP headers: VLAN tags, IPv4 options, IPv6 extension headers, padding'), () => {
    const c = loaded(FRAME_PLAN);
    try {
      const cases: [string, Uint8Array, number][] = [
        ['plain', eth(v4()), VERDICT_ALLOW],
        ['other port', eth(v4({ dport: 81 })), VERDICT_DENY],
        ['outside the block', eth(v4({ src: '10.2.0.1' })), VERDICT_DENY],
        ['802.1Q', eth(v4(), { vlan: 7 }), VERDICT_ALLOW],
        ['QinQ', eth(v4({ dport: 81 }), { qinq: { outer: 1, inner: 2 } }), VERDICT_DENY],
        ['IPv4 options', eth(v4({ ipOptions: ipv4RecordRoute(4) })), VERDICT_ALLOW],
        ['IPv4 options, other port', eth(v4({ ipOptions: ipv4RecordRoute(4), dport: 8080 })), VERDICT_DENY],
        ['padded to 60 bytes', eth(v4(), { padToMinimum: true }), VERDICT_ALLOW],
        ['a 9000-byte jumbo frame (runs as its first 3 KiB)', eth(v4({ payload: 'z'.repeat(8900) })), VERDICT_ALLOW],
        ['IPv6', eth(v6()), VERDICT_ALLOW],
        ['IPv6 hop, dst, route', eth(v6({ ext: ['hop', 'dst', 'route'] })), VERDICT_ALLOW],
        ['IPv6 hop, other port', eth(v6({ ext: ['hop'], dport: 443 })), VERDICT_DENY],
        ['IPv6 first fragment', eth(v6({ frag: { offset: 0, more: true, id: 9 }, payload: 'x'.repeat(16) })), VERDICT_ALLOW],
        ['IPv4 first fragment', eth(v4({ frag: { offset: 0, more: true, id: 9 }, payload: 'x'.repeat(16) })), VERDICT_ALLOW],
      ];
      for (const [what, f, want] of cases) {
        const r = c.runFrame(f);
        expect({ what, verdict: r.verdict, retval: r.retval }).toEqual({ what, verdict: want, retval: want === VERDICT_ALLOW ? 0 : 2 });
        expect([r.reason, r.egress, r.ingress]).toEqual([want === VERDICT_ALLOW ? REASON_POLICY : REASON_DENY_INGRESS, 0xffffffff, 0xffffffff]);
      }
    } finally {
      c.close();
    }
  });

  itKernel(title('frames it cannot judge pass unjudged, saying why'), () => {
    const c = loaded(FRAME_PLAN);
    try {
      const arp = new Uint8Array(42);
      arp.set([0x08, 0x06], 12);
      const tcp = eth(v4());
      const cases: [string, Uint8Array, number][] = [
        ['not IP', arp, 1],
        ['truncated TCP header', tcp.subarray(0, tcp.length - 4), 2],
        ['IPv4 later fragment', eth(v4({ frag: { offset: 8, more: false, id: 9 }, payload: 'y'.repeat(8) })), 4],
        ['IPv6 later fragment', eth(v6({ frag: { offset: 8, more: false, id: 9 }, payload: 'y'.repeat(8) })), 4],
      ];
      for (const [what, f, why] of cases) {
        const r = c.runFrame(f);
        expect({ what, verdict: r.verdict, reason: r.reason, retval: r.retval }).toEqual({ what, verdict: 0, reason: why, retval: 0 });
      }
      const bad = eth(v4());
      bad[14] = 0x43; // IHL 3: shorter than the header
      expect(c.runFrame(bad)).toMatchObject({ verdict: 0, reason: 5 });
    } finally {
      c.close();
    }
  });

  itKernel(title('conntrack: a reply passes after its SYN, not before, and not after a reset'), () => {
    const c = loaded(FRAME_PLAN);
    try {
      const syn = eth(v4({ tcpFlags: ['SYN'] }));
      const synAck = eth({ src: '10.0.0.1', dst: '10.1.2.3', proto: 'TCP', sport: 80, dport: 40000, tcpFlags: ['SYN', 'ACK'] });
      expect(c.runFrame(synAck, true).reason).toBe(REASON_NOT_ISOLATED); // the reply leaves an unisolated side
      const probe = eth({ src: '10.1.2.3', dst: '10.0.0.1', proto: 'TCP', sport: 40000, dport: 81, tcpFlags: ['ACK'] });
      expect(c.runFrame(probe, true).verdict).toBe(VERDICT_DENY);
      expect(c.runFrame(syn, true)).toMatchObject({ verdict: VERDICT_ALLOW, reason: REASON_POLICY });
      expect(c.runFrame(syn, true)).toMatchObject({ verdict: VERDICT_ALLOW, reason: REASON_ESTABLISHED });
      expect(c.runFrame(syn, false)).toMatchObject({ verdict: VERDICT_ALLOW, reason: REASON_POLICY });
      c.resetConntrack();
      expect(c.runFrame(syn, true)).toMatchObject({ reason: REASON_POLICY });
      expect(c.timePerPacket(syn, 1000)).toBeGreaterThan(0);
    } finally {
      c.close();
    }
  });
});

describe('bpf engine: errors', () => {
  itKernel(title('addon errors carry PFSIM_ERR_NATIVE and the operation'), () => {
    const c = createBpfClassifier();
    try {
      const l = encodeMaps(FRAME_PLAN);
      expect(() => c.classifyBatch(batch([]), 0, new Uint32Array(4), false)).toThrow(/^classifyBatch: no program loaded/);
      let err: unknown;
      try {
        c.load(l.podAddrs, l.podStates, 0, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'PFSIM_ERR_NATIVE', message: 'bpf load: podStates[0]: enforced pod has no trie below trieCount' });
      c.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
      const pkts = batch([{ src: ip('10.1.0.1'), dst: ip('10.0.0.1'), proto: 6, sport: 1, dport: 80, flags: 2 }]);
      pkts[37] = 5; // family
      expect(() => c.classifyBatch(pkts, 1, new Uint32Array(4), false)).toThrow(/^classifyBatch: pkts\[0\]: family is neither 4 nor 6$/);
    } finally {
      c.close();
    }
    expect(() => c.resetConntrack()).toThrow(/^resetConntrack: classifier is closed$/);
  });

  itKernel(title('a missing object names the file'), async () => {
    const { loadNative } = await import('../src/engines/native.js');
    const Cls = (loadNative() as unknown as { BpfClassifier: new (p: string) => NativeBpfClassifier }).BpfClassifier;
    const c = new Cls('/nonexistent/pfsim_tc.bpf.o');
    const l = encodeMaps(FRAME_PLAN);
    expect(() => c.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext))
      .toThrow(expect.objectContaining({ code: 'PFSIM_ERR_NATIVE', message: expect.stringMatching(/^bpf open \/nonexistent\/pfsim_tc\.bpf\.o: No such file or directory/) }));
    c.close();
  });

  itKernel(title('a value longer than the tc program scans is unsupported, not misjudged'), () => {
    const cluster = clusterFromText('demo', demoClusterYaml());
    const plan = compile(cluster);
    const long = Array.from({ length: 300 }, (_, i) => ({ proto: 6, start: 2 * i, end: 2 * i }));
    const wide: Plan = { ...plan, maps: { ...plan.maps, values: [...plan.maps.values, long] } };
    expect(() => new BpfEngine(wide, { stateful: false })).toThrow(expect.objectContaining({
      code: 'PFSIM_ERR_UNSUPPORTED', message: expect.stringMatching(/^bpf engine: maps\.values\[\d+\]: 300 port entries exceed the tc program's limit of 256$/),
    }));
  });

  itKernel(title('--engines all includes bpf where it runs; bpf named explicitly is accepted'), () => {
    expect(parseEngineList('all').slice(0, 3)).toEqual(['chain', 'maps', 'bpf']);
    expect(parseEngineList('bpf,maps')).toEqual(['bpf', 'maps']);
  });
});

describe('bpf engine: unavailable', () => {
  it.skipIf(bpfGate.ok)(`an unavailable bpf engine is PFSIM_ERR_UNSUPPORTED with the reason${bpfGate.ok ? ' [skipped: bpf is available here]' : ''}`, () => {
    expect(parseEngineList('all')).not.toContain('bpf');
    expect(() => parseEngineList('bpf')).toThrow(PfsimError);
    expect(() => parseEngineList('bpf')).toThrow(/^bpf: unavailable: /);
  });
});
