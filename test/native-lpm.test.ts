/**
 * The native LPM tables against a brute-force longest-prefix match: random IPv4/IPv6 prefix
 * sets with nesting, /0, host routes and except holes, probed at random addresses and at
 * every interval boundary.
 */
import { describe, expect, it } from 'vitest';
import { encodeMaps } from '../src/compile/layout.js';
import type { LpmEntry, MapsPlan, PortEntry } from '../src/compile/plan.js';
import { PROTO_ANY } from '../src/compile/plan.js';
import { NO_REF, OUT_WORDS, REASON_DENY_EGRESS, REASON_DENY_INGRESS, REASON_ESTABLISHED, REASON_POLICY } from '../src/engines/engine.js';
import { createClassifier, type NativeClassifier } from '../src/engines/native.js';
import { packetBatch, writePacket } from '../src/engines/packet.js';
import { formatCidr, maskOf, parseCidr, parseIp, V4_MAPPED_BASE, type Cidr } from '../src/net/ip.js';

const ALL = (1n << 128n) - 1n;
const V4_HI = V4_MAPPED_BASE | 0xffffffffn;

/** splitmix-style seeded generator of 32-bit integers */
function rng(seed: number): () => number {
  let s = BigInt(seed) & 0xffffffffffffffffn;
  return () => {
    s = (s + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = s;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    return Number((z ^ (z >> 31n)) & 0xffffffffn);
  };
}

function rand128(next: () => number): bigint {
  return (BigInt(next()) << 96n) | (BigInt(next()) << 64n) | (BigInt(next()) << 32n) | BigInt(next());
}

const VALUES: PortEntry[][] = [
  [{ proto: PROTO_ANY, start: 0, end: 65535 }],
  [], // an except hole: the entry is found, nothing is allowed
  [{ proto: 6, start: 80, end: 80 }],
];

function cidr(addr: bigint, len: number): Cidr {
  const a = addr & maskOf(len);
  return { addr: a, len, family: len >= 96 && a >> 32n === 0xffffn ? 4 : 6 };
}

/** a random prefix set: IPv4 and IPv6, /0s, host routes, and prefixes nested in others */
function randomPrefixes(next: () => number, n: number): Cidr[] {
  const out: Cidr[] = [];
  const seen = new Set<string>();
  const add = (c: Cidr) => {
    // IPv6 blocks inside ::ffff:0:0/96 are not writable in the plan (parseCidr refuses them)
    if (c.family === 6 && c.len >= 96 && c.addr >> 32n === 0xffffn) return;
    const s = formatCidr(c);
    if (!parseCidr(s).ok || seen.has(s)) return;
    seen.add(s);
    out.push(c);
  };
  add(cidr(0n, 0));
  add(cidr(V4_MAPPED_BASE, 96));
  add(cidr(0n, 80));
  while (out.length < n) {
    const r = next() % 10;
    if (r < 4) {
      // IPv4, biased towards a few /8s so that prefixes nest
      const len = [8, 16, 24, 32, 12, 20, 28, 30, 31, 0][next() % 10]!;
      const a = ((next() % 4) << 24) | (next() & 0xffffff);
      add(cidr(V4_MAPPED_BASE | BigInt(a >>> 0), 96 + len));
    } else if (r < 7) {
      const len = [0, 1, 16, 32, 48, 64, 96, 112, 127, 128][next() % 10]!;
      const a = (BigInt(0xfd00 + (next() % 3)) << 112n) | (rand128(next) & ((1n << 112n) - 1n));
      add(cidr(next() % 5 === 0 ? rand128(next) : a, len));
    } else if (out.length > 0) {
      // a child of an existing prefix
      const p = out[next() % out.length]!;
      if (p.len === 128) continue;
      const len = p.len + 1 + (next() % (128 - p.len));
      add(cidr(p.addr | (rand128(next) & ~maskOf(p.len) & ALL), len));
    }
  }
  return out;
}

interface Tries { plan: MapsPlan; pods: bigint[]; perTrie: { id: number; prefixes: Cidr[]; firstEntry: number }[] }

/** pods 0..k-1, each ingress- and egress-isolated, with its own random tries */
function buildPlan(seed: number, pods: number, perTrie: number): Tries {
  const next = rng(seed);
  const podIps: bigint[] = [];
  const tries: { id: number; pod: number; dir: 'ingress' | 'egress'; entries: LpmEntry[] }[] = [];
  const meta: Tries['perTrie'] = [];
  let entryId = 0;
  for (let p = 0; p < pods; p++) {
    podIps.push(V4_MAPPED_BASE | BigInt(0x64400000 + p)); // 100.64.0.p
    for (const dir of ['ingress', 'egress'] as const) {
      const id = p * 2 + (dir === 'ingress' ? 0 : 1);
      const prefixes = randomPrefixes(next, perTrie).sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : a.len - b.len));
      const entries = prefixes.map((c, i) => ({ prefix: formatCidr(c), value: i % VALUES.length, rules: [] }));
      tries.push({ id, pod: p, dir, entries });
      meta.push({ id, prefixes, firstEntry: entryId });
      entryId += entries.length;
    }
  }
  const podState = podIps.map((a, p) => ({ ip: `100.64.0.${p}`, pod: p, ingress: 1 as const, egress: 1 as const }));
  return { plan: { podState, tries, values: VALUES }, pods: podIps, perTrie: meta };
}

