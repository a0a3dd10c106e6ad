/**
 * NetworkPolicy semantics: resolves selectors, named ports and defaults into, for every pod and
 * direction, whether the pod is isolated and the list of resolved allow rules. Both compilers
 * (chain and maps) start from this one resolution, so they cannot drift apart on the API rules.
 */
import {
  type Cluster, type Direction, type NetworkPolicy, type Pod, type PolicyPeer, type PolicyPort,
  type Namespace, IPPROTO,
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
  readonly blocks: readonly Block[];
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

export function resolve(cluster: Cluster): Resolution {
  const nsByName = new Map<string, Namespace>(cluster.namespaces.map((n) => [n.name, n]));
  const nodeAddrs = new Map<string, readonly bigint[]>(cluster.nodes.map((n) => [n.name, n.addresses]));
  const pods = cluster.pods.filter(isPolicyPod);
  const podIndex = new Map<Pod, number>(pods.map((p, i) => [p, i]));

  /** Pods a selector peer matches, in pod order. */
  const peerPods = (policy: NetworkPolicy, peer: PolicyPeer): Pod[] =>
    pods.filter((p) => {
      if (peer.namespaceSelector) {
        const ns = nsByName.get(p.namespace);
        if (!ns || !selectorMatches(peer.namespaceSelector, ns.labels)) return false;
      } else if (p.namespace !== policy.namespace) {
        return false;
      }
      return peer.podSelector ? selectorMatches(peer.podSelector, p.labels) : true;
    });

  const rules: ResolvedRule[] = [];
  const sides: { ingress: ResolvedRule[]; egress: ResolvedRule[]; iso: Set<Direction> }[] = pods.map(() => ({ ingress: [], egress: [], iso: new Set() }));

  const selected = cluster.policies.map((pol) =>
    pods.filter((p) => p.namespace === pol.namespace && selectorMatches(pol.podSelector, p.labels)));

  // node allows come first in each isolated side, then policies in (namespace, name) order
  pods.forEach((pod, id) => {
    for (const [i, pol] of cluster.policies.entries()) {
      if (!selected[i]!.includes(pod)) continue;
      for (const d of pol.policyTypes) sides[id]!.iso.add(d);
    }
    const addrs = pod.nodeName ? nodeAddrs.get(pod.nodeName) ?? [] : [];
    if (addrs.length === 0) return;
    for (const dir of ['ingress', 'egress'] as const) {
      if (!sides[id]!.iso.has(dir)) continue;
      const r: ResolvedRule = {
        id: rules.length, source: `node/${pod.nodeName}`, dir, index: -1, pod: id,
        blocks: addrs.map((a) => ({ cidr: hostCidr(a), except: [] })), ports: ANY_PORTS,
      };
      rules.push(r);
      sides[id]![dir].push(r);
    }
  });

  cluster.policies.forEach((pol, pi) => {
    for (const dir of pol.policyTypes) {
      const polRules = dir === 'ingress' ? pol.ingress : pol.egress;
      polRules.forEach((rule, index) => {
        // peer sets: selector peers become the matched pods' addresses, ipBlocks stay blocks;
        // they do not depend on which selected pod the rule protects, so resolve them once
        const blocks: Block[] = [];
        if (rule.peers.length === 0) {
          blocks.push(ANY_BLOCK);
        } else {
          for (const peer of rule.peers) {
            if (peer.ipBlock) { blocks.push(blockOf(peer)); continue; }
            for (const rp of peerPods(pol, peer)) {
              for (const ip of rp.ips) blocks.push({ cidr: hostCidr(ip), except: [] });
            }
          }
        }
        const unique = dedupeBlocks(blocks);
        const hasNamed = rule.ports.some((p) => typeof p.port === 'string');
        let shared: readonly PortMatch[] | undefined;
        for (const pod of selected[pi]!) {
          const id = podIndex.get(pod)!;
          let ports: readonly PortMatch[];
          if (rule.ports.length === 0) ports = ANY_PORTS;
          else if (!hasNamed || dir === 'egress') ports = shared ??= resolvePorts(rule.ports, dir, pod, unique, pods);
          else ports = resolvePorts(rule.ports, dir, pod, unique, pods);
          const r: ResolvedRule = { id: rules.length, source: policyKey(pol), dir, index, pod: id, blocks: unique, ports };
          rules.push(r);
          sides[id]![dir].push(r);
        }
      });
    }
  });

  return {
    rules,
    pods: pods.map((pod, id) => ({
      id, pod,
      ingress: { isolated: sides[id]!.iso.has('ingress'), rules: sides[id]!.iso.has('ingress') ? sides[id]!.ingress : [] },
      egress: { isolated: sides[id]!.iso.has('egress'), rules: sides[id]!.iso.has('egress') ? sides[id]!.egress : [] },
    })),
  };
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
 * it is every pod inside the rule's peer set, each giving an entry valid only towards its own
 * address. A name that resolves nowhere contributes nothing.
 */
function resolvePorts(ports: readonly PolicyPort[], dir: Direction, pod: Pod, blocks: readonly Block[], pods: readonly Pod[]): PortMatch[] {
  const out: PortMatch[] = [];
  for (const p of ports) {
    const proto = IPPROTO[p.protocol];
    if (p.port === undefined) { out.push({ proto, start: 0, end: 65535 }); continue; }
    if (typeof p.port === 'number') { out.push({ proto, start: p.port, end: p.endPort ?? p.port }); continue; }
    const name = p.port;
    const lookup = (target: Pod): number[] =>
      target.ports.filter((cp) => cp.name === name && cp.protocol === p.protocol).map((cp) => cp.containerPort);
    if (dir === 'ingress') {
      for (const n of lookup(pod)) out.push({ proto, start: n, end: n });
      continue;
    }
    for (const target of pods) {
      const numbers = lookup(target);
      if (numbers.length === 0) continue;
      for (const ip of target.ips) {
        if (!blocks.some((b) => inBlock(b, ip))) continue;
        for (const n of numbers) out.push({ proto, start: n, end: n, only: hostCidr(ip) });
      }
    }
  }
  return out;
}
