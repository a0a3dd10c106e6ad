/**
 * Benchmark workloads: generated clusters whose policies draw CIDRs, port ranges and protocols
 * from the public ClassBench filter sets (shared/data/classbench), so prefix-length and port
 * mixes are realistic; and traffic aimed at them. Deterministic for a given size and seed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cluster, NetworkPolicy, Pod, PolicyRule, L4Proto } from '../src/cluster/model.js';
import { METADATA_NAME_LABEL } from '../src/cluster/model.js';
import { type Cidr, parseIp, maskOf, V4_MAPPED_BASE } from '../src/net/ip.js';
import type { PacketHeader } from '../src/engines/packet.js';

export interface FilterRule {
  readonly src: Cidr;
  readonly proto: 6 | 17 | undefined;
  readonly dport: readonly [number, number];
}

/** A small fast deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The same stream as rng(seed), as u32 integers. */
export function rngU32(seed: number): () => number {
  const next = rng(seed);
  return () => (next() * 4294967296) >>> 0;
}

function classbenchDir(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let d = here; d !== dirname(d); d = dirname(d)) {
    const c = join(d, '..', 'shared', 'data', 'classbench');
    if (existsSync(join(d, 'package.json')) && existsSync(c)) return resolve(c);
  }
  return undefined;
}

/** Reads ClassBench rules (source prefix, protocol, destination port range); [] if absent. */
export function loadClassBench(name: string): FilterRule[] {
  const dir = classbenchDir();
  if (!dir || !existsSync(join(dir, name))) return [];
  const out: FilterRule[] = [];
  for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
    const f = line.split('\t');
    if (f.length < 5 || !f[0]!.startsWith('@')) continue;
    const [ip, len] = f[0]!.slice(1).split('/');
    const addr = parseIp(ip!);
    if (addr === undefined) continue;
    // ClassBench ACLs hold thousands of 0.0.0.0/0 rules; NetworkPolicy ipBlocks that wide are
    // rare (and one would allow everything), so blocks wider than /8 are left out
    if (Number(len) < 8) continue;
    const l = Number(len) + 96;
    const src: Cidr = { addr: addr & maskOf(l), len: l, family: 4 };
    const [lo, hi] = f[3]!.split(':').map((s) => Number(s.trim()));
    const p = parseInt(f[4]!.split('/')[0]!, 16);
    out.push({ src, proto: p === 17 ? 17 : p === 6 ? 6 : p === 0 ? undefined : 17, dport: [lo!, hi!] });
  }
  return out;
}

/** `n` filter rules: ClassBench sets in turn, then copies shifted into other /8s. */
export function filterRules(n: number, seed = 1): FilterRule[] {
  const base = [...loadClassBench('acl_10k'), ...loadClassBench('fw_10k'), ...loadClassBench('ipc_10k')];
  const r = rng(seed);
  if (base.length === 0) {
    // no data set: a seeded mix of /8../32 (ClassBench-like weight on /32 and /24)
    const lens = [32, 32, 32, 31, 24, 24, 23, 16, 8];
    for (let i = 0; i < 10000; i++) {
      const l = lens[Math.floor(r() * lens.length)]! + 96;
      const addr = (V4_MAPPED_BASE | BigInt(Math.floor(r() * 2 ** 32))) & maskOf(l);
      const p = Math.floor(r() * 1024) + 1;
      base.push({ src: { addr, len: l, family: 4 }, proto: r() < 0.8 ? 6 : 17, dport: [p, p] });
    }
  }
  // distinct prefixes, so n rules make about n LPM entries
  const out: FilterRule[] = [];
  const seen = new Set<bigint>();
  for (let i = 0; out.length < n; i++) {
    const b = base[i % base.length]!;
    const copy = Math.floor(i / base.length);
    let f = b;
    if (copy > 0) {
      // shift the first octet so copies are distinct prefixes
      const a4 = Number(b.src.addr & 0xffffffffn);
      const shifted = ((((a4 >>> 24) + copy * 37) & 0xff) << 24 | (a4 & 0xffffff)) >>> 0;
      f = { ...b, src: { ...b.src, addr: (V4_MAPPED_BASE | BigInt(shifted)) & maskOf(b.src.len) } };
    }
    const key = (f.src.addr << 8n) | BigInt(f.src.len);
    if (seen.has(key)) {
      if (i > 1000 * n + 100000) throw new Error(`cannot draw ${n} distinct prefixes`);
      continue;
    }
    seen.add(key);
    out.push(f);
  }
  return out;
}

