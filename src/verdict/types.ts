/** A flow as the user writes it in a flows file: the first packet of a connection. */
export interface Flow {
  readonly src: string;
  readonly dst: string;
  /** case-insensitive: TCP, UDP, SCTP, ICMP (ICMPv6 for IPv6 ICMP) */
  readonly proto: string;
  readonly sport?: number;
  readonly dport?: number;
}

export interface FlowVerdict {
  readonly index: number;
  readonly verdict: 'allow' | 'deny';
  readonly engines: Readonly<Record<string, 'allow' | 'deny'>>;
  readonly agree: boolean;
  readonly reason: string;
  /** why the aws engine departs from Kubernetes semantics (absent: it does not, or was not asked) */
  readonly departure?: string;
}
