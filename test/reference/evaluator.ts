/**
 * An independent reference reading of the Kubernetes NetworkPolicy v1 rules, written straight
 * from the API documentation and deliberately naive: for every packet it walks the whole cluster.
 * It shares nothing with src/policy or src/compile, so the differential tests compare the
 * production engines against a second, separately written interpretation of the same rules.
 * It only reads a validated Cluster (src/cluster) and addresses (src/net/ip.ts); the verdict
 * functions never throw.
 */
import {
  IPPROTO, type Cluster, type Direction, type IpBlock, type NetworkPolicy, type Pod, type PolicyPeer,
  type PolicyPort, type PolicyRule,
} from '../../src/cluster/model.js';
import { selectorMatches } from '../../src/cluster/selector.js';
import { cidrContainsAddr, familyOf, parseIp } from '../../src/net/ip.js';

export type RefVerdict = 'allow' | 'deny';

/** The first packet of a connection; proto is the IP protocol number (6, 17, 132, 1, 58). */
export interface RefFlow {
  readonly src: bigint;
  readonly dst: bigint;
  readonly proto: number;
  readonly dport: number;
}

/** One packet of a trace, in order; sport makes the 5-tuple that conntrack keys on. */
export interface RefPacket extends RefFlow {
  readonly sport: number;
  /** TCP flags of a captured packet (FIN 1, SYN 2, RST 4, ACK 16); absent for a user's flow */
  readonly flags?: number;
}

/**
 * The pod that owns an address: a pod with that IP that is not on the host network. Host-network
 * pods share their node's address, so their traffic is the node's and policies never see them.
 */
function podOwning(cluster: Cluster, addr: bigint): Pod | undefined {
  return cluster.pods.find((p) => !p.hostNetwork && p.ips.includes(addr));
}

function policySelects(np: NetworkPolicy, pod: Pod): boolean {
  return np.namespace === pod.namespace && selectorMatches(np.podSelector, pod.labels);
}

/** Policies in the pod's namespace that select it and name `dir` in their policyTypes. */
function isolatingPolicies(cluster: Cluster, pod: Pod, dir: Direction): NetworkPolicy[] {
  return cluster.policies.filter((np) => np.policyTypes.includes(dir) && policySelects(np, pod));
}

function ipBlockMatches(b: IpBlock, addr: bigint): boolean {
  // addresses share one 128-bit space, so ::/0 numerically contains IPv4: check the family
  if (familyOf(addr) !== b.cidr.family) return false;
  if (!cidrContainsAddr(b.cidr, addr)) return false;
  return !b.except.some((e) => cidrContainsAddr(e, addr));
}

/** Whether one `from`/`to` entry of policy `np` matches the remote address `addr`. */
function peerMatches(cluster: Cluster, np: NetworkPolicy, peer: PolicyPeer, addr: bigint): boolean {
  if (peer.ipBlock) return ipBlockMatches(peer.ipBlock, addr);
  // selectors only ever name pods: an address that is no (non-host-network) pod never matches
  const pod = podOwning(cluster, addr);
  if (!pod) return false;
  if (peer.namespaceSelector) {
    const ns = cluster.namespaces.find((n) => n.name === pod.namespace);
    if (!ns || !selectorMatches(peer.namespaceSelector, ns.labels)) return false;
  } else if (pod.namespace !== np.namespace) {
    return false;
  }
  return peer.podSelector ? selectorMatches(peer.podSelector, pod.labels) : true;
}

/** Whether a ports entry matches (proto, dport) at the destination pod `dstPod` (if any). */
function portMatches(entry: PolicyPort, dstPod: Pod | undefined, proto: number, dport: number): boolean {
  // entries are TCP, UDP or SCTP only; ICMP and the rest never match one
  if (IPPROTO[entry.protocol] !== proto) return false;
  if (entry.port === undefined) return true;
  if (typeof entry.port === 'number') return dport >= entry.port && dport <= (entry.endPort ?? entry.port);
  // a named port means the destination pod's container port of that name and protocol
  if (!dstPod) return false;
  return dstPod.ports.some((cp) => cp.name === entry.port && cp.protocol === entry.protocol && cp.containerPort === dport);
}

