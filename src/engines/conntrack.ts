/**
 * Connection tracking for the TypeScript engines: an open-addressing hash table of canonical
 * 5-tuples (the lower {address, port} end first, like struct pf_ct_key), so both directions of
 * a connection find one entry. Fixed capacity; inserts stop at 7/8 full and are counted.
 */
import { PKT_BYTES } from './packet.js';

const KEY_WORDS = 10; // addr a (4), addr b (4), ports (1), proto (1)

export class ConnTrack {
  private readonly keys: Int32Array;
  private readonly used: Uint8Array;
  private readonly mask: number;
  private readonly limit: number;
  private readonly tmp = new Int32Array(KEY_WORDS);
  size = 0;
  insertFailed = 0;

  constructor(capacity = 1 << 20) {
    if (!Number.isInteger(Math.log2(capacity))) throw new RangeError(`conntrack capacity ${capacity} is not a power of two`);
    this.keys = new Int32Array(capacity * KEY_WORDS);
    this.used = new Uint8Array(capacity);
    this.mask = capacity - 1;
    this.limit = (capacity >>> 3) * 7;
  }

  /** Builds the canonical key of packet `i` in `tmp`; returns its hash. */
  private key(w: Int32Array, p16: Uint16Array, b: Uint8Array, i: number): number {
    const o = i * (PKT_BYTES >> 2);
    const sport = p16[i * 20 + 16]!, dport = p16[i * 20 + 17]!;
    // compare {saddr, sport} with {daddr, dport} word by word to order the ends
    let cmp = 0;
    for (let k = 0; k < 4 && cmp === 0; k++) {
      const a = w[o + k]! >>> 0, c = w[o + 4 + k]! >>> 0;
      cmp = a < c ? -1 : a > c ? 1 : 0;
    }
    if (cmp === 0) cmp = sport < dport ? -1 : sport > dport ? 1 : 0;
    const t = this.tmp;
    const first = cmp <= 0 ? 0 : 4, second = cmp <= 0 ? 4 : 0;
    for (let k = 0; k < 4; k++) { t[k] = w[o + first + k]!; t[4 + k] = w[o + second + k]!; }
    t[8] = cmp <= 0 ? (sport << 16) | dport : (dport << 16) | sport;
    t[9] = b[i * PKT_BYTES + 36]!;
    let h = 0x811c9dc5 | 0;
    for (let k = 0; k < KEY_WORDS; k++) { h = Math.imul(h ^ t[k]!, 0x01000193); h ^= h >>> 15; }
    return h >>> 0;
  }

  private find(h: number, insert: boolean): boolean {
    const t = this.tmp;
    for (let s = h & this.mask, n = 0; n <= this.mask; s = (s + 1) & this.mask, n++) {
      if (this.used[s] === 0) {
        if (!insert) return false;
        if (this.size >= this.limit) { this.insertFailed++; return false; }
        this.keys.set(t, s * KEY_WORDS);
        this.used[s] = 1;
        this.size++;
        return true;
      }
      const base = s * KEY_WORDS;
      let eq = true;
      for (let k = 0; k < KEY_WORDS; k++) if (this.keys[base + k] !== t[k]) { eq = false; break; }
      if (eq) return true;
    }
    return false;
  }

  has(w: Int32Array, p16: Uint16Array, b: Uint8Array, i: number): boolean {
    return this.find(this.key(w, p16, b, i), false);
  }

  add(w: Int32Array, p16: Uint16Array, b: Uint8Array, i: number): void {
    this.find(this.key(w, p16, b, i), true);
  }

  clear(): void {
    this.used.fill(0);
    this.size = 0;
    this.insertFailed = 0;
  }
}
