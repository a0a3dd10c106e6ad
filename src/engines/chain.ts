/**
 * The `chain` engine: evaluates the compiled iptables-style chains first-match, as netfilter
 * walks them: jumps push a return point, RETURN (or falling off a chain's end) pops it, MARK
 * sets the pass bit, ACCEPT/DROP end the walk; the entry chain's end is FORWARD's ACCEPT policy.
 *
 * Rules are loaded into flat typed arrays (struct of arrays) so the walk is a tight loop; at
 * 10k rules the cost per rule walked is what the benchmark reports.
 */
import { parseCidr, parseIp, addrBytes, maskOf, type Cidr } from '../net/ip.js';
import type { ChainTable, Plan, ChainRule } from '../compile/plan.js';
import { ConnTrack } from './conntrack.js';
import {
  type Engine, type EngineOptions, NO_REF, OUT_WORDS, VERDICT_ALLOW, VERDICT_DENY,
  REASON_ESTABLISHED, REASON_NOT_ISOLATED, REASON_POLICY, REASON_DENY_EGRESS, REASON_DENY_INGRESS, REASON_CT_FULL, CT_FULL_TEXT,
} from './engine.js';
import { PKT_BYTES, canOpen } from './packet.js';

const F_SRC = 1, F_DST = 2, F_PROTO = 4, F_DPORT = 8, F_EST = 16, F_MARKED = 32;
const T_ACCEPT = 1, T_DROP = 2, T_RETURN = 3, T_JUMP = 4, T_MARK = 5, T_CLEAR = 6;
const DIR_INGRESS = 0, DIR_EGRESS = 1, DIR_NONE = 2;
const MAX_DEPTH = 64;

/** One family's table, flattened. Each chain ends with an implicit RETURN rule. */
class FlatTable {
  readonly n: number;
  readonly flags: Uint8Array;
  readonly target: Uint8Array;
  readonly jump: Int32Array;
  readonly dir: Uint8Array;
  readonly ref: Int32Array;
  readonly proto: Uint8Array;
  readonly dlo: Uint16Array;
  readonly dhi: Uint16Array;
  /** words per address: 1 (IPv4: the last word of the mapped address) or 4 */
  readonly aw: number;
  readonly srcNet: Int32Array;
  readonly srcMask: Int32Array;
  readonly dstNet: Int32Array;
  readonly dstMask: Int32Array;
  readonly comments: (string | undefined)[] = [];
  readonly entry: number;

  constructor(t: ChainTable) {
    const starts = new Map<string, number>();
    let n = 0;
    for (const c of t.chains) { starts.set(c.name, n); n += c.rules.length + 1; }
    this.n = n;
    this.aw = t.family === 4 ? 1 : 4;
    this.flags = new Uint8Array(n); this.target = new Uint8Array(n); this.jump = new Int32Array(n);
    this.dir = new Uint8Array(n); this.ref = new Int32Array(n).fill(-1); this.proto = new Uint8Array(n);
    this.dlo = new Uint16Array(n); this.dhi = new Uint16Array(n);
    this.srcNet = new Int32Array(n * this.aw); this.srcMask = new Int32Array(n * this.aw);
    this.dstNet = new Int32Array(n * this.aw); this.dstMask = new Int32Array(n * this.aw);
    let i = 0;
    for (const c of t.chains) {
      const dir = c.dir === 'ingress' ? DIR_INGRESS : c.dir === 'egress' ? DIR_EGRESS : DIR_NONE;
      for (const r of c.rules) { this.load(i, r, dir, starts); i++; }
      this.target[i] = T_RETURN; this.dir[i] = dir; i++;
    }
    this.entry = starts.get(t.entry)!;
  }

  private load(i: number, r: ChainRule, dir: number, starts: Map<string, number>): void {
    let f = 0;
    if (r.src) { f |= F_SRC; this.setAddr(this.srcNet, this.srcMask, i, r.src); }
    if (r.dst) { f |= F_DST; this.setAddr(this.dstNet, this.dstMask, i, r.dst); }
    if (r.proto !== undefined) { f |= F_PROTO; this.proto[i] = r.proto; }
    if (r.dport) { f |= F_DPORT; this.dlo[i] = r.dport[0]; this.dhi[i] = r.dport[1]; }
    if (r.established) f |= F_EST;
    if (r.marked) f |= F_MARKED;
    this.flags[i] = f;
    this.dir[i] = dir;
    this.comments[i] = r.comment;
    if (r.rule !== undefined) this.ref[i] = r.rule;
    const t = r.target;
    switch (t.kind) {
      case 'ACCEPT': this.target[i] = T_ACCEPT; break;
      case 'DROP': this.target[i] = T_DROP; break;
      case 'RETURN': this.target[i] = T_RETURN; break;
      case 'MARK': this.target[i] = T_MARK; break;
      case 'CLEARMARK': this.target[i] = T_CLEAR; break;
      case 'JUMP': {
        const s = starts.get(t.chain);
        if (s === undefined) throw new Error(`chain ${t.chain} is not defined`);
        this.target[i] = T_JUMP; this.jump[i] = s; break;
      }
    }
  }

