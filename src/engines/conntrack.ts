/**
 * Connection tracking for the TypeScript engines, aged by trace time and bounded like the
 * kernel's: one table implementation (CtTable) under the chain engine's ConnTrack (canonical
 * 5-tuples) and the aws engine's AgentConntrack (keys as read, per owner pod).
 * native/src/conntrack.h mirrors it for the maps engine; the tests hold all to one reference.
 *
 * THE MODEL (netfilter's default timeouts, kernel 6.1, in trace seconds). Our trackers see
 * each packet's direction and TCP flags, not sequence numbers or windows, so they follow what
 * those show:
 *   TCP  SYN, no reply yet (SYN_SENT)             120 s
 *        SYN-ACK reply (SYN_RECV)                  60 s
 *        a non-SYN packet after a reply: assured, ESTABLISHED        432000 s (5 days)
 *        picked up mid-stream by a plain ACK, no reply yet           300 s (the kernel's
 *          "unacknowledged" timeout; its exact value for pickups depends on window tracking)
 *        FIN seen either way (FIN_WAIT..TIME_WAIT, all <= 120 s)      120 s
 *        RST after a reply (CLOSE)                  10 s; an RST before any reply ends the
 *          entry at once, as netfilter does
 *        a pure SYN on a closing entry starts a new connection (judged afresh)
 *   UDP  unreplied 30 s; replied 120 s and assured (nf_conntrack_udp_timeout_stream: 120 s
 *        since 5.0; the kernel's 2 s grace before a stream counts is not modelled)
 *   ICMP, ICMPv6 30 s; any other protocol (SCTP included) 600 s (generic)
 * An entry whose expiry has come is gone: the next packet is judged as a new connection (a
 * plain ACK is then a mid-stream pickup again, as with nf_conntrack_tcp_loose=1).
 * Time: the table's clock is the largest packet time handed in (it never runs backwards);
 * without times (flows files, tests) it stays put and nothing expires.
 *
 * SIZE (nf_conntrack_max): at `maxEntries` live entries, expired ones are swept first (at
 * most once per clock second), then the oldest unassured entry is dropped (the kernel's
 * early_drop, which evicts an unassured entry near the new one's hash bucket: we take the
 * oldest so that every engine, whatever its hash, drops the same); with none, the new
 * connection is refused: the chain and maps engines drop its packet (REASON_CT_FULL), as
 * netfilter does ("table full, dropping packet"); counted in `insertFailed`.
 *
 * The tc and bpf engines keep the kernel's LRU hash map: they age by the kernel's clock and
 * evict the least recently used entry when full (native/bpf/pfsim_tc.bpf.c).
 */
import { PKT_BYTES, PKT_F_ACK, PKT_F_FIN, PKT_F_RST, PKT_F_SYN } from './packet.js';
import { parseCount } from '../options.js';

/** entry bits (as PFS_CT_* in native/src/conntrack.h) */
export const CT_REPLIED = 0x01;
export const CT_ASSURED = 0x02;
export const CT_CLOSING = 0x04;
export const CT_ORIG_A = 0x08;

/** netfilter's default timeouts (kernel 6.1), seconds */
export const CT_TIMEOUTS = {
  tcpSynSent: 120, tcpSynRecv: 60, tcpEstablished: 432000, tcpClosing: 120, tcpClose: 10, tcpUnack: 300,
  udp: 30, udpStream: 120, icmp: 30, generic: 600,
} as const;

/** the default limit: nf_conntrack_max of a kernel with 262144 hash buckets (4 GiB RAM or more) */
export const CT_DEFAULT_MAX = 262144;

/** what a packet does to its entry: the next bits (in `bits`) and timeout, 0 = ends it now */
export interface CtStep { bits: number; timeout: number }

/**
 * The model above for one packet of protocol `proto` with TCP `flags`, in the reply direction
 * or not, on an entry with `bits` (0 for a new one). Writes the result into `to`.
 */
