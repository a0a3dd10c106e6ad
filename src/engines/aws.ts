/**
 * The aws engine: what the VPC CNI network-policy agent (aws/aws-network-policy-agent) would do
 * with each packet, from its own map contents (plan.aws, src/compile/aws.ts), in-process.
 *
 * Per packet, as the agent's tc programs (pkg/ebpf/c/tc.v{4,6}{ingress,egress}.bpf.c) judge it:
 * - the view of a parser with a fixed L4 offset (capture meta, src/capture/reader.ts
 *   META_FIXED_*): protocol byte and ports right after the fixed IP header; without a view
 *   (flows files, pool workers) the packet's own protocol and ports;
 * - IPv6 programs let ICMPv6 (as the first next header) through before anything else; a packet
 *   whose L4 header would run past its end passes unjudged;
 * - the source pod's egress program, then the destination pod's ingress program. Each looks up
 *   the agent's conntrack (key as read, owner = its pod), forward then reversed, and passes a
 *   hit; else it looks up its LPM trie with the peer address (a miss: deny once policies apply,
 *   else the mode's default: standard allows, strict denies) and scans the value's 24 slots
 *   (src/engines/aws-tries.ts); an allowed packet inserts its forward key, whatever its TCP
 *   flags.
 * The maps engine runs alongside on the same packets as the Kubernetes answer. Where the two
 * verdicts differ the engine names the departure (src/engines/aws-departure.ts) from what it met
 * while deciding: how the packet was read, the entry's build notes, the conntrack entry's origin.
 *
 * Verdict words: [0] verdict; [1] reason (REASON_*) | departure number << 8 | path << 16;
 * [2]/[3] the global index (AgentTries.entries) of the entry the egress/ingress program matched,
 * or NO_REF.
 */
import type { AwsMode } from '../compile/aws.js';
import type { Plan } from '../compile/plan.js';
import type { Direction } from '../cluster/model.js';
import { PfsimError } from '../errors.js';
import {
  FIXED_VIEW_IPV4_OPTIONS, FIXED_VIEW_IPV6_EXT, FIXED_VIEW_LATER_FRAGMENT, FIXED_VIEW_PROTO_MASK, FIXED_VIEW_SHORT,
  FIXED_VIEW_VALID,
} from '../capture/reader.js';
import { AgentConntrack } from './aws-conntrack.js';
import { type DepartureCode, departureCode, departureNumber } from './aws-departure.js';
import { AgentTries } from './aws-tries.js';
import {
  type Engine, type EngineOptions, NO_REF, OUT_WORDS, REASON_DENY_EGRESS, REASON_DENY_INGRESS, REASON_ESTABLISHED,
  REASON_NOT_ISOLATED, REASON_POLICY, VERDICT_ALLOW, VERDICT_DENY,
} from './engine.js';
import { MapsEngine } from './maps.js';
import { PKT_BYTES, PKT_F_ACK, PKT_F_SYN, canOpen } from './packet.js';

export interface AwsEngineOptions extends EngineOptions {
  /** overrides plan.aws.mode: standard, a pod no policy selects allows everything; strict, it denies everything */
  readonly awsMode?: AwsMode;
}

/** values of the fixed-offset view per packet in `views` (META_FIXED_PORTS, META_FIXED_INFO) */
export const VIEW_WORDS = 2;

const PATH_JUDGED = 0;
const PATH_ICMPV6 = 1;
const PATH_SHORT = 2;

const HOW_NONE = 0;
const HOW_CT = 1;
const HOW_ENTRY = 2;
const HOW_DEFAULT = 3;

const EGRESS = 0;
const INGRESS = 1;
const SADDR = 0;
const DADDR = 16;
const MISREAD = FIXED_VIEW_IPV4_OPTIONS | FIXED_VIEW_LATER_FRAGMENT | FIXED_VIEW_IPV6_EXT;

