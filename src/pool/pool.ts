/**
 * Replays a capture through a pool of workers. The main thread reads the capture (the native
 * streaming reader) straight into a reader batch in shared memory (ring.ts) and names that
 * batch to every worker, its packet positions sorted by the slot their connection hashes to,
 * the same in both directions (flow-hash.ts); each worker takes its own run of them and judges
 * them in order with its own stateful engines, so every connection sees its packets in trace
 * order with its conntrack in one place. The
 * verdicts come back in the same shared batch, at each packet's position: per-packet output
 * is read off in trace order with no merge and no copy.
 *
 * Results: per-connection flows are kept in the workers, each with its first packet's place
 * in the trace. Only at the end do they come to the main thread (the workers' own typed
 * arrays, names as ASCII bytes, transferred), which puts them in the order of their first
 * packets (FlowTable's first-seen order), then in report order, and keeps them in those
 * columns (collect.ts): while the workers judge, the main thread only reads. Packets the
 * reader could not parse are judged by no worker: they come out as "skip" in their place.
 *
 * The main thread's share of the work (the read and parse while the replay streams, the
 * flows' order after it) bounds the speed-up: on two cores, two workers and the main thread
 * share them. Each worker's share is its own packets only.
 *
 * Error contract: open() and replay() reject with a PfsimError (a worker's failure as
 * `replay worker N: …`, its code kept; PFSIM_ERR_WORKER when a thread died; capture errors
 * as the reader throws them); a failed replay leaves no task running. close() closes every
 * worker's engines (kernel engines remove their testbeds) and ends the threads.
 */
import type { Worker } from 'node:worker_threads';
import type { Plan } from '../compile/plan.js';
import type { EngineName } from '../engines/engine.js';
import { verdictName } from '../engines/engine.js';
import { readPacket } from '../engines/packet.js';
import { PfsimError } from '../errors.js';
import { formatIp } from '../net/ip.js';
import { type CaptureTotals, META_ORIGLEN, META_STATUS, META_WORDS, openCapture, skipReasonName } from '../capture/reader.js';
import { departureCode } from '../engines/aws-departure.js';
import { protoName, type PacketVerdict, type ReplayResult, type ReplaySink, verdictsAgree } from '../verdict/replay.js';
import { DEFAULT_MAX_FLOWS, type ReplaySummary } from '../verdict/summary.js';
import { FlowCollector } from './collect.js';
import type { BatchOutcome } from './judge.js';
import type { FlowCounters } from './flows.js';
import type { SlotUsage, WorkerInfo } from './protocol.js';
import { shareOut } from './flow-hash.js';
import { type RingBatch, SharedRing } from './ring.js';
import { LocalSlot, type Slot, ThreadSlot } from './slot.js';
import { ReaderSpread } from './spread.js';

/** Slot numbers fit a byte (the ring's owner array). */
export const MAX_WORKERS = 254;
/**
 * Packets per reader batch. Every batch costs each slot a task (a message each way, a worker
 * wake-up, the main thread woken to settle it), so batches are large: on the bench's 1M-packet
 * trace, 65536-packet batches took 2 workers 6–10% less time than 16384-packet ones. One
 * batch is 6.5 MiB of shared ring with two engines.
 */
export const DEFAULT_POOL_BATCH = 65536;
/**
 * The first batch of a replay holds at most this many packets, and each next one twice the
 * last, up to the batch size: the workers wait for the first batch, so it is read quickly.
 */
export const FIRST_BATCH = 4096;
/**
 * Reader batches in flight: the batches of the shared ring. A batch settles only when every
 * slot has judged its share, so the window is how far one worker may run ahead of a slower one
 * (a core shared with other work) before it waits.
 */
export const DEFAULT_WINDOW = 4;

