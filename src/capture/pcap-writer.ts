/**
 * Capture file writers: classic pcap (microsecond or nanosecond timestamps, either byte order)
 * and pcapng (section header, several interfaces, enhanced and simple packet blocks). Both
 * stream to a file through an internal buffer flushed at 1 MiB; nothing is on disk for certain
 * until close().
 *
 * Error contract: a writer throws PfsimError PFSIM_ERR_USAGE for arguments it cannot encode (a
 * caplen over the original length, an unknown interface, a timestamp before 1970) and for a
 * file it cannot open or write, naming the path and the errno code.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { PfsimError } from '../errors.js';

/** Nanoseconds since the Unix epoch, or seconds and nanoseconds. */
export type Timestamp = bigint | { readonly sec: number; readonly nsec: number };

export type TimestampResolution = 'us' | 'ns';
/** 'le' is what x86 and arm64 hosts write; 'be' exists to test readers. */
export type ByteOrder = 'le' | 'be';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAPNG_BT_SHB = 0x0a0d0d0a;
export const PCAPNG_BT_IDB = 0x00000001;
export const PCAPNG_BT_SPB = 0x00000003;
export const PCAPNG_BT_EPB = 0x00000006;
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const FLUSH_BYTES = 1 << 20;
const DEFAULT_SNAPLEN = 262144;

function usage(msg: string): PfsimError {
  return new PfsimError('PFSIM_ERR_USAGE', msg);
}

function ioError(path: string, op: string, e: unknown): PfsimError {
  const code = (e as NodeJS.ErrnoException).code ?? String(e);
  return new PfsimError('PFSIM_ERR_USAGE', `${path}: cannot ${op}: ${code}`, { cause: e });
}

function timestampNs(ts: Timestamp): bigint {
  if (typeof ts === 'bigint') {
    if (ts < 0n) throw usage(`timestamp: ${ts} ns is before 1970`);
    return ts;
  }
  if (!Number.isInteger(ts.sec) || ts.sec < 0) throw usage(`timestamp: sec ${ts.sec} is not a non-negative integer`);
  if (!Number.isInteger(ts.nsec) || ts.nsec < 0 || ts.nsec >= 1e9) throw usage(`timestamp: nsec ${ts.nsec} is not in 0..999999999`);
  return BigInt(ts.sec) * 1_000_000_000n + BigInt(ts.nsec);
}

function checkLengths(data: Uint8Array, origLen: number): void {
  if (!Number.isInteger(origLen) || origLen < data.length || origLen > 0xffffffff) {
    throw usage(`origLen: ${origLen} is less than the ${data.length} captured bytes or over 32 bits`);
  }
}

function checkU32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw usage(`${what}: ${v} is not a 32-bit unsigned integer`);
  return v;
}

/** A file written through a buffer: callers reserve room, fill it through `view`, and move on. */
class BufferedFile {
  private fd: number | undefined;
  /** false for a descriptor the caller opened (standard output): close() leaves it open */
  private readonly owned: boolean;
  private buf = new Uint8Array(FLUSH_BYTES);
  view = new DataView(this.buf.buffer);
  private pos = 0;

  constructor(readonly path: string, fd?: number) {
    this.owned = fd === undefined;
    if (fd !== undefined) {
      this.fd = fd;
      return;
    }
    try {
      this.fd = openSync(path, 'w');
    } catch (e) {
      throw ioError(path, 'open for writing', e);
    }
  }

  get closed(): boolean {
    return this.fd === undefined;
  }

  /** Makes room for `n` bytes, zeroed, and returns their offset in the buffer. */
  reserve(n: number): number {
    if (this.fd === undefined) throw usage(`${this.path}: write after close`);
    if (this.pos + n > this.buf.length) {
      this.flush();
      if (n > this.buf.length) {
        this.buf = new Uint8Array(n);
        this.view = new DataView(this.buf.buffer);
      }
    }
    const at = this.pos;
    this.buf.fill(0, at, at + n);
    this.pos += n;
    return at;
  }

