/**
 * `pfsim capture`: live frames from one interface into a classic pcap file (or standard
 * output), with the interface's link type and µs or ns timestamps, until --count frames,
 * --duration seconds or SIGINT/SIGTERM; what was captured reaches the file within FLUSH_MS,
 * and the file is flushed and closed whichever way the capture stops.
 *
 * Error contract: PfsimError PFSIM_ERR_USAGE for a bad interface, filter or output file, named
 * in one line; an error while writing stops the capture, closes the file and is rethrown.
 */
import { isatty } from 'node:tty';
import { PfsimError } from '../errors.js';
import { PcapWriter, type TimestampResolution } from '../capture/pcap-writer.js';
import { CAP_SNAPLEN, LiveSource, linkTypeName } from './source.js';
import { StopController, type StopReason } from './stop.js';

export interface CaptureOptions {
  readonly iface: string;
  /** a file path, or '-' for standard output */
  readonly file: string;
  readonly filter?: string;
  readonly count?: number;
  readonly seconds?: number;
  readonly resolution: TimestampResolution;
  readonly bufferKiB?: number;
  /** progress lines (listening on ..., captured N packets); default: standard error */
  readonly log?: (line: string) => void;
}

export interface CaptureResult {
  readonly packets: number;
  /** frames the kernel dropped for want of buffer room; undefined when unknown */
  readonly dropped: number | undefined;
  readonly linkType: number;
  readonly stop: StopReason;
}

/** how long a captured packet may sit in the writer's buffer */
const FLUSH_MS = 100;

/**
 * Where `-w` writes: a path, or for '-' descriptor 1 itself (opening /dev/stdout fails when it
 * is a socket). process.stdout stays untouched: creating it would make a pipe non-blocking.
 */
function output(file: string): { path: string; fd?: number } {
  if (file !== '-') return { path: file };
  if (isatty(1)) throw new PfsimError('PFSIM_ERR_USAGE', 'capture: -w -: standard output is a terminal; redirect it or name a file');
  return { path: 'standard output', fd: 1 };
}

/** Captures until a stop condition; resolves when the file is complete on disk. */
export async function runCapture(o: CaptureOptions): Promise<CaptureResult> {
  const log = o.log ?? ((line: string) => process.stderr.write(`pfsim: ${line}\n`));
  const out = output(o.file);
  const stop = new StopController({ count: o.count, seconds: o.seconds });
  let writer: PcapWriter | undefined;
  let flushTimer: NodeJS.Timeout | undefined;
  const guard = (write: () => void): void => {
    try {
      write();
    } catch (e) {
      // `-w - | tcpdump -r - -c 5`: the reader leaving ends the capture, as SIGPIPE would
      stop.stop(o.file === '-' && causeCode(e) === 'EPIPE' ? { kind: 'signal', signal: 'SIGPIPE' } : { kind: 'error', error: e });
    }
  };
  const source = LiveSource.open({ op: 'capture', iface: o.iface, filter: o.filter, bufferKiB: o.bufferKiB }, (data, ts) => {
    if (!stop.frame()) return;
    guard(() => writer!.writePacket(ts, data));
    // a reader of the pipe or of the growing file sees each packet within FLUSH_MS
    flushTimer ??= setTimeout(() => {
      flushTimer = undefined;
      if (!stop.stopped) guard(() => writer!.flush());
    }, FLUSH_MS);
  });
  try {
    // opened after the source so that a bad interface leaves no empty file behind; no frame
    // arrives before the event loop runs again
    writer = new PcapWriter(out.path, { linkType: source.linkType, snaplen: CAP_SNAPLEN, resolution: o.resolution, ...(out.fd === undefined ? {} : { fd: out.fd }) });
  } catch (e) {
    source.close();
    throw e;
  }
  // armed before the line that tells a waiting script it may send traffic (or Ctrl-C)
  stop.start();
  log(`listening on ${o.iface}, link-type ${linkTypeName(source.linkType)}, snapshot length ${CAP_SNAPLEN} bytes, writing ${out.path}`);
  const reason = await stop.done;
  clearTimeout(flushTimer);
  source.close();
  const stats = source.stats();
  try {
    writer.close();
  } catch (e) {
    // a write error already stopped the capture: report that one, not its echo at close
    if (reason.kind !== 'error' && !(reason.kind === 'signal' && reason.signal === 'SIGPIPE')) throw e;
  }
  if (reason.kind === 'error') throw reason.error;
  const packets = writer.packets;
  log(`captured ${packets} packets (${stats === undefined ? 'kernel drops unknown: the capture socket\'s counters could not be read' : `${stats.dropped} dropped by the kernel`})`);
  return { packets, dropped: stats?.dropped, linkType: source.linkType, stop: reason };
}

function causeCode(e: unknown): string | undefined {
  const cause = (e as { cause?: unknown }).cause;
  return (cause as NodeJS.ErrnoException | undefined)?.code;
}
