/**
 * Live frames from a network interface through cap (the libpcap binding in node_modules/cap).
 * cap captures on the interfaces of the network namespace this process runs in, with a fixed
 * snapshot length of 65535 bytes, promiscuous and in immediate mode, and emits one 'packet'
 * event per frame with the frame copied into one buffer we own (valid until the next event).
 *
 * What cap 0.2.1 does not give, and how pfsim copes:
 * - no pcap_pkthdr timestamp: frames are stamped on delivery by a monotonic clock anchored to
 *   the wall clock when the source opened (ns resolution; in immediate mode delivery follows
 *   arrival closely, but a burst is stamped as the event loop drains it);
 * - no wire length: a frame's original length is its captured length (the snapshot length is
 *   65535, so only frames longer than that, such as 64 KiB GRO aggregates, are cut);
 * - no pcap_stats: the source finds the AF_PACKET socket libpcap opened (the one that was not
 *   in /proc/self/fd before cap.open) and reads its counters with the addon's packetStats();
 *   when that fails, kernel drops are unknown and say so.
 *
 * Error contract: PfsimError PFSIM_ERR_NATIVE when cap cannot be loaded (one line, the cause's
 * first line); PFSIM_ERR_USAGE for an interface that does not exist, a filter libpcap cannot
 * compile, or an open libpcap refuses (`<op>: -i IFACE: ...`, `<op>: --filter 'EXPR': ...`).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PfsimError } from '../errors.js';
import { loadNative } from '../engines/native.js';

/** The slice of cap's API pfsim uses (node_modules/cap/src/binding.cc). */
interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): boolean;
  on(event: 'packet', fn: (nbytes: number, truncated: boolean) => void): unknown;
}

interface CapModule {
  Cap: { new (): CapHandle; deviceList(): { name: string; addresses: { addr?: string }[] }[] };
}

/** A packet socket's counters since the previous read (native/src/addon.cc packetStats). */
type PacketStatsFn = (fd: number) => { packets: number; drops: number };

/** Inodes of this network namespace's AF_PACKET sockets (the Inode column of /proc/net/packet). */
function packetSocketInodes(): Set<string> {
  const lines = readFileSync('/proc/net/packet', 'utf8').trim().split('\n');
  const col = lines[0]!.trim().split(/\s+/).indexOf('Inode');
  return new Set(lines.slice(1).map((l) => l.trim().split(/\s+/)[col]!));
}

