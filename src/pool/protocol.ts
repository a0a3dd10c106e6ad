/**
 * Messages between the pool (main thread) and its workers. A worker answers every task with a
 * WorkerReply; a failure inside it travels back as its code and one-line message (an Error
 * would lose its PfsimError code crossing the thread boundary).
 */
import type { Plan } from '../compile/plan.js';
import type { EngineName } from '../engines/engine.js';
import type { PfsimErrorCode } from '../errors.js';
import type { BatchOutcome, JudgeMode } from './judge.js';
import type { RingShape } from './ring.js';
import type { ReplayerOptions } from '../verdict/replay.js';

/** workerData: cloned once per worker when it starts. */
export interface WorkerInit {
  readonly plan: Plan;
  readonly engines: readonly EngineName[];
  /** packets per slot batch */
  readonly capacity: number;
  /** this worker's slot, 0-based */
  readonly slot: number;
  /** how many slots share the connections */
  readonly slots: number;
  /** the reader batches, shared with the main thread and the other workers */
  readonly ring: RingShape;
  /** how the engines track connections (--ct-max) */
  readonly replayer: ReplayerOptions;
}

export type WorkerTask =
  /** load the engines from the plan (once) */
  | { readonly op: 'init' }
  /** reset conntrack, flows and reasons for a new replay */
  | { readonly op: 'start'; readonly mode: JudgeMode }
  /**
   * judge this slot's packets among the first `count` of ring batch `batch`, whose first packet
   * is packet `base` of the trace. `seq` counts the batches since 'start' (0, 1, …): the
   * worker refuses one out of turn.
   */
  | { readonly op: 'judge'; readonly batch: number; readonly count: number; readonly base: number; readonly seq: number }
  /** this slot's flow counters, by flow id */
  | { readonly op: 'flows' }
  /** the thread's CPU time and packets judged since 'start' */
  | { readonly op: 'usage' }
  /** which thread this is, and a call into the native addon from it */
  | { readonly op: 'info' }
  /** close the engines (kernel engines remove their testbeds) */
  | { readonly op: 'close' };

export interface WorkerInfo {
  readonly slot: number;
  readonly threadId: number;
  /** the conntrack capacity a Classifier made in this worker reports: proves the addon runs there */
  readonly nativeCtCapacity: number;
}

/** What one worker spent on a replay. */
export interface SlotUsage {
  /** the worker thread's CPU time since 'start', ms; absent where the platform does not tell */
  readonly cpuMs?: number;
  /** packets it judged */
  readonly judged: number;
}

export interface WorkerFailure {
  readonly ok: false;
  readonly code: PfsimErrorCode;
  readonly message: string;
}

export type WorkerReply<T> = { readonly ok: true; readonly value: T } | WorkerFailure;
