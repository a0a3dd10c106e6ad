/**
 * The packet header record (struct pf_pkt in native/include/pfsim.h): 40 bytes per packet.
 *   0..15 saddr (network order, IPv4 as ::ffff:a.b.c.d)   16..31 daddr
 *   32 sport (u16, host order)   34 dport (u16, host order)   36 proto   37 family (4|6)
 *   38 flags   39 pad
 * Batches are caller-owned Uint8Arrays reused across calls.
 */
import { addrBytes, familyOf } from '../net/ip.js';

export const PKT_BYTES = 40;
export const PKT_OFF_SADDR = 0;
export const PKT_OFF_DADDR = 16;
export const PKT_OFF_SPORT = 32;
export const PKT_OFF_DPORT = 34;
export const PKT_OFF_PROTO = 36;
export const PKT_OFF_FAMILY = 37;
export const PKT_OFF_FLAGS = 38;

export interface PacketHeader {
  readonly src: bigint;
  readonly dst: bigint;
  readonly proto: number;
  readonly sport: number;
  readonly dport: number;
  /** TCP flags (PF_PKT_F_*: FIN 1, SYN 2, RST 4, ACK 16); 0 for other protocols */
  readonly flags?: number;
}

export const PKT_F_FIN = 0x01;
export const PKT_F_SYN = 0x02;
export const PKT_F_RST = 0x04;
export const PKT_F_ACK = 0x10;

/**
 * May this allowed packet start tracking its connection (pf_can_open in pfsim_classify.h)?
 * A TCP SYN or plain ACK (mid-stream pickup) opens; SYN-ACK, FIN and RST do not.
 */
export function canOpen(proto: number, flags: number): boolean {
  if (proto !== 6) return true;
  if (flags & (PKT_F_FIN | PKT_F_RST)) return false;
  if (flags & PKT_F_SYN) return (flags & PKT_F_ACK) === 0;
  return (flags & PKT_F_ACK) !== 0;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Writes one packet header record at index `i` of `buf`. */
export function writePacket(buf: Uint8Array, i: number, p: PacketHeader): void {
  const o = i * PKT_BYTES;
  addrBytes(p.src, buf, o + PKT_OFF_SADDR);
  addrBytes(p.dst, buf, o + PKT_OFF_DADDR);
  writeU16(buf, o + PKT_OFF_SPORT, p.sport);
  writeU16(buf, o + PKT_OFF_DPORT, p.dport);
  buf[o + PKT_OFF_PROTO] = p.proto;
  buf[o + PKT_OFF_FAMILY] = familyOf(p.src);
  buf[o + PKT_OFF_FLAGS] = p.flags ?? 0;
  buf[o + 39] = 0;
}

export function readPacket(buf: Uint8Array, i: number): PacketHeader {
  const o = i * PKT_BYTES;
  let src = 0n, dst = 0n;
  for (let k = 0; k < 16; k++) {
    src = (src << 8n) | BigInt(buf[o + k]!);
    dst = (dst << 8n) | BigInt(buf[o + 16 + k]!);
  }
  return { src, dst, sport: readU16(buf, o + PKT_OFF_SPORT), dport: readU16(buf, o + PKT_OFF_DPORT), proto: buf[o + PKT_OFF_PROTO]!, flags: buf[o + PKT_OFF_FLAGS]! };
}

/** host-order u16, as the C struct holds it */
function writeU16(buf: Uint8Array, off: number, v: number): void {
  if (littleEndian) { buf[off] = v & 0xff; buf[off + 1] = v >>> 8; } else { buf[off] = v >>> 8; buf[off + 1] = v & 0xff; }
}

function readU16(buf: Uint8Array, off: number): number {
  return littleEndian ? buf[off]! | (buf[off + 1]! << 8) : (buf[off]! << 8) | buf[off + 1]!;
}

export function packetBatch(capacity: number): Uint8Array {
  return new Uint8Array(capacity * PKT_BYTES);
}
