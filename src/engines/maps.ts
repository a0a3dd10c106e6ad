/**
 * The maps engine: the plan's eBPF map contents (pod state, one LPM trie per isolated pod
 * and direction) loaded into the native classifier, which judges batches as the VPC CNI
 * network-policy agent's tc program would. Verdict words [2]/[3] are LPM entry ids: the
 * global index of the entry in plan.maps.tries order (see src/compile/layout.ts).
 */
import type { LpmEntry, LpmTrie, Plan, PlanPod } from '../compile/plan.js';
import { encodeMaps, type MapsLayout } from '../compile/layout.js';
import { wrapError } from '../errors.js';
import { parseIp } from '../net/ip.js';
import {
  NO_REF,
  OUT_WORDS,
  REASON_DENY_EGRESS,
  REASON_DENY_INGRESS,
  REASON_ESTABLISHED,
  REASON_NOT_ISOLATED,
  REASON_POLICY,
  type Engine,
  type EngineOptions,
} from './engine.js';
import { createClassifier, type NativeClassifier } from './native.js';
import { readPacket } from './packet.js';

export interface MapsEngineOptions extends EngineOptions {
  /** conntrack slots, a power of two (default 1 << 20) */
  readonly ctCapacity?: number;
}

export class MapsEngine implements Engine {
  readonly name = 'maps' as const;
  private readonly plan: Plan;
  private readonly layout: MapsLayout;
  private readonly stateful: boolean;
  private readonly classifier: NativeClassifier;
  /** pod address → pod id, built on the first describe() */
  private podByAddr: Map<bigint, number> | undefined;

  /** Throws PfsimError: PFSIM_ERR_COMPILE for a malformed plan, PFSIM_ERR_NATIVE from the addon. */
  constructor(plan: Plan, opts: MapsEngineOptions) {
    this.plan = plan;
    this.stateful = opts.stateful;
    this.layout = encodeMaps(plan.maps);
    let classifier: NativeClassifier | undefined;
    try {
      classifier = createClassifier(opts.ctCapacity === undefined ? {} : { ctCapacity: opts.ctCapacity });
      const l = this.layout;
      classifier.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
    } catch (err) {
      classifier?.close();
      throw wrapError('maps engine', err);
    }
    this.classifier = classifier;
  }

  classify(pkts: Uint8Array, count: number, out: Uint32Array): void {
    this.classifier.classifyBatch(pkts, count, out, this.stateful);
  }

  describe(pkts: Uint8Array, out: Uint32Array, i: number): string {
    const o = i * OUT_WORDS;
    const reason = out[o + 1];
    const egress = out[o + 2]!;
    const ingress = out[o + 3]!;
    switch (reason) {
      case REASON_ESTABLISHED:
        return 'established';
      case REASON_NOT_ISOLATED:
        return 'not isolated';
      case REASON_DENY_EGRESS:
        return `default deny egress ${this.podName(egress, readPacket(pkts, i).src)}`;
      case REASON_DENY_INGRESS:
        return `default deny ingress ${this.podName(ingress, readPacket(pkts, i).dst)}`;
      case REASON_POLICY: {
        const parts: string[] = [];
        if (egress !== NO_REF) parts.push(`allowed by ${this.entrySource(egress)} egress`);
        if (ingress !== NO_REF) parts.push(`allowed by ${this.entrySource(ingress)} ingress`);
        return parts.join(', ');
      }
      default:
        return `unknown reason ${String(reason)}`;
    }
  }

  resetState(): void {
    this.classifier.resetConntrack();
  }

  close(): void {
    this.classifier.close();
  }

  /** the trie and entry of entry id `id` */
  private entry(id: number): { trie: LpmTrie; entry: LpmEntry } | undefined {
    const first = this.layout.trieFirstEntry;
    let lo = 0, hi = first.length - 2;
    if (hi < 0 || id >= first[hi + 1]!) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (first[mid]! <= id) lo = mid; else hi = mid - 1;
    }
    const trie = this.plan.maps.tries[lo];
    const entry = trie?.entries[id - first[lo]!];
    return trie && entry ? { trie, entry } : undefined;
  }

  /**
   * The policy behind an entry. Its value is the union of several rules' ports, so which
   * rule allowed this very packet is not known here: the first rule (policy order) stands.
   */
  private entrySource(id: number): string {
    const e = this.entry(id);
    const r = e?.entry.rules[0];
    const rule = r === undefined ? undefined : this.plan.rules[r]?.id === r ? this.plan.rules[r] : this.plan.rules.find((x) => x.id === r);
    return rule?.source ?? (e ? `entry ${e.entry.prefix}` : `entry ${id}`);
  }

  /** "ns/name" of the pod whose trie holds entry `id`, else of the pod at `addr` */
  private podName(id: number, addr: bigint): string {
    let podId = id === NO_REF ? undefined : this.entry(id)?.trie.pod;
    if (podId === undefined) {
      if (!this.podByAddr) {
        this.podByAddr = new Map();
        for (const p of this.plan.maps.podState) {
          const a = parseIp(p.ip);
          if (a !== undefined) this.podByAddr.set(a, p.pod);
        }
      }
      podId = this.podByAddr.get(addr);
    }
    const pod: PlanPod | undefined =
      podId === undefined ? undefined : this.plan.pods[podId]?.id === podId ? this.plan.pods[podId] : this.plan.pods.find((p) => p.id === podId);
    return pod ? `${pod.namespace}/${pod.name}` : 'unknown pod';
  }
}
