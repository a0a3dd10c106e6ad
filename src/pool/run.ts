/**
 * One replay through a pool, as the CLI runs it: open the pool (`--workers 1` judges on the
 * main thread, no threads), replay with an optional progress bar, close the pool (and with it
 * every worker's engines) whatever happened.
 */
import { availableParallelism } from 'node:os';
import type { Plan } from '../compile/plan.js';
import type { EngineName } from '../engines/engine.js';
import type { ReplaySink } from '../verdict/replay.js';
import { MAX_WORKERS, type PoolReplayResult, ReplayPool } from './pool.js';
import { ReplayProgress } from './progress.js';
import { parseCount } from '../options.js';

/** The default --workers: one per core the process may use. */
export function defaultWorkers(): number {
  return Math.min(availableParallelism(), MAX_WORKERS);
}

/** Parses a --workers value: an integer in 1..MAX_WORKERS, or PfsimError PFSIM_ERR_USAGE. */
export function parseWorkers(text: string): number {
  return parseCount('--workers', text, MAX_WORKERS);
}

export interface PooledReplayOptions {
  readonly workers: number;
  /** per-packet verdicts in trace order */
  readonly sink?: ReplaySink;
  /** per-connection summary (default true) */
  readonly summary?: boolean;
  readonly keepGoing?: boolean;
  /** draw a progress bar on stderr (the caller asks wantProgress first) */
  readonly progress?: boolean;
  /** connections listed one by one in the summary (PoolReplayOptions.maxFlows) */
  readonly maxFlows?: number;
  /** conntrack entries at most, per engine (PoolOptions.ctMax) */
  readonly ctMax?: number;
}

/** Replays `file` once; rejects with the replay's PfsimError, after the pool is closed. */
export async function replayPooled(plan: Plan, file: string, engines: readonly EngineName[], o: PooledReplayOptions): Promise<PoolReplayResult> {
  const pool = await ReplayPool.open(plan, engines, { workers: o.workers, inThread: o.workers === 1, ...(o.ctMax !== undefined ? { ctMax: o.ctMax } : {}) });
  const bar = o.progress ? new ReplayProgress(file) : undefined;
  let result: PoolReplayResult;
  try {
    result = await pool.replay(file, {
      ...(o.sink ? { sink: o.sink } : {}), summary: o.summary !== false, keepGoing: o.keepGoing === true,
      ...(o.maxFlows !== undefined ? { maxFlows: o.maxFlows } : {}),
      ...(bar ? { onProgress: bar.update } : {}),
    });
  } catch (e) {
    bar?.stop();
    // the replay's error is the one to show; a failure to close as well changes nothing for the user
    await pool.close().catch(() => undefined);
    throw e;
  }
  bar?.stop();
  await pool.close();
  return result;
}
