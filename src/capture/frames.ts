/**
 * Wire frames for captures: IP datagrams (IPv4 with options and fragments, IPv6 with extension
 * headers) carrying TCP, UDP, SCTP or ICMP/ICMPv6 with correct checksums, and the link-layer
 * headers a capture file holds them in: Ethernet II (plain, 802.1Q, 802.1ad QinQ), Linux cooked
 * SLL and SLL2, or none (LINKTYPE_RAW). Every multi-byte field is written in network order.
 *
 * Addresses go through src/net/ip.ts: IPv4 lives in the 128-bit space as ::ffff:a.b.c.d, and only
 * its last 4 bytes go on the wire.
 *
 * Error contract: a builder throws PfsimError PFSIM_ERR_USAGE naming the option when its input
 * cannot be put on the wire (mixed families, a port out of range, a datagram over 65535 bytes).
 */
import { PfsimError } from '../errors.js';
import { addrBytes, familyOf, parseIp, type Family } from '../net/ip.js';

/** Link types as a capture file's header names them (tcpdump.org link-layer header types). */
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_LINUX_SLL2 = 276;
export type LinkType = typeof LINKTYPE_ETHERNET | typeof LINKTYPE_RAW | typeof LINKTYPE_LINUX_SLL | typeof LINKTYPE_LINUX_SLL2;

export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_DSTOPTS = 60;
export const IPPROTO_SCTP = 132;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;
const TCP_FLAG_BITS = { FIN: TCP_FIN, SYN: TCP_SYN, RST: TCP_RST, PSH: TCP_PSH, ACK: TCP_ACK, URG: TCP_URG, ECE: TCP_ECE, CWR: TCP_CWR } as const;
export type TcpFlag = keyof typeof TCP_FLAG_BITS;

/** ICMP means ICMPv6 when the addresses are IPv6, as in a flows file. */
export type TransportProto = 'TCP' | 'UDP' | 'SCTP' | 'ICMP';

/** IPv6 extension headers, written in the order given, before the transport header. */
export type Ipv6Ext = 'hop' | 'route' | 'dst' | 'frag';

export interface FragmentSpec {
  /** offset of this fragment's data in the original transport segment, in bytes (a multiple of 8) */
  readonly offset: number;
  /** more fragments follow (IPv4 MF, IPv6 M) */
  readonly more: boolean;
  /** identification: 16 bits for IPv4, 32 bits for IPv6 */
  readonly id: number;
}

export type SctpChunkSpec =
  | {
      readonly type: 'INIT';
      readonly initiateTag: number;
      readonly initialTsn: number;
      readonly aRwnd?: number;
      readonly outStreams?: number;
      readonly inStreams?: number;
    }
  | {
      readonly type: 'DATA';
      /** the peer's initiate tag; a packet with INIT carries 0 instead */
      readonly vtag: number;
      readonly tsn: number;
      readonly stream?: number;
      readonly ssn?: number;
      readonly ppid?: number;
    };

export interface IcmpEchoSpec {
  readonly type: 'request' | 'reply';
  readonly id: number;
  readonly seq: number;
}

export interface IpPacketOptions {
  /** dotted IPv4 or IPv6 text, or a 128-bit address from src/net/ip.ts */
  readonly src: string | bigint;
  readonly dst: string | bigint;
  readonly proto: TransportProto;
  /** TCP/UDP/SCTP ports; default 0 */
  readonly sport?: number;
  readonly dport?: number;
  /** names or a bit mask of TCP_* bits; default SYN */
  readonly tcpFlags?: readonly TcpFlag[] | number;
  readonly seq?: number;
  readonly ack?: number;
  /** TCP window; default 64240 */
  readonly window?: number;
  /** raw TCP option bytes (see tcpOptions()); padded with EOL to 4 bytes */
  readonly tcpOptions?: Uint8Array;
  /** ICMP/ICMPv6 echo; default a request with id 1, seq 1 */
  readonly icmp?: IcmpEchoSpec;
  /** SCTP chunk; default DATA when there is a payload, else INIT */
  readonly sctp?: SctpChunkSpec;
  /** transport payload (strings are UTF-8) */
  readonly payload?: Uint8Array | string;
  /** TTL or hop limit; default 64 */
  readonly ttl?: number;
  /** IPv4 TOS byte or IPv6 traffic class; default 0 */
  readonly tos?: number;
  /** IPv4 identification (frag.id wins); default 0 */
  readonly id?: number;
  /** IPv4 don't-fragment; default true unless frag is given */
  readonly df?: boolean;
  /** raw IPv4 option bytes (see ipv4RecordRoute()); padded with EOL to 4 bytes, at most 40 */
  readonly ipOptions?: Uint8Array;
  /** IPv6 flow label (20 bits); default 0 */
  readonly flowLabel?: number;
  /** IPv6 extension headers in wire order */
  readonly ext?: readonly Ipv6Ext[];
  /**
   * Makes this datagram a fragment. Offset 0 carries the transport header and payload as usual;
   * a later fragment carries `payload` as raw bytes with no transport header. For IPv6 a
   * fragment header is appended to `ext` unless it already names one.
   */
  readonly frag?: FragmentSpec;
  /** writes a wrong checksum: the IPv4 header's or the transport's, for reader tests */
  readonly corrupt?: 'ip' | 'l4';
}

