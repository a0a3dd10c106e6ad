/**
 * The native maps decision: port matching (ANY, ranges, the extension pool), the egress and
 * ingress sides, conntrack in both directions with reset and a full table, load validation,
 * and the MapsEngine's reasons.
 */
import { describe, expect, it } from 'vitest';
import { encodeMaps, VALUE_SLOTS } from '../src/compile/layout.js';
import type { MapsPlan, Plan, PortEntry } from '../src/compile/plan.js';
import { PROTO_ANY } from '../src/compile/plan.js';
import {
  NO_REF,
  OUT_WORDS,
  REASON_DENY_EGRESS,
  REASON_DENY_INGRESS,
  REASON_ESTABLISHED,
  REASON_NOT_ISOLATED,
  REASON_POLICY,
  VERDICT_ALLOW,
  VERDICT_DENY,
} from '../src/engines/engine.js';
import { MapsEngine } from '../src/engines/maps.js';
import { createClassifier, type NativeClassifier } from '../src/engines/native.js';
import { packetBatch, writePacket, PKT_F_ACK, PKT_F_SYN, type PacketHeader } from '../src/engines/packet.js';
import { parseIp } from '../src/net/ip.js';
import { PfsimError } from '../src/errors.js';
import { rngU32 } from '../bench/workloads.js';

const ip = (s: string): bigint => parseIp(s)!;

function load(plan: MapsPlan, ctCapacity = 1024): NativeClassifier {
  const l = encodeMaps(plan);
  const c = createClassifier({ ctCapacity });
  c.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
  return c;
}

function run(c: NativeClassifier, pkts: PacketHeader[], stateful = false): number[][] {
  const buf = packetBatch(pkts.length);
  pkts.forEach((p, i) => writePacket(buf, i, p));
  const out = new Uint32Array(pkts.length * OUT_WORDS);
  c.classifyBatch(buf, pkts.length, out, stateful);
  return pkts.map((_, i) => [...out.subarray(i * OUT_WORDS, (i + 1) * OUT_WORDS)]);
}

/** brute force: does a sorted or unsorted entry list allow (proto, port)? */
function allows(entries: readonly PortEntry[], proto: number, port: number): boolean {
  return entries.some((e) => (e.proto === PROTO_ANY || e.proto === proto) && e.start <= port && port <= e.end);
}

/** a merged, sorted random port list: n ranges spread over TCP, UDP, SCTP and maybe ANY */
function randomPorts(next: () => number, n: number, any: boolean): PortEntry[] {
  const out: PortEntry[] = [];
  for (const proto of [6, 17, 132]) {
    let port = next() % 50;
    for (let i = 0; i < n / 3 && port < 65535; i++) {
      const end = Math.min(65535, port + (next() % 3 === 0 ? next() % 200 : 0));
      out.push({ proto, start: port, end });
      port = end + 2 + (next() % 300);
    }
  }
  if (any) out.push({ proto: PROTO_ANY, start: 0, end: 65535 });
  return out;
}

/** one pod 10.0.0.1 (pod 0) ingress-isolated by the given values, keyed 10.1.0.0/16 + i */
function portPlan(values: PortEntry[][]): MapsPlan {
  return {
    podState: [{ ip: '10.0.0.1', pod: 0, ingress: 1, egress: 0 }],
    tries: [{ id: 0, pod: 0, dir: 'ingress', entries: values.map((_, i) => ({ prefix: `10.${i + 1}.0.0/16`, value: i, rules: [] })) }],
    values,
  };
}

