/**
 * Capture files (pcap, pcapng) into packet header records: the native CaptureParser
 * (native/src/capture) fed from one reused chunk buffer with fs.readSync, so a file of any size
 * streams through bounded memory (the chunk, default 1 MiB, grows only for a record larger than
 * itself, and never past MAX_RECORD).
 *
 * Every packet record gives one slot, never dropped: a 40-byte pf_pkt (src/engines/packet.ts
 * layout; all zero when skipped) and META_WORDS u32 words of metadata, whose status is 0 (ok) or
 * the reason the packet cannot be judged (skipReasonName). A file whose last record is cut
 * short by the end of the file gives that record a 'truncated-record' slot (libpcap calls the
 * whole file broken instead); a file cut inside a record header or a non-packet block is an
 * error. What the decoder extracts (ICMP ports 0, fragments taking their first fragment's
 * ports) is spelled out in native/src/capture/decode.h.
 *
 * pcapng files may mix link types and timestamp resolutions across interfaces and sections
 * (libpcap refuses different link types); each slot names its interface and link type.
 *
 * Error contract: PfsimError PFSIM_ERR_INPUT_READ when the file cannot be opened or read,
 * CaptureError (PFSIM_ERR_CAPTURE) `FILE: byte offset N: what` for a malformed file, after every
 * packet before the fault was returned; PFSIM_ERR_USAGE for bad options; PFSIM_ERR_NATIVE from
 * the addon. With `keepGoing`, damage past the file header instead ends the read with one more
 * slot, status SKIP_FILE_ERROR ('file-error') at the fault's offset, and totals().stopped says
 * where and why: the damage is counted, not thrown. The parser cannot resync after a broken
 * length (nothing in either format marks where the next record starts), so the read stops.
 * A file whose header is bad (no capture at all, or an unknown version) still throws.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { PfsimError, wrapError } from '../errors.js';
import { loadNative } from '../engines/native.js';
import { PKT_BYTES } from '../engines/packet.js';

/*
 * struct pfc_meta (native/src/capture/capture.h): thirteen u32 words per packet, 64-bit values as
 * low and high words.
 */
export const META_WORDS = 13;
/** file offset of the record: the pcap record header, or the pcapng block */
export const META_OFFSET_LO = 0;
export const META_OFFSET_HI = 1;
/** timestamp seconds since the epoch (0 for a pcapng simple packet block, which has none) */
export const META_SEC_LO = 2;
export const META_SEC_HI = 3;
export const META_NSEC = 4;
export const META_CAPLEN = 5;
export const META_ORIGLEN = 6;
/** pcapng: the interface's number in the file, counting every section's; pcap: 0 */
export const META_IFINDEX = 7;
export const META_LINKTYPE = 8;
export const META_STATUS = 9;
/**
 * What a parser with a fixed L4 offset reads, as the VPC CNI agent's tc programs do (struct
 * pfc_fixed_view in capture.h; the aws engine judges with it): the ports at IP header + 20
 * (IPv6 + 40), sport << 16 | dport, and the protocol byte read plus FIXED_VIEW_* flags.
 */
export const META_FIXED_PORTS = 10;
export const META_FIXED_INFO = 11;
/** pfc_flow_hash of the record (native/src/capture/capture.h): the same for both directions of a connection; 0 when skipped */
export const META_FLOW_HASH = 12;
export const FIXED_VIEW_PROTO_MASK = 0xff;
export const FIXED_VIEW_VALID = 0x100;
export const FIXED_VIEW_IPV4_OPTIONS = 0x200;
export const FIXED_VIEW_LATER_FRAGMENT = 0x400;
export const FIXED_VIEW_IPV6_EXT = 0x800;
export const FIXED_VIEW_SHORT = 0x1000;

