/**
 * The bpf engine: the maps plan loaded into the kernel as the tc program
 * native/bpf/pfsim_tc.bpf.c (the same decision as the maps engine, pfsim_classify.h, under
 * the verifier), every packet run through it with BPF_PROG_TEST_RUN. Packet records become
 * minimal Ethernet frames in the addon; the program parses them back and answers in skb->cb.
 *
 * Verdict words [2]/[3] are NO_REF: the kernel's LPM lookup does not say which prefix
 * matched. describe() finds the entry itself from the plan, for the reason text only.
 *
 * Needs root (or CAP_BPF with CAP_NET_ADMIN), the built BPF object and an addon built with
 * libbpf; `bpfAvailability()` says whether this machine has them, once per process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MapsDelta } from '../compile/delta.js';
import type { Plan } from '../compile/plan.js';
import { encodeMaps, type MapsLayout } from '../compile/layout.js';
import { PfsimError, wrapError } from '../errors.js';
import { NO_REF, OUT_WORDS, REASON_NOT_ISOLATED, type Engine, type EngineOptions } from './engine.js';
import { loadNative, packageRoot, type MapsClassifier } from './native.js';
import { readPacket } from './packet.js';
import { MapsExplainer } from './explain.js';
import {
  capacitiesFor, type MapCapacities, MapsUpdater, type MapsView, type NativeMapsUpdate, type PreparedMapsDelta,
} from './map-update.js';

/** the tc program's object, relative to the package root */
export const BPF_OBJECT_PATH = join('native', 'build', 'bpf', 'pfsim_tc.bpf.o');

/** What one run of the program said: its return code and skb->cb[0..3]. */
export interface BpfRun {
  /** TC_ACT_OK (0) or TC_ACT_SHOT (2) */
  readonly retval: number;
  /** VERDICT_ALLOW | VERDICT_DENY, or 0 when the frame was not judged (then reason is why) */
  readonly verdict: number;
  readonly reason: number;
  readonly egress: number;
  readonly ingress: number;
}

/** One loaded tc program with its maps, run by BPF_PROG_TEST_RUN; usable from one thread. */
export interface NativeBpfClassifier extends MapsClassifier, NativeMapsUpdate {
  /** As MapsClassifier.load(); `capacity` makes the maps larger than the load, for later deltas. */
  load(
    podAddrs: Uint8Array, podStates: Uint32Array, trieCount: number, entryKeys: Uint8Array, entryTries: Uint32Array,
    entryValues: Uint32Array, values: Uint8Array, ext: Uint8Array, capacity?: Partial<MapCapacities>,
  ): void;
  /**
   * One test run on a raw Ethernet frame (14 bytes to 256 KiB). The kernel takes at most
   * about 3.7 KiB, so a frame runs as its first 3 KiB: the program reads headers only.
   */
  runFrame(frame: Uint8Array, stateful?: boolean): BpfRun;
  /** `repeat` test runs on `frame`: the kernel's average duration per run, in ns. */
  timePerPacket(frame: Uint8Array, repeat: number, stateful?: boolean): number;
}

interface BpfClassifierClass {
  new (objPath: string, opts?: { ctCapacity?: number }): NativeBpfClassifier;
  /** port entries per value the tc program scans (PF_TC_VALUE_MAX_ENTRIES) */
  readonly VALUE_MAX_ENTRIES: number;
}

/** unjudged frames: reason word when verdict is 0 (the capture decoder's PFC_SKIP_* numbers) */
export const BPF_SKIP_REASONS: Readonly<Record<number, string>> = {
  1: 'not IP',
  2: 'truncated',
  4: 'non-first fragment',
  5: 'malformed IP header',
  6: 'malformed transport header',
  7: 'too many headers',
};

export type BpfAvailability = { ok: true } | { ok: false; reason: string };

let availability: BpfAvailability | undefined;

/** The absolute path of the BPF object. */
export function bpfObjectPath(): string {
  return join(packageRoot(), BPF_OBJECT_PATH);
}

function bpfClass(): BpfClassifierClass {
  const addon = loadNative() as unknown as { BpfClassifier?: BpfClassifierClass };
  if (typeof addon.BpfClassifier !== 'function') {
    throw new PfsimError('PFSIM_ERR_NATIVE', 'native addon has no BpfClassifier: run npm run build');
  }
  return addon.BpfClassifier;
}