/** This process's descriptors that are AF_PACKET sockets. */
export function packetSocketFds(): Set<number> {
  const fds = new Set<number>();
  try {
    const inodes = packetSocketInodes();
    for (const e of readdirSync('/proc/self/fd')) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${e}`));
        if (m && inodes.has(m[1]!)) fds.add(Number(e));
      } catch {
        // closed while we looked (readdir's own descriptor)
      }
    }
  } catch {
    // no procfs: the counters stay unknown
  }
  return fds;
}

/** cap's snapshot length, fixed in its binding. */
export const CAP_SNAPLEN = 65535;
/*
 * libpcap gives each frame a ring slot of the snapshot length on interfaces with offloads (veth
 * among them), so 64 MiB holds about a thousand frames: what a burst on a pod's veth needs
 * (8 MiB dropped half of a 50k-datagram burst at ~30k packets/s; 64 MiB under 4%).
 */
export const DEFAULT_BUFFER_KIB = 65536;

let capModule: CapModule | undefined;

/**
 * Loads cap once per process; `id` exists so a test can name a module that is not there.
 * A missing or unbuildable cap becomes one line, not a stack trace.
 */
export function loadCap(id = 'cap'): CapModule {
  if (id === 'cap' && capModule) return capModule;
  let mod: CapModule;
  try {
    mod = createRequire(import.meta.url)(id) as CapModule;
  } catch (e) {
    const first = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    throw new PfsimError('PFSIM_ERR_NATIVE', `live capture needs the npm package ${id} (a libpcap binding), which cannot be loaded: ${first}`, { cause: e });
  }
  if (typeof mod?.Cap !== 'function' || typeof mod.Cap.deviceList !== 'function') {
    throw new PfsimError('PFSIM_ERR_NATIVE', `live capture: the npm package ${id} does not export Cap and Cap.deviceList`);
  }
  if (id === 'cap') capModule = mod;
  return mod;
}

/*
 * cap names a few DLTs and gives "Unknown linktype N" for the rest. pcap files carry LINKTYPE_*
 * values, equal to the DLT except for raw IP, whose DLT is 12 (14 on OpenBSD).
 */
const CAP_LINK_NAMES: Readonly<Record<string, number>> = {
  NULL: 0, ETHERNET: 1, RAW: 101, LINKTYPE_LINUX_SLL: 113, IEEE802_11_RADIO: 127,
};
const LINKTYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'NULL (BSD loopback)', 1: 'EN10MB (Ethernet)', 101: 'RAW (raw IP)', 108: 'LOOP (OpenBSD loopback)',
  113: 'LINUX_SLL (Linux cooked v1)', 127: 'IEEE802_11_RADIO (radiotap)', 228: 'IPV4', 229: 'IPV6',
  276: 'LINUX_SLL2 (Linux cooked v2)',
};
/** Link types the capture parser decodes (native/src/capture/decode.h); others are all skipped. */
export const DECODED_LINKTYPES: ReadonlySet<number> = new Set([0, 1, 12, 14, 101, 108, 113, 228, 229, 276]);

/** cap's link type string as a LINKTYPE_* number, or undefined when it names none. */
export function capLinkType(s: string): number | undefined {
  const named = CAP_LINK_NAMES[s];
  if (named !== undefined) return named;
  const m = /^Unknown linktype (\d+)$/.exec(s);
  if (!m) return undefined;
  const dlt = Number(m[1]);
  return dlt === 12 || dlt === 14 ? 101 : dlt;
}

export function linkTypeName(lt: number): string {
  return LINKTYPE_NAMES[lt] ?? `LINKTYPE ${lt}`;
}

/** Wall-clock nanoseconds from a monotonic clock: never steps back while a capture runs. */
export class LiveClock {
  private readonly wallNs: bigint;
  private readonly hrNs: bigint;

  constructor() {
    this.hrNs = process.hrtime.bigint();
    this.wallNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  }

  now(): bigint {
    return this.wallNs + (process.hrtime.bigint() - this.hrNs);
  }
}

export interface LiveSourceOptions {
  /** the command, for error prefixes: 'capture' or 'watch' */
  readonly op: string;
  readonly iface: string;
  /** a pcap-filter expression; empty or undefined captures everything */
  readonly filter?: string;
  /** the kernel's capture buffer in KiB (libpcap's buffer size) */
  readonly bufferKiB?: number;
}

/** Called per frame: `data` is valid only during the call; `ts` is wall-clock ns. */
export type FrameHandler = (data: Uint8Array, ts: bigint) => void;

/*
 * A cap handle whose open() failed is half built: its destructor, run when the garbage
 * collector frees it, stops a poll handle that was never started. Keeping every such handle
 * reachable means that destructor never runs (each leaks one pcap handle; a process opens at
 * most a few).
 */
const failedHandles: CapHandle[] = [];

function usage(msg: string): PfsimError {
  return new PfsimError('PFSIM_ERR_USAGE', msg);
}

/** An open capture on one interface; frames go to the handler until close(). */
export class LiveSource {
  readonly iface: string;
  /** LINKTYPE_* of every frame */
  readonly linkType: number;
  private handle: CapHandle | undefined;
  private readonly clock = new LiveClock();
  /** libpcap's packet socket and the addon's reader of its counters, when both were found */
  private readonly counters: { fd: number; read: PacketStatsFn } | undefined;
  private received = 0;
  private dropped = 0;
  /** a read of the counters failed: what was summed is no longer the whole count */
  private countersLost = false;

  private constructor(iface: string, handle: CapHandle, linkType: number, buffer: Buffer, socketFd: number | undefined, onFrame: FrameHandler) {
    this.iface = iface;
    this.handle = handle;
    this.linkType = linkType;
    this.counters = packetCounters(socketFd);
    // cap cuts a frame to the buffer it copies into, which is the snapshot length: never shorter
    handle.on('packet', (nbytes) => {
      // cap may still be draining libpcap's ring in the same callback after close()
      if (this.handle === undefined) return;
      onFrame(buffer.subarray(0, nbytes), this.clock.now());
    });
  }

  /** Opens the interface; see the module comment for the errors. */
  static open(opts: LiveSourceOptions, onFrame: FrameHandler): LiveSource {
    const { Cap } = loadCap();
    const filter = opts.filter ?? '';
    // libpcap (through cap) would first print a warning line for a missing device: check first
    if (!Cap.deviceList().some((d) => d.name === opts.iface)) throw usage(`${opts.op}: -i ${opts.iface}: no such interface`);
    const handle = new Cap();
    const buffer = Buffer.alloc(CAP_SNAPLEN);
    const bufSize = (opts.bufferKiB ?? DEFAULT_BUFFER_KIB) * 1024;
    const socketsBefore = packetSocketFds();
    let link: string;
    try {
      link = handle.open(opts.iface, filter, bufSize, buffer);
    } catch (e) {
      failedHandles.push(handle);
      throw openError(opts, e, filter !== '' && filterIsTheFault(Cap, opts.iface, bufSize));
    }
    const lt = capLinkType(link);
    if (lt === undefined) {
      handle.close();
      throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `${opts.op}: -i ${opts.iface}: link type "${link}" cannot be written to a capture file`);
    }
    const opened = [...packetSocketFds()].filter((fd) => !socketsBefore.has(fd));
    return new LiveSource(opts.iface, handle, lt, buffer, opened.length === 1 ? opened[0] : undefined, onFrame);
  }

  /**
   * The kernel's counters for this capture: frames its filter accepted (received) and frames
   * dropped for want of room in the ring; undefined when they cannot be read. Final after close().
   */
  stats(): { received: number; dropped: number } | undefined {
    if (this.counters === undefined) return undefined;
    if (this.handle !== undefined) this.readCounters();
    return this.countersLost ? undefined : { received: this.received, dropped: this.dropped };
  }

  /** adds the counters since the last read (reading resets them in the kernel) */
  private readCounters(): void {
    try {
      const s = this.counters!.read(this.counters!.fd);
      this.received += s.packets;
      this.dropped += s.drops;
    } catch {
      this.countersLost = true;
    }
  }

  /** Stops capturing; no frame is delivered after it returns. Calling it again does nothing. */
  close(): void {
    const h = this.handle;
    if (h === undefined) return;
    // the last counters, while the socket is still open
    if (this.counters !== undefined) this.readCounters();
    this.handle = undefined;
    h.close();
  }
}

function packetCounters(fd: number | undefined): { fd: number; read: PacketStatsFn } | undefined {
  if (fd === undefined) return undefined;
  try {
    const read = (loadNative() as unknown as { packetStats?: PacketStatsFn }).packetStats;
    return typeof read === 'function' ? { fd, read } : undefined;
  } catch {
    return undefined;
  }
}

/*
 * cap reports a failed open and a filter libpcap cannot compile alike, with libpcap's message
 * ("syntax error", "unknown host 'x'", "illegal port number ..."). When the same interface
 * opens without the filter, the filter was the fault.
 */
function filterIsTheFault(Cap: CapModule['Cap'], iface: string, bufSize: number): boolean {
  const probe = new Cap();
  try {
    probe.open(iface, '', bufSize, Buffer.alloc(64));
  } catch {
    failedHandles.push(probe);
    return false;
  }
  probe.close();
  return true;
}

function openError(opts: LiveSourceOptions, e: unknown, filterFault: boolean): PfsimError {
  const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.trim();
  if (filterFault) return usage(`${opts.op}: --filter '${opts.filter}': ${msg.replace(/^can't parse filter expression: /, '')}`);
  if (msg === '') return usage(`${opts.op}: -i ${opts.iface}: libpcap refused to open it without saying why (is it up?)`);
  if (/permission|not permitted/i.test(msg)) return new PfsimError('PFSIM_ERR_UNSUPPORTED', `${opts.op}: -i ${opts.iface}: ${msg} (capturing needs root or CAP_NET_RAW)`);
  return usage(`${opts.op}: -i ${opts.iface}: ${msg.replace(/^That device is not up$/, 'the interface is down')}`);
}