export interface PoolOptions {
  /** worker threads, 1..MAX_WORKERS */
  readonly workers: number;
  /** judge on the calling thread instead (workers must be 1): no threads, same results */
  readonly inThread?: boolean;
  /** packets per reader batch (and per slot batch); default DEFAULT_POOL_BATCH */
  readonly batchSize?: number;
  /** packets of a replay's first batch, 1..batchSize (each next batch twice the last); default FIRST_BATCH */
  readonly firstBatch?: number;
  /** reader batches in flight, 1..1024; default DEFAULT_WINDOW */
  readonly window?: number;
  /**
   * conntrack entries at most (--ct-max; default the engines' own), split evenly among the
   * workers' tables: one worker holds exactly this many, as the kernel's one table does; with
   * more, which connection a full table turns away can depend on the worker count
   */
  readonly ctMax?: number;
}

export interface PoolProgress {
  /** packets read so far */
  readonly packets: number;
  /** capture file bytes parsed so far */
  readonly bytes: number;
}

export interface PoolReplayOptions {
  /** per-packet verdicts, called in trace order (judged and skipped packets) */
  readonly sink?: ReplaySink;
  /** count per-connection summaries (default true) */
  readonly summary?: boolean;
  /** called after each reader batch is dispatched */
  readonly onProgress?: (p: PoolProgress) => void;
  /** a damaged capture ends in one 'file-error' skip instead of an error (CaptureReaderOptions) */
  readonly keepGoing?: boolean;
  /** connections listed one by one in the summary, the first ones; default DEFAULT_MAX_FLOWS */
  readonly maxFlows?: number;
  /** also ask every slot what it spent (PoolReplayResult.usage), after the last batch */
  readonly usage?: boolean;
}

export interface PoolReplayResult extends ReplayResult {
  /** present unless `summary: false` */
  readonly summary?: ReplaySummary;
  /** with `usage: true`: per slot, its CPU time (worker threads, on Linux) and packets judged */
  readonly usage?: readonly SlotUsage[];
}

/** One reader batch on its way through the slots. */
interface Pending {
  readonly base: number;
  readonly count: number;
  /** its ring batch */
  readonly k: number;
  /** per slot: the outcome of its share (undefined when the slot failed; see Run.failure) */
  readonly parts: Promise<BatchOutcome | undefined>[];
}

/** Per-replay state on the main thread. */
interface Run {
  readonly sink: ReplaySink | undefined;
  readonly skippedBy: Record<string, number>;
  /** per slot: reason texts by id, appended from each reply in order */
  readonly reasons: string[][];
  /** summary mode: puts every slot's flows together at the end */
  readonly flows: FlowCollector | undefined;
  /**
   * every slot's 'start' (sent ahead of the first batch, which each slot takes after it): the
   * reader does not wait for it, the first settle does
   */
  readonly started: Promise<unknown>;
  /**
   * what every slot counted and spent, asked for right after the last batch went out (each
   * slot answers after judging it): one slot's answer is made while another still judges
   */
  counters?: Promise<FlowCounters[]>;
  usage?: Promise<SlotUsage[]>;
  disagreements: number;
  failure: PfsimError | undefined;
}

export function checkWorkers(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) throw new PfsimError('PFSIM_ERR_USAGE', `--workers: ${n} is not an integer in 1..${MAX_WORKERS}`);
  return n;
}

export class ReplayPool {
  readonly engines: readonly EngineName[];
  readonly batchSize: number;
  readonly firstBatch: number;
  readonly window: number;
  private readonly slots: Slot[];
  private readonly ring: SharedRing;
  private closing: Promise<void> | undefined;
  /** the signal that closed the pool, if one did */
  private interrupted: NodeJS.Signals | undefined;
  private busy = false;
  private readonly onSignal = (sig: NodeJS.Signals): void => this.closeOnSignal(sig);

  private constructor(engines: readonly EngineName[], batchSize: number, firstBatch: number, window: number, slots: Slot[], ring: SharedRing) {
    this.engines = engines;
    this.batchSize = batchSize;
    this.firstBatch = firstBatch;
    this.window = window;
    this.slots = slots;
    this.ring = ring;
  }