/** CAP_* bit numbers from linux/capability.h */
const CAP_NET_ADMIN = 12n, CAP_SYS_ADMIN = 21n, CAP_BPF = 39n;

/** why this process may not load a tc program, or undefined when it may */
function missingCapability(): string | undefined {
  let eff: bigint;
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (!m) return 'cannot read the effective capabilities (/proc/self/status has no CapEff)';
    eff = BigInt(`0x${m[1]}`);
  } catch (e) {
    return `cannot read /proc/self/status: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
  }
  const has = (c: bigint) => ((eff >> c) & 1n) === 1n;
  if (has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_NET_ADMIN))) return undefined;
  return `needs root or CAP_BPF and CAP_NET_ADMIN (uid ${process.getuid?.() ?? 'unknown'})`;
}

/** an IPv4 UDP frame 10.0.0.1 -> 10.0.0.2:53 for the trial run */
function probeFrame(): Uint8Array {
  const f = new Uint8Array(42);
  f.set([0x08, 0x00], 12);
  f.set([0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  f.set([0x9c, 0x40, 0, 53, 0, 8, 0, 0], 34);
  return f;
}

function probe(): BpfAvailability {
  if (process.platform !== 'linux') return { ok: false, reason: `needs Linux (this is ${process.platform})` };
  const cap = missingCapability();
  if (cap) return { ok: false, reason: cap };
  let file: string;
  let cls: BpfClassifierClass;
  try {
    file = bpfObjectPath();
    if (!existsSync(file)) return { ok: false, reason: `BPF object not built (${BPF_OBJECT_PATH}): run npm run build with clang installed` };
    cls = bpfClass();
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
  let c: NativeBpfClassifier | undefined;
  try {
    c = new cls(file);
    const l = encodeMaps({ podState: [], tries: [], values: [] });
    c.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
    const run = c.runFrame(probeFrame());
    if (run.verdict !== 1 || run.reason !== REASON_NOT_ISOLATED) {
      return { ok: false, reason: `trial run: verdict ${run.verdict} reason ${run.reason}, expected allow, not isolated` };
    }
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  } finally {
    c?.close();
  }
  return { ok: true };
}

/**
 * Whether the bpf engine works here: Linux, the capabilities to load a tc program, the BPF
 * object, an addon with BpfClassifier, and a trial load and run of the program. Probed once
 * per process (the trial costs one verifier pass); never throws.
 */
export function bpfAvailability(): BpfAvailability {
  availability ??= probe();
  return availability;
}

/** The tc program's scan limit per value (PF_TC_VALUE_MAX_ENTRIES). */
export function bpfValueMaxEntries(): number {
  return bpfClass().VALUE_MAX_ENTRIES;
}

/**
 * A new tc program classifier, not loaded yet. Throws PfsimError PFSIM_ERR_UNSUPPORTED when
 * the engine is unavailable here, PFSIM_ERR_NATIVE from the addon.
 */
export function createBpfClassifier(opts: { ctCapacity?: number } = {}): NativeBpfClassifier {
  const a = bpfAvailability();
  if (!a.ok) throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `bpf: unavailable: ${a.reason}`);
  const Cls = bpfClass();
  return opts.ctCapacity === undefined ? new Cls(bpfObjectPath()) : new Cls(bpfObjectPath(), { ctCapacity: opts.ctCapacity });
}

export interface BpfEngineOptions extends EngineOptions {
  /** conntrack LRU capacity (default 65536) */
  readonly ctCapacity?: number;
  /** map sizes, for later updates (default: twice the plan's needs; see capacitiesFor()) */
  readonly capacity?: Partial<MapCapacities>;
}

/** A maps update checked against the loaded maps and laid out; see BpfEngine.prepareUpdate(). */
export interface PreparedUpdate {
  readonly maps: PreparedMapsDelta;
  readonly plan: Plan;
}

export class BpfEngine implements Engine {
  readonly name = 'bpf' as const;
  private plan: Plan;
  private readonly layout: MapsLayout;
  private readonly stateful: boolean;
  private readonly classifier: NativeBpfClassifier;
  /** pod address → pod id, and each trie's parsed prefixes, built on the first describe() */
  private explainer: MapsExplainer;
  private readonly updater: MapsUpdater;

  /**
   * Throws PfsimError: PFSIM_ERR_UNSUPPORTED when the engine is unavailable here or a value
   * holds more port entries than the tc program scans, PFSIM_ERR_COMPILE for a malformed
   * plan, PFSIM_ERR_NATIVE from the addon (prefixed "bpf engine: ").
   */
  constructor(plan: Plan, opts: BpfEngineOptions) {
    this.plan = plan;
    this.explainer = new MapsExplainer(plan);
    this.stateful = opts.stateful;
    let classifier: NativeBpfClassifier | undefined;
    try {
      classifier = createBpfClassifier(opts.ctCapacity === undefined ? {} : { ctCapacity: opts.ctCapacity });
      const max = bpfValueMaxEntries();
      plan.maps.values.forEach((v, i) => {
        if (v.length > max) {
          throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `maps.values[${i}]: ${v.length} port entries exceed the tc program's limit of ${max}`);
        }
      });
      this.layout = encodeMaps(plan.maps);
      const l = this.layout;
      const capacity = capacitiesFor(l, opts.capacity);
      classifier.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext, capacity);
      this.updater = new MapsUpdater(classifier, plan.maps, l, capacity, max);
    } catch (err) {
      classifier?.close();
      if (err instanceof PfsimError && err.code === 'PFSIM_ERR_UNSUPPORTED' && err.message.startsWith('bpf: unavailable')) throw err;
      throw wrapError('bpf engine', err);
    }
    this.classifier = classifier;
  }

  classify(pkts: Uint8Array, count: number, out: Uint32Array): void {
    this.updater.assertUsable('bpf engine');
    this.classifier.classifyBatch(pkts, count, out, this.stateful);
  }

  /**
   * Checks `delta` (src/compile/delta.ts diffMaps, from the loaded plan's maps to `next`'s)
   * against the loaded maps and lays it out for the addon; nothing changes yet. Throws
   * PfsimError PFSIM_ERR_COMPILE (prefixed "bpf engine: update: ") when it does not fit the
   * maps' sizes or was made for other maps, PFSIM_ERR_UNSUPPORTED for a value too long.
   */
  prepareUpdate(delta: MapsDelta, next: Plan): PreparedUpdate {
    this.updater.assertUsable('bpf engine');
    try {
      return { maps: this.updater.prepare(delta, next.maps), plan: next };
    } catch (err) {
      throw wrapError('bpf engine: update', err);
    }
  }

  /**
   * Applies a prepared update: ONE addon call issuing every bpf_map_update_elem and
   * bpf_map_delete_elem of the delta on the live maps (conntrack is kept). Returns the map
   * operations made; the engine judges and explains as `next` from then on.
   */
  commitUpdate(p: PreparedUpdate): number {
    const ops = this.updater.commit(p.maps, 'bpf engine');
    this.plan = p.plan;
    this.explainer = new MapsExplainer(p.plan);
    return ops;
  }

  /** prepareUpdate() then commitUpdate(). */
  applyDelta(delta: MapsDelta, next: Plan): number {
    return this.commitUpdate(this.prepareUpdate(delta, next));
  }

  /** The maps as the kernel holds them now, read back element by element. */
  dumpMaps(): MapsView {
    return this.updater.dump('bpf engine');
  }

  describe(pkts: Uint8Array, out: Uint32Array, i: number): string {
    const o = i * OUT_WORDS;
    const verdict = out[o];
    const reason = out[o + 1]!;
    if (verdict === 0) return `not judged: ${BPF_SKIP_REASONS[reason] ?? `status ${reason}`}`;
    // the kernel reports no entry ids: find each enforced side's entry in the plan
    const p = readPacket(pkts, i);
    const side = (dir: 'egress' | 'ingress') => {
      const pod = this.explainer.podIdAt(dir === 'egress' ? p.src : p.dst);
      const state = pod === undefined ? undefined : this.plan.maps.podState.find((s) => s.pod === pod);
      if (pod === undefined || !state || (dir === 'ingress' ? state.ingress : state.egress) !== 1) return NO_REF;
      return this.explainer.lookup(pod, dir, dir === 'egress' ? p.dst : p.src);
    };
    return this.explainer.describe(reason, p, side, () => undefined);
  }

  resetState(): void {
    this.classifier.resetConntrack();
  }

  close(): void {
    this.classifier.close();
  }
}
