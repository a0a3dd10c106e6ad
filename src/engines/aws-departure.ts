/**
 * Why the `aws` engine (the VPC CNI network-policy agent, mirrored) gives another verdict than
 * Kubernetes semantics (the `maps` engine, run alongside as the reference). A closed set of
 * stable codes: the engine sets one on every packet whose verdict departs, from what it met
 * while deciding; reports and tests use the codes, never the prose.
 *
 * Codes are numbered for the verdict word (bits 8..15 of word [1], see src/engines/aws.ts);
 * the numbers are internal, the names are the contract.
 */
export const DEPARTURES = [
  {
    code: 'except-no-inherit',
    what: 'the longest match is an except CIDR, which the agent gives a reserved deny-all entry; rules of other blocks that cover the address and do not except it are lost',
  },
  {
    code: 'except-network-address',
    what: 'the matched CIDR did not inherit a covering CIDR\'s ports because one of that CIDR\'s excepts holds the matched CIDR\'s network address (the agent tests one address, against the excepts of every rule of that CIDR together)',
  },
  {
    code: 'except-inherited-through',
    what: 'the matched CIDR inherited ports through a CIDR that had inherited them from a block whose except holds this address: the except is bypassed',
  },
  {
    code: 'port-slots-exceeded',
    what: 'the matched entry had more than 24 distinct {protocol, port} entries; the agent writes 24 (which ones changes with every map update) and the packet matched only one it dropped',
  },
  {
    code: 'l4-offset-options',
    what: 'the IPv4 header has options; the agent reads the ports at the fixed offset 20, inside the options',
  },
  {
    code: 'fragment-ports',
    what: 'a later IPv4 fragment; the agent reads its ports from the fragment\'s payload (or, when too short, lets it through unjudged)',
  },
  {
    code: 'ipv6-ext-headers',
    what: 'an IPv6 extension header follows the fixed header; the agent takes it for the transport protocol and reads no ports',
  },
  {
    code: 'icmpv6-always',
    what: 'ICMPv6 right after the IPv6 header: the agent\'s IPv6 programs let every such packet through',
  },
  {
    code: 'empty-slot-proto0',
    what: 'the protocol read is 0, which an empty port slot {0, 0, 0} of the matched entry matches as "any port"',
  },
  {
    code: 'node-ip-secondary',
    what: 'the peer is an address of the pod\'s node other than the one node IP the agent allows per family',
  },
  {
    code: 'strict-default-deny',
    what: 'strict enforcement mode: a pod no policy selects denies everything, also from its node',
  },
  {
    code: 'ct-any-packet-opens',
    what: 'allowed by an agent conntrack entry that a packet opened which does not open a connection for Kubernetes\' (netfilter\'s) tracker: a TCP SYN-ACK, FIN, RST or a packet without SYN or ACK',
  },
  {
    code: 'ct-half-open',
    what: 'allowed by an agent conntrack entry of one pod, opened by a packet that the other pod\'s program then dropped (entries are keyed per owner pod)',
  },
  {
    code: 'ct-not-tracked',
    what: 'Kubernetes passes the packet as part of a tracked connection; the agent\'s conntrack, keyed per pod with the ports it reads, has no entry for it',
  },
  {
    code: 'unexplained',
    what: 'the verdicts differ and none of the above was met: a pfsim bug, please report it',
  },
] as const;

export type DepartureCode = (typeof DEPARTURES)[number]['code'];

/** the numeric form carried in the verdict word: index + 1 (0 = no departure) */
export function departureNumber(code: DepartureCode): number {
  return DEPARTURES.findIndex((d) => d.code === code) + 1;
}

export function departureCode(n: number): DepartureCode | undefined {
  return n === 0 ? undefined : DEPARTURES[n - 1]?.code;
}

export const DEPARTURE_CODES: readonly DepartureCode[] = DEPARTURES.map((d) => d.code);
