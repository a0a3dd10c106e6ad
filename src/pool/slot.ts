/**
 * A pool slot: where the packets of one share of the connections are judged, reader batch
 * after reader batch in the order they are sent (the batches themselves are in shared memory,
 * ring.ts; a task names one). ThreadSlot is a worker thread behind its own single-thread Piscina; LocalSlot
 * judges on the calling thread (one slot, no threads: `--workers 1`).
 *
 * Why one Piscina per slot: piscina hands a task to whichever worker is free, but a connection's
 * packets must all reach the worker holding its conntrack entry, in trace order. A Piscina with
 * exactly one thread (minThreads = maxThreads = 1) and stricterFIFO hands its queue to that one
 * thread in order of submission, so the slot is chosen by the flow hash and the order within a
 * slot is the order of submission. stricterFIFO matters: without it piscina puts a task it
 * could not hand out yet (the thread busy) back at the TAIL of the queue, and batches overtake
 * each other.
 *
 * Several tasks are handed to the thread ahead (concurrentTasksPerWorker = TASKS_AHEAD): with
 * one at a time, piscina posts the next task only once the main thread has taken in the reply
 * to the last, and the main thread is often busy reading the capture then, so the worker would
 * sit idle. The worker still runs them one after another in arrival order (its handler is
 * synchronous and messages arrive in order); each judge task carries a sequence number the
 * worker checks, so a reordering could never pass silently.
 *
 * Errors: every method rejects with a PfsimError whose message starts `replay worker N: `;
 * the code is the worker's own (an engine's) or PFSIM_ERR_WORKER when the thread itself failed.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Plan } from '../compile/plan.js';
import type { EngineName } from '../engines/engine.js';
import { packageRoot } from '../engines/native.js';
import { PfsimError } from '../errors.js';
import type { FlowCounters } from './flows.js';
import { type BatchOutcome, type JudgeMode, SlotJudge } from './judge.js';
import type { SlotUsage, WorkerInfo, WorkerInit, WorkerReply, WorkerTask } from './protocol.js';
import { SharedRing } from './ring.js';
import type { ReplayerOptions } from '../verdict/replay.js';

/** tasks a worker may hold before the main thread reads its replies (see the module comment) */
const TASKS_AHEAD = 4;

export interface Slot {
  /** Loads the engines. */
  init(): Promise<void>;
  start(mode: JudgeMode): Promise<void>;
  /**
   * Judges the slot's packets among the first `count` of ring batch `batch` (its first packet
   * is packet `base` of the trace), writing their verdicts into it; the batch must not change
   * until this settles.
   */
  judge(batch: number, count: number, base: number): Promise<BatchOutcome>;
  /** Every flow's counters, by flow id. */
  flows(): Promise<FlowCounters>;
  /** What the slot spent since start: a worker's CPU time (undefined on the main thread) and packets judged. */
  usage(): Promise<SlotUsage>;
  info(): Promise<WorkerInfo>;
  /** Closes the engines and ends the thread, if any. */
  close(): Promise<void>;
}

/**
 * The compiled worker module. Worker threads load JavaScript only, so when this module runs
 * from the TypeScript sources (vitest) the worker comes from the build in dist/.
 */
export function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return join(dirname(here), 'worker.js');
  const built = join(packageRoot(), 'dist', 'src', 'pool', 'worker.js');
  if (!existsSync(built)) throw new PfsimError('PFSIM_ERR_WORKER', `replay worker module ${built} is missing: run npm run build`);
  return built;
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0]!;
}

export class ThreadSlot implements Slot {
  readonly index: number;
  private readonly piscina: Piscina<WorkerTask, unknown>;
  /** an error of the thread outside any task (piscina 'error'): every later call fails with it */
  private broken: PfsimError | undefined;
  /** the next judge task's sequence number */
  private seq = 0;

