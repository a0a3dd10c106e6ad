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
import type { Plan } from '../compile/plan.js';
import { encodeMaps } from '../compile/layout.js';
import { PfsimError, wrapError } from '../errors.js';
import { MAX_FRAMES_PER_RUN, pktioHelper, runSync, Testbed } from '../kernel/testbed.js';
import { bpfAvailability, bpfObjectPath, bpfValueMaxEntries } from './bpf.js';
import {
  type Engine, type EngineOptions, NO_REF, OUT_WORDS, REASON_DENY_INGRESS, REASON_POLICY, VERDICT_ALLOW, VERDICT_DENY,
} from './engine.js';
import type { MapsClassifier } from './native.js';
import { loadNative } from './native.js';
import { testbedFrame } from './netfilter.js';
import { PKT_BYTES } from './packet.js';

/** The attach-mode classifier of the addon (BpfClassifier constructed with { attach: true }). */
export interface NativeTcAttacher extends Pick<MapsClassifier, 'load' | 'resetConntrack' | 'close'> {
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
}

export class TcEngine implements Engine {
  readonly name = 'tc' as const;
  private testbed: Testbed | undefined;
  private attacher: NativeTcAttacher | undefined;

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
      c.load(l.podAddrs, l.podStates, l.trieCount, l.entryKeys, l.entryTries, l.entryValues, l.values, l.ext);
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
    for (let start = 0; start < count; start += MAX_FRAMES_PER_RUN) {
      const n = Math.min(MAX_FRAMES_PER_RUN, count - start);
      const frames: Uint8Array[] = new Array(n);
      for (let k = 0; k < n; k++) frames[k] = testbedFrame(pkts, start + k, 'tc');
      let seen: Uint8Array;
      try {
        seen = tb.observe(frames).arrived;
      } catch (err) {
        throw wrapError('tc', err);
      }
      for (let k = 0; k < n; k++) {
        const o = (start + k) * OUT_WORDS;
        out[o] = seen[k] ? VERDICT_ALLOW : VERDICT_DENY;
        out[o + 1] = seen[k] ? REASON_POLICY : REASON_DENY_INGRESS;
        out[o + 2] = NO_REF;
        out[o + 3] = NO_REF;
      }
    }
  }

  describe(_pkts: Uint8Array, out: Uint32Array, i: number): string {
    return out[i * OUT_WORDS] === VERDICT_ALLOW
      ? 'forwarded past the tc hooks (observed)'
      : 'dropped at a tc hook (observed: did not arrive)';
  }

  resetState(): void {
    this.attacher?.resetConntrack();
  }

  close(): void {
    // detach (in close) while the namespace still exists, then remove the testbed
    this.attacher?.close();
    this.attacher = undefined;
    this.testbed?.close();
    this.testbed = undefined;
  }
}
