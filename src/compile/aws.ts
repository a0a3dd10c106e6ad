/**
 * The VPC CNI network-policy agent's map builder, mirrored: what aws-network-policy-agent writes
 * into each pod's `ingress_map` / `egress_map` LPM tries, and the pod state it sets. The `aws`
 * engine (src/engines/aws.ts) judges packets with these tries the way the agent's tc programs
 * do, so that pfsim can show where the agent departs from Kubernetes semantics (plan.maps, the
 * exact form, is the reference).
 *
 * Mirrored behaviour (agent source files named, nothing copied):
 * - controllers/policyendpoints_controller.go: a pod selected by a policy gets pod state
 *   POLICIES_APPLIED in both directions; a direction with no rules and no isolation gets a
 *   catch-all rule (0.0.0.0/0 or ::/0, any protocol). A pod no policy selects keeps the default
 *   state of the enforcement mode (standard: DEFAULT_ALLOW, strict: DEFAULT_DENY) and empty maps
 *   (pkg/rpc/rpc_handler.go).
 * - pkg/fwruleprocessor/fw_rule_processor.go, ComputeMapEntriesFromEndpointRules:
 *   1. the node IP (one per family: the node's first InternalIP) gets an allow-all entry, and a
 *      rule whose CIDR's address is the node IP is skipped;
 *   2. rules are sorted by prefix length (stable); a rule without ports gets the catch-all L4
 *      entry {ANY_IP_PROTOCOL 254, port 0};
 *   3. a CIDR seen again takes the new rule's ports and excepts in front of the old ones;
 *   4. a new CIDR inherits the ports of every shorter non-host CIDR (not /32, /128) that holds
 *      its network address, unless an except of that CIDR holds the network address: the test
 *      is on one address and on the CIDR's merged excepts, not per rule (see AWS_NOTES);
 *   5. every except CIDR that is not itself a rule CIDR gets an entry with the reserved
 *      deny-all L4 entry {RESERVED_IP_PROTOCOL 255}, which inherits nothing;
 *   6. each value's L4 list is deduplicated (mergeDuplicateL4Info) and written into at most 24
 *      slots of {protocol, start port, end port} (pkg/utils/utils.go, ComputeTrieValue); the
 *      rest is dropped. The agent deduplicates through a Go map, so WHICH entries fill the 24
 *      slots changes from one map update to the next; pfsim keeps the first 24 in the order the
 *      agent appends them (the rule's own ports, older rules of the same CIDR, inherited ones).
 * - Port encoding (ComputeTrieValue): start 0 means any port; a single port is {port, end 0};
 *   a range is {port, endPort}.
 *
 * The agent runs single-stack; pfsim builds an IPv4 and an IPv6 trie per pod and direction,
 * each from that family's rules only, as the agent of that family would.
 */
import type { Cluster, Direction } from '../cluster/model.js';
import { type Cidr, type Family, cidrContainsAddr, cidrCovers, compareCidr, formatCidr, formatIp, hostCidr, maskOf, parseCidr } from '../net/ip.js';
import { type Block, type PortMatch, type Resolution, type ResolvedPod, type ResolvedRule, ANY_BLOCK } from '../policy/resolve.js';
import { type PlanBudget, PROTO_ANY } from './plan.js';

/** L4 protocol value matching every protocol (ANY_IP_PROTOCOL in the agent) */
export const AWS_PROTO_ANY = 254;
/** L4 protocol value of the deny-all entry of except CIDRs (RESERVED_IP_PROTOCOL_NUMBER) */
export const AWS_PROTO_RESERVED = 255;
/** port value meaning every port (ANY_PORT) */
export const AWS_ANY_PORT = 0;
/** L4 slots per trie value (MAX_PORT_PROTOCOL) */
export const AWS_SLOTS = 24;

/** One L4 slot as the agent writes it: end 0 means "start only"; start 0 means any port. */
export interface AwsPortEntry {
  readonly proto: number;
  readonly start: number;
  readonly end: number;
}