  /** Slot `index` of `slots`, judging the batches of `ring`. */
  constructor(index: number, slots: number, plan: Plan, engines: readonly EngineName[], ring: SharedRing, replayer: ReplayerOptions = {}) {
    this.index = index;
    const workerData: WorkerInit = { plan, engines, capacity: ring.shape.capacity, slot: index, slots, ring: ring.shape, replayer };
    this.piscina = new Piscina<WorkerTask, unknown>({
      filename: workerFile(),
      name: 'default',
      minThreads: 1,
      maxThreads: 1,
      concurrentTasksPerWorker: TASKS_AHEAD,
      stricterFIFO: true,
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData,
    });
    this.piscina.on('error', (e: unknown) => { this.broken ??= this.error('PFSIM_ERR_WORKER', firstLine(e)); });
  }

  /** The worker thread (for diagnostics and tests). */
  get threads(): readonly Worker[] {
    return this.piscina.threads;
  }

  async init(): Promise<void> {
    await this.call<null>({ op: 'init' });
  }

  async start(mode: JudgeMode): Promise<void> {
    this.seq = 0;
    await this.call<null>({ op: 'start', mode });
  }

  judge(batch: number, count: number, base: number): Promise<BatchOutcome> {
    return this.call<BatchOutcome>({ op: 'judge', batch, count, base, seq: this.seq++ });
  }

  flows(): Promise<FlowCounters> {
    return this.call<FlowCounters>({ op: 'flows' });
  }

  usage(): Promise<SlotUsage> {
    return this.call<SlotUsage>({ op: 'usage' });
  }

  info(): Promise<WorkerInfo> {
    return this.call<WorkerInfo>({ op: 'info' });
  }

  /** Asks the worker to close its engines, then ends the thread, whether or not that worked. */
  async close(): Promise<void> {
    try {
      if (this.broken === undefined) await this.call<null>({ op: 'close' });
    } finally {
      await this.piscina.destroy();
    }
  }

  private error(code: PfsimError['code'], message: string): PfsimError {
    return new PfsimError(code, `replay worker ${this.index + 1}: ${message}`);
  }

  private async call<T>(task: WorkerTask): Promise<T> {
    if (this.broken) throw this.broken;
    let reply: WorkerReply<T>;
    try {
      reply = (await this.piscina.run(task)) as WorkerReply<T>;
    } catch (e) {
      // the thread died or was terminated: its engines and connections are gone
      this.broken ??= this.error('PFSIM_ERR_WORKER', firstLine(e));
      throw this.broken;
    }
    if (!reply.ok) throw this.error(reply.code, reply.message);
    return reply.value;
  }
}

/** The only slot, on the calling thread: the same judging, without threads. */
export class LocalSlot implements Slot {
  private readonly plan: Plan;
  private readonly engines: readonly EngineName[];
  private readonly ring: SharedRing;
  private readonly replayer: ReplayerOptions;
  private judgeOf: SlotJudge | undefined;

  constructor(plan: Plan, engines: readonly EngineName[], ring: SharedRing, replayer: ReplayerOptions = {}) {
    this.plan = plan;
    this.engines = engines;
    this.ring = ring;
    this.replayer = replayer;
  }

  async init(): Promise<void> {
    this.judgeOf ??= new SlotJudge(this.plan, this.engines, this.ring.shape.capacity, this.replayer);
  }

  async start(mode: JudgeMode): Promise<void> {
    this.loaded().start(mode);
  }

  async judge(batch: number, count: number, base: number): Promise<BatchOutcome> {
    return this.loaded().judgeShare(this.ring.batch(batch), count, 0, 1, base);
  }

  async flows(): Promise<FlowCounters> {
    return this.loaded().takeFlows();
  }

  async usage(): Promise<SlotUsage> {
    // the main thread also reads the capture: its CPU time is not the slot's
    return { judged: this.loaded().judged };
  }

  async info(): Promise<WorkerInfo> {
    throw new PfsimError('PFSIM_ERR_USAGE', 'the main-thread slot has no worker to describe');
  }

  async close(): Promise<void> {
    const j = this.judgeOf;
    this.judgeOf = undefined;
    j?.close();
  }

  private loaded(): SlotJudge {
    if (this.judgeOf === undefined) throw new PfsimError('PFSIM_ERR_WORKER', 'main-thread slot used before init or after close');
    return this.judgeOf;
  }
}
