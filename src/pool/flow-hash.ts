/**
 * Which pool slot judges a packet: its connection's hash, the same for both directions, so
 * every packet of a connection reaches the same worker (and its conntrack). The reader
 * computes the hash while it parses (pfc_flow_hash in native/src/capture/capture.h) and leaves
 * it in the packet's metadata, so neither the main thread nor a worker hashes in JavaScript.
 */
import { META_FLOW_HASH, META_STATUS, META_WORDS } from '../capture/reader.js';
import type { RingBatch } from './ring.js';

/** Record words in a pf_pkt (40 bytes). */
export const PKT_WORDS = 10;

/**
 * The slot (0 .. slots-1) of packet `i` of a batch, from its metadata words: hash % slots,
 * taken in two halves so that every step is a small integer (a hash of 2^31 or more is not
 * one, and V8 would divide it as a double).
 */
export function flowSlot(meta: Uint32Array, i: number, slots: number): number {
  const h = meta[i * META_WORDS + META_FLOW_HASH]!;
  return ((((h >>> 16) % slots) << 16) + (h & 0xffff)) % slots;
}

/**
 * Sorts the positions of the first `count` packets of `r` that the reader parsed by slot, in
 * trace order within each slot (a counting sort: one pass to count, one to place), into
 * r.order, with each slot's run in r.starts, and each one's slot in r.owner; returns how many
 * packets the reader skipped (they are in no slot's run). Each worker then visits its own
 * packets only, instead of every packet's hash.
 */
export function shareOut(r: RingBatch, count: number, slots: number): number {
  const { meta, order, starts, owner } = r;
  starts.fill(0);
  let skipped = 0;
  for (let i = 0; i < count; i++) {
    if (meta[i * META_WORDS + META_STATUS] !== 0) { skipped++; continue; }
    const s = slots === 1 ? 0 : flowSlot(meta, i, slots);
    owner[i] = s;
    starts[s + 1]!++;
  }
  for (let s = 1; s <= slots; s++) starts[s]! += starts[s - 1]!;
  const next = starts.slice(0, slots);
  for (let i = 0; i < count; i++) {
    if (meta[i * META_WORDS + META_STATUS] === 0) order[next[owner[i]!]!++] = i;
  }
  return skipped;
}