const DEP = {
  icmpv6: departureNumber('icmpv6-always'),
  anyOpens: departureNumber('ct-any-packet-opens'),
  halfOpen: departureNumber('ct-half-open'),
  notTracked: departureNumber('ct-not-tracked'),
  strict: departureNumber('strict-default-deny'),
  nodeIp: departureNumber('node-ip-secondary'),
  emptySlot: departureNumber('empty-slot-proto0'),
  unexplained: departureNumber('unexplained'),
};

/** the departure of a packet the agent read at the wrong place */
function misreadCode(info: number): number {
  if (info & FIXED_VIEW_LATER_FRAGMENT) return departureNumber('fragment-ports');
  if (info & FIXED_VIEW_IPV4_OPTIONS) return departureNumber('l4-offset-options');
  if (info & FIXED_VIEW_IPV6_EXT) return departureNumber('ipv6-ext-headers');
  return DEP.unexplained;
}

/** connections remembered for their departure (explanations only; beyond it: ct-not-tracked) */
const MAX_MISSED = 1 << 16;

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function u16(b: Uint8Array, off: number): number {
  return littleEndian ? b[off]! | (b[off + 1]! << 8) : (b[off]! << 8) | b[off + 1]!;
}

/** a connection's two ends in canonical order (lower address and port first) and its protocol */
function connKey(b: Uint8Array, o: number, sport: number, dport: number, proto: number): string {
  let cmp = 0;
  for (let k = 0; k < 16 && cmp === 0; k++) cmp = b[o + k]! - b[o + 16 + k]!;
  if (cmp === 0) cmp = sport - dport;
  const end = (off: number, port: number) => `${Buffer.from(b.subarray(o + off, o + off + 16)).toString('hex')}.${port}`;
  const a = end(SADDR, sport), z = end(DADDR, dport);
  return `${proto}|${cmp <= 0 ? `${a}|${z}` : `${z}|${a}`}`;
}

export class AwsEngine implements Engine {
  readonly name = 'aws' as const;
  readonly mode: AwsMode;
  private readonly plan: Plan;
  private readonly stateful: boolean;
  private readonly tries: AgentTries;
  private readonly ct: AgentConntrack;
  private readonly reference: MapsEngine;
  private refOut = new Uint32Array(0);
  /**
   * Connections whose packet the agent dropped while Kubernetes let it through (and tracked
   * it), by canonical 5-tuple: the departure, so later packets that Kubernetes passes as
   * established and the agent drops carry the connection's original reason.
   */
  private readonly missed = new Map<string, number>();

  // the two programs' outcomes for the packet being judged: [egress, ingress]
  private readonly sidePod = new Int32Array(2);
  private readonly sideHow = new Uint8Array(2);
  private readonly sideAllow = new Uint8Array(2);
  private readonly sideEntry = new Int32Array(2);
  private readonly sideSlot = new Int32Array(2);
  /** the code of the conntrack entry a program hit (read at once: a later insert may move it) */
  private readonly sideCtCode = new Uint8Array(2);
  /** whether a program inserted the packet's key (re-found by key when the packet is done) */
  private readonly sideInserted = new Uint8Array(2);

  /** Throws PfsimError PFSIM_ERR_COMPILE when the plan has no aws section or a malformed one. */
  constructor(plan: Plan, opts: AwsEngineOptions) {
    if (!plan.aws) throw new PfsimError('PFSIM_ERR_COMPILE', 'aws engine: the plan has no aws section (compile it with this pfsim)');
    this.plan = plan;
    this.stateful = opts.stateful;
    this.mode = opts.awsMode ?? plan.aws.mode;
    this.tries = new AgentTries(plan.aws);
    this.ct = new AgentConntrack(opts.ctMax === undefined ? {} : { maxEntries: opts.ctMax });
    this.reference = new MapsEngine(plan, { stateful: opts.stateful, ...(opts.ctMax === undefined ? {} : { ctMax: opts.ctMax }) });
  }