/** Packet statuses by code (PFC_OK, PFC_SKIP_* in capture.h). */
export const PACKET_STATUSES = [
  'ok',
  'not-ip', //             the link layer carries no IP (ARP, LLDP, 802.3 LLC, loopback non-IP)
  'truncated', //          captured bytes end inside a link, IP or transport header
  'unknown-link-type', //  a link type the parser does not decode
  'fragment-no-first', //  a non-first fragment whose first fragment was not seen before it
  'bad-ip-header', //      IP version differs from the link's, IHL < 5, lengths shorter than headers
  'bad-l4-header', //      the transport header does not fit its datagram, TCP data offset < 5
  'header-limit', //       more than 8 VLAN tags or 8 IPv6 extension headers
  'truncated-record', //   the file ends inside this (last) record's data
] as const;
export type PacketStatus = (typeof PACKET_STATUSES)[number];
export type SkipReason = Exclude<PacketStatus, 'ok'>;

export const STATUS_OK = 0;
export const SKIP_NOT_IP = 1;
export const SKIP_TRUNCATED = 2;
export const SKIP_UNKNOWN_LINK_TYPE = 3;
export const SKIP_FRAGMENT_NO_FIRST = 4;
export const SKIP_BAD_IP_HEADER = 5;
export const SKIP_BAD_L4_HEADER = 6;
export const SKIP_HEADER_LIMIT = 7;
export const SKIP_TRUNCATED_RECORD = 8;
/**
 * Not a parser status: the slot a keepGoing reader adds at a file error, standing for the
 * damaged record and everything after it, which could not be read.
 */
export const SKIP_FILE_ERROR = 0xff;
export const FILE_ERROR_REASON = 'file-error';

/** The name of a packet status code: 'ok', a skip reason, 'file-error', or `unknown-N`. */
export function skipReasonName(code: number): string {
  if (code === SKIP_FILE_ERROR) return FILE_ERROR_REASON;
  return PACKET_STATUSES[code] ?? `unknown-${code}`;
}

/** One packet's metadata as an object (for reports and tests; the hot path reads words). */
export interface CaptureMeta {
  readonly offset: number;
  readonly sec: number;
  readonly nsec: number;
  readonly caplen: number;
  readonly origlen: number;
  readonly ifindex: number;
  readonly linkType: number;
  readonly status: number;
}

export function readMeta(meta: Uint32Array, i: number): CaptureMeta {
  const o = i * META_WORDS;
  return {
    offset: meta[o + META_OFFSET_HI]! * 2 ** 32 + meta[o + META_OFFSET_LO]!,
    sec: meta[o + META_SEC_HI]! * 2 ** 32 + meta[o + META_SEC_LO]!,
    nsec: meta[o + META_NSEC]!,
    caplen: meta[o + META_CAPLEN]!,
    origlen: meta[o + META_ORIGLEN]!,
    ifindex: meta[o + META_IFINDEX]!,
    linkType: meta[o + META_LINKTYPE]!,
    status: meta[o + META_STATUS]!,
  };
}

/** Slots `0 .. count-1` of the reader's (or the caller's) arrays; valid until the next batch. */
export interface CaptureBatch {
  readonly pkts: Uint8Array;
  readonly meta: Uint32Array;
  readonly count: number;
}

/** Where a keepGoing read stopped at a file error. */
export interface CaptureStop {
  /** byte offset of the fault, as a CaptureError would name it */
  readonly offset: number;
  /** `FILE: byte offset N: what`, the CaptureError's message */
  readonly message: string;
  /** file bytes from the record the fault is in to the end of the file, not read */
  readonly bytesUnread: number;
}

export interface CaptureTotals {
  readonly format: 'pcap' | 'pcapng' | 'none';
  /** packet records, = slots returned (with keepGoing, the file-error slot included) */
  readonly packets: number;
  readonly ok: number;
  readonly skipped: number;
  /** skipped packets by reason, every parser reason present; 'file-error' only after a keepGoing stop */
  readonly skippedBy: Readonly<Record<SkipReason, number>> & { readonly 'file-error'?: number };
  /** file bytes parsed */
  readonly bytes: number;
  readonly sections: number;
  readonly interfaces: number;
  /** first fragments remembered, and remembered ones pushed out of the bounded table */
  readonly fragRemembered: number;
  readonly fragEvicted: number;
  /** set when a keepGoing read stopped at a file error */
  readonly stopped?: CaptureStop;
}

export interface CaptureReaderOptions {
  /** packets per batch of the iterators; default 4096 */
  readonly batchSize?: number;
  /** initial chunk buffer in bytes; default 1 MiB */
  readonly chunkBytes?: number;
  /** a file error ends the read with a 'file-error' slot instead of throwing (see the module comment) */
  readonly keepGoing?: boolean;
}