function usage(msg: string): PfsimError {
  return new PfsimError('PFSIM_ERR_USAGE', msg);
}

function checkUint(v: number, bits: number, what: string): number {
  const max = 2 ** bits - 1;
  if (!Number.isInteger(v) || v < 0 || v > max) throw usage(`${what}: ${v} is not an integer in 0..${max}`);
  return v;
}

function parseAddr(a: string | bigint, what: string): bigint {
  if (typeof a === 'bigint') return a;
  const v = parseIp(a);
  if (v === undefined) throw usage(`${what}: "${a}" is not an IP address`);
  return v;
}

const encoder = new TextEncoder();
function bytesOf(p: Uint8Array | string | undefined): Uint8Array {
  if (p === undefined) return new Uint8Array(0);
  return typeof p === 'string' ? encoder.encode(p) : p;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** The wire bytes of an address: 4 for IPv4, 16 for IPv6. */
function wireAddr(a: bigint): Uint8Array {
  const b = addrBytes(a);
  return familyOf(a) === 4 ? b.subarray(12) : b;
}

/** One's-complement sum of 16-bit big-endian words, not yet folded or inverted. */
function sum16(b: Uint8Array, acc = 0): number {
  const even = b.length & ~1;
  for (let i = 0; i < even; i += 2) acc += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) acc += b[b.length - 1]! << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return acc;
}

/** The Internet checksum (RFC 1071) of `data`, continuing a partial sum from `partial`. */
export function inetChecksum(data: Uint8Array, partial = 0): number {
  return ~fold(sum16(data, partial)) & 0xffff;
}

/** Partial sum of the IPv4 or IPv6 pseudo-header for an upper-layer length and protocol. */
function pseudoHeaderSum(src: bigint, dst: bigint, proto: number, length: number): number {
  let acc = sum16(wireAddr(src), sum16(wireAddr(dst)));
  if (familyOf(src) === 4) return acc + proto + length;
  // IPv6: 32-bit upper-layer length, three zero bytes, next header
  acc += Math.floor(length / 0x10000) + (length & 0xffff);
  return acc + proto;
}

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    // reflected Castagnoli polynomial 0x1EDC6F41
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC32c (Castagnoli) as SCTP (RFC 9260 Appendix A) and iSCSI use it; "123456789" gives 0xe3069283. */
export function crc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC32C_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function transportNumber(proto: TransportProto, family: Family): number {
  switch (proto) {
    case 'TCP': return IPPROTO_TCP;
    case 'UDP': return IPPROTO_UDP;
    case 'SCTP': return IPPROTO_SCTP;
    case 'ICMP': return family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    default: throw usage(`proto: unknown protocol "${String(proto)}" (TCP, UDP, SCTP, ICMP)`);
  }
}

function tcpFlagBits(f: IpPacketOptions['tcpFlags']): number {
  if (f === undefined) return TCP_SYN;
  if (typeof f === 'number') return checkUint(f, 8, 'tcpFlags');
  let bits = 0;
  for (const name of f) {
    const b = TCP_FLAG_BITS[name];
    if (b === undefined) throw usage(`tcpFlags: unknown flag "${String(name)}"`);
    bits |= b;
  }
  return bits;
}