  /**
   * Judges `count` packets. `views` (VIEW_WORDS per packet, from the capture meta) gives what the
   * agent reads at its fixed L4 offset; without it the packets are read as they are.
   */
  classify(pkts: Uint8Array, count: number, out: Uint32Array, views?: Uint32Array, times?: Uint32Array): void {
    if (pkts.length < count * PKT_BYTES || out.length < count * OUT_WORDS) throw new RangeError('batch arrays too small');
    if (views !== undefined && views.length < count * VIEW_WORDS) throw new RangeError('view array too small');
    if (times !== undefined && times.length < count) throw new RangeError('times array too small');
    if (this.refOut.length < count * OUT_WORDS) this.refOut = new Uint32Array(count * OUT_WORDS);
    this.reference.classify(pkts, count, this.refOut, undefined, times);
    for (let i = 0; i < count; i++) {
      if (times !== undefined) this.ct.advanceClock(times[i]!);
      this.judge(pkts, i, out, views);
    }
  }

  private judge(b: Uint8Array, i: number, out: Uint32Array, views: Uint32Array | undefined): void {
    const o = i * PKT_BYTES, w = i * OUT_WORDS;
    const family = b[o + 37] === 4 ? 4 : 6;
    const proto = b[o + 36]!, sport = u16(b, o + 32), dport = u16(b, o + 34), flags = b[o + 38]!;
    let info = 0, aproto = proto, asport = sport, adport = dport;
    const vi = views?.[i * VIEW_WORDS + 1] ?? 0;
    if (vi & FIXED_VIEW_VALID) {
      info = vi;
      aproto = vi & FIXED_VIEW_PROTO_MASK;
      const ports = views![i * VIEW_WORDS]!;
      asport = ports >>> 16;
      adport = ports & 0xffff;
    }
    this.sideHow.fill(HOW_NONE);
    this.sideInserted.fill(0);
    let verdict = VERDICT_ALLOW, reason = REASON_NOT_ISOLATED, path = PATH_JUDGED;
    if (family === 6 && aproto === 58) {
      path = PATH_ICMPV6;
    } else if (info & FIXED_VIEW_SHORT) {
      path = PATH_SHORT;
    } else {
      const src = this.tries.podAt(b, o + SADDR, family);
      if (src >= 0 && !this.side(EGRESS, src, 'egress', family, b, o, aproto, asport, adport, flags)) {
        verdict = VERDICT_DENY;
        reason = REASON_DENY_EGRESS;
      }
      const dst = this.tries.podAt(b, o + DADDR, family);
      if (verdict === VERDICT_ALLOW && dst >= 0 && !this.side(INGRESS, dst, 'ingress', family, b, o, aproto, asport, adport, flags)) {
        verdict = VERDICT_DENY;
        reason = REASON_DENY_INGRESS;
      }
      if (verdict === VERDICT_ALLOW) reason = this.allowReason();
    }
    const dep = verdict === this.refOut[w] ? 0 : this.explain(b, o, w, family, proto, dport, info, verdict, path);
    this.markInserted(b, o, aproto, asport, adport, flags, verdict, dep);
    if (dep !== 0 && verdict === VERDICT_DENY && this.stateful && this.missed.size < MAX_MISSED) {
      const k = connKey(b, o, sport, dport, proto);
      if (!this.missed.has(k)) this.missed.set(k, dep);
    }
    out[w] = verdict;
    out[w + 1] = reason | (dep << 8) | (path << 16);
    out[w + 2] = this.ref(EGRESS);
    out[w + 3] = this.ref(INGRESS);
  }

