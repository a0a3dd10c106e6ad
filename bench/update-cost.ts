/**
 * The policy-update cost at one scale, in this (fresh) process: one policy of the scale
 * workload changes (an ipBlock peer with an except and a port is added to it), and the change
 * is applied to dataplanes loaded with the old plan:
 *
 *   iptables  `iptables-legacy-restore --noflush` of the changed chains (src/compile/delta.ts)
 *             into the node namespace of a private testbed holding the whole old ruleset.
 *             Calico sends only changed chains, but legacy x_tables still reads the whole
 *             table from the kernel and writes the whole blob back: the pain point.
 *   nft       the same payload through `iptables-nft-restore --noflush` (one netlink batch).
 *   bpf       the map operations (LPM trie key updates and deletes per pod and direction, pod
 *             records) on the loaded tc program's maps, in ONE addon call that issues every
 *             bpf_map_update_elem / bpf_map_delete_elem, as the VPC CNI agent does from Go.
 *
 * What is timed: for iptables and nft the restore tool's run, fork to exit, measured inside the
 * namespace (bash $EPOCHREALTIME); for bpf the addon call. Computing the delta and laying it out
 * are not timed for either. Between repeats the old state is put back, untimed: a full restore
 * of the old ruleset, or the reverse map delta. After the last repeat, the updated dataplane's
 * verdicts on packets aimed at every changed key (and sample traffic) must equal the chain
 * engine's on the new plan, or the run fails: a figure is only reported for a correct update.
 *
 *   node dist/bench/update-cost.js --scale 1000 [--repeats 3] [--json] [--engines iptables,nft,bpf]
 * Prints a summary, then one JSON line (an UpdateCost, src/report/schema.ts); --json prints the
 * JSON line only.
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Cluster, NetworkPolicy, PolicyRule } from '../src/cluster/model.js';
import { compile } from '../src/compile/index.js';
import {
  chainDeltaEmpty, diffMaps, diffPlans, planAfter, renderChainDelta, type PlanDelta,
} from '../src/compile/delta.js';
import { renderIptables } from '../src/compile/iptables.js';
import type { Plan, PortEntry } from '../src/compile/plan.js';
import { PROTO_ANY } from '../src/compile/plan.js';
import { BpfEngine } from '../src/engines/bpf.js';
import { ChainEngine } from '../src/engines/chain.js';
import { type Engine, OUT_WORDS, verdictName } from '../src/engines/engine.js';
import { engineAvailability } from '../src/engines/index.js';
import { IptablesEngine, NftEngine } from '../src/engines/netfilter.js';
import { packetBatch, PKT_F_SYN, writePacket, type PacketHeader } from '../src/engines/packet.js';
import { cidrContainsAddr, familyOf, maskOf, parseCidr, parseIp, type Cidr } from '../src/net/ip.js';
import type { Spread, UpdateCost } from '../src/report/schema.js';
import { filtersFor, workloadCluster } from './suite.js';
import { isMartian, scaleCluster, scaleTraffic } from './workloads.js';

export type UpdateEngine = 'iptables' | 'nft' | 'bpf';
export const UPDATE_ENGINES: readonly UpdateEngine[] = ['iptables', 'nft', 'bpf'];

export interface UpdateCostOptions {
  /** timed applications per engine (default 3), after one untimed warm-up */
  readonly repeats?: number;
  /** engines to measure (default: all three; those unavailable here are left out) */
  readonly engines?: readonly UpdateEngine[];
  /** check the updated dataplanes' verdicts against the chain engine (default true) */
  readonly verify?: boolean;
  /** progress lines */
  readonly log?: (line: string) => void;
}

const cidr = (s: string): Cidr => {
  const r = parseCidr(s);
  if (!r.ok) throw new Error(r.why);
  return r.cidr;
};

/** the block the change adds: TEST-NET-2, with a hole, so the map side gets an except key */
const ADDED_BLOCK = '198.51.100.0/24';
const ADDED_EXCEPT = '198.51.100.128/28';
const ADDED_PORT = 8443;

/**
 * The workload's change: one ingress rule appended to the first policy, allowing TCP 8443 from
 * 198.51.100.0/24 except 198.51.100.128/28, as `kubectl edit` adding a peer would.
 */
