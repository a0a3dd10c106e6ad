/**
 * The compiled plan: deterministic, JSON-serialisable data that every engine loads.
 * Same cluster in, byte-identical plan out (`JSON.stringify(plan)`): every list is sorted and
 * every id is an index into a sorted list. Addresses and blocks are strings ("10.0.0.0/8").
 *
 * cluster → compile (this folder) → plan → engines (src/engines) → verdicts → report
 */
import type { Direction } from '../cluster/model.js';
import { PfsimError } from '../errors.js';
import type { AwsPlan } from './aws.js';

export const PLAN_VERSION = 1;

/** IP protocol value matching every protocol in a port entry (PF_PROTO_ANY) */
export const PROTO_ANY = 255;

export interface PlanPod {
  readonly id: number;
  readonly namespace: string;
  readonly name: string;
  readonly ips: readonly string[];
  readonly node?: string;
  readonly ingressIsolated: boolean;
  readonly egressIsolated: boolean;
}

/** One allowed {protocol, inclusive port range}; proto PROTO_ANY matches every protocol. */
export interface PortEntry {
  readonly proto: number;
  readonly start: number;
  readonly end: number;
}

/**
 * Where an allow comes from: one rule of one policy (or the node's own address), after
 * selectors and named ports are resolved for one pod and direction.
 */
export interface PlanRule {
  readonly id: number;
  /** "namespace/name" of the policy, or "node/<name>" for the node's own-address allow */
  readonly source: string;
  readonly dir: Direction;
  /** index of the rule in the policy's ingress/egress list; -1 for the node allow */
  readonly index: number;
  readonly pod: number;
}

export interface LpmEntry {
  /** the key: a block as "a.b.c.d/n" or "x::/n" */
  readonly prefix: string;
  /** index into MapsPlan.values */
  readonly value: number;
  /** ids of the PlanRules whose union makes this value (sorted; at most the first 16) */
  readonly rules: readonly number[];
}

export interface LpmTrie {
  /** pod * 2 + (ingress 0 | egress 1), as PF_DIR_* */
  readonly id: number;
  readonly pod: number;
  readonly dir: Direction;
  /** sorted by (address, prefix length) */
  readonly entries: readonly LpmEntry[];
}

export interface PodStateEntry {
  readonly ip: string;
  readonly pod: number;
  readonly ingress: 0 | 1;
  readonly egress: 0 | 1;
}

/** eBPF map contents in the VPC CNI network-policy agent's layout (see native/include/pfsim.h). */
export interface MapsPlan {
  /** pod state map, keyed by pod IP (sorted by address) */
  readonly podState: readonly PodStateEntry[];
  /** one LPM trie per isolated pod and direction (sorted by id) */
  readonly tries: readonly LpmTrie[];
  /** deduplicated LPM values: each a sorted, merged list of port entries */
  readonly values: readonly (readonly PortEntry[])[];
}

export type ChainTarget =
  | { readonly kind: 'ACCEPT' }
  | { readonly kind: 'DROP' }
  | { readonly kind: 'RETURN' }
  | { readonly kind: 'JUMP'; readonly chain: string }
  /** sets the pass mark (Calico's 0x10000 accept bit) */
  | { readonly kind: 'MARK' }
  /** clears the pass mark */
  | { readonly kind: 'CLEARMARK' };

export interface ChainRule {
  readonly src?: string;
  readonly dst?: string;
  /** IP protocol number; absent = all */
  readonly proto?: number;
  /** inclusive destination port range; needs proto */
  readonly dport?: readonly [number, number];
  /** match packets of tracked connections (ESTABLISHED,RELATED) */
  readonly established?: true;
  /** match packets carrying the pass mark */
  readonly marked?: true;
  readonly target: ChainTarget;
  readonly comment?: string;
  /**
   * PlanRule id this MARK rule stands for (absent for structural rules). A policy chain is
   * shared by every pod it protects (as Calico shares it), so this is the rule of the first
   * of those pods: the same policy, direction and index for all of them.
   */
  readonly rule?: number;
}

export interface Chain {
  readonly name: string;
  /** which side of the connection this chain judges, for endpoint and policy chains */
  readonly dir?: Direction;
  readonly rules: readonly ChainRule[];
}

/** One address family's filter table: chains in emission order; `entry` is hooked from FORWARD. */
export interface ChainTable {
  readonly family: 4 | 6;
  readonly entry: string;
  readonly chains: readonly Chain[];
}

export interface Plan {
  readonly version: number;
  readonly pods: readonly PlanPod[];
  readonly rules: readonly PlanRule[];
  readonly chain: { readonly ipv4: ChainTable; readonly ipv6: ChainTable };
  readonly maps: MapsPlan;
  /** the VPC CNI agent's own map contents, for the aws engine (src/compile/aws.ts) */
  readonly aws?: AwsPlan;
}

/** Default limit on what one compile may produce: chain rules plus LPM map entries. */
export const DEFAULT_MAX_RULES = 5_000_000;

/**
 * Counts the chain rules and map entries a compile produces, and stops it with one line as soon
 * as they pass the limit, before a cluster whose policies multiply out (every pod selecting and
 * allowing every other) uses up the machine's memory.
 */
export class PlanBudget {
  private used = 0;

  /** `what` names the cluster in the error, e.g. the manifest paths. */
  constructor(readonly limit: number = DEFAULT_MAX_RULES, readonly what: string = 'cluster') {}

  /** Counts `n` more rules or entries made while building `stage`; throws PFSIM_ERR_COMPILE past the limit. */
  take(n: number, stage: string): void {
    this.used += n;
    if (this.used <= this.limit) return;
    throw new PfsimError('PFSIM_ERR_COMPILE',
      `${this.what}: the compiled policies exceed ${this.limit} chain rules and map entries (${this.used} when stopped, building the ${stage}); ` +
      'raise --max-rules if this machine has the memory for it, or narrow the policies\' pod selectors');
  }
}