  /**
   * One program: the pod's egress (s = EGRESS, peer = destination, owner = source) or ingress
   * (peer = source, owner = destination). Returns whether it lets the packet pass.
   */
  private side(s: number, pod: number, dir: Direction, family: 4 | 6, b: Uint8Array, o: number,
    aproto: number, asport: number, adport: number, flags: number): boolean {
    const owner = o + (s === EGRESS ? SADDR : DADDR), peer = o + (s === EGRESS ? DADDR : SADDR);
    this.sidePod[s] = pod;
    this.sideEntry[s] = -1;
    this.sideSlot[s] = -1;
    // the agent's own key holds what it read: TCP flags only when it read TCP
    const aflags = aproto === 6 ? flags : 0;
    if (this.stateful) {
      this.ct.setKey(b, o + SADDR, asport, o + DADDR, adport, aproto, owner);
      let hit = this.ct.find(aproto, aflags), reply = false;
      if (hit < 0) {
        this.ct.setKey(b, o + DADDR, adport, o + SADDR, asport, aproto, owner);
        hit = this.ct.find(aproto, aflags);
        reply = true;
      }
      if (hit >= 0) {
        this.sideHow[s] = HOW_CT;
        this.sideCtCode[s] = this.ct.code(hit);
        this.sideAllow[s] = 1;
        this.ct.touch(hit, aproto, aflags, reply);
        return true;
      }
    }
    const allow = this.decide(s, pod, dir, family, b, peer, aproto, adport);
    this.sideAllow[s] = allow ? 1 : 0;
    if (allow && this.stateful) {
      this.ct.setKey(b, o + SADDR, asport, o + DADDR, adport, aproto, owner);
      const open = canOpen(b[o + 36]!, b[o + 38]!); // would netfilter open it, from the packet as it is
      // the agent inserts whatever the flags; an entry netfilter would not open carries its departure
      this.sideInserted[s] = this.ct.insert(aproto, open ? aflags : PKT_F_ACK, open ? 0 : DEP.anyOpens) >= 0 ? 1 : 0;
    }
    return allow;
  }

  /** The policy decision of one program, without conntrack (evaluateNamespacePolicyByLookUp). */
  private decide(s: number, pod: number, dir: Direction, family: 4 | 6, b: Uint8Array, peer: number, proto: number, dport: number): boolean {
    const applied = this.tries.pods.get(pod)?.applied ?? false;
    if (!applied) {
      // pod state DEFAULT_ALLOW or DEFAULT_DENY, empty maps: the lookup misses, the state decides
      this.sideHow[s] = HOW_DEFAULT;
      return this.mode === 'standard';
    }
    const entry = this.tries.lookup(pod, dir, family, b, peer);
    this.sideEntry[s] = entry;
    if (entry < 0) {
      this.sideHow[s] = HOW_DEFAULT;
      return false;
    }
    const m = this.tries.match(entry, proto, dport);
    this.sideHow[s] = HOW_ENTRY;
    this.sideSlot[s] = m.slot;
    return m.allow;
  }

  private allowReason(): number {
    let policy = false, ct = false;
    for (let s = 0; s < 2; s++) {
      if (this.sideHow[s] === HOW_ENTRY && !this.isCatchAll(this.sideEntry[s]!)) policy = true;
      if (this.sideHow[s] === HOW_CT) ct = true;
    }
    return policy ? REASON_POLICY : ct ? REASON_ESTABLISHED : REASON_NOT_ISOLATED;
  }

  /** the controller's catch-all entry of a direction no policy isolates: it stands for no policy */
  private isCatchAll(entry: number): boolean {
    const e = this.tries.entries[entry];
    return e !== undefined && e.kind === 'rule' && e.rules.length === 0;
  }

  private ref(s: number): number {
    const h = this.sideHow[s];
    if (h !== HOW_ENTRY && h !== HOW_DEFAULT) return NO_REF;
    const e = this.sideEntry[s]!;
    return e < 0 || this.isCatchAll(e) ? NO_REF : e;
  }