function padTo4(b: Uint8Array, what: string, max: number): Uint8Array {
  const len = (b.length + 3) & ~3;
  if (len > max) throw usage(`${what}: ${b.length} bytes is more than ${max}`);
  const out = new Uint8Array(len); // trailing zeros are EOL (end of option list)
  out.set(b);
  return out;
}

export interface TcpOptionSpec {
  readonly mss?: number;
  readonly sackPermitted?: boolean;
  /** [TSval, TSecr] */
  readonly timestamp?: readonly [number, number];
  readonly wscale?: number;
}

/**
 * TCP option bytes in the order Linux writes them: MSS, SACK-permitted and timestamps (NOP-padded
 * when apart), NOP + window scale. A SYN with every option is the usual 20 bytes.
 */
export function tcpOptions(o: TcpOptionSpec): Uint8Array {
  const out: number[] = [];
  if (o.mss !== undefined) out.push(2, 4, checkUint(o.mss, 16, 'mss') >>> 8, o.mss & 0xff);
  const ts = (): number[] => {
    const b = new Uint8Array(10);
    b[0] = 8;
    b[1] = 10;
    put32(b, 2, checkUint(o.timestamp![0], 32, 'TSval'));
    put32(b, 6, checkUint(o.timestamp![1], 32, 'TSecr'));
    return [...b];
  };
  if (o.sackPermitted && o.timestamp) out.push(4, 2, ...ts());
  else {
    if (o.sackPermitted) out.push(1, 1, 4, 2);
    if (o.timestamp) out.push(1, 1, ...ts());
  }
  if (o.wscale !== undefined) out.push(1, 3, 3, checkUint(o.wscale, 8, 'wscale'));
  return padTo4(Uint8Array.from(out), 'tcpOptions', 40);
}

/**
 * IPv4 options: a NOP, then Record Route with room for `slots` addresses and the pointer at the
 * first free slot. With no slots it is 4 bytes, the smallest way to make IHL 6.
 */
export function ipv4RecordRoute(slots = 0): Uint8Array {
  checkUint(slots, 3, 'slots');
  if (slots > 9) throw usage(`slots: ${slots} addresses do not fit in 40 option bytes`);
  const b = new Uint8Array(4 + 4 * slots);
  b[0] = 1; // NOP
  b[1] = 7; // RR
  b[2] = 3 + 4 * slots;
  b[3] = 4; // pointer: 1-based offset of the first free slot
  return b;
}

function sctpChunk(o: IpPacketOptions, payload: Uint8Array): { vtag: number; chunk: Uint8Array } {
  const spec: SctpChunkSpec = o.sctp ?? (payload.length > 0
    ? { type: 'DATA', vtag: 1, tsn: 1 }
    : { type: 'INIT', initiateTag: 1, initialTsn: 1 });
  if (spec.type === 'INIT') {
    if (payload.length > 0) throw usage('payload: an SCTP INIT chunk carries none');
    const c = new Uint8Array(20);
    c[0] = 1; // INIT
    put16(c, 2, 20);
    put32(c, 4, checkUint(spec.initiateTag, 32, 'sctp.initiateTag'));
    put32(c, 8, checkUint(spec.aRwnd ?? 106496, 32, 'sctp.aRwnd'));
    put16(c, 12, checkUint(spec.outStreams ?? 10, 16, 'sctp.outStreams'));
    put16(c, 14, checkUint(spec.inStreams ?? 65535, 16, 'sctp.inStreams'));
    put32(c, 16, checkUint(spec.initialTsn, 32, 'sctp.initialTsn'));
    // RFC 9260 8.5.1: a packet carrying INIT has verification tag 0
    return { vtag: 0, chunk: c };
  }
  const len = 16 + payload.length;
  const c = new Uint8Array((len + 3) & ~3);
  c[0] = 0; // DATA
  c[1] = 0x03; // B and E: one unfragmented user message
  put16(c, 2, len);
  put32(c, 4, checkUint(spec.tsn, 32, 'sctp.tsn'));
  put16(c, 8, checkUint(spec.stream ?? 0, 16, 'sctp.stream'));
  put16(c, 10, checkUint(spec.ssn ?? 0, 16, 'sctp.ssn'));
  put32(c, 12, checkUint(spec.ppid ?? 0, 32, 'sctp.ppid'));
  c.set(payload, 16);
  return { vtag: checkUint(spec.vtag, 32, 'sctp.vtag'), chunk: c };
}