function load(plan: MapsPlan): NativeClassifier {
  const l = encodeMaps(plan);
  const c = createClassifier({ ctCapacity: 1024 });
  c.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
  return c;
}

/** brute force: index (in `prefixes`) of the longest prefix covering addr, or -1 */
function bruteLpm(prefixes: Cidr[], addr: bigint): number {
  let best = -1;
  prefixes.forEach((c, i) => {
    if ((addr & maskOf(c.len)) === c.addr && (best < 0 || c.len > prefixes[best]!.len)) best = i;
  });
  return best;
}

/** the same answer as bruteLpm, from one hash per prefix length: for tries too big to scan */
function lpmIndex(prefixes: Cidr[]): (addr: bigint) => number {
  const byLen = new Map<number, Map<bigint, number>>();
  prefixes.forEach((c, i) => {
    let m = byLen.get(c.len);
    if (!m) byLen.set(c.len, (m = new Map()));
    m.set(c.addr, i);
  });
  const lens = [...byLen.keys()].sort((a, b) => b - a);
  return (a) => {
    for (const l of lens) {
      const i = byLen.get(l)!.get(a & maskOf(l));
      if (i !== undefined) return i;
    }
    return -1;
  };
}

/** n distinct IPv4 host routes and /24s spread over the whole space: a trie of tables over 1 MiB */
function bulkPrefixes(next: () => number, n: number): Cidr[] {
  const out: Cidr[] = [];
  const seen = new Set<string>();
  while (out.length < n) {
    const c = cidr(V4_MAPPED_BASE | BigInt(next() >>> 0), next() % 8 === 0 ? 120 : 128);
    const k = formatCidr(c);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(c);
  }
  return out.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : a.len - b.len));
}

/** probe addresses: random ones plus both sides of every prefix's ends */
function probes(next: () => number, prefixes: Cidr[], random: number): bigint[] {
  const out: bigint[] = [0n, ALL, V4_MAPPED_BASE, V4_MAPPED_BASE - 1n, V4_HI, V4_HI + 1n];
  for (const c of prefixes) {
    const end = c.addr | (~maskOf(c.len) & ALL);
    for (const a of [c.addr - 1n, c.addr, c.addr + 1n, end - 1n, end, end + 1n]) if (a >= 0n && a <= ALL) out.push(a);
  }
  for (let i = 0; i < random; i++) {
    const r = next() % 3;
    out.push(r === 0 ? V4_MAPPED_BASE | BigInt(((next() % 4) << 24 | (next() & 0xffffff)) >>> 0) : r === 1 ? rand128(next) : (BigInt(0xfd00 + (next() % 3)) << 112n) | (rand128(next) & ((1n << 112n) - 1n)));
  }
  return out;
}