  /**
   * Why the agent's verdict differs from the reference's, from what this packet met: how it was
   * read, then the facts of the program whose decision differs, then conntrack.
   */
  private explain(b: Uint8Array, o: number, w: number, family: 4 | 6, proto: number, dport: number, info: number,
    verdict: number, path: number): number {
    if (path === PATH_ICMPV6) return DEP.icmpv6;
    if (path === PATH_SHORT) return misreadCode(info);
    const refReason = this.refOut[w + 1]!;
    const ctHit = this.sideHow[EGRESS] === HOW_CT || this.sideHow[INGRESS] === HOW_CT;
    if (info & MISREAD) {
      // had it read the packet at the right place, would the agent have answered otherwise?
      if (this.readRight(b, o, family, proto, dport) !== verdict) return misreadCode(info);
      // its conntrack key holds the ports it misread, so the connection's entry is missed
      if (refReason === REASON_ESTABLISHED && !ctHit) return misreadCode(info);
    }
    let s: number;
    if (verdict === VERDICT_DENY) s = this.sideHow[INGRESS] !== HOW_NONE ? INGRESS : EGRESS;
    else s = refReason === REASON_DENY_EGRESS ? EGRESS : INGRESS;
    if (this.sideHow[s] === HOW_NONE) s = 1 - s;
    const fact = this.sideFact(s, b, o, family);
    // protocol 0 read from an IPv6 hop-by-hop header: the extension header is the cause
    if (fact === DEP.emptySlot && info & FIXED_VIEW_IPV6_EXT) return misreadCode(info);
    if (fact !== 0) return fact;
    if (verdict === VERDICT_DENY && refReason === REASON_ESTABLISHED) {
      return this.missed.get(connKey(b, o, u16(b, o + 32), dport, proto)) ?? DEP.notTracked;
    }
    return DEP.unexplained;
  }

  /** the departure a program's decision carries, 0 when none */
  private sideFact(s: number, b: Uint8Array, o: number, family: 4 | 6): number {
    const how = this.sideHow[s]!, pod = this.sidePod[s]!;
    if (how === HOW_CT) return this.sideCtCode[s]!;
    if (how === HOW_NONE) return 0;
    if (how === HOW_DEFAULT && this.mode === 'strict' && !this.tries.pods.get(pod)?.applied) return DEP.strict;
    if (this.tries.isOtherNodeAddr(pod, b, o + (s === EGRESS ? DADDR : SADDR), family)) return DEP.nodeIp;
    const entry = this.sideEntry[s]!;
    const e = entry >= 0 ? this.tries.entries[entry] : undefined;
    if (e === undefined) return 0;
    if (e.notes && e.notes.length > 0) return departureNumber(e.notes[0]!);
    if (this.sideAllow[s] && this.sideSlot[s]! >= e.slots.length) return DEP.emptySlot;
    return 0;
  }

  /** The agent's verdict, without conntrack, had it read the packet's own protocol and ports. */
  private readRight(b: Uint8Array, o: number, family: 4 | 6, proto: number, dport: number): number {
    if (family === 6 && proto === 58) return VERDICT_ALLOW;
    const how = this.sideHow.slice(), entry = this.sideEntry.slice(), slot = this.sideSlot.slice(), allow = this.sideAllow.slice();
    let v = VERDICT_ALLOW;
    const src = this.tries.podAt(b, o + SADDR, family), dst = this.tries.podAt(b, o + DADDR, family);
    if (src >= 0 && !this.decide(EGRESS, src, 'egress', family, b, o + DADDR, proto, dport)) v = VERDICT_DENY;
    if (v === VERDICT_ALLOW && dst >= 0 && !this.decide(INGRESS, dst, 'ingress', family, b, o + SADDR, proto, dport)) v = VERDICT_DENY;
    this.sideHow.set(how); this.sideEntry.set(entry); this.sideSlot.set(slot); this.sideAllow.set(allow);
    return v;
  }