/**
 * Build-time facts about an entry that can make the agent's answer differ from Kubernetes'
 * for addresses whose longest match it is (the engine names the one that decided):
 * - except-no-inherit: an except CIDR's reserved deny-all entry; rules of other blocks that
 *   cover the except (and do not except it) are lost for it.
 * - except-network-address: a covering CIDR's ports were not inherited because one of its
 *   merged excepts holds this entry's network address, although that except does not cover the
 *   whole entry or does not belong to every rule of the covering CIDR.
 * - except-inherited-through: ports came in through an inherited CIDR that had itself
 *   inherited them from a CIDR whose except holds this entry (the except is bypassed).
 * - port-slots-exceeded: more than 24 distinct L4 entries; the rest were dropped.
 */
export const AWS_NOTES = ['except-no-inherit', 'except-network-address', 'except-inherited-through', 'port-slots-exceeded'] as const;
export type AwsNote = (typeof AWS_NOTES)[number];

export type AwsEntryKind = 'node' | 'rule' | 'except';

export interface AwsEntry {
  /** the LPM key: "a.b.c.d/n" or "x::/n" */
  readonly prefix: string;
  readonly kind: AwsEntryKind;
  /** the value's slots in order (at most AWS_SLOTS); empty slots are not listed */
  readonly slots: readonly AwsPortEntry[];
  /** distinct L4 entries that did not fit the slots */
  readonly dropped?: readonly AwsPortEntry[];
  readonly notes?: readonly AwsNote[];
  /** PlanRule ids whose ports make the value: the CIDR's own rules first (at most 16) */
  readonly rules: readonly number[];
}

export interface AwsTrie {
  /** pod * 4 + (ingress 0 | egress 2) + (IPv4 0 | IPv6 1) */
  readonly id: number;
  readonly pod: number;
  readonly dir: Direction;
  readonly family: Family;
  /** sorted by (address, prefix length) */
  readonly entries: readonly AwsEntry[];
}

export interface AwsPod {
  readonly pod: number;
  readonly ips: readonly string[];
  /** a policy selects the pod: pod state POLICIES_APPLIED, else the mode's default */
  readonly applied: boolean;
  /** the node IP the agent allows, one per family (the node's first InternalIP) */
  readonly nodeIps: readonly string[];
  /** the node's other addresses, which Kubernetes semantics (pfsim) allow and the agent does not */
  readonly otherNodeIps: readonly string[];
}

export const AWS_MODES = ['standard', 'strict'] as const;
/**
 * The agent's enforcement mode (NETWORK_POLICY_ENFORCING_MODE): the state of a pod no policy
 * selects, standard DEFAULT_ALLOW or strict DEFAULT_DENY. Part of the plan, since it is part of
 * what the agent writes (the pod state map), and so it reaches engines built anywhere.
 */
export type AwsMode = (typeof AWS_MODES)[number];

let modeDefault: AwsMode = 'standard';

/**
 * The mode compile() gives plan.aws when not told otherwise. The CLI sets it from --aws-mode
 * before a command runs; compile() is called in many places that take no aws options.
 */
export function setAwsModeDefault(mode: AwsMode): void {
  modeDefault = mode;
}

export function awsModeDefault(): AwsMode {
  return modeDefault;
}

/** The agent's map contents for every pod; tries only for applied pods (sorted by id). */
export interface AwsPlan {
  readonly mode: AwsMode;
  readonly pods: readonly AwsPod[];
  readonly tries: readonly AwsTrie[];
}

export function awsTrieId(pod: number, dir: Direction, family: Family): number {
  return pod * 4 + (dir === 'ingress' ? 0 : 2) + (family === 6 ? 1 : 0);
}

const CATCH_ALL_L4: AwsPortEntry = { proto: AWS_PROTO_ANY, start: AWS_ANY_PORT, end: 0 };
const DENY_ALL_L4: AwsPortEntry = { proto: AWS_PROTO_RESERVED, start: AWS_ANY_PORT, end: 0 };
const MAX_ENTRY_RULES = 16;
const FAMILY_ANY: Readonly<Record<Family, Cidr>> = {
  4: (parseCidr('0.0.0.0/0') as { ok: true; cidr: Cidr }).cidr,
  6: (parseCidr('::/0') as { ok: true; cidr: Cidr }).cidr,
};

/**
 * Rules of a PolicyEndpoint as the agent receives them: a CIDR, its excepts, its ports. Rules
 * that are the same but for their PlanRule (same peer set and ports: the same arrays from resolve())
 * come as one, which changes nothing the agent computes from them (see buildMap), and keeps a
 * cluster of N policies over the same N pods at N rules per pod and CIDR instead of N².
 */