  bytes(at: number, b: Uint8Array): void {
    this.buf.set(b, at);
  }

  flush(): void {
    if (this.fd === undefined) return;
    let done = 0;
    try {
      while (done < this.pos) done += writeSync(this.fd, this.buf, done, this.pos - done);
    } catch (e) {
      throw ioError(this.path, 'write', e);
    }
    this.pos = 0;
  }

  close(): void {
    if (this.fd === undefined) return;
    let failure: unknown;
    try {
      this.flush();
    } catch (e) {
      failure = e;
    }
    const fd = this.fd;
    this.fd = undefined;
    try {
      if (this.owned) closeSync(fd);
    } catch (e) {
      failure ??= ioError(this.path, 'close', e);
    }
    if (failure !== undefined) throw failure;
  }
}

export interface PcapWriterOptions {
  /** LINKTYPE_* of every record */
  readonly linkType: number;
  /** default 262144, at least 1; longer records are cut to it */
  readonly snaplen?: number;
  /** default 'us' (magic 0xa1b2c3d4); 'ns' writes magic 0xa1b23c4d */
  readonly resolution?: TimestampResolution;
  /** default 'le' */
  readonly byteOrder?: ByteOrder;
  /** write to this open descriptor (1: standard output) instead of opening `path`, which then only names it in errors; close() flushes and leaves it open */
  readonly fd?: number;
}

/** Writes a classic pcap file: a 24-byte global header, then one 16-byte header per record. */
export class PcapWriter {
  private readonly file: BufferedFile;
  private readonly le: boolean;
  private readonly ns: boolean;
  readonly snaplen: number;
  /** records written so far */
  packets = 0;

  constructor(path: string, opts: PcapWriterOptions) {
    this.le = (opts.byteOrder ?? 'le') === 'le';
    this.ns = (opts.resolution ?? 'us') === 'ns';
    this.snaplen = checkU32(opts.snaplen ?? DEFAULT_SNAPLEN, 'snaplen');
    if (this.snaplen === 0) throw usage('snaplen: 0 would capture nothing (pcapng has "no limit", pcap does not)');
    const linkType = checkU32(opts.linkType, 'linkType');
    this.file = new BufferedFile(path, opts.fd);
    const at = this.file.reserve(24);
    const v = this.file.view;
    v.setUint32(at, this.ns ? PCAP_MAGIC_NS : PCAP_MAGIC_US, this.le);
    v.setUint16(at + 4, 2, this.le);
    v.setUint16(at + 6, 4, this.le);
    // thiszone and sigfigs stay 0: timestamps are UTC
    v.setUint32(at + 16, this.snaplen, this.le);
    v.setUint32(at + 20, linkType, this.le);
  }

  /**
   * Appends a record: `data` is what was captured (cut to snaplen here), `origLen` the length
   * the packet had on the wire (default data.length; larger means a truncated capture).
   */
  writePacket(ts: Timestamp, data: Uint8Array, origLen = data.length): void {
    checkLengths(data, origLen);
    const ns = timestampNs(ts);
    const sec = ns / 1_000_000_000n;
    if (sec > 0xffffffffn) throw usage(`timestamp: ${sec} s does not fit the 32-bit pcap field`);
    const frac = Number(ns % 1_000_000_000n) / (this.ns ? 1 : 1000);
    const cap = Math.min(data.length, this.snaplen);
    const at = this.file.reserve(16 + cap);
    const v = this.file.view;
    v.setUint32(at, Number(sec), this.le);
    v.setUint32(at + 4, Math.floor(frac), this.le);
    v.setUint32(at + 8, cap, this.le);
    v.setUint32(at + 12, origLen, this.le);
    this.file.bytes(at + 16, data.subarray(0, cap));
    this.packets++;
  }