interface ParseResult {
  readonly consumed: number;
  readonly count: number;
  readonly need: number;
}

interface NativeCaptureStats {
  readonly packets: number;
  readonly byStatus: readonly number[];
  readonly bytes: number;
  readonly format: 'pcap' | 'pcapng' | 'none';
  readonly sections: number;
  readonly interfaces: number;
  readonly fragRemembered: number;
  readonly fragEvicted: number;
}

/** The addon's CaptureParser (native/src/addon.cc). */
export interface NativeCaptureParser {
  parse(
    chunk: Uint8Array,
    length: number,
    fileOffset: number,
    pkts: Uint8Array,
    meta: Uint32Array,
    maxPackets: number,
    final?: boolean,
  ): ParseResult;
  stats(): NativeCaptureStats;
  close(): void;
}

interface CaptureParserClass {
  new (): NativeCaptureParser;
  readonly MAX_RECORD: number;
  readonly MAX_CAPLEN: number;
  readonly META_WORDS: number;
}

/** The largest record or block the chunk buffer may have to hold whole (PFC_MAX_RECORD). */
export const MAX_RECORD = 262144 + 65536;
export const DEFAULT_BATCH = 4096;
export const DEFAULT_CHUNK = 1 << 20;

function captureParserClass(): CaptureParserClass {
  const cls = (loadNative() as unknown as { CaptureParser?: CaptureParserClass }).CaptureParser;
  if (cls === undefined) throw new PfsimError('PFSIM_ERR_NATIVE', 'native addon has no CaptureParser: run npm run build');
  if (cls.META_WORDS !== META_WORDS || cls.MAX_RECORD !== MAX_RECORD) {
    throw new PfsimError('PFSIM_ERR_NATIVE', 'native addon CaptureParser layout differs from src/capture/reader.ts: run npm run build');
  }
  return cls;
}

/**
 * A bare native parser, for callers that frame the bytes themselves (src/live hands it live
 * frames as pcap records). Throws PfsimError PFSIM_ERR_NATIVE when the addon is missing or its
 * layout differs from this file's.
 */
export function createCaptureParser(): NativeCaptureParser {
  return new (captureParserClass())();
}

/** A malformed capture file: `offset` is the byte offset the message names. */
export class CaptureError extends PfsimError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, message: string, options?: { cause?: unknown }) {
    super('PFSIM_ERR_CAPTURE', message, options);
    this.file = file;
    this.offset = offset;
  }
}

function checkCount(v: number | undefined, def: number, min: number, max: number, what: string): number {
  const n = v ?? def;
  if (!Number.isInteger(n) || n < min || n > max) throw new PfsimError('PFSIM_ERR_USAGE', `${what}: ${n} is not an integer in ${min}..${max}`);
  return n;
}

/** Streams the packets of one capture file; see the module comment for what each slot holds. */
export class CaptureReader implements Iterable<CaptureBatch>, AsyncIterable<CaptureBatch> {
  readonly path: string;
  readonly batchSize: number;
  readonly keepGoing: boolean;
  private fd: number | undefined;
  /** the file's size when opened (0 when it has none, like a pipe) */
  private size = 0;
  private parser: NativeCaptureParser | undefined;
  private chunk: Uint8Array;
  /** chunk[start .. fill) holds the unparsed file bytes from file offset pos on */
  private start = 0;
  private fill = 0;
  private pos = 0;
  private eof = false;
  private done = false;
  private readonly pkts: Uint8Array;
  private readonly meta: Uint32Array;
  private last: CaptureTotals | undefined;
  /** an error met after some packets of a batch: thrown by the next call */
  private pending: PfsimError | undefined;
  private stopped: CaptureStop | undefined;

