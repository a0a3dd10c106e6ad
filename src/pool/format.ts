/**
 * Flow names written as ASCII bytes, straight from pf_pkt records: the same text as
 * src/verdict/summary.ts flowName over src/net/ip.ts formatIp (dotted IPv4 for ::ffff:a.b.c.d,
 * RFC 5952 IPv6 in brackets otherwise), without a bigint or an intermediate string per address.
 *
 * Why bytes: a replay names every connection once, a few hundred thousand times on a large
 * capture. Built with string concatenation each name is a tree of a dozen heap strings, and
 * the garbage collector copying those trees cost more than judging the packets; written into
 * one byte buffer, all the names of a slot decode into ONE string (split on '\n' at the end).
 */

const COLON = 0x3a, DOT = 0x2e, SPACE = 0x20, NEWLINE = 0x0a;
const HEX_DIGITS = '0123456789abcdef';

/** A growable ASCII buffer. */
export class AsciiWriter {
  private buf = new Uint8Array(1 << 16);
  private pos = 0;

  get length(): number {
    return this.pos;
  }

  byte(c: number): void {
    if (this.pos === this.buf.length) this.grow(1);
    this.buf[this.pos++] = c;
  }

  /** `s` must be ASCII. */
  text(s: string): void {
    if (this.pos + s.length > this.buf.length) this.grow(s.length);
    for (let k = 0; k < s.length; k++) this.buf[this.pos++] = s.charCodeAt(k);
  }

  /** A non-negative integer in decimal. */
  decimal(n: number): void {
    if (n >= 10) this.decimal(Math.floor(n / 10));
    this.byte(0x30 + (n % 10));
  }

  /** A 16-bit word in lowercase hex without leading zeros. */
  hex(w: number): void {
    let started = false;
    for (let shift = 12; shift >= 0; shift -= 4) {
      const d = (w >>> shift) & 0xf;
      if (d === 0 && !started && shift > 0) continue;
      started = true;
      this.byte(HEX_DIGITS.charCodeAt(d));
    }
  }

  /** Everything written, as one string; the writer starts over. */
  take(): string {
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.pos).toString('latin1');
    this.clear();
    return s;
  }

  /**
   * Everything written, as the bytes themselves (no copy): the writer starts over in a new
   * buffer of the same size, so the one given away (it may be transferred) is never written again.
   */
  takeBytes(): Uint8Array {
    const b = this.buf.subarray(0, this.pos);
    this.buf = new Uint8Array(this.buf.length);
    this.pos = 0;
    return b;
  }

  /** Forgets everything written (no string is made). */
  clear(): void {
    this.pos = 0;
  }

  private grow(need: number): void {
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.pos + need));
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
  }
}

/** Whether the address at `bytes[off .. off+16)` is IPv4-mapped (::ffff:a.b.c.d), as familyOf says. */
function isV4Mapped(bytes: Uint8Array, off: number): boolean {
  if (bytes[off + 10] !== 0xff || bytes[off + 11] !== 0xff) return false;
  for (let k = 0; k < 10; k++) if (bytes[off + k] !== 0) return false;
  return true;
}

const words = new Uint16Array(8);

/** Writes the address at `bytes[off .. off+16)` (network order) as formatIp would. */
export function writeAddr(w: AsciiWriter, bytes: Uint8Array, off: number): void {
  if (isV4Mapped(bytes, off)) {
    for (let k = 12; k < 16; k++) {
      if (k > 12) w.byte(DOT);
      w.decimal(bytes[off + k]!);
    }
    return;
  }
  for (let k = 0; k < 8; k++) words[k] = (bytes[off + 2 * k]! << 8) | bytes[off + 2 * k + 1]!;
  // the first longest run of two or more zero words becomes "::"
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      w.byte(COLON);
      w.byte(COLON);
      k += bestLen - 1;
      continue;
    }
    if (k > 0 && k !== bestStart + bestLen) w.byte(COLON);
    w.hex(words[k]!);
  }
}

/** One end of a flow: `10.0.0.1:80` or `[fd00::1]:80`. */
function writeEnd(w: AsciiWriter, bytes: Uint8Array, off: number, port: number): void {
  const v6 = !isV4Mapped(bytes, off);
  if (v6) w.byte(0x5b);
  writeAddr(w, bytes, off);
  if (v6) w.byte(0x5d);
  w.byte(COLON);
  w.decimal(port);
}

/** Appends `PROTO SRC -> DST` (flowName's text) and a newline. */
export function writeFlowName(w: AsciiWriter, proto: string, bytes: Uint8Array, srcOff: number, sport: number, dstOff: number, dport: number): void {
  w.text(proto);
  w.byte(SPACE);
  writeEnd(w, bytes, srcOff, sport);
  w.text(' -> ');
  writeEnd(w, bytes, dstOff, dport);
  w.byte(NEWLINE);
}

const scratch = new AsciiWriter();

/** The address at `bytes[off .. off+16)` as formatIp writes it (tests, one-off use). */
export function formatAddrAt(bytes: Uint8Array, off: number): string {
  writeAddr(scratch, bytes, off);
  return scratch.take();
}
