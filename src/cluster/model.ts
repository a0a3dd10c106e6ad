/**
 * The cluster as pfsim sees it after loading and validating kubectl output: plain, checked data.
 * Every object remembers where it came from so later errors can name the file and document.
 */
import type { Cidr } from '../net/ip.js';

export type Labels = Readonly<Record<string, string>>;
export type L4Proto = 'TCP' | 'UDP' | 'SCTP';
export const L4_PROTOS: readonly L4Proto[] = ['TCP', 'UDP', 'SCTP'];
export const IPPROTO: Readonly<Record<L4Proto | 'ICMP' | 'ICMPv6', number>> = {
  TCP: 6, UDP: 17, SCTP: 132, ICMP: 1, ICMPv6: 58,
};

/** Where an object was read: file path and 1-based document number (and List item). */
export interface Origin {
  readonly file: string;
  readonly doc: number;
  readonly item?: number;
}

export function originText(o: Origin): string {
  return `${o.file}: document ${o.doc}${o.item !== undefined ? ` items[${o.item}]` : ''}`;
}

export interface Namespace {
  readonly name: string;
  readonly labels: Labels;
  readonly origin?: Origin;
}

export interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  readonly protocol: L4Proto;
}

export interface Pod {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Labels;
  /** the pod's IPs (status.podIPs, else status.podIP); empty while the pod has none */
  readonly ips: readonly bigint[];
  readonly nodeName?: string;
  /** host-network pods share the node's IP and are neither isolated nor matched by selectors */
  readonly hostNetwork: boolean;
  readonly ports: readonly ContainerPort[];
  readonly origin?: Origin;
}

export interface Node {
  readonly name: string;
  readonly addresses: readonly bigint[];
  readonly origin?: Origin;
}

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  readonly values: readonly string[];
}

export interface LabelSelector {
  readonly matchLabels: Labels;
  readonly matchExpressions: readonly LabelSelectorRequirement[];
}

export interface IpBlock {
  readonly cidr: Cidr;
  readonly except: readonly Cidr[];
}

/** One entry of `from`/`to`: either selectors (ANDed when both are present) or an ipBlock. */
export interface PolicyPeer {
  readonly podSelector?: LabelSelector;
  readonly namespaceSelector?: LabelSelector;
  readonly ipBlock?: IpBlock;
}

export interface PolicyPort {
  /** defaulted to TCP when the manifest leaves it out */
  readonly protocol: L4Proto;
  /** absent: every port of the protocol; string: a named container port */
  readonly port?: number | string;
  /** inclusive upper end of a numeric range */
  readonly endPort?: number;
}

export interface PolicyRule {
  /** `from` (ingress) or `to` (egress); empty means every peer */
  readonly peers: readonly PolicyPeer[];
  /** empty means every protocol and port */
  readonly ports: readonly PolicyPort[];
}

export type Direction = 'ingress' | 'egress';
export const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

export interface NetworkPolicy {
  readonly namespace: string;
  readonly name: string;
  readonly podSelector: LabelSelector;
  /** defaulted: Ingress always, Egress when the spec has at least one egress rule */
  readonly policyTypes: readonly Direction[];
  readonly ingress: readonly PolicyRule[];
  readonly egress: readonly PolicyRule[];
  readonly origin?: Origin;
}

export interface Cluster {
  readonly namespaces: readonly Namespace[];
  readonly pods: readonly Pod[];
  readonly nodes: readonly Node[];
  readonly policies: readonly NetworkPolicy[];
}

export const METADATA_NAME_LABEL = 'kubernetes.io/metadata.name';
