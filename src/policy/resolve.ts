/**
 * NetworkPolicy semantics: resolves selectors, named ports and defaults into, for every pod and
 * direction, whether the pod is isolated and the list of resolved allow rules. Both compilers
 * (chain and maps) start from this one resolution, so they cannot drift apart on the API rules.
 */
import {
  type Cluster, type Direction, type NetworkPolicy, type Pod, type PolicyPeer, type PolicyPort, type PolicyRule,
  type Namespace, DIRECTIONS, IPPROTO,
} from '../cluster/model.js';
import { selectorMatches } from '../cluster/selector.js';
import { type Cidr, hostCidr, parseCidr, cidrContainsAddr, cidrCovers } from '../net/ip.js';
import { PROTO_ANY } from '../compile/plan.js';

/** A set of remote addresses: the block minus its except holes. */
export interface Block {
  readonly cidr: Cidr;
  readonly except: readonly Cidr[];
}

/** An allowed {protocol, port range}, optionally only towards one destination address. */
export interface PortMatch {
  readonly proto: number;
  readonly start: number;
  readonly end: number;
  /** egress named ports resolve per destination pod: this entry holds only for that address */
  readonly only?: Cidr;
}

export interface ResolvedRule {
  readonly id: number;
  /** "namespace/name" of the policy, or "node/<name>" */
  readonly source: string;
  readonly dir: Direction;
  readonly index: number;
  readonly pod: number;
  /**
   * The peer set. Shared: the rules resolved from one policy rule for its selected pods hold
   * the same array, and so do rules whose selector peers resolve to the same addresses, so the
   * compilers build what depends only on it once (a shared policy chain, grouped trie
   * contributions). They compare by identity only; equal content may still be two arrays.
   */
  readonly blocks: readonly Block[];
  /** Interned: equal port lists are the same array. */
  readonly ports: readonly PortMatch[];
}

export interface PodSide {
  readonly isolated: boolean;
  readonly rules: readonly ResolvedRule[];
}

export interface ResolvedPod {
  readonly id: number;
  readonly pod: Pod;
  readonly ingress: PodSide;
  readonly egress: PodSide;
}

export interface Resolution {
  readonly pods: readonly ResolvedPod[];
  readonly rules: readonly ResolvedRule[];
}

/** the peer set of a rule with no peers: every address of both families */
export const ANY_BLOCK: Block = { cidr: { addr: 0n, len: 0, family: 6 }, except: [] };
const ANY_PORTS: readonly PortMatch[] = [{ proto: PROTO_ANY, start: 0, end: 65535 }];
// an IPv6 ipBlock covering ::ffff:0:0/96 must not match IPv4 traffic, which lives there
const V4_MAPPED_RANGE = (parseCidr('0.0.0.0/0') as { ok: true; cidr: Cidr }).cidr;

/** Pods that policies can select and peers can match: have an IP, not on the host network. */
export function isPolicyPod(p: Pod): boolean {
  return !p.hostNetwork && p.ips.length > 0;
}

export function policyKey(p: NetworkPolicy): string {
  return `${p.namespace}/${p.name}`;
}

function blockOf(peer: PolicyPeer): Block {
  const b = peer.ipBlock!;
  if (b.cidr.family === 6 && cidrCovers(b.cidr, V4_MAPPED_RANGE)) {
    return { cidr: b.cidr, except: [...b.except.filter((e) => !cidrCovers(e, V4_MAPPED_RANGE)), V4_MAPPED_RANGE] };
  }
  return { cidr: b.cidr, except: b.except };
}

function inBlock(b: Block, addr: bigint): boolean {
  return cidrContainsAddr(b.cidr, addr) && !b.except.some((e) => cidrContainsAddr(e, addr));
}

/**
 * Resolves every policy pod's sides: isolation and allow rules, node allow first, then the
 * policies' rules in policy order (PlanRule ids follow this order). Work that does not depend on
 * the protected pod is done once per policy rule or per distinct peer set (see PeerResolver).
 */