export function ctStep(proto: number, flags: number, reply: boolean, bits: number, to: CtStep): void {
  const T = CT_TIMEOUTS;
  let b = bits, t: number;
  if (proto === 6) {
    if (flags & PKT_F_RST) {
      to.bits = b | CT_CLOSING;
      to.timeout = b & CT_REPLIED ? T.tcpClose : 0;
      return;
    }
    if (reply) b |= CT_REPLIED;
    if (flags & PKT_F_FIN) b |= CT_CLOSING;
    if (b & CT_REPLIED && !(flags & PKT_F_SYN)) b |= CT_ASSURED;
    if (b & CT_CLOSING) t = T.tcpClosing;
    else if (b & CT_ASSURED) t = T.tcpEstablished;
    else if (flags & PKT_F_SYN) t = b & CT_REPLIED ? T.tcpSynRecv : T.tcpSynSent;
    else t = T.tcpUnack;
  } else if (proto === 17) {
    if (reply) b |= CT_REPLIED | CT_ASSURED;
    t = b & CT_REPLIED ? T.udpStream : T.udp;
  } else if (proto === 1 || proto === 58) {
    t = T.icmp;
  } else {
    t = T.generic;
  }
  to.bits = b;
  to.timeout = t;
}

/** a pure SYN on a closing TCP entry starts a new connection */
function reopens(proto: number, flags: number, bits: number): boolean {
  return proto === 6 && (bits & CT_CLOSING) !== 0 && (flags & (PKT_F_SYN | PKT_F_ACK)) === PKT_F_SYN;
}

export interface CtTableOptions {
  /** entries at most (nf_conntrack_max) */
  readonly maxEntries?: number;
  /** slots allocated at first; the table doubles up to what maxEntries needs */
  readonly initialSlots?: number;
}

const NIL = -1;
const MIN_SLOTS = 16;

/** slots that hold `entries` at 7/8 load at most */
export function slotsFor(entries: number): number {
  let s = MIN_SLOTS;
  while ((s >>> 3) * 7 < entries) s *= 2;
  return s;
}

/**
 * Open addressing with linear probing and backward-shift deletion (no tombstones) over keys of
 * `keyWords` int32 words, set in `key` before each call. Grows by doubling, after sweeping out
 * expired entries, up to the slots `maxEntries` needs; lookups and inserts allocate nothing.
 * Unassured entries are chained oldest first (prev/next slot indexes) for the early drop.
 */
export class CtTable {
  /** the working key: set it, then call lookup / insert */
  readonly key: Int32Array;
  readonly maxEntries: number;
  private keys: Int32Array;
  private hashes: Uint32Array;
  private expires: Uint32Array;
  private bits: Uint8Array;
  private live: Uint8Array;
  private codes: Uint8Array;
  private prev: Int32Array;
  private next: Int32Array;
  private mask: number;
  private head = NIL;
  private tail = NIL;
  private readonly maxSlots: number;
  private readonly step: CtStep = { bits: 0, timeout: 0 };
  private clockStarted = false;
  private sweptAt = -1;
  /** the trace clock, seconds */
  now = 0;
  size = 0;
  unassured = 0;
  /** new connections refused: full, nothing to drop early */
  insertFailed = 0;
  earlyDrops = 0;
  expired = 0;

  constructor(readonly keyWords: number, opts: CtTableOptions = {}) {
    const max = opts.maxEntries ?? CT_DEFAULT_MAX;
    if (!Number.isInteger(max) || max < 1 || max > 1 << 27) throw new RangeError(`conntrack limit ${max} is not an integer from 1 to 2^27`);
    this.maxEntries = max;
    this.maxSlots = slotsFor(max);
    const first = Math.min(this.maxSlots, Math.max(MIN_SLOTS, opts.initialSlots ?? 4096));
    if (!Number.isInteger(Math.log2(first))) throw new RangeError(`conntrack slots ${first} is not a power of two`);
    this.key = new Int32Array(keyWords);
    this.keys = new Int32Array(0); this.hashes = new Uint32Array(0); this.expires = new Uint32Array(0);
    this.bits = new Uint8Array(0); this.live = new Uint8Array(0); this.codes = new Uint8Array(0);
    this.prev = new Int32Array(0); this.next = new Int32Array(0);
    this.mask = 0;
    this.allocate(first);
  }