  /** Stores net and mask in the packet record's own word layout (same bytes, same view). */
  private setAddr(net: Int32Array, mask: Int32Array, i: number, s: string): void {
    let c: Cidr;
    const r = parseCidr(s);
    if (r.ok) c = r.cidr;
    else {
      const ip = parseIp(s);
      if (ip === undefined) throw new Error(`bad address ${s}`);
      c = { addr: ip, len: 128, family: 6 };
    }
    const nb = addrBytes(c.addr), mb = addrBytes(maskOf(c.len));
    const nw = new Int32Array(nb.buffer), mw = new Int32Array(mb.buffer);
    const from = 4 - this.aw;
    for (let k = 0; k < this.aw; k++) {
      net[i * this.aw + k] = nw[from + k]! & mw[from + k]!;
      mask[i * this.aw + k] = mw[from + k]!;
    }
  }
}

export class ChainEngine implements Engine {
  readonly name = 'chain' as const;
  private readonly v4: FlatTable;
  private readonly v6: FlatTable;
  private readonly ct: ConnTrack | undefined;
  private readonly stack = new Int32Array(MAX_DEPTH);
  /** rules walked since construction (for ns-per-rule figures) */
  walked = 0;

  constructor(private readonly plan: Plan, private readonly opts: EngineOptions) {
    this.v4 = new FlatTable(plan.chain.ipv4);
    this.v6 = new FlatTable(plan.chain.ipv6);
    this.ct = opts.stateful ? new ConnTrack(opts.ctMax === undefined ? {} : { maxEntries: opts.ctMax }) : undefined;
  }

  /** conntrack counters: entries, new connections dropped for a full table, early drops, expiries */
  get ctStats(): { entries: number; insertFailed: number; earlyDrops: number; expired: number } | undefined {
    const ct = this.ct;
    return ct && { entries: ct.size, insertFailed: ct.insertFailed, earlyDrops: ct.earlyDrops, expired: ct.expired };
  }

  get ruleCount(): number {
    return this.plan.chain.ipv4.chains.reduce((n, c) => n + c.rules.length, 0) + this.plan.chain.ipv6.chains.reduce((n, c) => n + c.rules.length, 0);
  }

  classify(pkts: Uint8Array, count: number, out: Uint32Array, _views?: Uint32Array, times?: Uint32Array): void {
    if (pkts.byteOffset % 4 !== 0) throw new RangeError('packet batch must be 4-byte aligned');
    if (pkts.length < count * PKT_BYTES || out.length < count * OUT_WORDS) throw new RangeError('batch arrays too small');
    if (times !== undefined && times.length < count) throw new RangeError('times array too small');
    const w = new Int32Array(pkts.buffer, pkts.byteOffset, (count * PKT_BYTES) >> 2);
    const p16 = new Uint16Array(pkts.buffer, pkts.byteOffset, (count * PKT_BYTES) >> 1);
    const ct = this.ct;
    for (let i = 0; i < count; i++) {
      const t = pkts[i * PKT_BYTES + 37] === 4 ? this.v4 : this.v6;
      if (ct !== undefined && times !== undefined) ct.advanceClock(times[i]!);
      // conntrack sees the packet before the filter table, as netfilter's PREROUTING hook does
      const est = ct !== undefined && ct.track(w, p16, pkts, i);
      this.walk(t, w, p16, pkts, i, out, est);
    }
  }

