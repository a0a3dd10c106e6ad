/**
 * The one small interface every engine implements. Engines take batches of packet header
 * records (struct pf_pkt, 40 bytes each, see native/include/pfsim.h and ./packet.ts) and write
 * four u32 words of verdict per packet into a caller-owned Uint32Array:
 *   [0] verdict  PF_VERDICT_ALLOW | PF_VERDICT_DENY
 *   [1] reason   PF_REASON_*
 *   [2] egress   engine-specific reference to what decided the egress side (or NO_REF)
 *   [3] ingress  engine-specific reference to what decided the ingress side (or NO_REF)
 * `describe` turns one verdict into the human reason, e.g. "allowed by default/p ingress".
 * The aws engine (the VPC CNI agent's own semantics) also carries, in bits 8..15 of word [1],
 * why it departs from Kubernetes semantics; `departure` names it.
 */
export const ENGINE_NAMES = ['chain', 'maps', 'bpf', 'iptables', 'nft', 'tc', 'aws'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

export const OUT_WORDS = 4;
export const NO_REF = 0xffffffff;

export const VERDICT_ALLOW = 1;
export const VERDICT_DENY = 2;

export const REASON_ESTABLISHED = 1;
export const REASON_NOT_ISOLATED = 2;
export const REASON_POLICY = 3;
export const REASON_DENY_EGRESS = 4;
export const REASON_DENY_INGRESS = 5;
/** a new connection found conntrack full (nothing to drop early): dropped, as netfilter does */
export const REASON_CT_FULL = 6;
export const CT_FULL_TEXT = 'conntrack table full: new connection dropped';

export interface EngineOptions {
  /** track connections: packets of an allowed connection pass in both directions */
  readonly stateful: boolean;
  /** aws engine: the agent's enforcement mode, overriding the plan's (plan.aws.mode) */
  readonly awsMode?: 'standard' | 'strict';
  /**
   * conntrack entries at most, as nf_conntrack_max (default CT_DEFAULT_MAX, conntrack.ts), for
   * the chain, maps and aws engines; the kernel engines keep their LRU map's own size
   */
  readonly ctMax?: number;
}

export interface Engine {
  readonly name: EngineName;
  /**
   * Classifies `count` packets from `pkts` into `out` (OUT_WORDS per packet), in order.
   * `views`, when the packets come from a capture, holds two words per packet: what a parser
   * with a fixed L4 offset reads (META_FIXED_PORTS, META_FIXED_INFO); only aws uses it.
   * `times` holds each packet's trace time in seconds (META_SEC_LO): conntrack ages by it
   * (chain, maps, aws; see src/engines/conntrack.ts). Without it nothing newly expires. The
   * kernel engines (bpf, tc, iptables, nft) age by the kernel's own clock and ignore it.
   */
  classify(pkts: Uint8Array, count: number, out: Uint32Array, views?: Uint32Array, times?: Uint32Array): void;
  /** aws only: the departure code of verdict `i` of `out`, undefined when there is none. */
  departure?(out: Uint32Array, i: number): string | undefined;
  /** The human reason for the verdict at packet index `i` of `out`, for packet bytes `pkts`. */
  describe(pkts: Uint8Array, out: Uint32Array, i: number): string;
  /** Forgets every tracked connection. */
  resetState(): void;
  close(): void;
}

export function verdictName(v: number): 'allow' | 'deny' {
  return v === VERDICT_ALLOW ? 'allow' : 'deny';
}