export function resolve(cluster: Cluster): Resolution {
  const pods = cluster.pods.filter(isPolicyPod);
  const peers = new PeerResolver(cluster, pods);
  const rules: ResolvedRule[] = [];
  const sides = pods.map(() => ({ ingress: [] as ResolvedRule[], egress: [] as ResolvedRule[], iso: new Set<Direction>() }));
  const push = (r: ResolvedRule): void => { rules.push(r); sides[r.pod]![r.dir].push(r); };

  // ids of the pods each policy selects, in pod order
  const selected = cluster.policies.map((pol) => podIds(pods, (p) => p.namespace === pol.namespace && selectorMatches(pol.podSelector, p.labels)));
  cluster.policies.forEach((pol, pi) => {
    for (const id of selected[pi]!) for (const d of pol.policyTypes) sides[id]!.iso.add(d);
  });

  // node allows come first in each isolated side, then policies in (namespace, name) order
  const nodeAddrs = new Map<string, readonly bigint[]>(cluster.nodes.map((n) => [n.name, n.addresses]));
  pods.forEach((pod, id) => {
    const addrs = pod.nodeName ? nodeAddrs.get(pod.nodeName) ?? [] : [];
    if (addrs.length === 0) return;
    for (const dir of DIRECTIONS) {
      if (!sides[id]!.iso.has(dir)) continue;
      push({
        id: rules.length, source: `node/${pod.nodeName}`, dir, index: -1, pod: id,
        blocks: peers.addressBlocks(addrs), ports: ANY_PORTS,
      });
    }
  });

  cluster.policies.forEach((pol, pi) => {
    const source = policyKey(pol);
    for (const dir of pol.policyTypes) {
      (dir === 'ingress' ? pol.ingress : pol.egress).forEach((rule, index) => {
        // the peer set does not depend on which selected pod the rule protects: resolve it once
        const blocks = peers.blocksOf(pol, rule);
        const portsFor = peers.portsOf(rule, dir, blocks);
        for (const id of selected[pi]!) {
          push({ id: rules.length, source, dir, index, pod: id, blocks, ports: portsFor(pods[id]!) });
        }
      });
    }
  });

  return {
    rules,
    pods: pods.map((pod, id) => {
      const side = sides[id]!;
      return {
        id, pod,
        ingress: { isolated: side.iso.has('ingress'), rules: side.iso.has('ingress') ? side.ingress : [] },
        egress: { isolated: side.iso.has('egress'), rules: side.iso.has('egress') ? side.egress : [] },
      };
    }),
  };
}

function podIds(pods: readonly Pod[], match: (p: Pod) => boolean): number[] {
  const ids: number[] = [];
  pods.forEach((p, id) => { if (match(p)) ids.push(id); });
  return ids;
}

/** Interns lists by content: equal lists (by `keyOf` of each item) come back as one array. */
class ListInterner<T> {
  private readonly byKey = new Map<string, readonly T[]>();
  constructor(private readonly keyOf: (item: T) => string, seed: readonly (readonly T[])[] = []) {
    for (const list of seed) this.intern(list);
  }
  intern(list: readonly T[]): readonly T[] {
    const key = list.map(this.keyOf).join(',');
    const have = this.byKey.get(key);
    if (have) return have;
    this.byKey.set(key, list);
    return list;
  }
}

const cidrKey = (c: Cidr): string => `${c.family}:${c.addr.toString(16)}/${c.len}`;
const portKey = (p: PortMatch): string => `${p.proto}:${p.start}-${p.end}${p.only ? `@${cidrKey(p.only)}` : ''}`;