export function changedCluster(c: Cluster): { cluster: Cluster; change: string } {
  const [first, ...others] = c.policies;
  if (!first) throw new Error('update-cost: the cluster has no policy to change');
  const rule: PolicyRule = {
    peers: [{ ipBlock: { cidr: cidr(ADDED_BLOCK), except: [cidr(ADDED_EXCEPT)] } }],
    ports: [{ protocol: 'TCP', port: ADDED_PORT }],
  };
  const changed: NetworkPolicy = { ...first, ingress: [...first.ingress, rule] };
  return {
    cluster: { ...c, policies: [changed, ...others] },
    change: `policy ${first.namespace}/${first.name}: one ingress rule added (ipBlock ${ADDED_BLOCK} except ${ADDED_EXCEPT}, TCP ${ADDED_PORT})`,
  };
}

/** the first and last address of a prefix */
function ends(prefix: string): bigint[] {
  const c = cidr(prefix);
  const last = c.addr | (~maskOf(c.len) & ((1n << 128n) - 1n));
  return last === c.addr ? [c.addr] : [c.addr, last];
}

function portProbes(ports: readonly PortEntry[]): { proto: number; dport: number }[] {
  const out: { proto: number; dport: number }[] = [];
  for (const p of ports.slice(0, 4)) {
    const proto = p.proto === PROTO_ANY ? 6 : p.proto;
    out.push({ proto, dport: Math.max(p.start, 1) }, { proto, dport: p.end });
  }
  out.push({ proto: 6, dport: 1 }, { proto: 17, dport: 65535 });
  return out;
}

/**
 * Packets aimed at what a delta changes: for each changed LPM key (at most `limit`), from (or,
 * for egress, to) both ends of the prefix, to (from) each address of the key's pod, on the old
 * and new values' ports and ports neither allows. TCP packets are SYNs. Martian remote
 * addresses are left out: a kernel dataplane drops them whatever the rules say.
 */
export function deltaProbes(from: Plan, to: Plan, delta: PlanDelta, limit = 200): PacketHeader[] {
  const valueOf = (plan: Plan, trie: number, prefix: string): readonly PortEntry[] => {
    const t = plan.maps.tries.find((x) => x.id === trie);
    const e = t?.entries.find((x) => x.prefix === prefix);
    return e ? plan.maps.values[e.value]! : [];
  };
  const ops = [...delta.maps.lpmUpdate, ...delta.maps.lpmDelete].slice(0, limit);
  const out: PacketHeader[] = [];
  for (const op of ops) {
    const pod = to.pods[op.trie >> 1] ?? from.pods[op.trie >> 1];
    if (!pod) continue;
    const ingress = (op.trie & 1) === 0;
    const ports = [...valueOf(from, op.trie, op.prefix), ...valueOf(to, op.trie, op.prefix)];
    for (const remote of ends(op.prefix)) {
      if (familyOf(remote) === 4 && isMartian(Number(remote & 0xffffffffn))) continue;
      for (const ip of pod.ips.map((s) => parseIp(s)!).filter((a) => familyOf(a) === familyOf(remote))) {
        for (const { proto, dport } of portProbes(ports)) {
          out.push({ src: ingress ? remote : ip, dst: ingress ? ip : remote, proto, sport: 40000, dport, flags: proto === 6 ? PKT_F_SYN : 0 });
        }
      }
    }
  }
  return out;
}

