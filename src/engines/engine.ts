/**
 * The one small interface every engine implements. Engines take batches of packet header
 * records (struct pf_pkt, 40 bytes each, see native/include/pfsim.h and ./packet.ts) and write
 * four u32 words of verdict per packet into a caller-owned Uint32Array:
 *   [0] verdict  PF_VERDICT_ALLOW | PF_VERDICT_DENY
 *   [1] reason   PF_REASON_*
 *   [2] egress   engine-specific reference to what decided the egress side (or NO_REF)
 *   [3] ingress  engine-specific reference to what decided the ingress side (or NO_REF)
 * `describe` turns one verdict into the human reason, e.g. "allowed by default/p ingress".
 */
export const ENGINE_NAMES = ['chain', 'maps', 'bpf', 'iptables', 'nft', 'tc'] as const;
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

export interface EngineOptions {
  /** track connections: packets of an allowed connection pass in both directions */
  readonly stateful: boolean;
}

export interface Engine {
  readonly name: EngineName;
  /** Classifies `count` packets from `pkts` into `out` (OUT_WORDS per packet), in order. */
  classify(pkts: Uint8Array, count: number, out: Uint32Array): void;
  /** The human reason for the verdict at packet index `i` of `out`, for packet bytes `pkts`. */
  describe(pkts: Uint8Array, out: Uint32Array, i: number): string;
  /** Forgets every tracked connection. */
  resetState(): void;
  close(): void;
}

export function verdictName(v: number): 'allow' | 'deny' {
  return v === VERDICT_ALLOW ? 'allow' : 'deny';
}