/** The transport segment with its checksum, as the whole datagram would carry it. */
function transportSegment(o: IpPacketOptions, src: bigint, dst: bigint, protoNum: number): Uint8Array {
  const payload = bytesOf(o.payload);
  const sport = checkUint(o.sport ?? 0, 16, 'sport');
  const dport = checkUint(o.dport ?? 0, 16, 'dport');
  const flip = o.corrupt === 'l4' ? 0xffff : 0;
  let seg: Uint8Array;
  switch (o.proto) {
    case 'TCP': {
      const opts = padTo4(o.tcpOptions ?? new Uint8Array(0), 'tcpOptions', 40);
      const hlen = 20 + opts.length;
      seg = new Uint8Array(hlen + payload.length);
      put16(seg, 0, sport);
      put16(seg, 2, dport);
      put32(seg, 4, checkUint(o.seq ?? 0, 32, 'seq'));
      put32(seg, 8, checkUint(o.ack ?? 0, 32, 'ack'));
      seg[12] = (hlen / 4) << 4;
      seg[13] = tcpFlagBits(o.tcpFlags);
      put16(seg, 14, checkUint(o.window ?? 64240, 16, 'window'));
      seg.set(opts, 20);
      seg.set(payload, hlen);
      put16(seg, 16, inetChecksum(seg, pseudoHeaderSum(src, dst, protoNum, seg.length)) ^ flip);
      break;
    }
    case 'UDP': {
      seg = new Uint8Array(8 + payload.length);
      put16(seg, 0, sport);
      put16(seg, 2, dport);
      put16(seg, 4, seg.length);
      seg.set(payload, 8);
      // a computed 0 is sent as 0xffff: 0 means "no checksum" (allowed for IPv4 only)
      put16(seg, 6, (inetChecksum(seg, pseudoHeaderSum(src, dst, protoNum, seg.length)) || 0xffff) ^ flip);
      break;
    }
    case 'SCTP': {
      const { vtag, chunk } = sctpChunk(o, payload);
      seg = new Uint8Array(12 + chunk.length);
      put16(seg, 0, sport);
      put16(seg, 2, dport);
      put32(seg, 4, vtag);
      seg.set(chunk, 12);
      // the CRC goes on the wire least significant byte first (RFC 9260 Appendix A)
      const crc = (crc32c(seg) ^ (flip ? 0xffffffff : 0)) >>> 0;
      seg[8] = crc & 0xff;
      seg[9] = (crc >>> 8) & 0xff;
      seg[10] = (crc >>> 16) & 0xff;
      seg[11] = crc >>> 24;
      break;
    }
    case 'ICMP': {
      const echo = o.icmp ?? { type: 'request', id: 1, seq: 1 };
      const v4 = protoNum === IPPROTO_ICMP;
      seg = new Uint8Array(8 + payload.length);
      seg[0] = echo.type === 'request' ? (v4 ? 8 : 128) : (v4 ? 0 : 129);
      put16(seg, 4, checkUint(echo.id, 16, 'icmp.id'));
      put16(seg, 6, checkUint(echo.seq, 16, 'icmp.seq'));
      seg.set(payload, 8);
      // ICMPv6 covers the pseudo-header, ICMP does not
      put16(seg, 2, inetChecksum(seg, v4 ? 0 : pseudoHeaderSum(src, dst, protoNum, seg.length)) ^ flip);
      break;
    }
    default:
      throw usage(`proto: unknown protocol "${String(o.proto)}"`);
  }
  return seg;
}

