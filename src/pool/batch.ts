/**
 * A slot batch: the packets of one reader batch that hash to one pool slot, and room for that
 * slot's per-packet verdicts, all in ONE ArrayBuffer. The buffer is transferred to the worker
 * and back (never structured-cloned), and the main thread reuses it for a later batch, so the
 * steady state allocates nothing per packet.
 *
 * Layout for capacity C and E engines (u32 arrays first, so every view is aligned):
 *   pkts      C × 40 bytes   pf_pkt records, compacted (only packets the reader could parse)
 *   offsets   C × u32        each packet's position in its reader batch
 *   wire      C × u32        each packet's original length on the wire (flow bytes)
 *   reasons   C × u32        reason id (see BatchOutcome.newReasons): every packet's in per-packet
 *                            mode, else only for the first packet of each new flow
 *   views     C × 2 u32      each packet's fixed-offset view (META_FIXED_PORTS, META_FIXED_INFO), for aws
 *   verdicts  C × E bytes    verdict code per packet and engine (VERDICT_ALLOW | VERDICT_DENY)
 *   departs   C bytes        per-packet aws departure number (0: none; src/engines/aws-departure.ts)
 */
import { PKT_BYTES } from '../engines/packet.js';

export class SlotBatch {
  readonly buffer: ArrayBuffer;
  readonly capacity: number;
  readonly engines: number;
  readonly pkts: Uint8Array;
  /** the same records as u32 words, for hashing and copying */
  readonly words: Uint32Array;
  readonly offsets: Uint32Array;
  readonly wire: Uint32Array;
  readonly reasons: Uint32Array;
  readonly views: Uint32Array;
  readonly verdicts: Uint8Array;
  readonly departs: Uint8Array;

  private constructor(buffer: ArrayBuffer, capacity: number, engines: number) {
    this.buffer = buffer;
    this.capacity = capacity;
    this.engines = engines;
    let off = 0;
    this.pkts = new Uint8Array(buffer, off, capacity * PKT_BYTES);
    this.words = new Uint32Array(buffer, off, (capacity * PKT_BYTES) >>> 2);
    off += capacity * PKT_BYTES;
    this.offsets = new Uint32Array(buffer, off, capacity);
    off += capacity * 4;
    this.wire = new Uint32Array(buffer, off, capacity);
    off += capacity * 4;
    this.reasons = new Uint32Array(buffer, off, capacity);
    off += capacity * 4;
    this.views = new Uint32Array(buffer, off, capacity * 2);
    off += capacity * 8;
    this.verdicts = new Uint8Array(buffer, off, capacity * engines);
    off += capacity * engines;
    this.departs = new Uint8Array(buffer, off, capacity);
  }

  static byteLength(capacity: number, engines: number): number {
    return capacity * (PKT_BYTES + 20 + engines + 1);
  }

  /** A new batch with its own buffer. */
  static create(capacity: number, engines: number): SlotBatch {
    return new SlotBatch(new ArrayBuffer(SlotBatch.byteLength(capacity, engines)), capacity, engines);
  }

  /** Views over a buffer that came back from (or went to) the other side of a transfer. */
  static over(buffer: ArrayBuffer, capacity: number, engines: number): SlotBatch {
    if (buffer.byteLength !== SlotBatch.byteLength(capacity, engines)) {
      throw new RangeError(`slot batch buffer of ${buffer.byteLength} bytes, expected ${SlotBatch.byteLength(capacity, engines)}`);
    }
    return new SlotBatch(buffer, capacity, engines);
  }
}
