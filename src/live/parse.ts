/**
 * Live frames into pf_pkt records with the same native parser that reads capture files. The
 * parser is a streaming pcap/pcapng reader, so live frames are framed as what it already reads:
 * one pcap stream (nanosecond magic, the capture's link type), a 16-byte record header per
 * frame. Every link layer, fragment and skip rule of the file path applies unchanged, and the
 * parser's fragment table carries over from batch to batch as it does across a file.
 *
 * Frames are copied into one reused chunk and parsed in batches (the caller decides when:
 * full, or a timer); parse() returns the batch's slots like a CaptureReader batch.
 *
 * Error contract: PfsimError PFSIM_ERR_NATIVE when the addon is missing or refuses the stream
 * (a bug: the stream is built here); PFSIM_ERR_USAGE for a frame over the parser's record limit.
 */
import { PfsimError, wrapError } from '../errors.js';
import { PKT_BYTES } from '../engines/packet.js';
import { type CaptureBatch, type NativeCaptureParser, META_WORDS, createCaptureParser } from '../capture/reader.js';
import { PCAP_MAGIC_NS } from '../capture/pcap-writer.js';

const PCAP_HEADER = 24;
const RECORD_HEADER = 16;
/** the parser's record limit (PFC_MAX_CAPLEN), also the stream's snaplen */
const MAX_CAPLEN = 262144;
const DEFAULT_CHUNK = 1 << 20;
const NS_PER_S = 1_000_000_000n;

export class LiveFrameParser {
  /** frames per parse() at most */
  readonly maxFrames: number;
  private parser: NativeCaptureParser | undefined;
  private readonly chunk: Uint8Array;
  private readonly view: DataView;
  private fill = 0;
  private frames = 0;
  /** stream offset of chunk[0]: what the parser has consumed so far */
  private pos = 0;
  private readonly pkts: Uint8Array;
  private readonly meta: Uint32Array;

  constructor(linkType: number, maxFrames: number, chunkBytes = DEFAULT_CHUNK) {
    if (chunkBytes < PCAP_HEADER + RECORD_HEADER + MAX_CAPLEN) throw new PfsimError('PFSIM_ERR_USAGE', `chunkBytes: ${chunkBytes} cannot hold the largest frame`);
    this.maxFrames = maxFrames;
    this.parser = createCaptureParser();
    this.chunk = new Uint8Array(chunkBytes);
    this.view = new DataView(this.chunk.buffer);
    this.pkts = new Uint8Array(maxFrames * PKT_BYTES);
    this.meta = new Uint32Array(maxFrames * META_WORDS);
    // the stream's global header goes out with the first batch
    this.view.setUint32(0, PCAP_MAGIC_NS, true);
    this.view.setUint16(4, 2, true);
    this.view.setUint16(6, 4, true);
    this.view.setUint32(16, MAX_CAPLEN, true);
    this.view.setUint32(20, linkType, true);
    this.fill = PCAP_HEADER;
  }

  /** frames pushed since the last parse() */
  get pending(): number {
    return this.frames;
  }

  /** Whether a frame of `len` bytes fits the current batch (else parse() first). */
  fits(len: number): boolean {
    return this.frames < this.maxFrames && this.fill + RECORD_HEADER + len <= this.chunk.length;
  }

  /** Appends one frame stamped `ts` (ns since the epoch); the caller checked fits(). */
  push(data: Uint8Array, ts: bigint): void {
    if (data.length > MAX_CAPLEN) throw new PfsimError('PFSIM_ERR_USAGE', `frame of ${data.length} bytes exceeds ${MAX_CAPLEN}`);
    const at = this.fill;
    this.view.setUint32(at, Number(ts / NS_PER_S), true);
    this.view.setUint32(at + 4, Number(ts % NS_PER_S), true);
    this.view.setUint32(at + 8, data.length, true);
    // the wire length is not known (see source.ts): the captured length stands for it
    this.view.setUint32(at + 12, data.length, true);
    this.chunk.set(data, at + RECORD_HEADER);
    this.fill = at + RECORD_HEADER + data.length;
    this.frames++;
  }

  /** Parses every pushed frame: one slot each, in order; valid until the next parse(). */
  parse(): CaptureBatch {
    const parser = this.parser;
    if (parser === undefined) throw new PfsimError('PFSIM_ERR_NATIVE', 'live parser: parse after close');
    let r;
    try {
      r = parser.parse(this.chunk, this.fill, this.pos, this.pkts, this.meta, this.maxFrames, false);
    } catch (e) {
      throw wrapError('live parser', e);
    }
    if (r.consumed !== this.fill || r.count !== this.frames) {
      throw new PfsimError('PFSIM_ERR_NATIVE', `live parser: ${r.count} of ${this.frames} frames, ${r.consumed} of ${this.fill} bytes parsed`);
    }
    this.pos += this.fill;
    this.fill = 0;
    this.frames = 0;
    return { pkts: this.pkts, meta: this.meta, count: r.count };
  }

  /** Frees the native parser; calling it again does nothing. */
  close(): void {
    this.parser?.close();
    this.parser = undefined;
  }
}
