/**
 * A pool worker: one per slot, running one task at a time in the order the main thread sent
 * them. It loads its own engines from the plan in workerData (its own conntrack, its own
 * native classifier in this thread's addon environment) and keeps them until 'close'.
 *
 * Every task answers with a WorkerReply: failures are caught here and sent back with their
 * PfsimError code, so the main thread can show one line; only a dying thread reaches the pool
 * as a rejected task.
 */
import { threadId, workerData } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { PfsimError } from '../errors.js';
import { loadNative } from '../engines/native.js';
import { counterBuffers, type FlowCounters } from './flows.js';
import { type BatchOutcome, SlotJudge } from './judge.js';
import { SharedRing } from './ring.js';
import { threadCpuMs } from './thread-cpu.js';
import type { SlotUsage, WorkerFailure, WorkerInfo, WorkerInit, WorkerReply, WorkerTask } from './protocol.js';

const init = workerData as WorkerInit;
const ring = SharedRing.over(init.ring);
let judge: SlotJudge | undefined;
/** the sequence number the next judge task must carry */
let nextSeq = 0;
/** this thread's CPU time at 'start' (undefined: the platform does not tell) */
let cpuAtStart: number | undefined;

function loaded(): SlotJudge {
  // piscina replaces a thread that died with a fresh one: it must not judge without the
  // connections the dead one tracked, so it fails every task instead
  if (judge === undefined) throw new PfsimError('PFSIM_ERR_WORKER', 'no engines loaded: the thread was restarted after a failure, or never initialised');
  return judge;
}

function failure(e: unknown): WorkerFailure {
  if (e instanceof PfsimError) return { ok: false, code: e.code, message: e.message };
  const message = e instanceof Error ? e.message : String(e);
  return { ok: false, code: 'PFSIM_ERR_WORKER', message: message.split('\n')[0]! };
}

/** The verdicts go into the shared batch; only the outcome (disagreements, new reasons) is posted. */
function judgeBatch(batch: number, count: number, base: number): WorkerReply<BatchOutcome> {
  return { ok: true, value: loaded().judgeShare(ring.batch(batch), count, init.slot, init.slots, base) };
}

/** The counters' own typed arrays go back by transfer, not copied (the batches never move: they are shared). */
function flowsReply(): unknown {
  const counters = loaded().takeFlows();
  const reply: WorkerReply<FlowCounters> = { ok: true, value: counters };
  return Piscina.move({ [Piscina.transferableSymbol]: counterBuffers(counters), [Piscina.valueSymbol]: reply } as never);
}

function info(): WorkerInfo {
  // a native call made from this thread: the addon must load in every worker's environment
  const c = new (loadNative().Classifier)({ ctCapacity: 16 });
  try {
    return { slot: init.slot, threadId, nativeCtCapacity: c.stats().ctCapacity };
  } finally {
    c.close();
  }
}

function usage(): SlotUsage {
  const now = threadCpuMs();
  const judged = loaded().judged;
  return now !== undefined && cpuAtStart !== undefined ? { cpuMs: now - cpuAtStart, judged } : { judged };
}

function close(): void {
  const j = judge;
  judge = undefined;
  j?.close();
}

export default function handle(task: WorkerTask): unknown {
  try {
    switch (task.op) {
      case 'init':
        judge ??= new SlotJudge(init.plan, init.engines, init.capacity, init.replayer);
        return { ok: true, value: null };
      case 'start':
        loaded().start(task.mode);
        nextSeq = 0;
        cpuAtStart = threadCpuMs();
        return { ok: true, value: null };
      case 'judge':
        // batches judged out of order would corrupt conntrack: refuse, never judge
        if (task.seq !== nextSeq) throw new PfsimError('PFSIM_ERR_WORKER', `batch ${task.seq} arrived when batch ${nextSeq} was due`);
        nextSeq++;
        return judgeBatch(task.batch, task.count, task.base);
      case 'flows':
        return flowsReply();
      case 'usage':
        return { ok: true, value: usage() };
      case 'info':
        return { ok: true, value: info() };
      case 'close':
        close();
        return { ok: true, value: null };
    }
  } catch (e) {
    return failure(e);
  }
}