function ipv4Datagram(o: IpPacketOptions, src: bigint, dst: bigint, protoNum: number, body: Uint8Array, frag: FragmentSpec | undefined): Uint8Array {
  if (o.ext !== undefined && o.ext.length > 0) throw usage('ext: IPv6 extension headers on an IPv4 packet');
  if (o.flowLabel !== undefined) throw usage('flowLabel: IPv4 has no flow label');
  const opts = padTo4(o.ipOptions ?? new Uint8Array(0), 'ipOptions', 40);
  const hlen = 20 + opts.length;
  const total = hlen + body.length;
  if (total > 0xffff) throw usage(`payload: IPv4 datagram of ${total} bytes exceeds 65535`);
  const d = new Uint8Array(total);
  d[0] = 0x40 | (hlen / 4);
  d[1] = checkUint(o.tos ?? 0, 8, 'tos');
  put16(d, 2, total);
  put16(d, 4, checkUint(frag?.id ?? o.id ?? 0, 16, frag ? 'frag.id' : 'id'));
  let flags = (o.df ?? frag === undefined) ? 0x4000 : 0;
  if (frag) flags |= (frag.more ? 0x2000 : 0) | checkUint(frag.offset / 8, 13, 'frag.offset / 8');
  put16(d, 6, flags);
  d[8] = checkUint(o.ttl ?? 64, 8, 'ttl');
  d[9] = protoNum;
  d.set(wireAddr(src), 12);
  d.set(wireAddr(dst), 16);
  d.set(opts, 20);
  put16(d, 10, inetChecksum(d.subarray(0, hlen)) ^ (o.corrupt === 'ip' ? 0xffff : 0));
  d.set(body, hlen);
  return d;
}

const EXT_NUMBER: Record<Ipv6Ext, number> = { hop: IPPROTO_HOPOPTS, route: IPPROTO_ROUTING, dst: IPPROTO_DSTOPTS, frag: IPPROTO_FRAGMENT };

function ipv6ExtHeader(kind: Ipv6Ext, next: number, dst: bigint, frag: FragmentSpec | undefined, id: number): Uint8Array {
  switch (kind) {
    case 'hop':
    case 'dst':
      // 8 bytes: next header, length 0, one PadN option filling the rest
      return Uint8Array.of(next, 0, 1, 4, 0, 0, 0, 0);
    case 'route': {
      // Segment Routing header (type 4) holding one segment, the destination, with nothing left
      // to visit: the IPv6 destination is the final one, so the pseudo-header uses it as is
      const h = new Uint8Array(24);
      h[0] = next;
      h[1] = 2; // length in 8-octet units after the first 8
      h[2] = 4; // routing type: SRH
      h[3] = 0; // segments left
      h[4] = 0; // last entry
      addrBytes(dst, h, 8);
      return h;
    }
    case 'frag': {
      // without a FragmentSpec: an atomic fragment (offset 0, no more)
      const f = frag ?? { offset: 0, more: false, id };
      const h = new Uint8Array(8);
      h[0] = next;
      put16(h, 2, (checkUint(f.offset / 8, 13, 'frag.offset / 8') << 3) | (f.more ? 1 : 0));
      put32(h, 4, checkUint(f.id, 32, 'frag.id'));
      return h;
    }
    default:
      throw usage(`ext: unknown extension header "${String(kind)}" (hop, route, dst, frag)`);
  }
}

function ipv6Datagram(o: IpPacketOptions, src: bigint, dst: bigint, protoNum: number, body: Uint8Array, frag: FragmentSpec | undefined): Uint8Array {
  if (o.ipOptions !== undefined) throw usage('ipOptions: IPv6 carries options in extension headers (ext)');
  if (o.corrupt === 'ip') throw usage('corrupt: an IPv6 header has no checksum');
  const kinds = [...(o.ext ?? [])];
  if (frag && !kinds.includes('frag')) kinds.push('frag');
  const headers: Uint8Array[] = [];
  for (let i = 0; i < kinds.length; i++) {
    const next = i + 1 < kinds.length ? EXT_NUMBER[kinds[i + 1]!] : protoNum;
    headers.push(ipv6ExtHeader(kinds[i]!, next, dst, frag, o.id ?? 0));
  }
  const extLen = headers.reduce((n, h) => n + h.length, 0);
  const payloadLen = extLen + body.length;
  if (payloadLen > 0xffff) throw usage(`payload: IPv6 payload of ${payloadLen} bytes exceeds 65535 (no jumbograms)`);
  const d = new Uint8Array(40 + payloadLen);
  const tc = checkUint(o.tos ?? 0, 8, 'tos');
  const flow = checkUint(o.flowLabel ?? 0, 20, 'flowLabel');
  put32(d, 0, ((6 << 28) | (tc << 20) | flow) >>> 0);
  put16(d, 4, payloadLen);
  d[6] = kinds.length > 0 ? EXT_NUMBER[kinds[0]!] : protoNum;
  d[7] = checkUint(o.ttl ?? 64, 8, 'ttl');
  d.set(wireAddr(src), 8);
  d.set(wireAddr(dst), 24);
  let off = 40;
  for (const h of headers) {
    d.set(h, off);
    off += h.length;
  }
  d.set(body, off);
  return d;
}

