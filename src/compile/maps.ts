/**
 * Compiles resolved policy into eBPF map contents in the VPC CNI agent's layout: a pod state
 * map keyed by pod IP and one LPM trie per isolated pod and direction, keyed by remote prefix,
 * whose value lists the allowed {protocol, port range} entries.
 *
 * Exactness with ONE longest-prefix lookup: the key set holds every block, every except and every
 * per-destination (named port) address; the value of prefix p is the union of the ports of every
 * rule block that covers p and none of whose excepts covers p. For any address a whose longest
 * matching key is p, a block or except contains a exactly when it covers p, so the value of p is
 * the exact answer for a. (The VPC CNI agent gives an except key a deny-all value instead, which
 * loses rules of other blocks that cover it.)
 */
import { type Cidr, compareCidr, cidrCovers, formatCidr, formatIp } from '../net/ip.js';
import type { Direction } from '../cluster/model.js';
import type { Block, PodSide, PortMatch, Resolution } from '../policy/resolve.js';
import { type LpmEntry, type LpmTrie, type MapsPlan, type PlanBudget, type PodStateEntry, type PortEntry, PROTO_ANY } from './plan.js';

/** What the rules of one group (same peer set, same ports) add at one prefix. */
interface Contribution {
  /** index of the group in groupRules() order */
  readonly group: number;
  /** the group's rule ids, capped as an entry's provenance is (capRules) */
  readonly rules: readonly number[];
  readonly block: Block | undefined;
  readonly ports: readonly PortEntry[];
}

interface Node {
  readonly cidr: Cidr;
  adds: Contribution[];
  removes: Set<Block>;
}

/** Sorts and merges port entries: per protocol, overlapping and adjacent ranges join; ANY absorbs all. */
export function normalizePorts(entries: readonly PortEntry[]): PortEntry[] {
  if (entries.some((e) => e.proto === PROTO_ANY)) return [{ proto: PROTO_ANY, start: 0, end: 65535 }];
  const sorted = [...entries].sort((a, b) => a.proto - b.proto || a.start - b.start || a.end - b.end);
  const out: PortEntry[] = [];
  for (const e of sorted) {
    const last = out[out.length - 1];
    if (last && last.proto === e.proto && e.start <= last.end + 1) {
      if (e.end > last.end) out[out.length - 1] = { proto: last.proto, start: last.start, end: e.end };
    } else {
      out.push({ proto: e.proto, start: e.start, end: e.end });
    }
  }
  return out;
}

const cidrKey = (c: Cidr): string => `${c.addr.toString(16)}/${c.len}`;

/**
 * The side's rules grouped by (peer set, ports): the rules of a group add the same ports at the
 * same prefixes, so they contribute once, with all their ids. resolve() shares both lists
 * between rules (by identity), and many policies over the same pods fall into a few groups: a
 * side of N rules over N-address peer sets costs N + N per group instead of N².
 */
function groupRules(side: PodSide): { blocks: readonly Block[]; ports: readonly PortMatch[]; rules: number[] }[] {
  const groups = new Map<readonly Block[], Map<readonly PortMatch[], number[]>>();
  for (const r of side.rules) {
    let byPorts = groups.get(r.blocks);
    if (!byPorts) { byPorts = new Map(); groups.set(r.blocks, byPorts); }
    const ids = byPorts.get(r.ports);
    if (ids) ids.push(r.id); else byPorts.set(r.ports, [r.id]);
  }
  return [...groups].flatMap(([blocks, byPorts]) => [...byPorts].map(([ports, rules]) => ({ blocks, ports, rules: capRules(rules) })));
}