function ruleMatches(cluster: Cluster, np: NetworkPolicy, rule: PolicyRule, remote: bigint, dstPod: Pod | undefined, flow: RefFlow): boolean {
  const peerOk = rule.peers.length === 0 || rule.peers.some((p) => peerMatches(cluster, np, p, remote));
  if (!peerOk) return false;
  return rule.ports.length === 0 || rule.ports.some((e) => portMatches(e, dstPod, flow.proto, flow.dport));
}

function nodeAddresses(cluster: Cluster, pod: Pod): readonly bigint[] {
  if (pod.nodeName === undefined) return [];
  return cluster.nodes.find((n) => n.name === pod.nodeName)?.addresses ?? [];
}

function egressAllows(cluster: Cluster, flow: RefFlow): boolean {
  const src = podOwning(cluster, flow.src);
  if (!src) return true;
  const pols = isolatingPolicies(cluster, src, 'egress');
  if (pols.length === 0) return true;
  if (nodeAddresses(cluster, src).includes(flow.dst)) return true;
  const dstPod = podOwning(cluster, flow.dst);
  return pols.some((np) => np.egress.some((r) => ruleMatches(cluster, np, r, flow.dst, dstPod, flow)));
}

function ingressAllows(cluster: Cluster, flow: RefFlow): boolean {
  const dst = podOwning(cluster, flow.dst);
  if (!dst) return true;
  const pols = isolatingPolicies(cluster, dst, 'ingress');
  if (pols.length === 0) return true;
  if (nodeAddresses(cluster, dst).includes(flow.src)) return true;
  return pols.some((np) => np.ingress.some((r) => ruleMatches(cluster, np, r, flow.src, dst, flow)));
}

/** The verdict for the first packet of a new connection: both the source's egress and the destination's ingress must allow it. */
export function referenceVerdict(cluster: Cluster, flow: RefFlow): RefVerdict {
  return egressAllows(cluster, flow) && ingressAllows(cluster, flow) ? 'allow' : 'deny';
}

/**
 * netfilter's TCP tracker (loose pickup): a packet without an entry opens one if it is a SYN
 * or a plain ACK; SYN-ACK, FIN and RST are invalid there and open nothing. Packets without
 * flags (the flows a user writes) stand for a connection's first packet, a SYN.
 */
function opensConnection(p: RefPacket): boolean {
  if (p.proto !== IPPROTO.TCP || p.flags === undefined) return true;
  const FIN = 1, SYN = 2, RST = 4, ACK = 16;
  if (p.flags & (FIN | RST)) return false;
  if (p.flags & SYN) return (p.flags & ACK) === 0;
  return (p.flags & ACK) !== 0;
}

function tupleKey(proto: number, a: bigint, ap: number, b: bigint, bp: number): string {
  return `${proto}|${a}|${ap}|${b}|${bp}`;
}

/**
 * Verdicts for packets in order with connection tracking: once a connection's first packet is
 * allowed, every packet of its 5-tuple passes in either direction; a denied packet tracks nothing,
 * so a reply to it is judged as a new connection of its own.
 */
export function referenceTrace(cluster: Cluster, packets: readonly RefPacket[]): RefVerdict[] {
  const established = new Set<string>();
  return packets.map((p) => {
    if (established.has(tupleKey(p.proto, p.src, p.sport, p.dst, p.dport))
      || established.has(tupleKey(p.proto, p.dst, p.dport, p.src, p.sport))) return 'allow';
    const v = referenceVerdict(cluster, p);
    if (v === 'allow' && opensConnection(p)) established.add(tupleKey(p.proto, p.src, p.sport, p.dst, p.dport));
    return v;
  });
}

const PROTO_BY_NAME: Readonly<Record<string, number>> = {
  TCP: IPPROTO.TCP, UDP: IPPROTO.UDP, SCTP: IPPROTO.SCTP, ICMP: IPPROTO.ICMP, ICMPV6: IPPROTO.ICMPv6,
};

/**
 * Turns a flow as a user writes it (src/verdict/types.ts Flow: text addresses, protocol name)
 * into the reference's packet. Throws on an address or protocol the tests should never write.
 */
export function refPacketOf(f: { src: string; dst: string; proto: string; sport?: number; dport?: number }): RefPacket {
  const src = parseIp(f.src);
  const dst = parseIp(f.dst);
  const proto = PROTO_BY_NAME[f.proto.toUpperCase()];
  if (src === undefined || dst === undefined || proto === undefined) throw new Error(`bad test flow ${JSON.stringify(f)}`);
  return { src, dst, proto, sport: f.sport ?? 0, dport: f.dport ?? 0 };
}