function addresses(o: IpPacketOptions): { src: bigint; dst: bigint; family: Family } {
  const src = parseAddr(o.src, 'src');
  const dst = parseAddr(o.dst, 'dst');
  const family = familyOf(src);
  if (familyOf(dst) !== family) throw usage(`dst: IPv${familyOf(dst)} destination for an IPv${family} source`);
  return { src, dst, family };
}

function datagram(o: IpPacketOptions, src: bigint, dst: bigint, family: Family, protoNum: number, body: Uint8Array, frag: FragmentSpec | undefined): Uint8Array {
  return family === 4 ? ipv4Datagram(o, src, dst, protoNum, body, frag) : ipv6Datagram(o, src, dst, protoNum, body, frag);
}

/** Builds one IP datagram (IPv4 or IPv6, after the addresses) carrying one transport segment. */
export function ipPacket(o: IpPacketOptions): Uint8Array {
  const { src, dst, family } = addresses(o);
  const protoNum = transportNumber(o.proto, family);
  if (o.frag && o.frag.offset % 8 !== 0) throw usage(`frag.offset: ${o.frag.offset} is not a multiple of 8`);
  const body = o.frag && o.frag.offset > 0 ? bytesOf(o.payload) : transportSegment(o, src, dst, protoNum);
  return datagram(o, src, dst, family, protoNum, body, o.frag);
}

/**
 * Builds the datagram `o` describes and splits it into fragments of at most `fragmentBytes` of
 * transport data each (a multiple of 8), as a sender would: the transport checksum covers the
 * whole segment, the first fragment holds the transport header. IPv6 fragments get a fragment
 * header after any `ext` headers; identification comes from `o.id`.
 */
export function fragmentPacket(o: Omit<IpPacketOptions, 'frag'>, fragmentBytes: number): Uint8Array[] {
  if (!Number.isInteger(fragmentBytes) || fragmentBytes < 8 || fragmentBytes % 8 !== 0) {
    throw usage(`fragmentBytes: ${fragmentBytes} is not a positive multiple of 8`);
  }
  const { src, dst, family } = addresses(o);
  const protoNum = transportNumber(o.proto, family);
  const seg = transportSegment(o, src, dst, protoNum);
  const out: Uint8Array[] = [];
  for (let off = 0; off < seg.length; off += fragmentBytes) {
    const frag = { offset: off, more: off + fragmentBytes < seg.length, id: o.id ?? 0 };
    out.push(datagram(o, src, dst, family, protoNum, seg.subarray(off, off + fragmentBytes), frag));
  }
  return out;
}

export interface VlanTag {
  /** VLAN identifier, 12 bits */
  readonly id: number;
  /** priority code point, 3 bits; default 0 */
  readonly pcp?: number;
  /** drop eligible; default false */
  readonly dei?: boolean;
}

/** Linux packet types (PACKET_HOST ...) as SLL and SLL2 headers carry them. */
export const SLL_PACKET_TYPES = { host: 0, broadcast: 1, multicast: 2, otherhost: 3, outgoing: 4 } as const;
export type SllPacketType = keyof typeof SLL_PACKET_TYPES;

export interface FrameOptions {
  /** "aa:bb:cc:dd:ee:ff"; default 02:00:00:00:00:01 (Ethernet source, SLL/SLL2 address) */
  readonly srcMac?: string;
  /** default 02:00:00:00:00:02 (Ethernet only) */
  readonly dstMac?: string;
  /** one 802.1Q tag (Ethernet only) */
  readonly vlan?: number | VlanTag;
  /** an 802.1ad service tag, then an 802.1Q customer tag (Ethernet only) */
  readonly qinq?: { readonly outer: number | VlanTag; readonly inner: number | VlanTag };
  /** pads an Ethernet frame to the 60-byte minimum, as a NIC delivers short frames */
  readonly padToMinimum?: boolean;
  /** SLL/SLL2 packet type; default host (incoming, addressed to this host) */
  readonly packetType?: SllPacketType;
  /** SLL2 interface index; default 1 */
  readonly ifindex?: number;
}

