/**
 * IP addresses and CIDR blocks. Every address is held as a 128-bit bigint in one space:
 * IPv6 as is, IPv4 as its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so IPv4 prefix /n is /(96+n).
 * The same layout is used by the compiled plan, the native classifier and the tc program.
 */
export type Family = 4 | 6;

export const V4_MAPPED_BASE = 0xffffn << 32n;
const ALL_ONES = (1n << 128n) - 1n;

export interface Cidr {
  /** network address, host bits zero, in the 128-bit space */
  readonly addr: bigint;
  /** prefix length in the 128-bit space (IPv4 /n is 96 + n) */
  readonly len: number;
  readonly family: Family;
}

export function familyOf(addr: bigint): Family {
  return addr >> 32n === 0xffffn ? 4 : 6;
}

/** Parses dotted IPv4; returns undefined when malformed. */
function parseV4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v;
}

/** Parses an IPv6 address (with optional embedded IPv4 tail); undefined when malformed. */
function parseV6(s: string): bigint | undefined {
  if (s.length === 0 || s.includes('%')) return undefined;
  let tailWords: number[] = [];
  let head = s;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    const v4 = parseV4(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tailWords = [v4 >>> 16, v4 & 0xffff];
    head = s.slice(0, lastColon + 1);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const dbl = head.split('::');
  if (dbl.length > 2) return undefined;
  const parseGroups = (g: string): number[] | undefined => {
    if (g === '') return [];
    const out: number[] = [];
    for (const w of g.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(w)) return undefined;
      out.push(parseInt(w, 16));
    }
    return out;
  };
  const left = parseGroups(dbl[0]!);
  const right = dbl.length === 2 ? parseGroups(dbl[1]!) : [];
  if (!left || !right) return undefined;
  const total = left.length + right.length + tailWords.length;
  let words: number[];
  if (dbl.length === 2) {
    if (total > 7) return undefined;
    words = [...left, ...new Array<number>(8 - total).fill(0), ...right, ...tailWords];
  } else {
    if (total !== 8) return undefined;
    words = [...left, ...tailWords];
  }
  let v = 0n;
  for (const w of words) v = (v << 16n) | BigInt(w);
  return v;
}

/** Parses an IPv4 or IPv6 address into the 128-bit space; undefined when malformed. */
export function parseIp(s: string): bigint | undefined {
  if (s.includes(':')) {
    const v = parseV6(s);
    if (v === undefined) return undefined;
    // an IPv4-mapped IPv6 literal is the IPv4 address itself, as in Go's net.ParseIP
    return v;
  }
  const v4 = parseV4(s);
  return v4 === undefined ? undefined : V4_MAPPED_BASE | BigInt(v4);
}

export function maskOf(len: number): bigint {
  return len === 0 ? 0n : (ALL_ONES << BigInt(128 - len)) & ALL_ONES;
}

export type CidrResult = { ok: true; cidr: Cidr } | { ok: false; why: string };

/**
 * Parses "a.b.c.d/n" or "x::y/n" strictly: the prefix length must be in range and host bits
 * must be zero. Go's ParseCIDR would mask "10.0.0.1/8" silently; pfsim refuses it so that a
 * typo cannot quietly widen or narrow a rule.
 */
export function parseCidr(s: string): CidrResult {
  const slash = s.indexOf('/');
  if (slash < 0) return { ok: false, why: `"${s}" is not a CIDR (no /prefix)` };
  const ipPart = s.slice(0, slash);
  const lenPart = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenPart)) return { ok: false, why: `"${s}" has a bad prefix length` };
  const n = Number(lenPart);
  const isV6 = ipPart.includes(':');
  const addr = parseIp(ipPart);
  if (addr === undefined) return { ok: false, why: `"${s}" has a malformed address` };
  if (isV6 && familyOf(addr) === 4) return { ok: false, why: `"${s}" is an IPv4-mapped IPv6 CIDR; write it as IPv4` };
  const max = isV6 ? 128 : 32;
  if (n > max) return { ok: false, why: `"${s}" has prefix length ${n} > ${max}` };
  const len = isV6 ? n : n + 96;
  if ((addr & ~maskOf(len) & ALL_ONES) !== 0n) return { ok: false, why: `"${s}" has host bits set` };
  return { ok: true, cidr: { addr, len, family: isV6 ? 6 : 4 } };
}

export function hostCidr(addr: bigint): Cidr {
  return { addr, len: 128, family: familyOf(addr) };
}

export function cidrContainsAddr(c: Cidr, addr: bigint): boolean {
  return ((addr ^ c.addr) & maskOf(c.len)) === 0n;
}

/** True when block `outer` contains every address of block `inner`. */
export function cidrCovers(outer: Cidr, inner: Cidr): boolean {
  return outer.len <= inner.len && cidrContainsAddr(outer, inner.addr);
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrCovers(a, b) || cidrCovers(b, a);
}

export function formatIp(addr: bigint): string {
  if (familyOf(addr) === 4) {
    const v = Number(addr & 0xffffffffn);
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const words: number[] = [];
  for (let i = 7; i >= 0; i--) words.push(Number((addr >> BigInt(i * 16)) & 0xffffn));
  // compress the longest run of two or more zero words (RFC 5952)
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.addr)}/${c.family === 4 ? c.len - 96 : c.len}`;
}

/** The 16 bytes of an address in network order (IPv4 as IPv4-mapped IPv6). */
export function addrBytes(addr: bigint, out: Uint8Array = new Uint8Array(16), off = 0): Uint8Array {
  for (let i = 15; i >= 0; i--) { out[off + i] = Number(addr & 0xffn); addr >>= 8n; }
  return out;
}

export function bytesToAddr(b: Uint8Array, off = 0): bigint {
  let v = 0n;
  for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(b[off + i]!);
  return v;
}

export function compareCidr(a: Cidr, b: Cidr): number {
  if (a.addr !== b.addr) return a.addr < b.addr ? -1 : 1;
  return a.len - b.len;
}
