/**
 * Which pool slot judges a packet: a hash of its connection that is the same for both
 * directions, so every packet of a connection reaches the same worker (and its conntrack).
 *
 * The hash reads a pf_pkt record (src/engines/packet.ts) as u32 words: words 0..3 the source
 * address, 4..7 the destination, word 8 both ports, byte 36 the protocol. Each end
 * {address, port} is mixed on its own and the two are added, so swapping the ends (the reply
 * direction) gives the same sum; the family and TCP flags bytes are left out, because they
 * differ between packets of one connection or say nothing the addresses do not. Later IP
 * fragments carry their first fragment's ports (the reader fills them in), so they follow it.
 *
 * It runs on the main thread for every packet, so it stays a handful of multiplies.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** shifts that take sport and dport out of word 8 and the protocol out of word 9 on this host */
const SPORT_SHIFT = LITTLE_ENDIAN ? 0 : 16;
const DPORT_SHIFT = LITTLE_ENDIAN ? 16 : 0;
const PROTO_SHIFT = LITTLE_ENDIAN ? 0 : 24;

/** Record words in a pf_pkt (40 bytes). */
export const PKT_WORDS = 10;

/** One end of a connection: its address words and port, mixed into 32 bits. */
function mixEnd(a0: number, a1: number, a2: number, a3: number, port: number): number {
  let h = Math.imul(a3 ^ port, 0x9e3779b1);
  h ^= Math.imul(a2, 0x85ebca77);
  h ^= Math.imul(a1, 0xc2b2ae3d);
  h ^= Math.imul(a0, 0x27d4eb2f);
  return h ^ (h >>> 15);
}

/** murmur3's finaliser: spreads the sum so its low bits (the slot) depend on every input bit. */
function avalanche(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The direction-free hash of record `i` of `words` (a Uint32Array over pf_pkt records). */
export function flowHash(words: Uint32Array, i: number): number {
  const o = i * PKT_WORDS;
  const ports = words[o + 8]!;
  const src = mixEnd(words[o]!, words[o + 1]!, words[o + 2]!, words[o + 3]!, (ports >>> SPORT_SHIFT) & 0xffff);
  const dst = mixEnd(words[o + 4]!, words[o + 5]!, words[o + 6]!, words[o + 7]!, (ports >>> DPORT_SHIFT) & 0xffff);
  const proto = (words[o + 9]! >>> PROTO_SHIFT) & 0xff;
  return avalanche(((src + dst) | 0) ^ proto);
}

/** The slot (0 .. slots-1) of record `i`. */
export function flowSlot(words: Uint32Array, i: number, slots: number): number {
  return flowHash(words, i) % slots;
}