describe('native port matching', () => {
  it('matches ANY, ranges, several protocols and the extension pool like a brute-force scan', () => {
    const next = rngU32(7);
    const values: PortEntry[][] = [
      [{ proto: PROTO_ANY, start: 0, end: 65535 }],
      [{ proto: 6, start: 80, end: 80 }, { proto: 6, start: 443, end: 443 }, { proto: 17, start: 53, end: 53 }],
      [{ proto: 6, start: 1000, end: 2000 }, { proto: PROTO_ANY, start: 0, end: 65535 }],
      randomPorts(next, 10, false),
      randomPorts(next, 60, false), // past the 24 inline slots
      randomPorts(next, 90, true),
      randomPorts(next, 300, false),
      [],
    ];
    expect(values[4]!.length).toBeGreaterThan(VALUE_SLOTS);
    expect(values[6]!.length).toBeGreaterThan(VALUE_SLOTS * 4);
    const c = load(portPlan(values));
    try {
      const pkts: PacketHeader[] = [];
      const want: [number, boolean][] = [];
      values.forEach((v, i) => {
        const ports = new Set<number>([0, 1, 53, 79, 80, 81, 443, 999, 1000, 2000, 2001, 65535]);
        for (const e of v) for (const p of [e.start - 1, e.start, e.end, e.end + 1]) if (p >= 0 && p <= 65535) ports.add(p);
        for (let k = 0; k < 200; k++) ports.add(next() % 65536);
        for (const port of ports) {
          for (const proto of [6, 17, 132, 1, 58]) {
            const dport = proto === 1 || proto === 58 ? 0 : port;
            pkts.push({ src: ip(`10.${i + 1}.3.4`), dst: ip('10.0.0.1'), proto, sport: 5555, dport });
            want.push([i, allows(v, proto, dport)]);
          }
        }
      });
      const out = run(c, pkts);
      out.forEach((o, k) => {
        const [vi, ok] = want[k]!;
        expect(o, `value ${vi} proto ${pkts[k]!.proto} port ${pkts[k]!.dport}`).toEqual(
          ok ? [VERDICT_ALLOW, REASON_POLICY, NO_REF, vi] : [VERDICT_DENY, REASON_DENY_INGRESS, NO_REF, vi],
        );
      });
    } finally {
      c.close();
    }
  });

  it('ICMP matches only ANY entries', () => {
    const c = load(portPlan([[{ proto: 6, start: 0, end: 65535 }, { proto: 17, start: 0, end: 65535 }], [{ proto: PROTO_ANY, start: 0, end: 65535 }]]));
    try {
      const out = run(c, [
        { src: ip('10.1.0.1'), dst: ip('10.0.0.1'), proto: 1, sport: 0, dport: 0 },
        { src: ip('10.2.0.1'), dst: ip('10.0.0.1'), proto: 1, sport: 0, dport: 0 },
        { src: ip('10.1.0.1'), dst: ip('10.0.0.1'), proto: 6, sport: 9, dport: 0 },
      ]);
      expect(out.map((o) => o[0])).toEqual([VERDICT_DENY, VERDICT_ALLOW, VERDICT_ALLOW]);
    } finally {
      c.close();
    }
  });

  it('refuses a value over PF_VALUE_MAX_ENTRIES when encoding', () => {
    const big: PortEntry[] = Array.from({ length: 4097 }, (_, i) => ({ proto: 6, start: i * 2, end: i * 2 }));
    expect(() => encodeMaps(portPlan([big]))).toThrow(expect.objectContaining({ code: 'PFSIM_ERR_COMPILE' }));
  });
});

/** a (ns a) egress-isolated to 10.0.2.0/24 tcp/80; b ingress-isolated from a's /32 udp/53; c open */
const decisionPlan: MapsPlan = {
  podState: [
    { ip: '10.0.1.1', pod: 0, ingress: 0, egress: 1 },
    { ip: '10.0.2.1', pod: 1, ingress: 1, egress: 0 },
    { ip: '10.0.3.1', pod: 2, ingress: 0, egress: 0 },
    { ip: 'fd00::21', pod: 1, ingress: 1, egress: 0 },
  ],
  tries: [
    { id: 1, pod: 0, dir: 'egress', entries: [{ prefix: '10.0.2.0/24', value: 0, rules: [0] }, { prefix: 'fd00::/64', value: 1, rules: [1] }] },
    { id: 2, pod: 1, dir: 'ingress', entries: [{ prefix: '10.0.1.1/32', value: 1, rules: [2, 3] }, { prefix: '10.0.3.0/24', value: 0, rules: [3] }] },
  ],
  values: [
    [{ proto: 6, start: 80, end: 80 }],
    [{ proto: PROTO_ANY, start: 0, end: 65535 }],
  ],
};