  /**
   * Gives the conntrack entries this packet inserted their origin: its departure when it
   * departs, and 'ct-half-open' for an entry of a packet that a later program dropped.
   */
  private markInserted(b: Uint8Array, o: number, aproto: number, asport: number, adport: number, flags: number,
    verdict: number, dep: number): void {
    for (let s = 0; s < 2; s++) {
      if (this.sideInserted[s] === 0 || (verdict !== VERDICT_DENY && dep === 0)) continue;
      // by key: the other program's insert may have moved the entry (deletion shifts, growth)
      this.ct.setKey(b, o + SADDR, asport, o + DADDR, adport, aproto, o + (s === EGRESS ? SADDR : DADDR));
      const slot = this.ct.find(aproto, aproto === 6 ? flags & ~PKT_F_SYN : 0);
      if (slot < 0) continue;
      this.ct.setCode(slot, verdict === VERDICT_DENY ? DEP.halfOpen : dep);
    }
  }

  /** The departure code of verdict `i` of `out`, undefined when the agent agrees with Kubernetes. */
  departure(out: Uint32Array, i: number): DepartureCode | undefined {
    return departureCode((out[i * OUT_WORDS + 1]! >>> 8) & 0xff);
  }

  describe(pkts: Uint8Array, out: Uint32Array, i: number): string {
    const w = i * OUT_WORDS, word = out[w + 1]!;
    const reason = word & 0xff, path = (word >>> 16) & 0xff;
    const dep = this.departure(out, i);
    const text = path === PATH_ICMPV6 ? 'ICMPv6: always allowed by the agent\'s IPv6 programs'
      : path === PATH_SHORT ? 'L4 header past the packet at the agent\'s fixed offset: passed unjudged'
        : this.reasonText(pkts, out, i, reason);
    return dep === undefined ? text : `${text} [aws departs: ${dep}]`;
  }

  private reasonText(pkts: Uint8Array, out: Uint32Array, i: number, reason: number): string {
    const w = i * OUT_WORDS, o = i * PKT_BYTES, family = pkts[o + 37] === 4 ? 4 : 6;
    switch (reason) {
      case REASON_ESTABLISHED: return 'established';
      case REASON_NOT_ISOLATED: return 'not isolated';
      case REASON_DENY_EGRESS:
      case REASON_DENY_INGRESS: {
        const egress = reason === REASON_DENY_EGRESS;
        const pod = this.tries.podAt(pkts, o + (egress ? SADDR : DADDR), family);
        const dir = egress ? 'egress' : 'ingress';
        const e = this.tries.entries[out[w + (egress ? 2 : 3)]!];
        if (e?.kind === 'except') return `denied by the deny-all entry of except ${e.prefix} ${dir} ${this.podName(pod)}`;
        if (!this.tries.pods.get(pod)?.applied) return `strict mode default deny ${dir} ${this.podName(pod)}`;
        return `default deny ${dir} ${this.podName(pod)}`;
      }
      default: {
        const parts: string[] = [];
        for (const [dir, ref] of [['egress', out[w + 2]!], ['ingress', out[w + 3]!]] as const) {
          if (ref !== NO_REF) parts.push(`allowed by ${this.entrySource(ref)} ${dir}`);
        }
        return parts.join(', ');
      }
    }
  }

  private entrySource(ref: number): string {
    const e = this.tries.entries[ref];
    if (!e) return `entry ${ref}`;
    if (e.kind === 'node') return `node IP ${e.prefix}`;
    const rule = e.rules[0] === undefined ? undefined : this.plan.rules[e.rules[0]];
    return rule?.source ?? `entry ${e.prefix}`;
  }

  private podName(id: number): string {
    const p = this.plan.pods[id];
    return p ? `${p.namespace}/${p.name}` : 'unknown pod';
  }

  /** agent conntrack entries (both programs' keys count) */
  get trackedEntries(): number {
    return this.ct.entries;
  }

  /** keys the full agent map refused (their packets passed untracked) */
  get ctInsertFailed(): number {
    return this.ct.insertFailed;
  }

  resetState(): void {
    this.ct.clear();
    this.missed.clear();
    this.reference.resetState();
  }

  close(): void {
    this.reference.close();
  }
}