/**
 * Resolves peers and ports, sharing the work between rules. On a cluster of N pods and N
 * policies that each select every pod and allow every pod, a peer set is N addresses and there
 * are N² (rule, pod) pairs: resolving per pair would be N³. Here each distinct selector is
 * matched once, each distinct peer set from selectors and each distinct port list is one
 * interned array, and ports that do not depend on the protected pod are resolved once per rule
 * (egress named ports, which scan every pod, once per peer set and port list).
 */
class PeerResolver {
  private readonly nsByName: ReadonlyMap<string, Namespace>;
  private readonly peerAddrs = new Map<string, readonly bigint[]>();
  private readonly hostBlocks = new Map<bigint, Block>();
  /** content keys of blocks, made once per Block (a pod address's block is one shared object) */
  private readonly blockKeys = new WeakMap<Block, string>([[ANY_BLOCK, 'any']]);
  private readonly blockLists = new ListInterner<Block>((b) => this.blockKey(b), [[ANY_BLOCK]]);
  private readonly portLists = new ListInterner<PortMatch>(portKey, [ANY_PORTS]);
  /** egress named ports, per peer set and per port list of the rule (as JSON) */
  private readonly egressNamed = new Map<readonly Block[], Map<string, readonly PortMatch[]>>();

  constructor(cluster: Cluster, private readonly pods: readonly Pod[]) {
    this.nsByName = new Map(cluster.namespaces.map((n) => [n.name, n]));
  }

  /** The rule's peer set: selector peers become the matched pods' addresses, ipBlocks stay blocks. */
  blocksOf(policy: NetworkPolicy, rule: PolicyRule): readonly Block[] {
    if (rule.peers.length === 0) return this.blockLists.intern([ANY_BLOCK]);
    const blocks: Block[] = [];
    let selectors = false;
    for (const peer of rule.peers) {
      if (peer.ipBlock) { blocks.push(blockOf(peer)); continue; }
      selectors = true;
      for (const ip of this.addrsOf(policy, peer)) blocks.push(this.hostBlock(ip));
    }
    // a list of ipBlocks only is as long as the manifest wrote it: sharing it across policies
    // saves little, and its key would cost a conversion of every address
    return selectors ? this.blockLists.intern(dedupeBlocks(blocks)) : dedupeBlocks(blocks);
  }

  /** Single addresses (a node's) as an interned peer set. */
  addressBlocks(addrs: readonly bigint[]): readonly Block[] {
    return this.blockLists.intern(addrs.map((a) => this.hostBlock(a)));
  }

  /**
   * The rule's ports as a function of the protected pod (see resolvePorts). Only ingress named
   * ports depend on that pod; the others are resolved on first use and shared.
   */
  portsOf(rule: PolicyRule, dir: Direction, blocks: readonly Block[]): (pod: Pod) => readonly PortMatch[] {
    if (rule.ports.length === 0) return () => ANY_PORTS;
    const named = rule.ports.some((p) => typeof p.port === 'string');
    if (named && dir === 'ingress') return (pod) => this.portLists.intern(resolvePorts(rule.ports, dir, pod, NO_PEERS, this.pods));
    let shared: readonly PortMatch[] | undefined;
    return (pod) => (shared ??= named ? this.egressNamedPorts(rule, blocks) : this.portLists.intern(resolvePorts(rule.ports, dir, pod, NO_PEERS, this.pods)));
  }

  /** Egress named ports scan every pod against the peer set: once per (peer set, port list). */
  private egressNamedPorts(rule: PolicyRule, blocks: readonly Block[]): readonly PortMatch[] {
    let bySpec = this.egressNamed.get(blocks);
    if (!bySpec) { bySpec = new Map(); this.egressNamed.set(blocks, bySpec); }
    const spec = JSON.stringify(rule.ports);
    let ports = bySpec.get(spec);
    if (!ports) {
      // the protected pod does not matter for egress
      ports = this.portLists.intern(resolvePorts(rule.ports, 'egress', undefined, membership(blocks), this.pods));
      bySpec.set(spec, ports);
    }
    return ports;
  }