function compileSide(side: PodSide, values: ValueTable): LpmEntry[] {
  const nodes = new Map<string, Node>();
  // peer sets share their Cidr objects, so most lookups hit here without a bigint-to-text key
  const byObject = new Map<Cidr, Node>();
  const node = (c: Cidr): Node => {
    let n = byObject.get(c);
    if (n) return n;
    const k = cidrKey(c);
    n = nodes.get(k);
    if (!n) { n = { cidr: c, adds: [], removes: new Set() }; nodes.set(k, n); }
    byObject.set(c, n);
    return n;
  };
  groupRules(side).forEach(({ blocks, ports, rules }, group) => {
    const general = ports.filter((p) => p.only === undefined).map(({ proto, start, end }) => ({ proto, start, end }));
    for (const block of blocks) {
      if (general.length > 0) node(block.cidr).adds.push({ group, rules, block, ports: general });
      for (const e of block.except) node(e).removes.add(block);
    }
    for (const p of ports) {
      if (p.only) node(p.only).adds.push({ group, rules, block: undefined, ports: [{ proto: p.proto, start: p.start, end: p.end }] });
    }
  });
  // preorder walk of the prefix tree: sorted by (address, length), ancestors on a stack. A
  // node's union is its parent's plus what it adds; only below an except hole (rare) is it
  // recomputed from the contributions along the path, minus the blocks removed on the path.
  // Sibling prefixes under one parent, adding the same groups, share one union (`unions`).
  const sorted = [...nodes.values()].sort((a, b) => compareCidr(a.cidr, b.cidr));
  const unions = new Map<string, { ports: PortEntry[]; rules: number[] }>();
  let frames = 0;
  const stack: Frame[] = [];
  const entries: LpmEntry[] = [];
  for (const n of sorted) {
    while (stack.length > 0 && !cidrCovers(stack[stack.length - 1]!.node.cidr, n.cidr)) stack.pop();
    const parent = stack[stack.length - 1];
    const own = n.adds.filter((c) => c.block !== undefined);
    const pointOnly = n.adds.filter((c) => c.block === undefined);
    let removed = parent?.removed ?? EMPTY_SET;
    let inherited: PortEntry[];
    let rules: number[];
    if (n.removes.size > 0) {
      removed = new Set([...removed, ...n.removes]);
      const path = [...stack.map((f) => f.own), own].flat().filter((c) => !removed.has(c.block!));
      inherited = normalizePorts(path.flatMap((c) => c.ports));
      rules = capRules(path.flatMap((c) => c.rules));
    } else if (own.length === 0) {
      inherited = parent?.ports ?? [];
      rules = parent?.rules ?? [];
    } else {
      const key = `${parent?.id ?? -1}|${own.map((c) => c.group).join(',')}`;
      let u = unions.get(key);
      if (!u) {
        u = {
          ports: normalizePorts([...(parent?.ports ?? []), ...own.flatMap((c) => c.ports)]),
          rules: capRules([...(parent?.rules ?? []), ...own.flatMap((c) => c.rules)]),
        };
        unions.set(key, u);
      }
      inherited = u.ports;
      rules = u.rules;
    }
    stack.push({ id: frames++, node: n, own, removed, ports: inherited, rules });
    // block-less contributions (per-destination named ports) hold at their own /32 or /128 only
    const ports = pointOnly.length === 0 ? inherited : normalizePorts([...inherited, ...pointOnly.flatMap((c) => c.ports)]);
    const allRules = pointOnly.length === 0 ? rules : capRules([...rules, ...pointOnly.flatMap((c) => c.rules)]);
    if (ports.length === 0 && allRules.length === 0 && stack.length === 1) continue; // a hole under nothing: no key needed
    entries.push({ prefix: formatCidr(n.cidr), value: values.intern(ports), rules: allRules });
  }
  return entries;
}

interface Frame {
  readonly id: number;
  readonly node: Node;
  readonly own: readonly Contribution[];
  readonly removed: ReadonlySet<Block | undefined>;
  readonly ports: PortEntry[];
  readonly rules: number[];
}

const EMPTY_SET: ReadonlySet<Block | undefined> = new Set();

/**
 * Provenance kept per entry: the ids of the first rules (in policy order) behind its value.
 * Capped so that a few wide blocks covering many keys do not make every entry carry them all.
 */
export const MAX_ENTRY_RULES = 16;

function capRules(ids: number[]): number[] {
  const u = [...new Set(ids)].sort((a, b) => a - b);
  return u.length > MAX_ENTRY_RULES ? u.slice(0, MAX_ENTRY_RULES) : u;
}

class ValueTable {
  readonly list: PortEntry[][] = [];
  private readonly index = new Map<string, number>();
  /** the same array (a shared union) is interned once */
  private readonly byArray = new WeakMap<PortEntry[], number>();
  intern(ports: PortEntry[]): number {
    let i = this.byArray.get(ports);
    if (i !== undefined) return i;
    const k = ports.map((p) => `${p.proto}:${p.start}-${p.end}`).join(',');
    i = this.index.get(k);
    if (i === undefined) { i = this.list.length; this.list.push(ports); this.index.set(k, i); }
    this.byArray.set(ports, i);
    return i;
  }
}

/**
 * The maps of every pod. Throws PfsimError PFSIM_ERR_COMPILE (from `budget`) as soon as the
 * entries made pass its limit.
 */
export function compileMaps(res: Resolution, budget?: PlanBudget): MapsPlan {
  const values = new ValueTable();
  const tries: LpmTrie[] = [];
  const podState: { addr: bigint; e: PodStateEntry }[] = [];
  for (const rp of res.pods) {
    for (const ip of rp.pod.ips) {
      podState.push({ addr: ip, e: { ip: formatIp(ip), pod: rp.id, ingress: rp.ingress.isolated ? 1 : 0, egress: rp.egress.isolated ? 1 : 0 } });
    }
    for (const [dir, side, code] of [['ingress', rp.ingress, 0], ['egress', rp.egress, 1]] as [Direction, PodSide, number][]) {
      if (!side.isolated) continue;
      const entries = compileSide(side, values);
      budget?.take(entries.length, 'LPM map entries');
      tries.push({ id: rp.id * 2 + code, pod: rp.id, dir, entries });
    }
  }
  podState.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : a.e.pod - b.e.pod));
  return { podState: podState.map((p) => p.e), tries, values: values.list };
}
