/**
 * Which pool slot judges a packet: its connection's hash, the same for both directions, so
 * every packet of a connection reaches the same worker (and its conntrack). The reader
 * computes the hash while it parses (pfc_flow_hash in native/src/capture/capture.h) and leaves
 * it in the packet's metadata, so neither the main thread nor a worker hashes in JavaScript.
 */
import { META_FLOW_HASH, META_WORDS } from '../capture/reader.js';
import { nativeFunction } from '../engines/native.js';
import type { RingBatch } from './ring.js';

/** Record words in a pf_pkt (40 bytes). */
export const PKT_WORDS = 10;

/**
 * The slot (0 .. slots-1) of packet `i` of a batch, from its metadata words: hash % slots, as
 * shareOut gives it in C (the tests hold one to the other), taken in two halves so that every
 * step is a small integer (a hash of 2^31 or more is not one, and V8 would divide it as a double).
 */
export function flowSlot(meta: Uint32Array, i: number, slots: number): number {
  const h = meta[i * META_WORDS + META_FLOW_HASH]!;
  return ((((h >>> 16) % slots) << 16) + (h & 0xffff)) % slots;
}

type ShareOut = (meta: Uint32Array, count: number, slots: number, order: Uint32Array, starts: Uint32Array, owner: Uint8Array) => number;
let native: ShareOut | undefined;

/**
 * Sorts the positions of the first `count` packets of `r` that the reader parsed by slot
 * (flowSlot), in trace order within each slot, into r.order, with each slot's run in r.starts,
 * and each one's slot in r.owner; returns how many packets the reader skipped (they are in no
 * slot's run). Each worker then visits its own packets only, instead of every packet's hash.
 * A counting sort in C (pfc_share_out, native/src/capture/capture.h): it is the main thread's
 * share of every batch, which on two cores is taken from a worker.
 */
export function shareOut(r: RingBatch, count: number, slots: number): number {
  native ??= nativeFunction<ShareOut>('shareOut');
  return native(r.meta, count, slots, r.order, r.starts, r.owner);
}