interface FirewallRule {
  readonly cidr: Cidr;
  readonly except: readonly Cidr[];
  /** empty: no ports given (the catch-all L4 entry is added) */
  readonly l4: readonly AwsPortEntry[];
  /** PlanRule ids it stands for, highest first, at most MAX_ENTRY_RULES; none for the catch-all */
  readonly rules: readonly number[];
  /** where the last rule it stands for arrives: position of the rule, then within the rule */
  readonly arrival: readonly [number, number];
}

/** A CIDR of the map being built (cidrsMap in the agent). */
interface Work {
  readonly cidr: Cidr;
  /** distinct, in the agent's order: the CIDR's own rules newest first, then what it inherited */
  l4: AwsPortEntry[];
  /** the excepts of each rule merged into this CIDR */
  ruleExcepts: (readonly Cidr[])[];
  /** PlanRule ids in the same order, distinct, at most MAX_ENTRY_RULES */
  rules: number[];
  /** CIDRs whose ports flow into this one: itself and, transitively, what it inherited */
  sources: Set<Work>;
  readonly notes: Set<AwsNote>;
}

/** Kubernetes port match → the agent's L4 entry (ComputeTrieValue's encoding). */
function l4Of(p: { proto: number; start: number; end: number }): AwsPortEntry {
  if (p.start === 0 && p.end === 65535) return { proto: p.proto, start: AWS_ANY_PORT, end: 0 };
  return { proto: p.proto, start: p.start, end: p.start === p.end ? 0 : p.end };
}

/** The PolicyEndpoint rules of one pod side in one family, rules of equal peers and ports as one. */
function firewallRules(rules: readonly ResolvedRule[], family: Family): FirewallRule[] {
  const groups = new Map<readonly Block[], Map<readonly PortMatch[], { rule: ResolvedRule; position: number; ids: number[] }>>();
  rules.forEach((r, position) => {
    if (r.source.startsWith('node/')) return; // the agent adds its own node entry
    let byPorts = groups.get(r.blocks);
    if (!byPorts) { byPorts = new Map(); groups.set(r.blocks, byPorts); }
    const g = byPorts.get(r.ports);
    // the group arrives where its last rule does
    if (g) { g.ids.push(r.id); g.position = position; g.rule = r; } else byPorts.set(r.ports, { rule: r, position, ids: [r.id] });
  });
  const out: FirewallRule[] = [];
  for (const byPorts of groups.values()) {
    for (const { rule: r, position, ids } of byPorts.values()) {
      const newest = [...ids].sort((a, b) => b - a).slice(0, MAX_ENTRY_RULES);
      const any = r.ports.length === 1 && r.ports[0]!.proto === PROTO_ANY;
      const general = any ? [] : r.ports.filter((p) => p.only === undefined).map(l4Of);
      // a rule with only named ports that resolve per destination has no block-wide ports
      const blockWide = any || general.length > 0;
      let within = 0;
      for (const b of r.blocks) {
        if (!blockWide) break;
        const cidr = b === ANY_BLOCK ? FAMILY_ANY[family] : b.cidr;
        if (cidr.family !== family) continue;
        out.push({ cidr, except: exceptsOf(b, family), l4: general, rules: newest, arrival: [position, within++] });
      }
      for (const p of r.ports) {
        if (p.only !== undefined && p.only.family === family) out.push({ cidr: p.only, except: [], l4: [l4Of(p)], rules: newest, arrival: [position, within++] });
      }
    }
  }
  return out;
}

/** A block's excepts in its own family (pfsim's IPv4-mapped guard on IPv6 blocks is its own). */
function exceptsOf(b: Block, family: Family): Cidr[] {
  return b.except.filter((e) => e.family === family);
}

/** A map keyed by CIDR (prefix length, then network address): no string per key. */
class CidrMap<T> {
  private readonly byLen = new Map<number, Map<bigint, T>>();
  get(c: Cidr): T | undefined {
    return this.byLen.get(c.len)?.get(c.addr);
  }
  has(c: Cidr): boolean {
    return this.get(c) !== undefined;
  }
  set(c: Cidr, v: T): void {
    let m = this.byLen.get(c.len);
    if (!m) { m = new Map(); this.byLen.set(c.len, m); }
    m.set(c.addr, v);
  }
  *values(): IterableIterator<T> {
    for (const m of this.byLen.values()) yield* m.values();
  }
}
const l4Key = (e: AwsPortEntry): string => `${e.proto}:${e.start}:${e.end}`;