  /**
   * Starts the workers and loads the plan into each one's engines. Rejects with the first
   * worker's failure, after closing whatever did load.
   */
  static async open(plan: Plan, engines: readonly EngineName[], opts: PoolOptions): Promise<ReplayPool> {
    const workers = checkWorkers(opts.workers);
    if (engines.length === 0) throw new PfsimError('PFSIM_ERR_USAGE', 'replay pool: no engine named');
    if (opts.inThread && workers !== 1) throw new PfsimError('PFSIM_ERR_USAGE', 'replay pool: judging on the main thread takes exactly one worker');
    const batch = opts.batchSize ?? DEFAULT_POOL_BATCH;
    if (!Number.isInteger(batch) || batch < 1 || batch > 1 << 20) throw new PfsimError('PFSIM_ERR_USAGE', `replay pool: batch size ${batch} is not an integer in 1..${1 << 20}`);
    const first = opts.firstBatch ?? Math.min(FIRST_BATCH, batch);
    if (!Number.isInteger(first) || first < 1 || first > batch) throw new PfsimError('PFSIM_ERR_USAGE', `replay pool: first batch ${first} is not an integer in 1..${batch}`);
    const window = opts.window ?? DEFAULT_WINDOW;
    if (!Number.isInteger(window) || window < 1 || window > 1024) throw new PfsimError('PFSIM_ERR_USAGE', `replay pool: window ${window} is not an integer in 1..1024`);
    const ring = SharedRing.create(window, batch, engines.length, opts.inThread ? 1 : workers);
    const replayer = opts.ctMax === undefined ? {} : { ctMax: Math.ceil(opts.ctMax / workers) };
    const slots: Slot[] = opts.inThread
      ? [new LocalSlot(plan, engines, ring, replayer)]
      : Array.from({ length: workers }, (_, i) => new ThreadSlot(i, workers, plan, engines, ring, replayer));
    const pool = new ReplayPool(engines, batch, first, window, slots, ring);
    if (!opts.inThread) {
      // a worker's engines may own kernel testbeds: close them before the process goes
      process.on('SIGINT', pool.onSignal);
      process.on('SIGTERM', pool.onSignal);
    }
    const loads = await Promise.allSettled(slots.map((s) => s.init()));
    const failed = loads.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await pool.close().catch(() => undefined);
      throw failed.reason;
    }
    return pool;
  }

  /** Number of slots: worker threads, or 1 on the main thread. */
  get size(): number {
    return this.slots.length;
  }

  /** The worker threads (none on the main thread), for diagnostics. */
  get threads(): readonly Worker[] {
    return this.slots.flatMap((s) => (s instanceof ThreadSlot ? s.threads : []));
  }

  /** Each worker's thread id and a native call made from it. */
  workerInfo(): Promise<WorkerInfo[]> {
    return Promise.all(this.slots.map((s) => s.info()));
  }

  /**
   * Replays `file` from its first packet with fresh conntrack. One replay at a time; the pool
   * can replay again afterwards (the engines stay loaded).
   */
  async replay(file: string, opts: PoolReplayOptions = {}): Promise<PoolReplayResult> {
    if (this.closing) throw this.closedError();
    if (this.busy) throw new PfsimError('PFSIM_ERR_USAGE', 'replay pool is already replaying');
    this.busy = true;
    try {
      const summary = opts.summary !== false;
      const maxFlows = opts.maxFlows ?? DEFAULT_MAX_FLOWS;
      if (!Number.isSafeInteger(maxFlows) || maxFlows < 1) throw new PfsimError('PFSIM_ERR_USAGE', `replay pool: maxFlows ${maxFlows} is not a positive integer`);
      const started = Promise.all(this.slots.map((s) => s.start({ flows: summary, perPacket: opts.sink?.packet !== undefined, maxFlows })));
      // awaited by the first settle and at the end: a failure must not count as unhandled meanwhile
      started.catch(() => undefined);
      const run: Run = {
        sink: opts.sink, skippedBy: {}, reasons: this.slots.map(() => []), disagreements: 0, failure: undefined,
        flows: summary ? new FlowCollector(this.engines, this.slots.length, maxFlows) : undefined, started,
      };
      const totals = await this.stream(file, run, opts);
      await started;
      const usage = run.usage ? { usage: await run.usage } : {};
      const result = { totals, judged: totals.ok, disagreements: run.disagreements, ...usage };
      if (!summary) return result;
      return { ...result, summary: await this.summarise(totals, run, run.flows!) };
    } catch (e) {
      // the workers' failures while a signal closes the pool say nothing the signal does not
      throw this.interrupted ? this.closedError() : e;
    } finally {
      this.busy = false;
    }
  }

  private closedError(): PfsimError {
    return this.interrupted
      ? new PfsimError('PFSIM_ERR_WORKER', `replay interrupted by ${this.interrupted}`)
      : new PfsimError('PFSIM_ERR_USAGE', 'replay pool is closed');
  }

  /**
   * Closes every worker's engines and ends the threads; throws the first failure, after all.
   * Every call waits for the same closing (a signal may have started it).
   */
  close(): Promise<void> {
    this.closing ??= this.closeSlots();
    return this.closing;
  }

  private async closeSlots(): Promise<void> {
    process.removeListener('SIGINT', this.onSignal);
    process.removeListener('SIGTERM', this.onSignal);
    const done = await Promise.allSettled(this.slots.map((s) => s.close()));
    const failed = done.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Reads, dispatches and settles every batch of the capture; returns the reader's totals. */
  private async stream(file: string, run: Run, opts: PoolReplayOptions): Promise<CaptureTotals> {
    // the reader parses into the ring (readInto): its own batch arrays, for next(), stay unused
    const reader = openCapture(file, { batchSize: 1, keepGoing: opts.keepGoing === true });
    const free = Array.from({ length: this.window }, (_, k) => this.window - 1 - k);
    const pending: Pending[] = [];
    // worker threads fill the cores: the reader moves core by core, batch by batch (spread.ts)
    const spread = this.slots[0] instanceof ThreadSlot ? ReaderSpread.start(this.slots.length) : undefined;
    const done = async () => {
      const p = pending.shift()!;
      await this.settle(p, run);
      free.push(p.k);
    };
    try {
      let base = 0;
      let want = this.firstBatch;
      let readError: unknown;
      for (;;) {
        if (free.length === 0) await done();
        const k = free.pop()!;
        const r = this.ring.batch(k);
        let count: number;
        spread?.step();
        try {
          count = reader.readInto(r.pkts, r.meta, want);
        } catch (e) {
          // a malformed capture: the packets before the fault still get their verdicts, as
          // in the sequential replay, then the error
          readError = e;
          free.push(k);
          break;
        }
        if (count === 0) {
          free.push(k);
          break;
        }
        if (shareOut(r, count, this.slots.length) > 0) this.countSkips(r, count, run);
        pending.push({ base, count, k, parts: this.slots.map((_, s) => this.send(s, k, count, base, run)) });
        base += count;
        want = Math.min(want * 2, this.batchSize);
        opts.onProgress?.({ packets: base, bytes: reader.totals().bytes });
      }
      spread?.restore();
      if (readError === undefined) this.askForResults(run, opts);
      while (pending.length > 0) await done();
      if (readError !== undefined) throw readError;
      return reader.totals();
    } finally {
      // on failure: let every task already sent finish, so nothing runs after we return
      await Promise.allSettled([run.started, ...pending.flatMap((p) => p.parts), run.counters, run.usage]);
      spread?.restore();
      reader.close();
    }
  }

  /** Asks every slot for its flow counters (summary mode) and usage (if wanted), behind its last batch. */
  private askForResults(run: Run, opts: PoolReplayOptions): void {
    if (run.flows) run.counters = Promise.all(this.slots.map((s) => s.flows()));
    if (opts.usage) run.usage = Promise.all(this.slots.map((s) => s.usage()));
    // awaited after the last settle: a failure must not count as unhandled meanwhile
    run.counters?.catch(() => undefined);
    run.usage?.catch(() => undefined);
  }

  /** Counts the packets of a reader batch that the reader skipped, by reason. */
  private countSkips(r: RingBatch, count: number, run: Run): void {
    for (let i = 0; i < count; i++) {
      const status = r.meta[i * META_WORDS + META_STATUS]!;
      if (status === 0) continue;
      const why = skipReasonName(status);
      run.skippedBy[why] = (run.skippedBy[why] ?? 0) + 1;
    }
  }

  /** Names ring batch `k` to slot `s`; the promise never rejects (a failure is kept in `run`). */
  private send(s: number, k: number, count: number, base: number, run: Run): Promise<BatchOutcome | undefined> {
    return this.slots[s]!.judge(k, count, base).then(
      (r) => r,
      (e: unknown) => {
        run.failure ??= e instanceof PfsimError ? e : new PfsimError('PFSIM_ERR_WORKER', `replay worker ${s + 1}: ${String(e)}`);
        return undefined;
      },
    );
  }

  /** Waits for one reader batch, takes in its new reasons, emits its per-packet verdicts in order. */
  private async settle(p: Pending, run: Run): Promise<void> {
    await run.started;
    const parts = await Promise.all(p.parts);
    if (run.failure) throw run.failure;
    const r = this.ring.batch(p.k);
    parts.forEach((o, s) => {
      run.disagreements += o!.disagreements;
      for (const text of o!.newReasons) run.reasons[s]!.push(text);
    });
    if (run.sink?.packet) this.emit(p, r, run);
  }

  /** The per-packet verdicts of one reader batch in trace order, as the sequential Replayer gives them. */
  private emit(p: Pending, r: RingBatch, run: Run): void {
    const sink = run.sink!;
    const names = this.engines;
    const e = names.length;
    for (let i = 0; i < p.count; i++) {
      const m = i * META_WORDS;
      const wire = r.meta[m + META_ORIGLEN]!;
      const status = r.meta[m + META_STATUS]!;
      if (status !== 0) {
        sink.packet!({ index: p.base + i, verdict: 'skip', engines: {}, agree: true, reason: skipReasonName(status) }, wire);
        continue;
      }
      const engines: Record<string, 'allow' | 'deny'> = {};
      for (let k = 0; k < e; k++) engines[names[k]!] = verdictName(r.verdicts[i * e + k]!);
      const verdict = engines[names[0]!]!;
      const departure = departureCode(r.departs[i]!);
      const h = readPacket(r.pkts, i);
      const v: PacketVerdict = {
        index: p.base + i, verdict, engines, agree: verdictsAgree(engines, departure), reason: run.reasons[r.owner[i]!]![r.reasons[i]!]!,
        src: formatIp(h.src), dst: formatIp(h.dst), proto: protoName(h.proto), sport: h.sport, dport: h.dport,
        ...(departure !== undefined ? { departure } : {}),
      };
      sink.packet!(v, wire);
    }
  }

  /** Every slot's flows, put in first-seen order, then in report order. */
  private async summarise(totals: CaptureTotals, run: Run, collector: FlowCollector): Promise<ReplaySummary> {
    const { flows, others, departures } = collector.finish(await run.counters!, run.reasons);
    return {
      flows, ...(others ? { others } : {}), packets: totals.packets, judged: totals.ok, skipped: totals.skipped, skippedBy: { ...run.skippedBy },
      disagreements: run.disagreements, ...(departures ? { departures } : {}),
    };
  }

  /**
   * SIGINT/SIGTERM: close the workers' engines (their testbeds), then raise the signal again.
   * Our listener is gone by then, so with no other listener the process dies of the signal as
   * usual; other listeners (the main thread's own testbed hook) get it now, after our cleanup,
   * and decide — they held back the first time because we were still listening.
   */
  private closeOnSignal(sig: NodeJS.Signals): void {
    this.interrupted ??= sig;
    void this.close().catch(() => undefined).finally(() => {
      process.kill(process.pid, sig);
      // signal handles do not keep Node alive: without this the process could end normally
      // before the raised signal is handled
      setTimeout(() => undefined, 1000);
    });
  }
}
