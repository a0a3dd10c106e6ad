/**
 * When a live command stops: after --count packets, after --duration seconds, on SIGINT or
 * SIGTERM (the usual way to end an open-ended capture, so it is a clean stop with exit 0), or
 * on an error met while handling a frame. Whichever comes first wins; `done` resolves once.
 *
 * Error contract: parseCount/parseDuration throw PfsimError PFSIM_ERR_USAGE naming the option.
 */
import { PfsimError } from '../errors.js';

export type StopReason =
  | { readonly kind: 'count'; readonly count: number }
  | { readonly kind: 'duration'; readonly seconds: number }
  | { readonly kind: 'signal'; readonly signal: NodeJS.Signals }
  | { readonly kind: 'error'; readonly error: unknown };

export interface StopLimits {
  /** stop after this many frames */
  readonly count?: number;
  /** stop after this many seconds */
  readonly seconds?: number;
}

/** `--count N`: a positive integer. */
export function parseCount(op: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new PfsimError('PFSIM_ERR_USAGE', `${op}: --count ${v}: not a positive integer`);
  return n;
}

/** setTimeout's longest delay; longer durations re-arm */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `--duration S`: positive seconds, decimals allowed (0.5), at most a year. */
export function parseDuration(op: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const s = Number(v);
  if (!/^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(v) || !(s > 0) || s > 366 * 86400) {
    throw new PfsimError('PFSIM_ERR_USAGE', `${op}: --duration ${v}: not a positive number of seconds (at most a year)`);
  }
  return s;
}

export function describeStop(r: StopReason): string {
  switch (r.kind) {
    case 'count': return `count (${r.count} packets)`;
    case 'duration': return `duration (${r.seconds} s)`;
    case 'signal': return r.signal;
    case 'error': return 'error';
  }
}

/** One live run's stop conditions; start() arms the timer and the signal handlers. */
export class StopController {
  readonly done: Promise<StopReason>;
  reason: StopReason | undefined;
  private resolve!: (r: StopReason) => void;
  private seen = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly onSignal = (sig: NodeJS.Signals): void => this.stop({ kind: 'signal', signal: sig });

  constructor(private readonly limits: StopLimits) {
    this.done = new Promise((res) => { this.resolve = res; });
  }

  get stopped(): boolean {
    return this.reason !== undefined;
  }

  start(): void {
    if (this.limits.seconds !== undefined) this.arm(Date.now() + this.limits.seconds * 1000);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  private arm(deadline: number): void {
    const left = deadline - Date.now();
    if (left <= 0) {
      this.stop({ kind: 'duration', seconds: this.limits.seconds! });
      return;
    }
    this.timer = setTimeout(() => this.arm(deadline), Math.min(left, MAX_TIMER_MS));
  }

  /** Counts one frame; true when it is within --count (the one reaching it stops the run). */
  frame(): boolean {
    if (this.stopped) return false;
    this.seen++;
    if (this.limits.count !== undefined && this.seen >= this.limits.count) this.stop({ kind: 'count', count: this.limits.count });
    return true;
  }

  stop(r: StopReason): void {
    if (this.reason !== undefined) return;
    this.reason = r;
    this.dispose();
    this.resolve(r);
  }

  /** Removes the timer and the signal handlers (after them, a second Ctrl-C kills as usual). */
  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    process.removeListener('SIGINT', this.onSignal);
    process.removeListener('SIGTERM', this.onSignal);
  }
}
