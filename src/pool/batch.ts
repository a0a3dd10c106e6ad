/**
 * A slot batch: the packets of one reader batch that hash to one pool slot, compacted for the
 * engines (which judge contiguous pf_pkt records), with room for their verdicts. It lives in
 * the thread that judges the slot and is reused batch after batch, so the steady state
 * allocates nothing per packet; the reader batch itself stays in shared memory (ring.ts).
 *
 * Layout for capacity C and E engines (u32 arrays first, so every view is aligned):
 *   pkts      C × 40 bytes   pf_pkt records, compacted (only packets the reader could parse)
 *   offsets   C × u32        each packet's position in its reader batch
 *   wire      C × u32        each packet's original length on the wire (flow bytes)
 *   reasons   C × u32        reason id (see BatchOutcome.newReasons): every packet's in per-packet
 *                            mode, else only for the first packet of each new flow
 *   views     C × 2 u32      each packet's fixed-offset view (META_FIXED_PORTS, META_FIXED_INFO), for aws
 *   times     C × u32        each packet's capture time, whole seconds (META_SEC_LO), for conntrack aging
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
  readonly times: Uint32Array;
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
    this.times = new Uint32Array(buffer, off, capacity);
    off += capacity * 4;
    this.verdicts = new Uint8Array(buffer, off, capacity * engines);
    off += capacity * engines;
    this.departs = new Uint8Array(buffer, off, capacity);
  }

  static byteLength(capacity: number, engines: number): number {
    return capacity * (PKT_BYTES + 24 + engines + 1);
  }

  /** A new batch with its own buffer. */
  static create(capacity: number, engines: number): SlotBatch {
    return new SlotBatch(new ArrayBuffer(SlotBatch.byteLength(capacity, engines)), capacity, engines);
  }
}
