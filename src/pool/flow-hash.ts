/**
 * Which pool slot judges a packet: its connection's hash, the same for both directions, so
 * every packet of a connection reaches the same worker (and its conntrack). The reader
 * computes the hash while it parses (pfc_flow_hash in native/src/capture/capture.h) and leaves
 * it in the packet's metadata, so neither the main thread nor a worker hashes in JavaScript.
 */
import { META_FLOW_HASH, META_WORDS } from '../capture/reader.js';

/** Record words in a pf_pkt (40 bytes). */
export const PKT_WORDS = 10;

/** The slot (0 .. slots-1) of packet `i` of a batch, from its metadata words. */
export function flowSlot(meta: Uint32Array, i: number, slots: number): number {
  return meta[i * META_WORDS + META_FLOW_HASH]! % slots;
}