  /** Writes out what is buffered, so a reader of a live capture sees every record so far. */
  flush(): void {
    this.file.flush();
  }

  /** Flushes and closes the file; calling it again does nothing. */
  close(): void {
    this.file.close();
  }
}

export interface PcapngInterfaceOptions {
  readonly linkType: number;
  /** default 262144; 0 means no limit */
  readonly snaplen?: number;
  /** if_tsresol: default 'us' (10^-6 s units), 'ns' for 10^-9 */
  readonly resolution?: TimestampResolution;
  /** if_name, e.g. "any" or "eth0" */
  readonly name?: string;
}

export interface PcapngWriterOptions {
  /** default 'le' */
  readonly byteOrder?: ByteOrder;
  /** interfaces to describe right after the section header, ids 0, 1, ... */
  readonly interfaces?: readonly PcapngInterfaceOptions[];
  /** shb_userappl; default "pfsim" */
  readonly application?: string;
}

const encoder = new TextEncoder();
const pad4 = (n: number): number => (n + 3) & ~3;

interface PcapngOption {
  readonly code: number;
  readonly value: Uint8Array;
}

function optionsLength(opts: readonly PcapngOption[]): number {
  // each option: code, length, value padded to 32 bits; then opt_endofopt
  return opts.length === 0 ? 0 : opts.reduce((n, o) => n + 4 + pad4(o.value.length), 4);
}

/**
 * Writes a pcapng file with one section: the section header block at once, then interface
 * description blocks, enhanced and simple packet blocks, and any raw block, in call order.
 */
export class PcapngWriter {
  private readonly file: BufferedFile;
  private readonly le: boolean;
  private readonly interfaces: { snaplen: number; ns: boolean }[] = [];
  /** packet blocks written so far */
  packets = 0;

  constructor(path: string, opts: PcapngWriterOptions = {}) {
    this.le = (opts.byteOrder ?? 'le') === 'le';
    this.file = new BufferedFile(path);
    const options = [{ code: 4, value: encoder.encode(opts.application ?? 'pfsim') }];
    const total = 28 + optionsLength(options);
    const at = this.file.reserve(total);
    const v = this.file.view;
    v.setUint32(at, PCAPNG_BT_SHB, this.le);
    v.setUint32(at + 4, total, this.le);
    v.setUint32(at + 8, PCAPNG_BYTE_ORDER_MAGIC, this.le);
    v.setUint16(at + 12, 1, this.le);
    v.setUint16(at + 14, 0, this.le);
    // section length unknown: -1 in 64 bits reads the same in either byte order
    v.setUint32(at + 16, 0xffffffff, this.le);
    v.setUint32(at + 20, 0xffffffff, this.le);
    this.writeOptions(at + 24, options);
    v.setUint32(at + total - 4, total, this.le);
    for (const i of opts.interfaces ?? []) this.addInterface(i);
  }

  private writeOptions(at: number, opts: readonly PcapngOption[]): void {
    const v = this.file.view;
    for (const o of opts) {
      v.setUint16(at, o.code, this.le);
      v.setUint16(at + 2, o.value.length, this.le);
      this.file.bytes(at + 4, o.value);
      at += 4 + pad4(o.value.length);
    }
    // opt_endofopt is four zero bytes, already there
  }