/** classifies one packet per address in one direction of pod p; returns out */
function classifyAll(c: NativeClassifier, pod: bigint, addrs: bigint[], dir: 'ingress' | 'egress'): Uint32Array {
  const pkts = packetBatch(addrs.length);
  addrs.forEach((a, i) => {
    writePacket(pkts, i, dir === 'ingress' ? { src: a, dst: pod, proto: 6, sport: 1234, dport: 80 } : { src: pod, dst: a, proto: 6, sport: 1234, dport: 80 });
  });
  const out = new Uint32Array(addrs.length * OUT_WORDS);
  c.classifyBatch(pkts, addrs.length, out, false);
  return out;
}

describe('native LPM', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`matches brute-force longest-prefix match (seed ${seed})`, () => {
      const t = buildPlan(seed, 3, 150);
      const c = load(t.plan);
      const next = rng(seed * 7919);
      try {
        for (const trie of t.perTrie) {
          const pod = t.pods[trie.id >> 1]!;
          const dir = trie.id & 1 ? 'egress' : 'ingress';
          const addrs = probes(next, trie.prefixes, 400).filter((a) => a !== pod);
          const out = classifyAll(c, pod, addrs, dir);
          addrs.forEach((a, i) => {
            const best = bruteLpm(trie.prefixes, a);
            const want = best < 0 ? NO_REF : trie.firstEntry + best;
            const o = i * OUT_WORDS;
            // the other side is the pod itself, which is isolated too; only the probed side counts
            if (dir === 'egress') {
              expect(out[o + 2], `egress ${a.toString(16)}`).toBe(want);
              if (best < 0 || best % VALUES.length === 1) expect(out[o + 1]).toBe(REASON_DENY_EGRESS);
            } else if (out[o + 1] !== REASON_DENY_EGRESS) {
              expect(out[o + 3], `ingress ${a.toString(16)}`).toBe(want);
              expect(out[o + 1]).toBe(best < 0 || best % VALUES.length === 1 ? REASON_DENY_INGRESS : REASON_POLICY);
            }
          });
        }
      } finally {
        c.close();
      }
    });
  }

  it('handles large tries (radix buckets, 5k prefixes) and host routes only', () => {
    const next = rng(99);
    const prefixes: Cidr[] = [];
    const seen = new Set<bigint>();
    while (prefixes.length < 5000) {
      const a = V4_MAPPED_BASE | BigInt(0x0a000000 + (next() % 65536));
      if (seen.has(a)) continue;
      seen.add(a);
      prefixes.push(cidr(a, 128));
    }
    prefixes.sort((a, b) => (a.addr < b.addr ? -1 : 1));
    const plan: MapsPlan = {
      podState: [{ ip: '192.168.0.1', pod: 0, ingress: 1, egress: 0 }],
      tries: [{ id: 0, pod: 0, dir: 'ingress', entries: prefixes.map((p) => ({ prefix: formatCidr(p), value: 0, rules: [] })) }],
      values: VALUES,
    };
    const c = load(plan);
    try {
      const addrs = probes(next, prefixes.slice(0, 500), 2000).concat([...seen].slice(0, 1000));
      const pod = parseIp('192.168.0.1')!;
      const out = classifyAll(c, pod, addrs, 'ingress');
      addrs.forEach((a, i) => {
        const best = bruteLpm(prefixes, a);
        expect(out[i * OUT_WORDS + 3]).toBe(best < 0 ? NO_REF : best);
      });
      expect(c.stats().lpmBytes).toBeGreaterThan(0);
    } finally {
      c.close();
    }
  });

  it('handles clustered prefixes that crowd radix buckets (child nodes and sorted runs)', () => {
    const next = rng(4242);
    const prefixes: Cidr[] = [];
    const seen = new Set<string>();
    const add = (c: Cidr) => {
      const k = formatCidr(c);
      if (!seen.has(k)) { seen.add(k); prefixes.push(c); }
    };
    // far-apart outliers stretch the root radix over the whole space
    add(cidr(V4_MAPPED_BASE | 0x01000000n, 104));
    add(cidr(V4_MAPPED_BASE | 0xfe000000n, 104));
    // dense clusters: consecutive host routes, nested /28../31 blocks, one /16 around them
    add(cidr(V4_MAPPED_BASE | 0x0a0a0000n, 112));
    for (let i = 0; i < 600; i++) add(cidr(V4_MAPPED_BASE | BigInt(0x0a0a0100 + i), 128));
    for (let i = 0; i < 300; i++) add(cidr(V4_MAPPED_BASE | BigInt(0x0a0a4000 + (next() % 4096)), 124 + (next() % 4)));
    for (let i = 0; i < 300; i++) add(cidr(V4_MAPPED_BASE | BigInt(0xc0a80000 + 2 * i), 127));
    prefixes.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : a.len - b.len));
    const plan: MapsPlan = {
      podState: [{ ip: '192.168.255.1', pod: 0, ingress: 1, egress: 0 }],
      tries: [{ id: 0, pod: 0, dir: 'ingress', entries: prefixes.map((p, i) => ({ prefix: formatCidr(p), value: i % VALUES.length, rules: [] })) }],
      values: VALUES,
    };
    const c = load(plan);
    try {
      const addrs = probes(next, prefixes, 500);
      for (let i = 0; i < 2000; i++) addrs.push(V4_MAPPED_BASE | BigInt(0x0a0a0000 + (next() % 0x10000)));
      const out = classifyAll(c, parseIp('192.168.255.1')!, addrs, 'ingress');
      addrs.forEach((a, i) => {
        const best = bruteLpm(prefixes, a);
        expect(out[i * OUT_WORDS + 3], a.toString(16)).toBe(best < 0 ? NO_REF : best);
      });
    } finally {
      c.close();
    }
  });

  it('matches brute-force LPM when the tables outgrow the cache and lookups are walked in groups', () => {
    // the random tries of three pods plus a bulky fourth one: over 1 MiB of tables in all, so
    // every batch resolves its lookups a group at a time, walking the tables with prefetches
    const t = buildPlan(5, 3, 150);
    const next = rng(5 * 7919);
    const bulk = bulkPrefixes(next, 60000);
    const bulkPod = V4_MAPPED_BASE | 0x64400003n; // 100.64.0.3
    const firstBulk = t.perTrie.reduce((n, tr) => n + t.plan.tries.find((x) => x.id === tr.id)!.entries.length, 0);
    const plan: MapsPlan = {
      ...t.plan,
      podState: [...t.plan.podState, { ip: '100.64.0.3', pod: 3, ingress: 1, egress: 0 }],
      tries: [...t.plan.tries, { id: 6, pod: 3, dir: 'ingress', entries: bulk.map((c, i) => ({ prefix: formatCidr(c), value: i % VALUES.length, rules: [] })) }],
    };
    const c = load(plan);
    try {
      expect(c.stats().lpmBytes).toBeGreaterThan(2 << 20);
      for (const trie of t.perTrie) {
        const pod = t.pods[trie.id >> 1]!;
        const dir = trie.id & 1 ? 'egress' : 'ingress';
        const addrs = probes(next, trie.prefixes, 400).filter((a) => a !== pod && a !== bulkPod);
        const out = classifyAll(c, pod, addrs, dir);
        addrs.forEach((a, i) => {
          const best = bruteLpm(trie.prefixes, a);
          const o = i * OUT_WORDS;
          if (dir === 'egress') expect(out[o + 2], `egress ${a.toString(16)}`).toBe(best < 0 ? NO_REF : trie.firstEntry + best);
          else if (out[o + 1] !== REASON_DENY_EGRESS) expect(out[o + 3], `ingress ${a.toString(16)}`).toBe(best < 0 ? NO_REF : trie.firstEntry + best);
        });
      }
      // the bulky trie, at its interval ends and at random
      const find = lpmIndex(bulk);
      const addrs = probes(next, bulk.slice(0, 3000), 3000).filter((a) => a !== bulkPod);
      for (let i = 0; i < 3000; i++) addrs.push(bulk[next() % bulk.length]!.addr | BigInt(next() & 0xff));
      const out = classifyAll(c, bulkPod, addrs, 'ingress');
      addrs.forEach((a, i) => {
        const best = find(a);
        expect(out[i * OUT_WORDS + 3], a.toString(16)).toBe(best < 0 ? NO_REF : firstBulk + best);
        expect(out[i * OUT_WORDS + 1]).toBe(best < 0 || best % VALUES.length === 1 ? REASON_DENY_INGRESS : REASON_POLICY);
      });
      // pod to pod: one packet walks the source pod's egress trie and the destination's ingress trie
      const pairs: [number, number][] = [[0, 1], [1, 2], [2, 0], [0, 3], [1, 3]];
      const pkts = packetBatch(pairs.length);
      pairs.forEach(([s, d], i) => writePacket(pkts, i, { src: t.pods[s] ?? bulkPod, dst: d === 3 ? bulkPod : t.pods[d]!, proto: 6, sport: 1234, dport: 80 }));
      const pout = new Uint32Array(pairs.length * OUT_WORDS);
      c.classifyBatch(pkts, pairs.length, pout, false);
      pairs.forEach(([s, d], i) => {
        const eg = t.perTrie.find((x) => x.id === s * 2 + 1)!;
        const dst = d === 3 ? bulkPod : t.pods[d]!;
        const e = bruteLpm(eg.prefixes, dst);
        expect(pout[i * OUT_WORDS + 2]).toBe(e < 0 ? NO_REF : eg.firstEntry + e);
        if (e < 0 || e % VALUES.length === 1) return expect(pout[i * OUT_WORDS + 1]).toBe(REASON_DENY_EGRESS);
        const src = t.pods[s]!;
        const ing = d === 3 ? { prefixes: bulk, firstEntry: firstBulk } : t.perTrie.find((x) => x.id === d * 2)!;
        const n = d === 3 ? find(src) : bruteLpm(ing.prefixes, src);
        expect(pout[i * OUT_WORDS + 3]).toBe(n < 0 ? NO_REF : ing.firstEntry + n);
      });
    } finally {
      c.close();
    }
  });

  it('walked in groups, statefully: allowed connections are tracked, denied ones judged anew', () => {
    const next = rng(77);
    const bulk = bulkPrefixes(next, 60000);
    const plan: MapsPlan = {
      podState: [{ ip: '192.168.0.1', pod: 0, ingress: 1, egress: 0 }],
      tries: [{ id: 0, pod: 0, dir: 'ingress', entries: bulk.map((c, i) => ({ prefix: formatCidr(c), value: i % VALUES.length, rules: [] })) }],
      values: VALUES,
    };
    const c = load(plan);
    try {
      expect(c.stats().lpmBytes).toBeGreaterThan(2 << 20);
      const find = lpmIndex(bulk);
      // 1000 packets: not a multiple of the group size
      const addrs = Array.from({ length: 1000 }, (_, i) => (i % 2 ? V4_MAPPED_BASE | BigInt(next() >>> 0) : bulk[next() % bulk.length]!.addr));
      const pkts = packetBatch(addrs.length);
      // SYN: a connection's first packet, which may open it
      addrs.forEach((a, i) => writePacket(pkts, i, { src: a, dst: parseIp('192.168.0.1')!, proto: 6, sport: 1000 + i, dport: 80, flags: 2 }));
      const out = new Uint32Array(addrs.length * OUT_WORDS);
      for (const pass of [0, 1]) {
        c.classifyBatch(pkts, addrs.length, out, true);
        addrs.forEach((a, i) => {
          const best = find(a);
          const allowed = best >= 0 && best % VALUES.length !== 1;
          const o = i * OUT_WORDS;
          if (pass === 1 && allowed) return expect(out[o + 1]).toBe(REASON_ESTABLISHED);
          expect(out[o + 1], a.toString(16)).toBe(allowed ? REASON_POLICY : REASON_DENY_INGRESS);
          expect(out[o + 3]).toBe(best < 0 ? NO_REF : best);
        });
      }
    } finally {
      c.close();
    }
  });

  it('splits crowded spans into blocks, wide blocks, indexes and tables at every size', () => {
    // one cluster per /16 with about 2k intervals for k around every capacity (a block holds
    // 5, a wide block 11, an index 176), some inside a /24 or a /28 so that tables nest; and
    // both ends of the space
    const next = rng(31337);
    const prefixes: Cidr[] = [];
    const seen = new Set<string>();
    const add = (c: Cidr) => {
      const k = formatCidr(c);
      if (!seen.has(k)) { seen.add(k); prefixes.push(c); }
    };
    const v4 = (a: number, len: number) => cidr(V4_MAPPED_BASE | BigInt(a >>> 0), 96 + len);
    add(v4(0, 32));
    add(v4(0xffffffff, 32));
    add(v4(0xfffffffe, 31));
    add(v4(0, 1));
    const sizes = [1, 2, 3, 4, 5, 6, 9, 10, 11, 40, 79, 80, 81, 82, 86, 87, 88, 89, 160, 176, 177, 400, 1000, 3000];
    sizes.forEach((k, j) => {
      const base = (0x0b000000 + j * 0x10000) >>> 0;
      // k host routes, every other address: 2k intervals, nested in a /20 and a /26
      for (let i = 0; i < k; i++) add(v4(base + 2 * i, 32));
      add(v4(base, 20));
      add(v4(base, 26));
      // the same count packed into a /28 .. /24 of another /16, nested /30s around pairs
      const dense = (0x2c000000 + j * 0x10000 + 0x1230) >>> 0;
      for (let i = 0; i < k; i++) add(v4(dense + i * 3, i % 4 === 0 ? 30 : 32));
    });
    // random nesting inside one /8
    for (let i = 0; i < 2000; i++) add(v4((0x5a000000 | (next() & 0xffffff)) >>> 0, 8 + (next() % 25)));
    prefixes.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : a.len - b.len));
    const plan: MapsPlan = {
      podState: [{ ip: 'fd00::1', pod: 0, ingress: 1, egress: 0 }],
      tries: [{ id: 0, pod: 0, dir: 'ingress', entries: prefixes.map((p, i) => ({ prefix: formatCidr(p), value: i % VALUES.length, rules: [] })) }],
      values: VALUES,
    };
    const c = load(plan);
    try {
      const find = lpmIndex(prefixes);
      const addrs = probes(next, prefixes, 2000);
      for (let i = 0; i < 4000; i++) addrs.push(prefixes[next() % prefixes.length]!.addr + BigInt(next() % 300));
      const out = classifyAll(c, parseIp('fd00::1')!, addrs, 'ingress');
      addrs.forEach((a, i) => {
        const best = find(a);
        expect(out[i * OUT_WORDS + 3], a.toString(16)).toBe(best < 0 ? NO_REF : best);
      });
    } finally {
      c.close();
    }
  });

  it('ignores host bits past the prefix length and lets the later duplicate win', () => {
    const l = encodeMaps({
      podState: [{ ip: '192.168.0.1', pod: 0, ingress: 1, egress: 0 }],
      tries: [{ id: 0, pod: 0, dir: 'ingress', entries: [{ prefix: '10.0.0.0/8', value: 0, rules: [] }, { prefix: '10.0.0.0/8', value: 0, rules: [] }] }],
      values: VALUES,
    });
    // write host bits into the second key: 10.1.2.3/8 must act as 10.0.0.0/8
    l.entryKeys.set([10, 1, 2, 3], 20 + 4 + 12);
    const c = createClassifier({ ctCapacity: 64 });
    try {
      c.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
      const out = classifyAll(c, parseIp('192.168.0.1')!, [parseIp('10.200.0.1')!, parseIp('11.0.0.0')!], 'ingress');
      expect(out[3]).toBe(1);
      expect(out[OUT_WORDS + 3]).toBe(NO_REF);
    } finally {
      c.close();
    }
  });

  it('an isolated pod with an empty trie denies everything', () => {
    const c = load({ podState: [{ ip: 'fd00::1', pod: 0, ingress: 1, egress: 1 }], tries: [], values: [] });
    try {
      const out = classifyAll(c, parseIp('fd00::1')!, [parseIp('10.0.0.1')!, parseIp('fd00::2')!], 'ingress');
      expect([...out]).toEqual([2, REASON_DENY_INGRESS, NO_REF, NO_REF, 2, REASON_DENY_INGRESS, NO_REF, NO_REF]);
    } finally {
      c.close();
    }
  });
});