/** Longest-prefix containment over the non-host CIDRs added so far (the agent's cidrTrie). */
class Containment {
  private readonly byLen = new Map<number, { mask: bigint; cidrs: Map<bigint, Work> }>();
  /** prefix lengths present, shortest first */
  private lens: number[] = [];
  add(w: Work): void {
    let m = this.byLen.get(w.cidr.len);
    if (!m) {
      m = { mask: maskOf(w.cidr.len), cidrs: new Map() };
      this.byLen.set(w.cidr.len, m);
      this.lens = [...this.byLen.keys()].sort((a, b) => a - b);
    }
    m.cidrs.set(w.cidr.addr, w);
  }
  /** every CIDR added that holds `addr`, shortest first */
  holding(addr: bigint): Work[] {
    const out: Work[] = [];
    for (const len of this.lens) {
      const m = this.byLen.get(len)!;
      const w = m.cidrs.get(addr & m.mask);
      if (w) out.push(w);
    }
    return out;
  }
}

/**
 * The agent's map for one pod side in one family (ComputeMapEntriesFromEndpointRules).
 * The agent takes rules shortest prefix first and puts a repeated CIDR's new rule in front of
 * the old ones; here each CIDR's rules are gathered first and ordered newest first, which gives
 * the same lists, and a CIDR inherits when it is first seen, as in the agent: every shorter
 * CIDR is complete by then.
 */
function buildMap(rules: readonly FirewallRule[], nodeIp: bigint | undefined): AwsEntry[] {
  const byCidr = new CidrMap<FirewallRule[]>();
  const excepts = new CidrMap<Cidr>();
  for (const r of rules) {
    // excepts are collected before the node-IP skip, as the agent does
    for (const e of r.except) excepts.set(e, e);
    if (nodeIp !== undefined && r.cidr.addr === nodeIp) continue;
    const same = byCidr.get(r.cidr);
    if (same) same.push(r); else byCidr.set(r.cidr, [r]);
  }
  const cidrs = new CidrMap<Work>();
  const containment = new Containment();
  const newestFirst = (a: FirewallRule, b: FirewallRule) => b.arrival[0] - a.arrival[0] || b.arrival[1] - a.arrival[1];
  const ordered = [...byCidr.values()].sort((a, b) => a[0]!.cidr.len - b[0]!.cidr.len);
  for (const same of ordered) {
    same.sort(newestFirst);
    const w: Work = {
      cidr: same[0]!.cidr,
      l4: distinctL4(same.flatMap((r) => (r.l4.length > 0 ? r.l4 : [CATCH_ALL_L4]))),
      ruleExcepts: same.map((r) => r.except),
      // rule ids grow with arrival, so newest first is highest first
      rules: firstRules(same.flatMap((r) => r.rules).sort((a, b) => b - a)),
      sources: new Set(), notes: new Set(),
    };
    w.sources.add(w);
    inherit(w, containment);
    cidrs.set(w.cidr, w);
    if (w.cidr.len < 128) containment.add(w);
  }
  // later writes of a key replace earlier ones, as in the agent's firewallMap
  const entries = new CidrMap<{ cidr: Cidr; entry: AwsEntry }>();
  if (nodeIp !== undefined) {
    const c = hostCidr(nodeIp);
    entries.set(c, { cidr: c, entry: { prefix: formatCidr(c), kind: 'node', slots: [CATCH_ALL_L4], rules: [] } });
  }
  for (const w of cidrs.values()) entries.set(w.cidr, { cidr: w.cidr, entry: valueOf(w) });
  for (const e of excepts.values()) {
    if (cidrs.has(e)) continue;
    entries.set(e, { cidr: e, entry: { prefix: formatCidr(e), kind: 'except', slots: [DENY_ALL_L4], notes: ['except-no-inherit'], rules: [] } });
  }
  return [...entries.values()].sort((a, b) => compareCidr(a.cidr, b.cidr)).map((x) => x.entry);
}