/** Parses "aa:bb:cc:dd:ee:ff" (or with dashes) into 6 bytes. */
export function parseMac(s: string): Uint8Array {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw usage(`mac: "${s}" is not a MAC address`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

function vlanTci(t: number | VlanTag, what: string): number {
  const tag = typeof t === 'number' ? { id: t } : t;
  return (checkUint(tag.pcp ?? 0, 3, `${what}.pcp`) << 13) | (tag.dei ? 0x1000 : 0) | checkUint(tag.id, 12, `${what}.id`);
}

function etherTypeOf(d: Uint8Array): number {
  const version = (d[0] ?? 0) >>> 4;
  if (version === 4) return ETHERTYPE_IPV4;
  if (version === 6) return ETHERTYPE_IPV6;
  throw usage(`datagram: IP version ${version} is neither 4 nor 6`);
}

/**
 * Wraps an IP datagram in the link-layer header of `linkType`. LINKTYPE_RAW returns a copy of
 * the datagram. VLAN tags and padding apply to Ethernet only; packetType and ifindex to SLL/SLL2.
 */
export function frame(linkType: LinkType, ip: Uint8Array, opts: FrameOptions = {}): Uint8Array {
  const etherType = etherTypeOf(ip);
  const src = parseMac(opts.srcMac ?? '02:00:00:00:00:01');
  if (linkType !== LINKTYPE_ETHERNET && (opts.vlan !== undefined || opts.qinq !== undefined || opts.padToMinimum)) {
    throw usage(`vlan/qinq/padToMinimum: link type ${linkType} is not Ethernet`);
  }
  const pktType = SLL_PACKET_TYPES[opts.packetType ?? 'host'];
  if (pktType === undefined) throw usage(`packetType: unknown "${String(opts.packetType)}"`);
  switch (linkType) {
    case LINKTYPE_RAW:
      return ip.slice();
    case LINKTYPE_ETHERNET: {
      if (opts.vlan !== undefined && opts.qinq !== undefined) throw usage('vlan, qinq: give one or the other');
      const tags: [number, number][] = [];
      if (opts.qinq) tags.push([ETHERTYPE_QINQ, vlanTci(opts.qinq.outer, 'qinq.outer')], [ETHERTYPE_VLAN, vlanTci(opts.qinq.inner, 'qinq.inner')]);
      else if (opts.vlan !== undefined) tags.push([ETHERTYPE_VLAN, vlanTci(opts.vlan, 'vlan')]);
      const hlen = 14 + 4 * tags.length;
      const f = new Uint8Array(Math.max(hlen + ip.length, opts.padToMinimum ? 60 : 0));
      f.set(parseMac(opts.dstMac ?? '02:00:00:00:00:02'), 0);
      f.set(src, 6);
      let off = 12;
      for (const [tpid, tci] of tags) {
        put16(f, off, tpid);
        put16(f, off + 2, tci);
        off += 4;
      }
      put16(f, off, etherType);
      f.set(ip, hlen);
      return f;
    }
    case LINKTYPE_LINUX_SLL: {
      const f = new Uint8Array(16 + ip.length);
      put16(f, 0, pktType);
      put16(f, 2, 1); // ARPHRD_ETHER
      put16(f, 4, 6); // link-layer address length
      f.set(src, 6); // 8-byte field, the last 2 stay zero
      put16(f, 14, etherType);
      f.set(ip, 16);
      return f;
    }
    case LINKTYPE_LINUX_SLL2: {
      const f = new Uint8Array(20 + ip.length);
      put16(f, 0, etherType);
      // bytes 2..3 reserved, zero
      put32(f, 4, checkUint(opts.ifindex ?? 1, 32, 'ifindex'));
      put16(f, 8, 1); // ARPHRD_ETHER
      f[10] = pktType;
      f[11] = 6;
      f.set(src, 12);
      f.set(ip, 20);
      return f;
    }
    default:
      throw usage(`linkType: ${String(linkType)} is not one of 1 (Ethernet), 101 (raw), 113 (SLL), 276 (SLL2)`);
  }
}
