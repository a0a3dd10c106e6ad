/**
 * The maps engine: the plan's eBPF map contents (pod state, one LPM trie per isolated pod
 * and direction) loaded into the native classifier, which judges batches as the VPC CNI
 * network-policy agent's tc program would. Verdict words [2]/[3] are LPM entry ids: the
 * global index of the entry in plan.maps.tries order (see src/compile/layout.ts).
 */
import type { LpmEntry, LpmTrie, Plan } from '../compile/plan.js';
import { encodeMaps, type MapsLayout } from '../compile/layout.js';
import { wrapError } from '../errors.js';
import { CT_FULL_TEXT, NO_REF, OUT_WORDS, REASON_CT_FULL, type Engine, type EngineOptions } from './engine.js';
import { CT_DEFAULT_MAX, slotsFor } from './conntrack.js';
import { createClassifier, type NativeClassifier } from './native.js';
import { MapsExplainer } from './explain.js';
import { readPacket } from './packet.js';

export interface MapsEngineOptions extends EngineOptions {
  /** conntrack slots, a power of two (default: what ctMax needs at 7/8 load) */
  readonly ctCapacity?: number;
}

export class MapsEngine implements Engine {
  readonly name = 'maps' as const;
  private readonly plan: Plan;
  private readonly layout: MapsLayout;
  private readonly stateful: boolean;
  private readonly classifier: NativeClassifier;
  /** pod address → pod id, built on the first describe() */
  private readonly explainer: MapsExplainer;

  /** Throws PfsimError: PFSIM_ERR_COMPILE for a malformed plan, PFSIM_ERR_NATIVE from the addon. */
  constructor(plan: Plan, opts: MapsEngineOptions) {
    this.plan = plan;
    this.stateful = opts.stateful;
    this.layout = encodeMaps(plan.maps);
    this.explainer = new MapsExplainer(plan);
    let classifier: NativeClassifier | undefined;
    try {
      classifier = createClassifier(ctSize(opts));
      const l = this.layout;
      classifier.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
    } catch (err) {
      classifier?.close();
      throw wrapError('maps engine', err);
    }
    this.classifier = classifier;
  }

  classify(pkts: Uint8Array, count: number, out: Uint32Array, _views?: Uint32Array, times?: Uint32Array): void {
    this.classifier.classifyBatch(pkts, count, out, this.stateful, times);
  }

  /** the native conntrack's counters */
  get ctStats(): ReturnType<NativeClassifier['stats']> {
    return this.classifier.stats();
  }

  describe(pkts: Uint8Array, out: Uint32Array, i: number): string {
    const o = i * OUT_WORDS;
    if (out[o + 1] === REASON_CT_FULL) return CT_FULL_TEXT;
    const ids = { egress: out[o + 2]!, ingress: out[o + 3]! };
    return this.explainer.describe(out[o + 1]!, readPacket(pkts, i),
      (dir) => (ids[dir] === NO_REF ? NO_REF : this.entry(ids[dir])?.entry),
      (dir) => (ids[dir] === NO_REF ? undefined : this.entry(ids[dir])?.trie.pod));
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
}

/** the native table's slots and limit: ctMax entries (default CT_DEFAULT_MAX) at 7/8 load at most */
function ctSize(opts: MapsEngineOptions): { ctCapacity: number; ctMax?: number } {
  if (opts.ctCapacity !== undefined) return opts.ctMax === undefined ? { ctCapacity: opts.ctCapacity } : { ctCapacity: opts.ctCapacity, ctMax: opts.ctMax };
  const max = opts.ctMax ?? CT_DEFAULT_MAX;
  return { ctCapacity: Math.max(8, slotsFor(max)), ctMax: max };
}