/** L4 entries without repeats, first occurrence kept (mergeDuplicateL4Info keeps one of each). */
function distinctL4(l4: readonly AwsPortEntry[]): AwsPortEntry[] {
  const seen = new Set<string>();
  return l4.filter((e) => {
    const k = l4Key(e);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The first MAX_ENTRY_RULES distinct ids: all an entry shows, and all an inheriting CIDR needs. */
function firstRules(ids: readonly number[]): number[] {
  return [...new Set(ids)].slice(0, MAX_ENTRY_RULES);
}

/** Step 4: inherit the ports of every covering non-host CIDR whose excepts miss the network address. */
function inherit(w: Work, containment: Containment): void {
  const addr = w.cidr.addr;
  for (const c of containment.holding(addr)) {
    const merged = c.ruleExcepts.flat();
    if (merged.some((e) => cidrContainsAddr(e, addr))) {
      // Kubernetes drops c's rules here only for rules whose own except covers all of w
      const proper = c.ruleExcepts.every((ex) => ex.some((e) => cidrCovers(e, w.cidr)));
      if (!proper) w.notes.add('except-network-address');
      continue;
    }
    for (const s of c.sources) {
      if (s !== c && s.ruleExcepts.flat().some((e) => cidrContainsAddr(e, addr))) w.notes.add('except-inherited-through');
      w.sources.add(s);
    }
    w.l4 = distinctL4([...w.l4, ...c.l4]);
    w.rules = firstRules([...w.rules, ...c.rules]);
  }
}

/** Step 6: fill 24 slots (w.l4 is already deduplicated), keep what was dropped. */
function valueOf(w: Work): AwsEntry {
  const distinct = w.l4;
  const notes = new Set(w.notes);
  const dropped = distinct.slice(AWS_SLOTS);
  if (dropped.length > 0) notes.add('port-slots-exceeded');
  const rules = w.rules;
  return {
    prefix: formatCidr(w.cidr),
    kind: 'rule',
    slots: distinct.slice(0, AWS_SLOTS),
    ...(dropped.length > 0 ? { dropped } : {}),
    ...(notes.size > 0 ? { notes: AWS_NOTES.filter((n) => notes.has(n)) } : {}),
    rules,
  };
}

/** The node's first InternalIP of each family, and its other addresses. */
function nodeAddresses(cluster: Cluster, nodeName: string | undefined): { primary: Map<Family, bigint>; others: bigint[] } {
  const primary = new Map<Family, bigint>();
  const others: bigint[] = [];
  const node = nodeName === undefined ? undefined : cluster.nodes.find((n) => n.name === nodeName);
  for (const a of node?.addresses ?? []) {
    const f = hostCidr(a).family;
    if (primary.has(f)) others.push(a); else primary.set(f, a);
  }
  return { primary, others };
}

function podTries(rp: ResolvedPod, primary: Map<Family, bigint>, budget: PlanBudget | undefined): AwsTrie[] {
  const tries: AwsTrie[] = [];
  for (const dir of ['ingress', 'egress'] as const) {
    const side = rp[dir];
    for (const family of [4, 6] as const) {
      const rules = firewallRules(side.rules, family);
      // the controller's catch-all: a direction with no rules at all and no isolation
      if (!side.isolated && side.rules.length === 0) rules.push({ cidr: FAMILY_ANY[family], except: [], l4: [], rules: [], arrival: [0, 0] });
      const entries = buildMap(rules, primary.get(family));
      budget?.take(entries.length, 'aws map entries');
      tries.push({ id: awsTrieId(rp.id, dir, family), pod: rp.id, dir, family, entries });
    }
  }
  return tries;
}

/**
 * Builds the agent's maps for every pod of the resolution (deterministic: same input, same
 * plan). Throws PfsimError PFSIM_ERR_COMPILE (from `budget`) as soon as the entries, with what
 * the budget already counted, pass its limit.
 */
export function compileAws(res: Resolution, cluster: Cluster, mode: AwsMode = modeDefault, budget?: PlanBudget): AwsPlan {
  const pods: AwsPod[] = [];
  const tries: AwsTrie[] = [];
  for (const rp of res.pods) {
    const applied = rp.ingress.isolated || rp.egress.isolated;
    const { primary, others } = nodeAddresses(cluster, rp.pod.nodeName);
    pods.push({
      pod: rp.id,
      ips: rp.pod.ips.map(formatIp),
      applied,
      nodeIps: [...primary.values()].map(formatIp),
      otherNodeIps: others.map(formatIp),
    });
    if (applied) tries.push(...podTries(rp, primary, budget));
  }
  return { mode, pods, tries: tries.sort((a, b) => a.id - b.id) };
}