function spread(xs: readonly number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

function batchOf(pkts: readonly PacketHeader[]): Uint8Array {
  const b = packetBatch(pkts.length);
  pkts.forEach((p, i) => writePacket(b, i, p));
  return b;
}

function verdicts(e: Engine, pkts: Uint8Array, n: number): string[] {
  const out = new Uint32Array(n * OUT_WORDS);
  e.classify(pkts, n, out);
  return Array.from({ length: n }, (_, i) => verdictName(out[i * OUT_WORDS]!));
}

/** Throws unless `e` judges `pkts` as `expected` says (the chain engine on the new plan). */
function verify(label: string, e: Engine, probes: readonly PacketHeader[], expected: readonly string[]): void {
  const got = verdicts(e, batchOf(probes), probes.length);
  const bad = got.findIndex((v, i) => v !== expected[i]);
  if (bad < 0) return;
  const p = probes[bad]!;
  const wrong = got.filter((v, i) => v !== expected[i]).length;
  throw new Error(`${label}: after the update ${wrong} of ${probes.length} packets judged unlike the new plan, first: proto ${p.proto} ${p.src.toString(16)} -> ${p.dst.toString(16)}:${p.dport} ${got[bad]}, expected ${expected[bad]}`);
}

interface Scenario {
  readonly change: string;
  readonly a: Plan;
  readonly b: Plan;
  readonly delta: PlanDelta;
  readonly probes: readonly PacketHeader[];
  readonly expected: readonly string[];
}

function scenario(scale: number): Scenario {
  const before = workloadCluster('scale', scale);
  const { cluster, change } = changedCluster(before);
  const a = compile(before), b = compile(cluster);
  const delta = diffPlans(a, b);
  // the changed keys, plus sample traffic of the workload judged by old and new rules alike
  // (an IPv6 twin's packets would go to the server's IPv4 address: left out)
  const sample = scaleTraffic(scaleCluster(filtersFor(scale), 1, { dualStack: true }).rules, 250)
    .filter((p) => familyOf(p.src) === familyOf(p.dst));
  const inAdded = [ADDED_BLOCK, ADDED_EXCEPT].map(cidr);
  const probes = [...deltaProbes(a, b, delta), ...sample];
  if (!probes.some((p) => inAdded.some((c) => cidrContainsAddr(c, p.src)))) throw new Error('update-cost: no probe exercises the added rule');
  const chain = new ChainEngine(b, { stateful: false });
  const expected = verdicts(chain, batchOf(probes), probes.length);
  chain.close();
  return { change, a, b, delta, probes, expected };
}

/** iptables or nft: the --noflush restore of the changed chains, A's full ruleset put back between repeats. */
function restoreCost(s: Scenario, make: () => IptablesEngine | NftEngine, repeats: number, check: boolean): Spread {
  const e = make();
  try {
    const families = ([4, 6] as const).filter((f) => !chainDeltaEmpty(s.delta.chain[f === 4 ? 'ipv4' : 'ipv6']));
    const after = planAfter(s.b, s.delta);
    const apply = () => families.reduce((ms, f) => ms + e.restore(f, renderChainDelta(s.delta.chain[f === 4 ? 'ipv4' : 'ipv6']), { noflush: true, plan: after }), 0);
    const putBack = () => { for (const f of families) e.restore(f, renderIptables(f === 4 ? s.a.chain.ipv4 : s.a.chain.ipv6), { noflush: false, plan: s.a }); };
    const ms: number[] = [];
    for (let r = 0; r <= repeats; r++) {
      if (r > 0) putBack();
      const t = apply();
      if (r > 0) ms.push(t); // the first run warms caches and loads nothing new: not counted
    }
    if (check) verify(e.name, e, s.probes, s.expected);
    return spread(ms);
  } finally {
    e.close();
  }
}

/** bpf: the map operations in one addon call, the reverse delta applied between repeats. */
function mapsCost(s: Scenario, repeats: number, check: boolean): Spread {
  const e = new BpfEngine(s.a, { stateful: false });
  try {
    const back = diffMaps(s.b.maps, s.a.maps);
    const ms: number[] = [];
    for (let r = 0; r <= repeats; r++) {
      if (r > 0) e.applyDelta(back, s.a);
      const p = e.prepareUpdate(s.delta.maps, s.b);
      const t0 = performance.now();
      const ops = e.commitUpdate(p);
      const t = performance.now() - t0;
      if (ops !== s.delta.maps.ops) throw new Error(`bpf: the update made ${ops} map operations, the delta has ${s.delta.maps.ops}`);
      if (r > 0) ms.push(t);
    }
    if (check) verify('bpf', e, s.probes, s.expected);
    return spread(ms);
  } finally {
    e.close();
  }
}

/**
 * Measures the cost of one policy change at `scale` (chain rules, as the sweep's scale
 * workload) on every requested engine available here. Throws when an updated dataplane judges
 * a probe unlike the new plan (unless verify is off).
 */
export function measureUpdateCost(scale: number, opts: UpdateCostOptions = {}): UpdateCost {
  const repeats = opts.repeats ?? 3;
  const check = opts.verify ?? true;
  const log = opts.log ?? (() => {});
  const wanted = (opts.engines ?? UPDATE_ENGINES).filter((e) => {
    const a = engineAvailability(e);
    if (!a.ok) log(`${e}: left out: ${a.reason}`);
    return a.ok;
  });
  const s = scenario(scale);
  const d = s.delta;
  log(`${s.change}`);
  log(`chains: IPv4 ${d.chain.ipv4.written.length} written (${d.chain.ipv4.created.length} new) ${d.chain.ipv4.deleted.length} deleted, IPv6 ${d.chain.ipv6.written.length} written; ${d.chain.ipv4.rulesRewritten + d.chain.ipv6.rulesRewritten} rules, ${Buffer.byteLength(renderChainDelta(d.chain.ipv4)) + Buffer.byteLength(renderChainDelta(d.chain.ipv6))} bytes of restore input`);
  log(`maps: ${d.maps.ops} operations (${d.maps.lpmUpdate.length} key updates, ${d.maps.lpmDelete.length} deletes, ${d.maps.podSet.length + d.maps.podDelete.length} pod records, ${d.maps.trieCreate.length + d.maps.trieRemove.length} tries made or dropped)`);
  const result: { -readonly [K in keyof UpdateCost]: UpdateCost[K] } = {
    change: s.change,
    bpfOps: d.maps.ops,
    chainRulesRewritten: d.chain.ipv4.rulesRewritten + d.chain.ipv6.rulesRewritten,
  };
  if (wanted.includes('iptables')) {
    result.iptablesLegacyMs = restoreCost(s, () => new IptablesEngine(s.a, { stateful: false }), repeats, check);
    log(`iptables-legacy-restore --noflush: ${fmt(result.iptablesLegacyMs)}`);
  }
  if (wanted.includes('nft')) {
    result.nftMs = restoreCost(s, () => new NftEngine(s.a, { stateful: false }), repeats, check);
    log(`iptables-nft-restore --noflush:    ${fmt(result.nftMs)}`);
  }
  if (wanted.includes('bpf')) {
    result.bpfMs = mapsCost(s, repeats, check);
    log(`bpf map updates (one addon call):  ${fmt(result.bpfMs)}`);
  }
  return result;
}

function fmt(x: Spread): string {
  return `${x.median.toFixed(3)} ms (${x.min.toFixed(3)}–${x.max.toFixed(3)}, n=${x.n})`;
}

function parseScale(s: string): number {
  const m = /^(\d+)(k?)$/i.exec(s.trim());
  if (!m) throw new Error(`--scale: "${s}" is not a size like 100 or 10k`);
  return Number(m[1]) * (m[2] ? 1000 : 1);
}

function main(argv: readonly string[]): void {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${name}: needs a value`);
    return v;
  };
  for (const a of argv) {
    if (a.startsWith('--') && !['--scale', '--repeats', '--json', '--engines', '--no-verify'].includes(a)) throw new Error(`unknown option ${a}`);
  }
  const scaleArg = value('--scale');
  if (scaleArg === undefined) throw new Error('--scale is required');
  const repeats = Number(value('--repeats') ?? '3');
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error('--repeats: a whole number of at least 1');
  const engines = value('--engines')?.split(',').map((e) => e.trim()) as UpdateEngine[] | undefined;
  for (const e of engines ?? []) if (!UPDATE_ENGINES.includes(e)) throw new Error(`--engines: unknown "${e}" (${UPDATE_ENGINES.join(', ')})`);
  const json = argv.includes('--json');
  const cost = measureUpdateCost(parseScale(scaleArg), {
    repeats, verify: !argv.includes('--no-verify'),
    ...(engines ? { engines } : {}),
    ...(json ? {} : { log: (l: string) => process.stdout.write(`${l}\n`) }),
  });
  process.stdout.write(JSON.stringify(cost) + '\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`update-cost: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