  private walk(t: FlatTable, w: Int32Array, p16: Uint16Array, b: Uint8Array, i: number, out: Uint32Array, est: boolean): void {
    const aw = t.aw, po = i * 10 + (4 - aw), so = po, dof = po + 4;
    const proto = b[i * PKT_BYTES + 36]!, dport = p16[i * 20 + 17]!;
    const flags = t.flags, target = t.target, srcNet = t.srcNet, srcMask = t.srcMask, dstNet = t.dstNet, dstMask = t.dstMask;
    const rproto = t.proto, dlo = t.dlo, dhi = t.dhi;
    const stack = this.stack;
    // IPv4 compares one word; the first source and destination words are loaded once
    const s0 = w[so]!, d0 = w[dof]!;
    let pc = t.entry, sp = 0, mark = 0, walked = 0;
    let egressRef = NO_REF, ingressRef = NO_REF, verdict = 0, reason = 0;
    for (;;) {
      walked++;
      const f = flags[pc]!;
      if (f !== 0) {
        if (aw === 1) {
          if ((f & F_SRC) !== 0 && ((s0 & srcMask[pc]!) ^ srcNet[pc]!) !== 0) { pc++; continue; }
          if ((f & F_DST) !== 0 && ((d0 & dstMask[pc]!) ^ dstNet[pc]!) !== 0) { pc++; continue; }
        } else if (!this.match6(f, w, so, dof, pc)) { pc++; continue; }
        if ((f & F_PROTO) !== 0 && rproto[pc] !== proto) { pc++; continue; }
        if ((f & F_DPORT) !== 0 && (dport < dlo[pc]! || dport > dhi[pc]!)) { pc++; continue; }
        if ((f & F_MARKED) !== 0 && mark === 0) { pc++; continue; }
        if ((f & F_EST) !== 0 && !est) { pc++; continue; }
      }
      switch (target[pc]) {
        case T_ACCEPT:
          verdict = VERDICT_ALLOW;
          reason = f & F_EST ? REASON_ESTABLISHED : egressRef !== NO_REF || ingressRef !== NO_REF ? REASON_POLICY : REASON_NOT_ISOLATED;
          break;
        case T_DROP:
          verdict = VERDICT_DENY;
          reason = t.dir[pc] === DIR_EGRESS ? REASON_DENY_EGRESS : REASON_DENY_INGRESS;
          if (reason === REASON_DENY_EGRESS) egressRef = pc; else ingressRef = pc;
          break;
        case T_RETURN:
          if (sp === 0) { // off the end of the entry chain: FORWARD's policy
            verdict = VERDICT_ALLOW;
            reason = egressRef !== NO_REF || ingressRef !== NO_REF ? REASON_POLICY : REASON_NOT_ISOLATED;
            break;
          }
          pc = stack[--sp]!; continue;
        case T_JUMP:
          if (sp === MAX_DEPTH) throw new Error('chain jumps nest too deep');
          stack[sp++] = pc + 1; pc = t.jump[pc]!; continue;
        case T_MARK:
          mark = 1;
          if (t.dir[pc] === DIR_EGRESS) egressRef = t.ref[pc]!; else ingressRef = t.ref[pc]!;
          pc++; continue;
        case T_CLEAR:
          mark = 0; pc++; continue;
      }
      break;
    }
    this.walked += walked;
    if (verdict === VERDICT_ALLOW && !est && this.ct && canOpen(proto, b[i * PKT_BYTES + 38]!) &&
      !this.ct.open(w, p16, b, i)) {
      // conntrack full, nothing to drop early: netfilter drops the packet of the new connection
      verdict = VERDICT_DENY; reason = REASON_CT_FULL;
    }
    const o = i * OUT_WORDS;
    out[o] = verdict; out[o + 1] = reason; out[o + 2] = egressRef; out[o + 3] = ingressRef;
  }

  /** IPv6 address matches of rule `pc` (four words each). */
  private match6(f: number, w: Int32Array, so: number, dof: number, pc: number): boolean {
    const t = this.v6, o = pc * 4;
    if (f & F_SRC) {
      for (let k = 0; k < 4; k++) if (((w[so + k]! & t.srcMask[o + k]!) ^ t.srcNet[o + k]!) !== 0) return false;
    }
    if (f & F_DST) {
      for (let k = 0; k < 4; k++) if (((w[dof + k]! & t.dstMask[o + k]!) ^ t.dstNet[o + k]!) !== 0) return false;
    }
    return true;
  }

  describe(pkts: Uint8Array, out: Uint32Array, i: number): string {
    const o = i * OUT_WORDS;
    const reason = out[o + 1]!;
    const t = pkts[i * PKT_BYTES + 37] === 4 ? this.v4 : this.v6;
    switch (reason) {
      case REASON_ESTABLISHED: return 'established';
      case REASON_NOT_ISOLATED: return 'not isolated';
      case REASON_CT_FULL: return CT_FULL_TEXT;
      case REASON_DENY_EGRESS: return t.comments[out[o + 2]!] ?? 'default deny egress';
      case REASON_DENY_INGRESS: return t.comments[out[o + 3]!] ?? 'default deny ingress';
      default: {
        const parts: string[] = [];
        if (out[o + 2] !== NO_REF) parts.push(`allowed by ${this.plan.rules[out[o + 2]!]!.source} egress`);
        if (out[o + 3] !== NO_REF) parts.push(`allowed by ${this.plan.rules[out[o + 3]!]!.source} ingress`);
        return parts.join(', ');
      }
    }
  }

  resetState(): void {
    this.ct?.clear();
  }

  close(): void {}
}