describe('native decision', () => {
  it('judges each side and reports the entries', () => {
    const c = load(decisionPlan);
    try {
      const out = run(c, [
        { src: ip('10.0.1.1'), dst: ip('10.0.2.1'), proto: 6, sport: 1000, dport: 80 },   // both sides allow
        { src: ip('10.0.1.1'), dst: ip('10.0.2.1'), proto: 6, sport: 1000, dport: 81 },   // egress ports refuse
        { src: ip('10.0.1.1'), dst: ip('10.0.9.9'), proto: 6, sport: 1000, dport: 80 },   // egress: no entry
        { src: ip('10.0.3.1'), dst: ip('10.0.2.1'), proto: 6, sport: 1000, dport: 81 },   // ingress ports refuse
        { src: ip('10.0.4.1'), dst: ip('10.0.2.1'), proto: 6, sport: 1000, dport: 80 },   // ingress: no entry
        { src: ip('10.0.3.1'), dst: ip('10.0.2.1'), proto: 6, sport: 1000, dport: 80 },   // ingress only
        { src: ip('10.0.3.1'), dst: ip('10.0.1.1'), proto: 17, sport: 1, dport: 2 },      // no side isolated
        { src: ip('10.0.1.1'), dst: ip('fd00::21'), proto: 17, sport: 1, dport: 2 },      // one pod, two families: each trie holds both
        { src: ip('fd00::99'), dst: ip('fd00::21'), proto: 17, sport: 1, dport: 2 },      // IPv6 peer not in the ingress trie
      ]);
      expect(out).toEqual([
        [VERDICT_ALLOW, REASON_POLICY, 0, 2],
        [VERDICT_DENY, REASON_DENY_EGRESS, 0, NO_REF],
        [VERDICT_DENY, REASON_DENY_EGRESS, NO_REF, NO_REF],
        [VERDICT_DENY, REASON_DENY_INGRESS, NO_REF, 3],
        [VERDICT_DENY, REASON_DENY_INGRESS, NO_REF, NO_REF],
        [VERDICT_ALLOW, REASON_POLICY, NO_REF, 3],
        [VERDICT_ALLOW, REASON_NOT_ISOLATED, NO_REF, NO_REF],
        [VERDICT_ALLOW, REASON_POLICY, 1, 2],
        [VERDICT_DENY, REASON_DENY_INGRESS, NO_REF, NO_REF],
      ]);
    } finally {
      c.close();
    }
  });
});

describe('native conntrack', () => {
  // a SYN opens a connection; its SYN-ACK answer is a reply that cannot open one by itself
  const fwd = { src: ip('10.0.1.1'), dst: ip('10.0.2.1'), proto: 6, sport: 40000, dport: 80, flags: PKT_F_SYN };
  const rev = { src: ip('10.0.2.1'), dst: ip('10.0.1.1'), proto: 6, sport: 80, dport: 40000, flags: PKT_F_SYN | PKT_F_ACK };

  it('lets replies of an allowed connection through, both ways, until reset', () => {
    const c = load(decisionPlan);
    try {
      // a reply alone is judged as a first packet: pod 1 has no egress policy, pod 0 no ingress one
      expect(run(c, [rev], true)[0]).toEqual([VERDICT_ALLOW, REASON_NOT_ISOLATED, NO_REF, NO_REF]);
      c.resetConntrack();
      const denied = { ...fwd, dport: 22 };
      const out = run(c, [denied, { ...denied, src: denied.dst, dst: denied.src, sport: 22, dport: 40000, flags: PKT_F_SYN | PKT_F_ACK }, fwd, rev, fwd], true);
      expect(out[0]![1]).toBe(REASON_DENY_EGRESS);
      // the denied connection was not tracked; its reverse is judged on its own (unisolated)
      // and, being a SYN-ACK, opens nothing
      expect(out[1]![1]).toBe(REASON_NOT_ISOLATED);
      expect(out[2]).toEqual([VERDICT_ALLOW, REASON_POLICY, 0, 2]);
      expect(out[3]).toEqual([VERDICT_ALLOW, REASON_ESTABLISHED, NO_REF, NO_REF]);
      expect(out[4]![1]).toBe(REASON_ESTABLISHED);
      expect(c.stats().ctEntries).toBe(1);
      c.resetConntrack();
      expect(c.stats().ctEntries).toBe(0);
      expect(run(c, [fwd], true)[0]![1]).toBe(REASON_POLICY);
      // stateless classification neither reads nor writes conntrack
      expect(run(c, [fwd], false)[0]![1]).toBe(REASON_POLICY);
      expect(c.stats().ctEntries).toBe(1);
    } finally {
      c.close();
    }
  });

  it('at its limit drops the oldest unassured connection, then refuses (drops) new ones when all are assured', () => {
    const c = load(decisionPlan, 16);
    try {
      const flows = Array.from({ length: 20 }, (_, i) => ({ ...fwd, sport: 1000 + i }));
      run(c, flows, true);
      // SYNs only: unassured, so each one past 14 (7/8 of 16) pushes out the oldest
      expect(c.stats()).toMatchObject({ ctEntries: 14, ctCapacity: 16, ctMax: 14, ctEarlyDrops: 6, ctInsertFailed: 0 });
      const again = run(c, flows.slice(6), true);
      expect(again.every((o) => o[1] === REASON_ESTABLISHED)).toBe(true);
      c.resetConntrack();
      // 14 handshakes (SYN, SYN-ACK, ACK): assured, nothing may go early
      const ack = PKT_F_ACK;
      for (const f of flows.slice(0, 14)) run(c, [f, { ...rev, sport: 80, dport: f.sport }, { ...f, flags: ack }], true);
      const full = run(c, flows.slice(14, 15), true)[0]!;
      expect(full[0]).toBe(VERDICT_DENY);
      expect(full[1]).toBe(6); // PF_REASON_CT_FULL
      expect(c.stats()).toMatchObject({ ctEntries: 14, ctInsertFailed: 1 });
      c.resetConntrack();
      expect(c.stats()).toMatchObject({ ctEntries: 0, ctInsertFailed: 0, ctEarlyDrops: 0 });
    } finally {
      c.close();
    }
  });

  it('refuses a capacity that is no power of two', () => {
    expect(() => createClassifier({ ctCapacity: 1000 })).toThrow(/power of two/);
    expect(() => createClassifier({ ctCapacity: 4 })).toThrow(/power of two/);
    const d = createClassifier();
    expect(d.stats().ctCapacity).toBe(1 << 20);
    d.close();
  });
});

