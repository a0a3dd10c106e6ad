/**
 * The `tc` engine: the tc programs of native/bpf/pfsim_tc.bpf.c attached for real in a private
 * testbed (../kernel/testbed.ts), the way the VPC CNI agent attaches its own on a node:
 *
 *   tc_from_pod  ingress hook of pf<id>i, the node end of the source pod's veth: egress policy
 *   tc_to_pod    egress hook of pf<id>o, the node end of the destination's veth: ingress policy
 *
 * The node namespace has no firewall rules: it only forwards. Each packet record becomes a real
 * Ethernet frame injected on the src side, and its verdict is what was observed: ALLOW when it
 * arrived in the dst namespace, DENY when it did not (as the iptables and nft engines).
 *
 * Connection tracking is the programs' own conntrack map (shared by both hooks; only
 * tc_to_pod inserts, see pfsim_tc.bpf.c); resetState() clears it. Maps are filled from the
 * plan's maps layout, as the bpf engine fills them; the attachment lives until close(), which
 * detaches, closes the programs and maps, and removes the testbed. Nothing is pinned.
 *
 * Error contract: the constructor and classify throw PfsimError PFSIM_ERR_UNSUPPORTED when the
 * kernel, a tool or the testbed fails ("tc: unavailable: <reason>", "tc: testbed: ...").
 */
import type { MapsDelta } from '../compile/delta.js';
import type { Plan } from '../compile/plan.js';
import { encodeMaps } from '../compile/layout.js';
import { PfsimError, wrapError } from '../errors.js';
import { MAX_FRAMES_PER_RUN, pktioHelper, runSync, Testbed, writeObserved } from '../kernel/testbed.js';
import { bpfAvailability, bpfObjectPath, bpfValueMaxEntries, type PreparedUpdate } from './bpf.js';
import {
  type Engine, type EngineOptions, OUT_WORDS, VERDICT_ALLOW,
} from './engine.js';
import type { MapsClassifier } from './native.js';
import { loadNative } from './native.js';
import { capacitiesFor, type MapCapacities, MapsUpdater, type MapsView, type NativeMapsUpdate } from './map-update.js';
import { testbedFrame } from './netfilter.js';
import { PKT_BYTES } from './packet.js';

/** The attach-mode classifier of the addon (BpfClassifier constructed with { attach: true }). */
export interface NativeTcAttacher extends Pick<MapsClassifier, 'load' | 'resetConntrack' | 'close'>, NativeMapsUpdate {
  /** As MapsClassifier.load(); `capacity` makes the maps larger than the load, for later deltas. */
  load(
    podAddrs: Uint8Array, podStates: Uint32Array, trieCount: number, entryKeys: Uint8Array, entryTries: Uint32Array,
    entryValues: Uint32Array, values: Uint8Array, ext: Uint8Array, capacity?: Partial<MapCapacities>,
  ): void;
  /** tc_from_pod on fromIf's ingress hook, tc_to_pod on toIf's egress hook, in netnsPath's namespace */
  attach(netnsPath: string, fromIf: string, toIf: string): void;
  /** removes the clsact qdiscs attach() made (close() does too) */
  detach(): void;
  setStateful(stateful: boolean): void;
}

interface AttacherClass {
  new (objPath: string, opts: { ctCapacity?: number; attach: true }): NativeTcAttacher;
}

function attacherClass(): AttacherClass {
  const addon = loadNative() as unknown as { BpfClassifier?: AttacherClass };
  if (typeof addon.BpfClassifier !== 'function') {
    throw new PfsimError('PFSIM_ERR_NATIVE', 'native addon has no BpfClassifier: run npm run build');
  }
  return addon.BpfClassifier;
}

export type TcAvailability = { ok: true } | { ok: false; reason: string };

let availability: TcAvailability | undefined;

function probe(): TcAvailability {
  if (process.platform !== 'linux') return { ok: false, reason: `needs Linux (this is ${process.platform})` };
  const uid = process.getuid?.();
  if (uid !== 0) return { ok: false, reason: `needs root (uid ${uid ?? 'unknown'})` };
  const bpf = bpfAvailability();
  if (!bpf.ok) return { ok: false, reason: `bpf: ${bpf.reason}` };
  if (runSync('ip', ['-V']).code !== 0) return { ok: false, reason: 'ip (iproute2) not runnable' };
  let tb: Testbed | undefined;
  let c: NativeTcAttacher | undefined;
  try {
    pktioHelper();
    tb = new Testbed();
    const Cls = attacherClass();
    c = new Cls(bpfObjectPath(), { attach: true });
    const l = encodeMaps({ podState: [], tries: [], values: [] });
    c.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
    c.attach(tb.netnsPath(tb.node), tb.ifNodeIn, tb.ifNodeOut);
    c.detach();
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  } finally {
    c?.close();
    tb?.close();
  }
}