  get slots(): number {
    return this.mask + 1;
  }

  /** Moves the trace clock to `t` seconds unless `t` is older. */
  advanceClock(t: number): void {
    if (!this.clockStarted || ((t - this.now) | 0) > 0) {
      this.now = t >>> 0;
      this.clockStarted = true;
    }
  }

  /**
   * The slot of the working key's live entry, or -1. An expired entry, or a closing TCP entry
   * met by a pure SYN, is deleted and missed: the packet is then judged as a first packet.
   */
  lookup(proto: number, flags: number): number {
    if (this.size === 0) return NIL;
    const h = this.hash();
    for (let s = h & this.mask, n = 0; n <= this.mask; s = (s + 1) & this.mask, n++) {
      if (this.live[s] === 0) return NIL;
      if (this.hashes[s] !== h || !this.equal(s)) continue;
      if (((this.expires[s]! - this.now) | 0) <= 0) {
        this.expired++;
        this.delete(s);
        return NIL;
      }
      if (reopens(proto, flags, this.bits[s]!)) {
        this.delete(s);
        return NIL;
      }
      return s;
    }
    return NIL;
  }

  /** A packet of the entry at `slot` (from lookup): advances its state and timeout; may end it. */
  touch(slot: number, proto: number, flags: number, reply: boolean): void {
    const old = this.bits[slot]!;
    ctStep(proto, flags, reply, old, this.step);
    if (this.step.timeout === 0) { this.delete(slot); return; }
    if (this.step.bits & CT_ASSURED && !(old & CT_ASSURED)) this.unlink(slot);
    this.bits[slot] = this.step.bits;
    this.expires[slot] = (this.now + this.step.timeout) >>> 0;
  }

  /** whether the entry at `slot` was opened from end a of a canonical key (CT_ORIG_A) */
  origA(slot: number): boolean {
    return (this.bits[slot]! & CT_ORIG_A) !== 0;
  }

  /**
   * Tracks the working key (not in the table) from its first packet; `origBits` is CT_ORIG_A
   * or 0. Returns the slot, or -1 when the table is full and nothing could go (counted), or
   * when the packet would end the entry at once (a TCP RST).
   */
  insert(proto: number, flags: number, origBits: number, code = 0): number {
    ctStep(proto, flags, false, 0, this.step);
    if (this.step.timeout === 0) return NIL;
    if (!this.makeRoom()) { this.insertFailed++; return NIL; }
    if (this.size + 1 > (this.slots >>> 3) * 7) this.grow();
    const h = this.hash();
    let s = h & this.mask;
    while (this.live[s] !== 0) s = (s + 1) & this.mask;
    this.keys.set(this.key, s * this.keyWords);
    this.hashes[s] = h;
    this.expires[s] = (this.now + this.step.timeout) >>> 0;
    this.bits[s] = this.step.bits | origBits;
    this.codes[s] = code;
    this.live[s] = 1;
    this.size++;
    if (!(this.step.bits & CT_ASSURED)) this.link(s);
    return s;
  }

  code(slot: number): number {
    return this.codes[slot]!;
  }

  setCode(slot: number, code: number): void {
    this.codes[slot] = code;
  }

  /** Removes every expired entry. */
  sweep(): void {
    for (let s = 0; s <= this.mask;) {
      if (this.live[s] !== 0 && ((this.expires[s]! - this.now) | 0) <= 0) {
        this.expired++;
        this.delete(s); // a shifted entry may now sit at s: look again
        continue;
      }
      s++;
    }
    this.sweptAt = this.now;
  }

  /** Forgets every entry, the counters and the clock; keeps the slots allocated. */
  clear(): void {
    this.live.fill(0);
    this.size = 0; this.unassured = 0; this.head = NIL; this.tail = NIL;
    this.insertFailed = 0; this.earlyDrops = 0; this.expired = 0;
    this.now = 0; this.clockStarted = false; this.sweptAt = -1;
  }