describe('native load validation', () => {
  const good = encodeMaps(decisionPlan);
  type Args = Parameters<NativeClassifier['load']>;
  const args = (): Args => [good.podAddrs, good.podStates, good.trieCount, good.entryKeys, good.entryTries, good.entryValues, good.values, good.ext];
  const cases: [string, (a: Args) => void, RegExp][] = [
    ['podAddrs length', (a) => { a[0] = new Uint8Array(17); }, /podAddrs: byte length 17/],
    ['podStates length', (a) => { a[1] = new Uint32Array(3); }, /podStates: length 3, expected 8/],
    ['pod state bits', (a) => { a[1] = a[1].slice(); a[1][3] = 2; }, /podStates\[3\]/],
    ['pod trie past trieCount', (a) => { a[2] = 2; }, /podStates\[2\]: enforced pod has no trie/],
    ['duplicate pod', (a) => { a[0] = a[0].slice(); a[0].copyWithin(16, 0, 16); }, /podAddrs\[1\]: duplicate/],
    ['entryKeys length', (a) => { a[3] = new Uint8Array(30); }, /entryKeys: byte length 30/],
    ['prefixlen', (a) => { a[3] = a[3].slice(); new DataView(a[3].buffer).setUint32(40, 129, true); }, /entryKeys\[2\]: prefixlen/],
    ['entryTries length', (a) => { a[4] = new Uint32Array(1); }, /entryTries: length 1, expected 4/],
    ['entry trie', (a) => { a[4] = a[4].slice(); a[4][3] = 99; }, /entryTries\[3\]/],
    ['entry value', (a) => { a[5] = a[5].slice(); a[5][1] = 2; }, /entryValues\[1\]/],
    ['values length', (a) => { a[6] = new Uint8Array(201); }, /values: byte length 201/],
    ['value count', (a) => { a[6] = a[6].slice(); new DataView(a[6].buffer).setUint32(200, 5000, true); }, /values\[1\]: count/],
    ['value ext', (a) => { a[6] = a[6].slice(); new DataView(a[6].buffer).setUint32(200, 30, true); }, /values\[1\]: extension/],
    ['ext length', (a) => { a[7] = new Uint8Array(9); }, /ext: byte length 9/],
    ['array type', (a) => { (a as unknown[])[4] = new Int32Array(4); }, /entryTries: wrong type/],
  ];
  for (const [name, mutate, msg] of cases) {
    it(`refuses a bad ${name} and keeps the old maps`, () => {
      const c = load(decisionPlan);
      try {
        const a = args();
        mutate(a);
        let err: unknown;
        try { c.load(...a); } catch (e) { err = e; }
        expect(err).toBeInstanceOf(Error);
        expect((err as Error).message).toMatch(msg);
        if (!msg.source.includes('wrong type')) expect((err as { code?: string }).code).toBe('PFSIM_ERR_NATIVE');
        const out = run(c, [{ src: ip('10.0.1.1'), dst: ip('10.0.2.1'), proto: 6, sport: 1000, dport: 80 }]);
        expect(out[0]).toEqual([VERDICT_ALLOW, REASON_POLICY, 0, 2]);
      } finally {
        c.close();
      }
    });
  }

  it('checks batch sizes and refuses use after close', () => {
    const c = load(decisionPlan);
    expect(() => c.classifyBatch(new Uint8Array(79), 2, new Uint32Array(8), false)).toThrow(/pkts holds 1 packets/);
    expect(() => c.classifyBatch(new Uint8Array(80), 2, new Uint32Array(7), false)).toThrow(/out holds 1 verdicts/);
    expect(() => c.classifyBatch(new Uint8Array(81).subarray(1), 2, new Uint32Array(8), false)).toThrow(/even byte offset/);
    c.classifyBatch(new Uint8Array(0), 0, new Uint32Array(0), true);
    c.close();
    expect(() => c.stats()).toThrow(/closed/);
  });

  it('a classifier with nothing loaded isolates nothing', () => {
    const c = createClassifier({ ctCapacity: 8 });
    try {
      expect(run(c, [{ src: ip('10.0.1.1'), dst: ip('10.0.2.1'), proto: 6, sport: 1, dport: 2 }])[0]).toEqual([VERDICT_ALLOW, REASON_NOT_ISOLATED, NO_REF, NO_REF]);
    } finally {
      c.close();
    }
  });
});

