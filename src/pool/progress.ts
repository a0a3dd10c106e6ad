/**
 * The progress bar of a long replay (cli-progress, on stderr): share of the capture file read,
 * packets, packets per second and the time left. It appears only for a person watching: stderr
 * is a terminal, CI is not set, no JSON was asked for, and stdout is not the same terminal
 * streaming per-packet lines (they would tear the bar). Short runs never show it: it starts
 * after a second.
 */
import { statSync } from 'node:fs';
import cliProgress from 'cli-progress';
import type { PoolProgress } from './pool.js';

export interface ProgressContext {
  /** --json given: output is for a program */
  readonly json: boolean;
  /** the command writes per-packet lines to stdout as it goes */
  readonly streamsStdout: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly stderr?: { readonly isTTY?: boolean };
  readonly stdout?: { readonly isTTY?: boolean };
}

/** Whether a progress bar belongs on this terminal (see the module comment). */
export function wantProgress(c: ProgressContext): boolean {
  const env = c.env ?? process.env;
  const stderr = c.stderr ?? process.stderr;
  const stdout = c.stdout ?? process.stdout;
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== '0' && env.CI.toLowerCase() !== 'false';
  if (c.json || ci || stderr.isTTY !== true) return false;
  return !(c.streamsStdout && stdout.isTTY === true);
}

const SHOW_AFTER_MS = 1000;

export class ReplayProgress {
  private readonly total: number;
  private readonly started = Date.now();
  private bar: cliProgress.SingleBar | undefined;

  /** `file`: the capture, whose size is the bar's 100 %. */
  constructor(file: string, private readonly stream: NodeJS.WritableStream = process.stderr) {
    let size = 0;
    try {
      size = statSync(file).size;
    } catch {
      // the reader reports an unreadable file; the bar just stays at 0 %
    }
    this.total = Math.max(size, 1);
  }

  /** A callback for PoolReplayOptions.onProgress. */
  readonly update = (p: PoolProgress): void => {
    const elapsed = Date.now() - this.started;
    if (this.bar === undefined) {
      if (elapsed < SHOW_AFTER_MS) return;
      this.bar = new cliProgress.SingleBar({
        stream: this.stream,
        format: 'replay [{bar}] {percentage}% | {packets} packets | {pps} pkt/s | ETA {eta_formatted}',
        barsize: 30,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 50,
        fps: 5,
      }, cliProgress.Presets.shades_classic);
      this.bar.start(this.total, 0, { packets: 0, pps: 0 });
    }
    this.bar.update(Math.min(p.bytes, this.total), {
      packets: p.packets.toLocaleString('en-US'),
      pps: Math.round(p.packets / Math.max(elapsed / 1000, 1e-3)).toLocaleString('en-US'),
    });
  };

  /** Removes the bar (and restores the cursor); safe to call when it never showed. */
  stop(): void {
    if (this.bar === undefined) return;
    this.bar.stop();
    this.bar = undefined;
  }
}
