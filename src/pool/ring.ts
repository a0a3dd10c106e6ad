/**
 * The reader batches of a pool replay, in shared memory: a ring of `window` batches in ONE
 * SharedArrayBuffer that the main thread and every worker map. The main thread's capture
 * reader parses straight into a free batch, and the main thread sorts the batch's packet
 * positions by the slot their connection hashes to (shareOut in flow-hash.ts: one pass over
 * the hashes the reader computed); each worker reads that batch in place, takes the packets at
 * its own run of positions, judges them, and writes each one's verdicts back at the packet's
 * own position. Nothing is copied between threads and the main thread never touches a packet
 * on the way in: its share of the work is the parse and the sort.
 *
 * Each position of a batch is written by exactly one thread per replay step — the reader
 * (and the sort) before the batch is handed out, then the one worker that owns the packet — and the hand-over
 * is the task message and its reply (a happens-before edge), so no atomics are needed.
 *
 * Layout of batch k for capacity C, E engines and S slots (u32 arrays first, so every view is aligned):
 *   meta      C × META_WORDS u32   the reader's metadata (status, timestamps, lengths, …)
 *   pkts      C × 40 bytes         pf_pkt records as parsed (zero where the reader skipped)
 *   reasons   C × u32              reason id in the owning slot's list (every packet's in
 *                                  per-packet mode, the only time the main thread reads it)
 *   order     C × u32              the positions of the packets the reader parsed, slot 0's
 *                                  first, each slot's in trace order
 *   starts    (S + 1) × u32        slot s's positions are order[starts[s] .. starts[s+1])
 *   verdicts  C × E bytes          verdict code per packet and engine
 *   departs   C bytes              aws departure number (0: none; src/engines/aws-departure.ts)
 *   owner     C bytes              the slot that judges the packet (shareOut)
 */
import { META_WORDS } from '../capture/reader.js';
import { PKT_BYTES } from '../engines/packet.js';

/** One batch of the ring: views into the shared buffer. */
export interface RingBatch {
  readonly meta: Uint32Array;
  readonly pkts: Uint8Array;
  /** the same records as u32 words, for hashing and copying */
  readonly words: Uint32Array;
  readonly reasons: Uint32Array;
  /** parsed packets' positions, by slot (shareOut) */
  readonly order: Uint32Array;
  /** slot s's run of `order`: starts[s] .. starts[s+1] */
  readonly starts: Uint32Array;
  readonly verdicts: Uint8Array;
  readonly departs: Uint8Array;
  readonly owner: Uint8Array;
}

/** The ring's geometry, as it crosses to a worker with the buffer. */
export interface RingShape {
  readonly buffer: SharedArrayBuffer;
  readonly batches: number;
  readonly capacity: number;
  readonly engines: number;
  /** the slots that share the connections */
  readonly slots: number;
}

export class SharedRing {
  readonly shape: RingShape;
  private readonly views: RingBatch[];

  private constructor(shape: RingShape) {
    const { buffer, batches, capacity, engines, slots } = shape;
    const bytes = SharedRing.batchBytes(capacity, engines, slots);
    if (buffer.byteLength !== batches * bytes) throw new RangeError(`shared ring of ${buffer.byteLength} bytes, expected ${batches * bytes}`);
    this.shape = shape;
    this.views = Array.from({ length: batches }, (_, k) => batchViews(buffer, k * bytes, capacity, engines, slots));
  }

  /** Bytes of one batch; a multiple of 8, so every batch starts aligned. */
  static batchBytes(capacity: number, engines: number, slots: number): number {
    const bytes = capacity * (META_WORDS * 4 + PKT_BYTES + 4 + 4 + engines + 2) + (slots + 1) * 4;
    return (bytes + 7) & ~7;
  }

  /** A new ring of `batches` batches, shared out among `slots` slots. */
  static create(batches: number, capacity: number, engines: number, slots: number): SharedRing {
    const buffer = new SharedArrayBuffer(batches * SharedRing.batchBytes(capacity, engines, slots));
    return new SharedRing({ buffer, batches, capacity, engines, slots });
  }

  /** The same ring, mapped in another thread. */
  static over(shape: RingShape): SharedRing {
    return new SharedRing(shape);
  }

  batch(k: number): RingBatch {
    const b = this.views[k];
    if (b === undefined) throw new RangeError(`ring batch ${k} of ${this.views.length}`);
    return b;
  }
}

function batchViews(buffer: SharedArrayBuffer, at: number, capacity: number, engines: number, slots: number): RingBatch {
  let off = at;
  const meta = new Uint32Array(buffer, off, capacity * META_WORDS);
  off += capacity * META_WORDS * 4;
  const pkts = new Uint8Array(buffer, off, capacity * PKT_BYTES);
  const words = new Uint32Array(buffer, off, (capacity * PKT_BYTES) >>> 2);
  off += capacity * PKT_BYTES;
  const reasons = new Uint32Array(buffer, off, capacity);
  off += capacity * 4;
  const order = new Uint32Array(buffer, off, capacity);
  off += capacity * 4;
  const starts = new Uint32Array(buffer, off, slots + 1);
  off += (slots + 1) * 4;
  const verdicts = new Uint8Array(buffer, off, capacity * engines);
  off += capacity * engines;
  const departs = new Uint8Array(buffer, off, capacity);
  off += capacity;
  const owner = new Uint8Array(buffer, off, capacity);
  return { meta, pkts, words, reasons, order, starts, verdicts, departs, owner };
}