  /** room for one more entry: sweep, then early drop; false when full of assured entries */
  private makeRoom(): boolean {
    if (this.size < this.maxEntries) return true;
    if (this.sweptAt !== this.now) this.sweep();
    if (this.size < this.maxEntries) return true;
    if (this.head === NIL) return false;
    this.earlyDrops++;
    this.delete(this.head);
    return true;
  }

  /** doubles the slots, after a sweep has had its chance to make growing unnecessary */
  private grow(): void {
    if (this.sweptAt !== this.now) {
      this.sweep();
      if (this.size + 1 <= (this.slots >>> 3) * 7) return;
    }
    if (this.slots >= this.maxSlots) throw new Error('conntrack: table over its load limit'); // makeRoom prevents it
    const old = { keys: this.keys, hashes: this.hashes, expires: this.expires, bits: this.bits, live: this.live, codes: this.codes };
    const order: number[] = [];
    for (let s = this.head; s !== NIL; s = this.next[s]!) order.push(s);
    const moved = new Int32Array(old.live.length).fill(NIL);
    this.allocate(this.slots * 2);
    for (let s = 0; s < old.live.length; s++) {
      if (old.live[s] === 0) continue;
      let t = old.hashes[s]! & this.mask;
      while (this.live[t] !== 0) t = (t + 1) & this.mask;
      this.keys.set(old.keys.subarray(s * this.keyWords, (s + 1) * this.keyWords), t * this.keyWords);
      this.hashes[t] = old.hashes[s]!; this.expires[t] = old.expires[s]!; this.bits[t] = old.bits[s]!;
      this.codes[t] = old.codes[s]!; this.live[t] = 1;
      moved[s] = t;
    }
    // the unassured list, oldest first, in the new slots
    this.head = NIL; this.tail = NIL; this.unassured = 0;
    for (const s of order) this.link(moved[s]!);
  }

  private allocate(slots: number): void {
    this.keys = new Int32Array(slots * this.keyWords);
    this.hashes = new Uint32Array(slots);
    this.expires = new Uint32Array(slots);
    this.bits = new Uint8Array(slots);
    this.live = new Uint8Array(slots);
    this.codes = new Uint8Array(slots);
    this.prev = new Int32Array(slots);
    this.next = new Int32Array(slots);
    this.mask = slots - 1;
  }

  /** Empties slot `i`, pulling back later entries of its probe chain (backward shift). */
  private delete(i: number): void {
    if (!(this.bits[i]! & CT_ASSURED)) this.unlink(i);
    this.live[i] = 0;
    this.size--;
    const mask = this.mask;
    for (let j = (i + 1) & mask; this.live[j] !== 0; j = (j + 1) & mask) {
      const home = this.hashes[j]! & mask;
      // the entry at j may fill the hole at i unless its home lies cyclically in (i, j]
      if (((j - home) & mask) < ((j - i) & mask)) continue;
      this.move(j, i);
      i = j;
    }
  }

  private move(from: number, to: number): void {
    const w = this.keyWords;
    this.keys.copyWithin(to * w, from * w, (from + 1) * w);
    this.hashes[to] = this.hashes[from]!; this.expires[to] = this.expires[from]!;
    this.bits[to] = this.bits[from]!; this.codes[to] = this.codes[from]!;
    this.live[to] = 1; this.live[from] = 0;
    if (this.bits[to]! & CT_ASSURED) return;
    const p = this.prev[from]!, n = this.next[from]!;
    this.prev[to] = p; this.next[to] = n;
    if (p !== NIL) this.next[p] = to; else this.head = to;
    if (n !== NIL) this.prev[n] = to; else this.tail = to;
  }

  private link(s: number): void {
    this.prev[s] = this.tail;
    this.next[s] = NIL;
    if (this.tail !== NIL) this.next[this.tail] = s; else this.head = s;
    this.tail = s;
    this.unassured++;
  }

  private unlink(s: number): void {
    const p = this.prev[s]!, n = this.next[s]!;
    if (p !== NIL) this.next[p] = n; else this.head = n;
    if (n !== NIL) this.prev[n] = p; else this.tail = p;
    this.unassured--;
  }