  /** Writes an interface description block; returns the interface id packets refer to. */
  addInterface(i: PcapngInterfaceOptions): number {
    const snaplen = checkU32(i.snaplen ?? DEFAULT_SNAPLEN, 'snaplen');
    const ns = (i.resolution ?? 'us') === 'ns';
    if (!Number.isInteger(i.linkType) || i.linkType < 0 || i.linkType > 0xffff) throw usage(`linkType: ${i.linkType} does not fit 16 bits`);
    const options: PcapngOption[] = [];
    if (i.name !== undefined) options.push({ code: 2, value: encoder.encode(i.name) });
    // if_tsresol: a power of ten, the negated exponent in one byte
    options.push({ code: 9, value: Uint8Array.of(ns ? 9 : 6) });
    const total = 20 + optionsLength(options);
    const at = this.file.reserve(total);
    const v = this.file.view;
    v.setUint32(at, PCAPNG_BT_IDB, this.le);
    v.setUint32(at + 4, total, this.le);
    v.setUint16(at + 8, i.linkType, this.le);
    v.setUint32(at + 12, snaplen, this.le);
    this.writeOptions(at + 16, options);
    v.setUint32(at + total - 4, total, this.le);
    this.interfaces.push({ snaplen, ns });
    return this.interfaces.length - 1;
  }

  private iface(id: number): { snaplen: number; ns: boolean } {
    const i = this.interfaces[id];
    if (i === undefined) throw usage(`interface: ${id} is not described (${this.interfaces.length} interfaces)`);
    return i;
  }

  /** Writes an enhanced packet block on interface `id`, timestamp in that interface's resolution. */
  writePacket(id: number, ts: Timestamp, data: Uint8Array, origLen = data.length): void {
    const i = this.iface(id);
    checkLengths(data, origLen);
    const units = timestampNs(ts) / (i.ns ? 1n : 1000n);
    if (units > 0xffffffffffffffffn) throw usage('timestamp: does not fit 64 bits');
    const cap = i.snaplen === 0 ? data.length : Math.min(data.length, i.snaplen);
    const total = 32 + pad4(cap);
    const at = this.file.reserve(total);
    const v = this.file.view;
    v.setUint32(at, PCAPNG_BT_EPB, this.le);
    v.setUint32(at + 4, total, this.le);
    v.setUint32(at + 8, id, this.le);
    v.setUint32(at + 12, Number(units >> 32n), this.le);
    v.setUint32(at + 16, Number(units & 0xffffffffn), this.le);
    v.setUint32(at + 20, cap, this.le);
    v.setUint32(at + 24, origLen, this.le);
    this.file.bytes(at + 28, data.subarray(0, cap));
    v.setUint32(at + total - 4, total, this.le);
    this.packets++;
  }

  /**
   * Writes a simple packet block, which belongs to interface 0 and has no timestamp. Its
   * captured length is implied: min(origLen, snaplen), so `data` must be exactly that long
   * after cutting to snaplen.
   */
  writeSimplePacket(data: Uint8Array, origLen = data.length): void {
    const i = this.iface(0);
    checkLengths(data, origLen);
    const cap = i.snaplen === 0 ? origLen : Math.min(origLen, i.snaplen);
    if (Math.min(data.length, cap) !== cap) throw usage(`data: a simple packet block implies ${cap} captured bytes, ${data.length} given`);
    const total = 16 + pad4(cap);
    const at = this.file.reserve(total);
    const v = this.file.view;
    v.setUint32(at, PCAPNG_BT_SPB, this.le);
    v.setUint32(at + 4, total, this.le);
    v.setUint32(at + 8, origLen, this.le);
    this.file.bytes(at + 12, data.subarray(0, cap));
    v.setUint32(at + total - 4, total, this.le);
    this.packets++;
  }

  /** Writes a block of any type with `body` padded to 32 bits, e.g. one a reader must skip. */
  writeBlock(type: number, body: Uint8Array): void {
    if (!Number.isInteger(type) || type < 0 || type > 0xffffffff) throw usage(`block type: ${type} does not fit 32 bits`);
    const total = 12 + pad4(body.length);
    const at = this.file.reserve(total);
    const v = this.file.view;
    v.setUint32(at, type, this.le);
    v.setUint32(at + 4, total, this.le);
    this.file.bytes(at + 8, body);
    v.setUint32(at + total - 4, total, this.le);
  }

  /** Flushes and closes the file; calling it again does nothing. */
  close(): void {
    this.file.close();
  }
}