  private blockKey(b: Block): string {
    let k = this.blockKeys.get(b);
    if (k === undefined) { k = `${cidrKey(b.cidr)}-${b.except.map(cidrKey).join('-')}`; this.blockKeys.set(b, k); }
    return k;
  }

  /** Addresses of the pods a selector peer matches, in pod order; memoised per distinct peer. */
  private addrsOf(policy: NetworkPolicy, peer: PolicyPeer): readonly bigint[] {
    const key = `${peer.namespaceSelector ? `ns=${JSON.stringify(peer.namespaceSelector)}` : `in=${policy.namespace}`}|${peer.podSelector ? JSON.stringify(peer.podSelector) : '*'}`;
    let addrs = this.peerAddrs.get(key);
    if (!addrs) {
      addrs = this.pods.filter((p) => {
        if (peer.namespaceSelector) {
          const ns = this.nsByName.get(p.namespace);
          if (!ns || !selectorMatches(peer.namespaceSelector, ns.labels)) return false;
        } else if (p.namespace !== policy.namespace) {
          return false;
        }
        return peer.podSelector ? selectorMatches(peer.podSelector, p.labels) : true;
      }).flatMap((p) => p.ips);
      this.peerAddrs.set(key, addrs);
    }
    return addrs;
  }

  private hostBlock(ip: bigint): Block {
    let b = this.hostBlocks.get(ip);
    if (!b) { b = { cidr: hostCidr(ip), except: [] }; this.hostBlocks.set(ip, b); }
    return b;
  }
}

const NO_PEERS = (): boolean => false;

/** Whether an address is in a peer set: a hash lookup for single addresses, a scan for the rest. */
function membership(blocks: readonly Block[]): (addr: bigint) => boolean {
  const hosts = new Set<bigint>();
  const wide: Block[] = [];
  for (const b of blocks) {
    if (b.cidr.len === 128 && b.except.length === 0) hosts.add(b.cidr.addr);
    else wide.push(b);
  }
  return (addr) => hosts.has(addr) || wide.some((b) => inBlock(b, addr));
}

function dedupeBlocks(blocks: Block[]): Block[] {
  const seen = new Set<string>();
  return blocks.filter((b) => {
    const k = `${b.cidr.addr}/${b.cidr.len}/${b.except.map((e) => `${e.addr}/${e.len}`).join(',')}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Resolves a rule's ports. Named ports resolve against the destination pod's container ports
 * (name and protocol must both match): for ingress that is the selected pod itself; for egress
 * it is every pod inside the rule's peer set (`inPeers`), each giving an entry valid only
 * towards its own address. A name that resolves nowhere contributes nothing.
 */
function resolvePorts(ports: readonly PolicyPort[], dir: Direction, pod: Pod | undefined, inPeers: (addr: bigint) => boolean, pods: readonly Pod[]): PortMatch[] {
  const out: PortMatch[] = [];
  for (const p of ports) {
    const proto = IPPROTO[p.protocol];
    if (p.port === undefined) { out.push({ proto, start: 0, end: 65535 }); continue; }
    if (typeof p.port === 'number') { out.push({ proto, start: p.port, end: p.endPort ?? p.port }); continue; }
    const name = p.port;
    const lookup = (target: Pod): number[] =>
      target.ports.filter((cp) => cp.name === name && cp.protocol === p.protocol).map((cp) => cp.containerPort);
    if (dir === 'ingress') {
      if (pod) for (const n of lookup(pod)) out.push({ proto, start: n, end: n });
      continue;
    }
    for (const target of pods) {
      const numbers = lookup(target);
      if (numbers.length === 0) continue;
      for (const ip of target.ips) {
        if (!inPeers(ip)) continue;
        for (const n of numbers) out.push({ proto, start: n, end: n, only: hostCidr(ip) });
      }
    }
  }
  return out;
}