  private hash(): number {
    const k = this.key;
    let h = 0x811c9dc5 | 0;
    for (let w = 0; w < this.keyWords; w++) {
      h = Math.imul(h ^ k[w]!, 0x01000193);
      h ^= h >>> 13;
    }
    return (h ^ (h >>> 16)) >>> 0;
  }

  private equal(s: number): boolean {
    const base = s * this.keyWords, k = this.key;
    for (let w = 0; w < this.keyWords; w++) if (this.keys[base + w] !== k[w]) return false;
    return true;
  }
}

const KEY_WORDS = 10; // addr a (4), addr b (4), ports (1), proto (1)

/**
 * The chain engine's conntrack: canonical 5-tuples (the lower {address, port} end first, like
 * struct pf_ct_key), so both directions of a connection find one entry.
 */
export class ConnTrack {
  private readonly table: CtTable;
  /** whether the packet last keyed came from end a of its canonical key */
  private fromA = true;

  constructor(opts: CtTableOptions = {}) {
    this.table = new CtTable(KEY_WORDS, opts);
  }

  get size(): number { return this.table.size; }
  get insertFailed(): number { return this.table.insertFailed; }
  get earlyDrops(): number { return this.table.earlyDrops; }
  get expired(): number { return this.table.expired; }
  get maxEntries(): number { return this.table.maxEntries; }

  advanceClock(t: number): void {
    this.table.advanceClock(t);
  }

  /** Builds the canonical key of packet `i` in the table's working key. */
  private setKey(w: Int32Array, p16: Uint16Array, b: Uint8Array, i: number): void {
    const o = i * (PKT_BYTES >> 2);
    const sport = p16[i * 20 + 16]!, dport = p16[i * 20 + 17]!;
    // compare {saddr, sport} with {daddr, dport} word by word (as bytes: big-endian) to order the ends
    let cmp = 0;
    for (let k = 0; k < 4 && cmp === 0; k++) {
      const a = bswap(w[o + k]!), c = bswap(w[o + 4 + k]!);
      cmp = a < c ? -1 : a > c ? 1 : 0;
    }
    if (cmp === 0) cmp = sport < dport ? -1 : sport > dport ? 1 : 0;
    const t = this.table.key;
    this.fromA = cmp <= 0;
    const first = this.fromA ? 0 : 4, second = this.fromA ? 4 : 0;
    for (let k = 0; k < 4; k++) { t[k] = w[o + first + k]!; t[4 + k] = w[o + second + k]!; }
    t[8] = this.fromA ? (sport << 16) | dport : (dport << 16) | sport;
    t[9] = b[i * PKT_BYTES + 36]!;
  }

  /**
   * Is packet `i`'s connection tracked? When it is, the packet advances its entry (state,
   * timeout). Call once per packet.
   */
  track(w: Int32Array, p16: Uint16Array, b: Uint8Array, i: number): boolean {
    this.setKey(w, p16, b, i);
    const proto = b[i * PKT_BYTES + 36]!, flags = b[i * PKT_BYTES + 38]!;
    const s = this.table.lookup(proto, flags);
    if (s < 0) return false;
    this.table.touch(s, proto, flags, this.fromA !== this.table.origA(s));
    return true;
  }

  /** Opens packet `i`'s connection; false when the table is full (the packet is to be dropped). */
  open(w: Int32Array, p16: Uint16Array, b: Uint8Array, i: number): boolean {
    this.setKey(w, p16, b, i);
    const proto = b[i * PKT_BYTES + 36]!, flags = b[i * PKT_BYTES + 38]!;
    const failed = this.table.insertFailed;
    this.table.insert(proto, flags, this.fromA ? CT_ORIG_A : 0);
    return this.table.insertFailed === failed;
  }

  clear(): void {
    this.table.clear();
  }
}

/** a word read from the packet bytes as a big-endian number (the bytes' order) */
function bswap(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/** Parses --ct-max: an integer from 1 to 2^27 (conntrack entries), or PfsimError PFSIM_ERR_USAGE. */
export function parseCtMax(text: string): number {
  return parseCount('--ct-max', text, 1 << 27);
}