/**
 * Whether the tc engine runs here: root, the bpf engine's requirements, `ip netns`, the
 * pfsim-pktio helper, and a trial attach and detach in a probe testbed. Probed once per
 * process; never throws.
 */
export function tcAvailability(): TcAvailability {
  availability ??= probe();
  return availability;
}

export interface TcEngineOptions extends EngineOptions {
  /** conntrack LRU capacity (default 65536) */
  readonly ctCapacity?: number;
  /** map sizes, for later updates (default: twice the plan's needs; see capacitiesFor()) */
  readonly capacity?: Partial<MapCapacities>;
}

export class TcEngine implements Engine {
  readonly name = 'tc' as const;
  private testbed: Testbed | undefined;
  private attacher: NativeTcAttacher | undefined;
  private readonly updater: MapsUpdater;

  constructor(plan: Plan, opts: TcEngineOptions) {
    const a = tcAvailability();
    if (!a.ok) throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `tc: unavailable: ${a.reason}`);
    let tb: Testbed | undefined;
    let c: NativeTcAttacher | undefined;
    try {
      const max = bpfValueMaxEntries();
      plan.maps.values.forEach((v, i) => {
        if (v.length > max) {
          throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `maps.values[${i}]: ${v.length} port entries exceed the tc program's limit of ${max}`);
        }
      });
      const l = encodeMaps(plan.maps);
      const Cls = attacherClass();
      c = new Cls(bpfObjectPath(), opts.ctCapacity === undefined ? { attach: true } : { attach: true, ctCapacity: opts.ctCapacity });
      const capacity = capacitiesFor(l, opts.capacity);
      c.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext, capacity);
      this.updater = new MapsUpdater(c, plan.maps, l, capacity, max);
      c.setStateful(opts.stateful);
      tb = new Testbed();
      c.attach(tb.netnsPath(tb.node), tb.ifNodeIn, tb.ifNodeOut);
    } catch (err) {
      c?.close();
      tb?.close();
      throw wrapError('tc', err);
    }
    this.attacher = c;
    this.testbed = tb;
  }

  classify(pkts: Uint8Array, count: number, out: Uint32Array): void {
    if (pkts.length < count * PKT_BYTES || out.length < count * OUT_WORDS) throw new RangeError('batch arrays too small');
    const tb = this.testbed;
    if (!tb) throw new PfsimError('PFSIM_ERR_UNSUPPORTED', 'tc: engine is closed');
    this.updater.assertUsable('tc');
    for (let start = 0; start < count; start += MAX_FRAMES_PER_RUN) {
      const n = Math.min(MAX_FRAMES_PER_RUN, count - start);
      const frames: Uint8Array[] = new Array(n);
      for (let k = 0; k < n; k++) frames[k] = testbedFrame(pkts, start + k, 'tc');
      writeObserved(tb, frames, 'tc', out, start);
    }
  }

  /**
   * Checks `delta` against the attached programs' maps and lays it out; nothing changes yet.
   * Errors as BpfEngine.prepareUpdate(), prefixed "tc: update: ".
   */
  prepareUpdate(delta: MapsDelta, next: Plan): PreparedUpdate {
    this.updater.assertUsable('tc');
    try {
      return { maps: this.updater.prepare(delta, next.maps), plan: next };
    } catch (err) {
      throw wrapError('tc: update', err);
    }
  }

  /** Applies a prepared update to the live maps of the attached programs in one addon call; returns the map operations made. */
  commitUpdate(p: PreparedUpdate): number {
    if (!this.attacher) throw new PfsimError('PFSIM_ERR_UNSUPPORTED', 'tc: engine is closed');
    return this.updater.commit(p.maps, 'tc');
  }

  /** prepareUpdate() then commitUpdate(). */
  applyDelta(delta: MapsDelta, next: Plan): number {
    return this.commitUpdate(this.prepareUpdate(delta, next));
  }

  /** The attached programs' maps as the kernel holds them now. */
  dumpMaps(): MapsView {
    if (!this.attacher) throw new PfsimError('PFSIM_ERR_UNSUPPORTED', 'tc: engine is closed');
    return this.updater.dump('tc');
  }

  describe(_pkts: Uint8Array, out: Uint32Array, i: number): string {
    return out[i * OUT_WORDS] === VERDICT_ALLOW
      ? 'forwarded past the tc hooks (observed)'
      : 'dropped at a tc hook (observed: did not arrive)';
  }

  resetState(): void {
    this.attacher?.resetConntrack();
  }

  /** ns the kernel has spent on this engine's packets in the testbed so far (see Testbed.sendNs) */
  kernelNs(): number {
    return this.testbed?.sendNs ?? 0;
  }

  close(): void {
    // detach (in close) while the namespace still exists, then remove the testbed
    this.attacher?.close();
    this.attacher = undefined;
    this.testbed?.close();
    this.testbed = undefined;
  }
}