describe('MapsEngine', () => {
  const plan: Plan = {
    version: 1,
    pods: [
      { id: 0, namespace: 'a', name: 'client', ips: ['10.0.1.1'], ingressIsolated: false, egressIsolated: true },
      { id: 1, namespace: 'b', name: 'server', ips: ['10.0.2.1', 'fd00::21'], ingressIsolated: true, egressIsolated: false },
      { id: 2, namespace: 'c', name: 'open', ips: ['10.0.3.1'], ingressIsolated: false, egressIsolated: false },
    ],
    rules: [
      { id: 0, source: 'a/allow-web', dir: 'egress', index: 0, pod: 0 },
      { id: 1, source: 'a/allow-v6', dir: 'egress', index: 1, pod: 0 },
      { id: 2, source: 'b/from-client', dir: 'ingress', index: 0, pod: 1 },
      { id: 3, source: 'b/from-c', dir: 'ingress', index: 1, pod: 1 },
    ],
    chain: { ipv4: { family: 4, entry: 'x', chains: [] }, ipv6: { family: 6, entry: 'x', chains: [] } },
    maps: decisionPlan,
  };

  it('classifies and describes each reason', () => {
    const e = new MapsEngine(plan, { stateful: true, ctCapacity: 64 });
    try {
      const pkts: PacketHeader[] = [
        { src: ip('10.0.1.1'), dst: ip('10.0.2.1'), proto: 6, sport: 1000, dport: 80, flags: PKT_F_SYN },
        { src: ip('10.0.2.1'), dst: ip('10.0.1.1'), proto: 6, sport: 80, dport: 1000, flags: PKT_F_SYN | PKT_F_ACK },
        { src: ip('10.0.1.1'), dst: ip('10.0.9.9'), proto: 6, sport: 1000, dport: 80 },
        { src: ip('10.0.1.1'), dst: ip('10.0.2.1'), proto: 6, sport: 1000, dport: 81 },
        { src: ip('10.0.4.1'), dst: ip('10.0.2.1'), proto: 6, sport: 1000, dport: 80 },
        { src: ip('10.0.3.1'), dst: ip('10.0.2.1'), proto: 6, sport: 1000, dport: 80 },
        { src: ip('10.0.3.1'), dst: ip('10.0.1.1'), proto: 17, sport: 1, dport: 2 },
      ];
      const buf = packetBatch(pkts.length);
      pkts.forEach((p, i) => writePacket(buf, i, p));
      const out = new Uint32Array(pkts.length * OUT_WORDS);
      e.classify(buf, pkts.length, out);
      expect(pkts.map((_, i) => e.describe(buf, out, i))).toEqual([
        'allowed by a/allow-web egress, allowed by b/from-client ingress',
        'established',
        'default deny egress a/client',
        'default deny egress a/client',
        'default deny ingress b/server',
        'allowed by b/from-c ingress',
        'not isolated',
      ]);
      e.resetState();
      const reply = buf.subarray(40);
      e.classify(reply, 1, out);
      expect(e.describe(reply, out, 0)).toBe('not isolated');
    } finally {
      e.close();
    }
  });

  it('wraps a bad capacity and a bad plan in PfsimError', () => {
    expect(() => new MapsEngine(plan, { stateful: false, ctCapacity: 3 })).toThrow(PfsimError);
    const bad: Plan = { ...plan, maps: { ...decisionPlan, podState: [{ ip: '10.0.0.300', pod: 0, ingress: 0, egress: 0 }] } };
    expect(() => new MapsEngine(bad, { stateful: false })).toThrow(expect.objectContaining({ code: 'PFSIM_ERR_COMPILE' }));
  });
});