export const BENCH_SERVER_IP = '10.96.0.10';
export const BENCH_SERVER_IP6 = 'fd00:96::10';
export const BENCH_NODE_IP = '172.30.0.1';

function toRule(f: FilterRule): PolicyRule {
  const from = [{ ipBlock: { cidr: f.src, except: [] } }];
  if (f.proto === undefined) return { peers: from, ports: [] };
  const protocol: L4Proto = f.proto === 6 ? 'TCP' : 'UDP';
  const [lo, hi] = f.dport;
  if (lo <= 1 && hi === 65535) return { peers: from, ports: [{ protocol }] };
  const port = Math.max(lo, 1);
  return { peers: from, ports: [hi > port ? { protocol, port, endPort: hi } : { protocol, port }] };
}

/**
 * The IPv6 twin of an IPv4 filter: the 32 address bits placed after a /16 of public space
 * (2600::/16), so /8../32 become /24../48 and the prefix-length mix is kept.
 */
export function v6Twin(f: FilterRule): FilterRule {
  const a4 = f.src.addr & 0xffffffffn;
  const l = f.src.len - 96 + 16;
  return { ...f, src: { addr: ((0x2600n << 112n) | (a4 << 80n)) & maskOf(l), len: l, family: 6 } };
}

export interface ScaleOptions {
  /** the server pod has an IPv6 address too, and every fifth filter becomes its IPv6 twin */
  readonly dualStack?: boolean;
}

/**
 * One server pod isolated for ingress by one policy with `n` ingress rules (one ClassBench
 * filter each), and a node. The chain walks about 2n rules for a packet no rule allows.
 */
export function scaleCluster(n: number, seed = 1, opts: ScaleOptions = {}): { cluster: Cluster; rules: FilterRule[] } {
  const rules = opts.dualStack ? filterRules(n, seed).map((f, i) => (i % 5 === 4 ? v6Twin(f) : f)) : filterRules(n, seed);
  const ips = opts.dualStack ? [parseIp(BENCH_SERVER_IP)!, parseIp(BENCH_SERVER_IP6)!] : [parseIp(BENCH_SERVER_IP)!];
  const server: Pod = {
    namespace: 'bench', name: 'server', labels: { app: 'server' }, ips,
    nodeName: 'bench-node', hostNetwork: false, ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
  };
  const policy: NetworkPolicy = {
    namespace: 'bench', name: `allow-${n}`, podSelector: { matchLabels: { app: 'server' }, matchExpressions: [] },
    policyTypes: ['ingress'], ingress: rules.map(toRule), egress: [],
  };
  return {
    rules,
    cluster: {
      namespaces: [{ name: 'bench', labels: { [METADATA_NAME_LABEL]: 'bench' } }],
      pods: [server],
      nodes: [{ name: 'bench-node', addresses: [parseIp(BENCH_NODE_IP)!] }],
      policies: [policy],
    },
  };
}

/** Source addresses no router forwards: this network, loopback, link-local, multicast, reserved. */
export function isMartian(a: number): boolean {
  const o1 = a >>> 24, o2 = (a >>> 16) & 0xff;
  return o1 === 0 || o1 === 127 || o1 >= 224 || (o1 === 169 && o2 === 254);
}

/** Packets to the server: half from inside a random rule's block on its ports, half random. */
export function scaleTraffic(rules: readonly FilterRule[], count: number, seed = 2): PacketHeader[] {
  const r = rng(seed);
  const dst = parseIp(BENCH_SERVER_IP)!;
  const out: PacketHeader[] = [];
  for (let i = 0; out.length < count; i++) {
    const f = rules[Math.floor(r() * rules.length)]!;
    const inside = r() < 0.5;
    const hostBits = 128 - f.src.len;
    const src = inside
      ? f.src.addr | (BigInt(Math.floor(r() * 2 ** Math.min(hostBits, 32))) & ((1n << BigInt(hostBits)) - 1n))
      : V4_MAPPED_BASE | BigInt(Math.floor(r() * 2 ** 32));
    const proto = inside ? f.proto ?? 6 : r() < 0.8 ? 6 : 17;
    const dport = inside ? f.dport[0] + Math.floor(r() * (f.dport[1] - f.dport[0] + 1)) : Math.floor(r() * 65536);
    const sport = 1024 + Math.floor(r() * 60000);
    // a kernel drops martian sources whatever the rules say; real traffic has none
    if (isMartian(Number(src & 0xffffffffn))) continue;
    out.push({ src, dst, proto, sport, dport: Math.max(dport, 1) });
  }
  return out;
}