  constructor(path: string, opts: CaptureReaderOptions = {}) {
    this.path = path;
    this.batchSize = checkCount(opts.batchSize, DEFAULT_BATCH, 1, 1 << 20, 'batchSize');
    this.keepGoing = opts.keepGoing === true;
    const chunkBytes = checkCount(opts.chunkBytes, DEFAULT_CHUNK, 16, 1 << 30, 'chunkBytes');
    const Parser = captureParserClass();
    try {
      this.fd = openSync(path, 'r');
    } catch (e) {
      throw new PfsimError('PFSIM_ERR_INPUT_READ', `${path}: cannot open: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
    try {
      this.size = fstatSync(this.fd).size;
    } catch {
      // only the keepGoing summary's count of unread bytes needs it
    }
    this.parser = new Parser();
    this.chunk = new Uint8Array(chunkBytes);
    this.pkts = new Uint8Array(this.batchSize * PKT_BYTES);
    this.meta = new Uint32Array(this.batchSize * META_WORDS);
  }

  /**
   * Parses up to `max` packets into the caller's arrays (pkts: max * 40 bytes, meta:
   * max * META_WORDS words) and returns how many; fewer than `max` only at the end of the
   * file, 0 after it.
   */
  readInto(pkts: Uint8Array, meta: Uint32Array, max: number): number {
    const parser = this.parser;
    let got = 0;
    if (this.pending !== undefined) {
      const e = this.pending;
      this.pending = undefined;
      throw e;
    }
    if (parser === undefined) {
      if (this.done) return 0;
      throw new PfsimError('PFSIM_ERR_USAGE', `${this.path}: read after close`);
    }
    try {
      while (got < max && !this.done) {
        const p = got === 0 ? pkts : pkts.subarray(got * PKT_BYTES);
        const m = got === 0 ? meta : meta.subarray(got * META_WORDS);
        const view = this.start === 0 ? this.chunk : this.chunk.subarray(this.start);
        const r = parser.parse(view, this.fill - this.start, this.pos, p, m, max - got, this.eof);
        this.start += r.consumed;
        this.pos += r.consumed;
        got += r.count;
        if (got === max) break;
        if (this.eof) {
          // the final call leaves nothing, unless it stopped at a file error it reports next
          if (this.start === this.fill) this.finish();
          else if (r.count === 0) throw new PfsimError('PFSIM_ERR_NATIVE', 'capture parser left bytes at the end of the file');
          continue;
        }
        this.refill(r.need);
      }
    } catch (e) {
      // the packets before the fault are good: hand them out, throw on the next call
      const err = this.fail(e);
      if (this.keepGoing && err instanceof CaptureError && this.pastHeader()) {
        this.stopAt(err, pkts, meta, got);
        return got + 1;
      }
      if (got === 0) throw err;
      this.pending = err;
    }
    return got;
  }

  /** the file header was good: a pcap header, or a pcapng section header (the parser is closed) */
  private pastHeader(): boolean {
    const t = this.last ?? emptyTotals();
    return t.format === 'pcap' || t.sections > 0;
  }

  /**
   * keepGoing: the file error becomes slot `at` (the caller's arrays always have room: the
   * fault stopped a batch short), an all-zero record with status SKIP_FILE_ERROR.
   */
  private stopAt(err: CaptureError, pkts: Uint8Array, meta: Uint32Array, at: number): void {
    const recordAt = Math.min(err.offset, this.pos);
    this.stopped = { offset: err.offset, message: err.message, bytesUnread: Math.max(0, this.size - recordAt) };
    pkts.fill(0, at * PKT_BYTES, (at + 1) * PKT_BYTES);
    const m = at * META_WORDS;
    meta.fill(0, m, m + META_WORDS);
    meta[m + META_OFFSET_LO] = err.offset % 2 ** 32;
    meta[m + META_OFFSET_HI] = Math.floor(err.offset / 2 ** 32);
    meta[m + META_STATUS] = SKIP_FILE_ERROR;
  }

  /** The next batch in the reader's own arrays (overwritten by the following call), or undefined at the end. */
  next(): CaptureBatch | undefined {
    const count = this.readInto(this.pkts, this.meta, this.batchSize);
    return count === 0 ? undefined : { pkts: this.pkts, meta: this.meta, count };
  }

  *[Symbol.iterator](): Iterator<CaptureBatch> {
    try {
      for (let b = this.next(); b !== undefined; b = this.next()) yield b;
    } finally {
      this.close();
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<CaptureBatch> {
    try {
      for (let b = this.next(); b !== undefined; b = this.next()) yield b;
    } finally {
      this.close();
    }
  }

  /** Packets so far (all of them once the file is read); still answers after close(). */
  totals(): CaptureTotals {
    const t = this.parser === undefined ? this.last ?? emptyTotals() : this.parserTotals(this.parser);
    const stop = this.stopped;
    if (stop === undefined) return t;
    return {
      ...t, packets: t.packets + 1, skipped: t.skipped + 1,
      skippedBy: { ...t.skippedBy, [FILE_ERROR_REASON]: 1 }, stopped: stop,
    };
  }

  private parserTotals(parser: NativeCaptureParser): CaptureTotals {
    const s = parser.stats();
    const skippedBy = {} as Record<SkipReason, number>;
    let skipped = 0;
    for (let code = 1; code < PACKET_STATUSES.length; code++) {
      const n = s.byStatus[code] ?? 0;
      skippedBy[PACKET_STATUSES[code] as SkipReason] = n;
      skipped += n;
    }
    return {
      format: s.format, packets: s.packets, ok: s.byStatus[STATUS_OK] ?? 0, skipped, skippedBy, bytes: s.bytes,
      sections: s.sections, interfaces: s.interfaces, fragRemembered: s.fragRemembered, fragEvicted: s.fragEvicted,
    };
  }

  /** Closes the file and frees the parser; calling it again does nothing. */
  close(): void {
    if (this.parser !== undefined) {
      this.last = this.parserTotals(this.parser);
      this.parser.close();
      this.parser = undefined;
    }
    this.done = true;
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      try {
        closeSync(fd);
      } catch {
        // read-only descriptor: nothing was lost
      }
    }
  }

  /** the whole file is read: free the parser and the descriptor now, keeping the totals */
  private finish(): void {
    this.close();
  }

  /** Moves the unparsed tail to the front, grows the chunk for a record of `need` bytes, reads on. */
  private refill(need: number): void {
    if (this.start > 0) {
      this.chunk.copyWithin(0, this.start, this.fill);
      this.fill -= this.start;
      this.start = 0;
    }
    if (need > this.chunk.length) {
      if (need > MAX_RECORD) throw new PfsimError('PFSIM_ERR_NATIVE', `capture parser asks for ${need} bytes, over ${MAX_RECORD}`);
      const grown = new Uint8Array(Math.min(Math.max(need, this.chunk.length * 2), MAX_RECORD));
      grown.set(this.chunk.subarray(0, this.fill));
      this.chunk = grown;
    }
    if (this.fill === this.chunk.length) throw new PfsimError('PFSIM_ERR_NATIVE', 'capture parser made no progress on a full chunk');
    let n: number;
    try {
      n = readSync(this.fd!, this.chunk, this.fill, this.chunk.length - this.fill, this.pos + this.fill);
    } catch (e) {
      throw new PfsimError('PFSIM_ERR_INPUT_READ', `${this.path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
    if (n === 0) this.eof = true;
    else this.fill += n;
  }

  /** Closes the reader and turns an error into the one to throw. */
  private fail(e: unknown): PfsimError {
    this.close();
    const err = e as { code?: unknown; offset?: unknown; message?: unknown };
    if (err !== null && typeof err === 'object' && err.code === 'PFSIM_ERR_CAPTURE' && typeof err.offset === 'number') {
      return new CaptureError(this.path, err.offset, `${this.path}: ${String(err.message)}`, { cause: e });
    }
    if (e instanceof PfsimError) return e;
    return wrapError(`${this.path}: read capture`, e);
  }
}

function emptyTotals(): CaptureTotals {
  const skippedBy = {} as Record<SkipReason, number>;
  for (const r of PACKET_STATUSES.slice(1)) skippedBy[r as SkipReason] = 0;
  return { format: 'none', packets: 0, ok: 0, skipped: 0, skippedBy, bytes: 0, sections: 0, interfaces: 0, fragRemembered: 0, fragEvicted: 0 };
}

/**
 * Opens a capture file for streaming. Throws PfsimError PFSIM_ERR_INPUT_READ when it cannot be
 * opened; format errors surface from the first read.
 */
export function openCapture(path: string, opts: CaptureReaderOptions = {}): CaptureReader {
  return new CaptureReader(path, opts);
}
